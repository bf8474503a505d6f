"""Tasks about identity and access (notebooks 02 and 03): who may call whom, at ztunnel or at the
waypoint; PERMISSIVE to STRICT."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import behind_waypoint, pages
from ..policy.loader import ROOT_NAMESPACE


def _only_one_caller(item: str):
    def verify(lab, params: dict, before=None, n: int = 10) -> Result:
        service, caller = params["service"], params["caller"]
        res = pages(lab, n)
        s = res.summary()["requests"]
        broken = res.partial_failures()
        problems = []
        if s["ok"] != n or broken:
            problems.append(
                f"the pages lost what {service} gives them: {s['ok']} of {n} pages were 200, "
                f"{sum(broken.values())} said a service failed ({', '.join(broken) or 'none'}); "
                f"{caller} must still reach {service}"
            )
            if behind_waypoint(lab, service):
                problems[-1] += (
                    f". Behind a waypoint, {service}'s ztunnel sees the *waypoint's* identity, not "
                    f"{caller}'s: bind the policy to the waypoint (targetRefs: the {service} Service)"
                )
        direct = lab.request("client", f"http://{service}:9080/{service}/0", timeout=5)
        if direct.status is not None and direct.status < 400:
            problems.append(
                f"the client pod (identity curl) reached {service} directly ({direct.status}); expected "
                "it to be refused"
            )
        return fails(
            item,
            problems,
            f"{n} of {n} pages were whole ({caller} reached {service}), and the client's "
            f"direct call to {service} was refused ({direct.status or direct.error})",
        )

    return verify


_PRINCIPAL_RULE = """\
  action: ___
  rules:
  - from:
    - source:
        principals: [___]
"""

#: who may call whom: Bookinfo's own call graph (productpage -> details, reviews; reviews -> ratings)
_CALLERS = (
    {"service": "reviews", "caller": "productpage", "account": "bookinfo-productpage"},
    {"service": "ratings", "caller": "reviews", "account": "bookinfo-reviews"},
    {"service": "details", "caller": "productpage", "account": "bookinfo-productpage"},
)

ONLY_ONE_CALLER = Task(
    name="only-one-caller",
    goal="Allow only {caller} (service account {account}) to call {service}: the client pod's direct calls to "
    "{service} are refused, and the product page stays whole. (Istio's own example: only productpage may "
    "call reviews.)",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-one-caller}
spec:
  selector:
    matchLabels: {app: ___}
"""
    + _PRINCIPAL_RULE,
    verify=_only_one_caller("only-one-caller"),
    variants=_CALLERS,
)

ONLY_ONE_CALLER_AT_WAYPOINT = Task(
    name="only-one-caller-through-the-waypoint",
    goal="{service} has a waypoint. Allow only {caller} (service account {account}) to call {service}, enforced "
    "where {caller}'s identity is still seen: the client pod's direct calls to {service} are refused, and the "
    "product page stays whole.",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-one-caller}
spec:
  targetRefs:
  - {kind: ___, group: "", name: ___}
"""
    + _PRINCIPAL_RULE,
    verify=_only_one_caller("only-one-caller-through-the-waypoint"),
    variants=_CALLERS,
    setup=lambda lab, params: lab.set_waypoints([params["service"]]),
)


def _verify_strict(lab, params: dict, before=None, tries_each: int = 3) -> Result:
    item, strict, permissive = "permissive-to-strict", params["strict"], params["permissive"]
    problems = []

    def outcomes(src: str, target_ns: str) -> list:
        return [lab.request(src, f"http://httpbin.{target_ns}:8000/ip", timeout=5) for _ in range(tries_each)]

    mesh_wide = [
        o
        for o in lab.policies()
        if o.kind == "PeerAuthentication"
        and o.namespace == ROOT_NAMESPACE
        and not (o.spec.get("selector") or {})
        and ((o.spec.get("mtls") or {}).get("mode") == "STRICT")
    ]
    if not mesh_wide:
        problems.append(
            f"no mesh-wide STRICT policy is in force: a PeerAuthentication with no selector in "
            f"{ROOT_NAMESPACE} covers every namespace that has none of its own"
        )
    for src in ("sleep-foo", "sleep-bar"):
        for ns in (strict, permissive):
            bad = [r for r in outcomes(src, ns) if r.status != 200]
            if bad:
                problems.append(
                    f"meshed client {src} -> httpbin.{ns} failed {len(bad)} of {tries_each} times "
                    f"({bad[0].status or bad[0].error}): the meshed clients must keep working"
                )
    legacy_in = [r for r in outcomes("sleep-legacy", strict) if r.status is not None and r.status < 400]
    if legacy_in:
        problems.append(
            f"sleep-legacy (outside the mesh, plaintext) still reached httpbin.{strict} "
            f"{len(legacy_in)} of {tries_each} times; expected it refused"
        )
    legacy_kept = [r for r in outcomes("sleep-legacy", permissive) if r.status != 200]
    if legacy_kept:
        problems.append(
            f"sleep-legacy was refused by httpbin.{permissive} ({len(legacy_kept)} of {tries_each}): "
            f"{permissive} must stay PERMISSIVE — the narrowest policy wins, so a policy of its own "
            "beats the mesh-wide one"
        )
    return fails(
        item,
        problems,
        f"the mesh is STRICT except {permissive}: the meshed clients reach both httpbins "
        f"over mutual TLS, sleep-legacy is refused by httpbin.{strict} and still served by "
        f"httpbin.{permissive}",
    )


_PEER_AUTHN = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: ___
spec:
  mtls:
    mode: ___
"""

PERMISSIVE_TO_STRICT = Task(
    name="permissive-to-strict",
    goal="Istio's mutual TLS migration, one step further: make the whole mesh STRICT with one policy in the root "
    "namespace, except namespace {permissive}, whose legacy clients have not moved yet: it stays PERMISSIVE. "
    "The meshed clients (sleep-foo, sleep-bar) keep reaching both httpbins; sleep-legacy, outside the mesh, is "
    "refused by httpbin.{strict} and still served by httpbin.{permissive}.",
    skeleton=_PEER_AUTHN + "---\n" + _PEER_AUTHN,
    verify=_verify_strict,
    variants=({"strict": "foo", "permissive": "bar"}, {"strict": "bar", "permissive": "foo"}),
)

TASKS = {t.name: t for t in (ONLY_ONE_CALLER, ONLY_ONE_CALLER_AT_WAYPOINT, PERMISSIVE_TO_STRICT)}
