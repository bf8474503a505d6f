"""Tasks about observability and debugging (notebook 11): find a seeded fault from the proxies'
metrics and spans and fix only it; find why a waypoint's traffic is refused at ztunnel.

Both start from a broken lab (``setup``): the learner is told the symptom, not the cause, and is
asked to find the cause from what the proxies report (``lab.metrics``, ``lab.spans``, a request's
path), not by reading ``lab.policies()``. The checks measure the symptom again and check that the
fix was targeted: the rest of the configuration is still in force.
"""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import pages

# -- find the fault (sidecar mode) ----------------------------------------------------------------

#: the configuration that is *not* broken: it must still be in force after the fix
BASELINE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: productpage}
spec:
  host: productpage
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
      weight: 50
    - destination: {host: reviews, subset: v3}
      weight: 50
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: details}
    timeout: 3s
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: STRICT}
"""

#: the broken object of each variant (one each; none of them is in BASELINE)
BROKEN = {
    # Istio's fault-injection task, abort: 100% HTTP 500 from ratings (there for jason only; here for everyone)
    "abort": """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault:
      abort:
        percentage: {value: 100}
        httpStatus: 500
    route:
    - destination: {host: ratings, subset: v1}
""",
    # a route to a subset that no DestinationRule defines: Envoy has no such cluster (503, flag NC)
    "subset": """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v2}
""",
    # a DENY policy at details' sidecar for its only caller (403, RBAC: access denied)
    "deny": """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-access}
spec:
  selector:
    matchLabels: {app: details}
  action: DENY
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/default/sa/bookinfo-productpage]
""",
    # plaintext to a STRICT server: the caller's sidecar is told not to use mutual TLS (503, flag UC)
    "tls": """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details}
spec:
  host: details
  trafficPolicy:
    tls: {mode: DISABLE}
""",
}


def _keys(yaml_text: str) -> list[tuple]:
    from ..policy.loader import load_policies

    return [o.key for o in load_policies(yaml_text)]


def _fault_setup(lab, params: dict) -> None:
    lab.apply(BASELINE + "---\n" + BROKEN[params["fault"]])


def _verify_fault(lab, params: dict, before=None, n: int = 8) -> Result:
    item = "find-the-fault"
    problems = []
    res = pages(lab, n, concurrency=2)
    s = res.summary()["requests"]
    broken = res.partial_failures()
    if s["ok"] != n or broken:
        said = "; ".join(f"{k!r} on {v}" for k, v in broken.items())
        problems.append(
            f"the symptom is still there: {s['ok']} of {n} pages were 200 (by status {s['by_status']})"
            + (f", and pages said {said}" if said else "")
            + ". Read the proxies' istio_requests_total (reporter, response_code, response_flags) "
            "or a page's path to see which hop failed"
        )
    in_force = {o.key: o for o in lab.policies()}
    gone = [f"{kind} {name}" for (kind, ns, name) in _keys(BASELINE) if (kind, ns, name) not in in_force]
    if gone:
        problems.append(
            f"not targeted: {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer in force; "
            "only one object was broken — put the rest back (the task's first cell applies it all "
            "again) and change only the broken one"
        )
    pa = in_force.get(("PeerAuthentication", "default", "default"))
    if pa is not None and (pa.spec.get("mtls") or {}).get("mode") != "STRICT":
        problems.append(
            "the namespace's PeerAuthentication is no longer STRICT: keep mutual TLS required, and fix "
            "the caller instead"
        )
    return fails(
        item,
        problems,
        f"{n} of {n} pages were whole, and the rest of the configuration ({len(_keys(BASELINE))} "
        "objects) is still in force: the fix was targeted",
    )


FIND_THE_FAULT = Task(
    name="find-the-fault",
    goal="Bookinfo runs in sidecar mode with several Istio objects in force (subsets, a 50/50 reviews split, a "
    "timeout, STRICT mutual TLS). One of them is broken: part of every page is missing. Find which one from "
    "what the proxies report — their istio_requests_total (reporter, response_code, response_flags) and a "
    "page's path — not from lab.policies(), and fix only that object: lab.apply() a corrected one, or "
    "lab.delete() it. Then set answer = 'done'.",
    skeleton="(no YAML of your own to fill in: fix the lab with lab.apply(...) or lab.delete(kind=..., name=...), "
    "then answer = 'done'; the check loads 8 pages and reads what is in force)",
    verify=_verify_fault,
    setup=_fault_setup,
    answer="lab",
    variants=({"fault": "abort"}, {"fault": "subset"}, {"fault": "deny"}, {"fault": "tls"}),
)


# -- the waypoint refused at ztunnel (ambient mode) ------------------------------------------------

WAYPOINT_PRINCIPAL = "cluster.local/ns/default/sa/waypoint"


def _l4_allow(service: str, account: str) -> str:
    """The L4 policy each variant starts from: only ``account`` may reach ``service``'s pods."""
    return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {service}-callers}}
spec:
  selector:
    matchLabels: {{app: {service}}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/default/sa/{account}]
"""


def _waypoint_setup(lab, params: dict) -> None:
    lab.apply(_l4_allow(params["service"], params["account"]))
    lab.set_waypoints([params["service"]])


def _verify_waypoint(lab, params: dict, before=None, n: int = 8) -> Result:
    item, service, intruder = "let-the-waypoint-through", params["service"], params["intruder"]
    problems = []
    res = pages(lab, n, concurrency=2)
    s = res.summary()["requests"]
    broken = res.partial_failures()
    if s["ok"] != n or broken:
        problems.append(
            f"{service} is still out of reach: {s['ok']} of {n} pages were 200"
            + (f", {sum(broken.values())} said {', '.join(map(repr, broken))}" if broken else "")
            + f". Which identity does {service}'s ztunnel see on the connections it refuses? (its "
            "istio_tcp_connections_closed_total, source_principal and response_flags — a refused "
            "connection is counted when it closes — or the "
            "ztunnel hops of a page's path)"
        )
    bound = [
        o
        for o in lab.policies()
        if o.kind == "AuthorizationPolicy"
        and o.namespace == "default"
        and ((o.spec.get("selector") or {}).get("matchLabels") or {}).get("app") == service
        and (o.spec.get("action") or "ALLOW") == "ALLOW"
    ]
    if not bound:
        problems.append(
            f"no ALLOW policy selects {service}'s pods any more: its ztunnel now lets every identity "
            "in; keep the L4 policy and add what it lacks"
        )
    pod = next(p["pod"] for p in lab.pods() if p["pod"].startswith(f"{service}-"))
    direct = lab.request(intruder, f"http://{lab.pod_ip(pod)}:9080/", timeout=5)
    if direct.status is not None:
        problems.append(
            f"{intruder} reached {pod} directly at its pod address, around the waypoint "
            f"({direct.status}): the L4 policy must still refuse identities other than the waypoint's "
            f"and {params['caller']}'s"
        )
    return fails(
        item,
        problems,
        f"{n} of {n} pages were whole through {service}'s waypoint, and {intruder}'s call "
        f"straight to {pod} was still refused ({direct.error}) by its ztunnel",
    )


LET_THE_WAYPOINT_THROUGH = Task(
    name="let-the-waypoint-through",
    goal="Bookinfo runs in ambient mode. An L4 AuthorizationPolicy lets only {caller} (service account {account}) "
    "reach {service}'s pods, and it worked — until {service} was given a waypoint. Now part of the page (or "
    "all of it) is missing. Find from ztunnel's metrics or spans which identity {service}'s ztunnel refuses, "
    "and fix the policy: the pages are whole again, and other identities — {intruder}, calling a {service} "
    "pod's address directly, around the waypoint — are still refused.",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ___}      # the same name replaces the policy in force
spec:
  selector:
    matchLabels: {app: ___}
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - ___
        - ___
""",
    verify=_verify_waypoint,
    setup=_waypoint_setup,
    # Istio's ambient getting-started: productpage's L4 policy must also allow the waypoint's identity
    variants=(
        {"service": "productpage", "caller": "client", "account": "curl", "intruder": "ratings-v1"},
        {
            "service": "reviews",
            "caller": "productpage",
            "account": "bookinfo-productpage",
            "intruder": "client",
        },
        {"service": "ratings", "caller": "reviews", "account": "bookinfo-reviews", "intruder": "client"},
        {
            "service": "details",
            "caller": "productpage",
            "account": "bookinfo-productpage",
            "intruder": "client",
        },
    ),
)

TASKS = {t.name: t for t in (FIND_THE_FAULT, LET_THE_WAYPOINT_THROUGH)}
