"""Tasks about L7 authorization (notebook 07): who may do what to a service, enforced where HTTP is
seen — at the waypoint (``targetRefs``) in ambient mode, at the server's sidecar (``selector``) in
sidecar mode; DENY evaluated before ALLOW.

Each verify sends real requests from several pods (the caller's, the client's: identity ``curl``)
and reads off each one's path who refused it: a 403 from an L7 proxy (a waypoint or a sidecar), or a
reset from ztunnel at L4."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import pages

SA = "cluster.local/ns/default/sa/"


def attempt(lab, pod: str, service: str, method: str = "GET"):
    """One request from ``pod`` to ``service`` (Bookinfo's path for it): (outcome, refusing hop).
    The outcome is the status, or the error (``connection reset``); the hop is the first on the path
    whose decision was deny (None: nobody refused)."""
    r = lab.request(pod, f"http://{service}:9080/{service}/0", method=method, timeout=5)
    hop = next((h for h in r.path.hops if h.decision == "deny"), None) if r.path else None
    return (r.status if r.status is not None else r.error), hop


def _by(hop) -> str:
    return f" (refused by {hop.name}, {hop.role}, {hop.layer})" if hop else ""


def _whole_pages(lab, service: str, caller: str, n: int) -> list[str]:
    res = pages(lab, n)
    s, broken = res.summary()["requests"], res.partial_failures()
    if s["ok"] == n and not broken:
        return []
    return [
        f"the pages lost what {service} gives them: {s['ok']} of {n} pages were 200, "
        f"{sum(broken.values())} said a service failed ({', '.join(broken) or 'none'}); {caller} must still "
        f"reach {service}"
    ]


def _refused_at_waypoint(who: str, what: str, outcome, hop, service: str) -> list[str]:
    """A problem unless ``outcome`` is a 403 that a waypoint gave."""
    if outcome == 403 and hop is not None and hop.role == "waypoint":
        return []
    if outcome == 403 or hop is not None:
        return [
            f"a {what} from {who} to {service} was refused{_by(hop)} with {outcome}; expected a 403 from the "
            f"{service} waypoint, the proxy that sees HTTP"
        ]
    return [
        f"a {what} from {who} to {service} was answered {outcome}; expected a 403 from the {service} waypoint"
    ]


# -- read-only through the waypoint --------------------------------------------------------------


def _verify_read_only(lab, params: dict, before=None, n: int = 6) -> Result:
    item = "read-only-through-the-waypoint"
    service, caller, pod, method = params["service"], params["caller"], params["caller_pod"], params["method"]
    problems = _whole_pages(lab, service, caller, n)
    got, hop = attempt(lab, pod, service, method)
    problems += _refused_at_waypoint(caller, method, got, hop, service)
    if got == 200:
        problems[-1] += ": an ALLOW rule lets through every method it lists, and only those"
    direct, dhop = attempt(lab, "client", service, "GET")
    problems += _refused_at_waypoint("the client pod (identity curl)", "GET", direct, dhop, service)
    return fails(
        item,
        problems,
        f"{n} of {n} pages were whole ({caller} reads {service} with GET); {caller}'s "
        f"{method} got {got} and the client's GET got {direct}, both from {hop.name if hop else '?'}, "
        f"the {service} waypoint",
    )


_CALLERS = (
    {
        "service": "reviews",
        "caller": "productpage",
        "account": "bookinfo-productpage",
        "caller_pod": "productpage-v1",
        "method": "POST",
    },
    {
        "service": "ratings",
        "caller": "reviews",
        "account": "bookinfo-reviews",
        "caller_pod": "reviews-v2",
        "method": "DELETE",
    },
    {
        "service": "details",
        "caller": "productpage",
        "account": "bookinfo-productpage",
        "caller_pod": "productpage-v1",
        "method": "PUT",
    },
)

READ_ONLY = Task(
    name="read-only-through-the-waypoint",
    goal="{service} has a waypoint. Let {caller} (service account {account}) read {service} — GET only — and "
    "nobody else call it at all: {caller}'s {method} requests and the client pod's GETs get a 403 from the "
    "waypoint, and the product page stays whole. (Istio's authz-http task gives reviews such a "
    "reviews-viewer policy, bound by selector for sidecars.)",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: read-only}
spec:
  targetRefs:
  - {kind: ___, group: "", name: ___}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [___]
    to:
    - operation:
        methods: [___]
""",
    verify=_verify_read_only,
    variants=_CALLERS,
    setup=lambda lab, params: lab.set_waypoints([params["service"]]),
)


# -- a DENY that wins over an ALLOW -----------------------------------------------------------------


def callers_policy(service: str = "reviews") -> str:
    """The ALLOW policy the deny-wins task starts from: productpage and the client may call
    ``service`` with any method, at its waypoint."""
    return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {service}-callers}}
spec:
  targetRefs:
  - {{kind: Service, group: "", name: {service}}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [{SA}bookinfo-productpage, {SA}curl]
"""


def _deny_setup(lab, params: dict) -> None:
    lab.set_waypoints(["reviews"])
    lab.apply(callers_policy())


def _verify_deny_wins(lab, params: dict, before=None, n: int = 6) -> Result:
    item, method = "deny-wins-over-allow", params["method"]
    problems = []
    kept = [o for o in lab.policies() if o.kind == "AuthorizationPolicy" and o.name == "reviews-callers"]
    import yaml

    if not kept or kept[0].spec != yaml.safe_load(callers_policy())["spec"]:
        problems.append(
            "the ALLOW policy reviews-callers was "
            + ("deleted" if not kept else "changed")
            + "; leave it as it is and add a policy of your own"
        )
    problems += _whole_pages(lab, "reviews", "productpage", n)
    allowed = []
    for pod, who in (("productpage-v1", "productpage"), ("client", "the client pod (identity curl)")):
        got, hop = attempt(lab, pod, "reviews", method)
        problems += _refused_at_waypoint(who, method, got, hop, "reviews")
        allowed += [who] if got == 200 else []
    if allowed:
        problems.append(
            f"reviews-callers allows {' and '.join(allowed)}, and an ALLOW that matches allows, whatever "
            "other ALLOWs say: only a DENY, evaluated before every ALLOW, takes away what it gives"
        )
    got, hop = attempt(lab, "client", "reviews", "GET")
    if got != 200:
        problems.append(
            f"the client pod's GET to reviews got {got}{_by(hop)}; reviews-callers allows it and "
            f"only {method} is to be refused"
        )
    return fails(
        item,
        problems,
        f"every {method} to reviews got a 403 from its waypoint, from productpage and from "
        f"the client alike, although reviews-callers allows them; GETs still pass "
        f"({n} of {n} pages whole): DENY is evaluated before ALLOW",
    )


DENY_WINS = Task(
    name="deny-wins-over-allow",
    goal="reviews has a waypoint, and the ALLOW policy reviews-callers lets productpage and the client pod call "
    "it with any method. Without changing reviews-callers, refuse every {method} request to reviews, from "
    "anyone (a 403 from the waypoint); GETs keep working and the product page stays whole.",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-writes}
spec:
  targetRefs:
  - {kind: Service, group: "", name: reviews}
  action: ___
  rules:
  - to:
    - operation:
        methods: [___]
""",
    verify=_verify_deny_wins,
    variants=({"method": "POST"}, {"method": "DELETE"}, {"method": "PATCH"}),
    setup=_deny_setup,
)


# -- one rule, both data planes -------------------------------------------------------------------


def _verify_both_modes(lab, params: dict, before=None, n: int = 4) -> Result:
    """The rule in ambient mode with reviews' waypoint, then in sidecar mode; the lab is left as it
    was found (mode and waypoints)."""
    item, method = "no-writes-in-both-modes", params["method"]
    mode, waypoints = lab.mode, sorted(s for (_, s) in lab.waypoint_of)
    problems = []

    def measure(where: str) -> None:
        before_n = len(problems)
        problems.extend(f"in {where}: {p}" for p in _whole_pages(lab, "reviews", "productpage", n))
        for pod, who in (("productpage-v1", "productpage"), ("client", "the client pod (identity curl)")):
            got, hop = attempt(lab, pod, "reviews", method)
            if got != 403:
                problems.append(
                    f"in {where}: a {method} from {who} to reviews was "
                    + (
                        f"refused{_by(hop)} with {got}; expected a 403 (HTTP rules are enforced by a "
                        "proxy that parses HTTP)"
                        if hop
                        else f"answered {got}; expected a 403"
                    )
                )
        if (
            len(problems) > before_n
            and where.startswith("sidecar")
            and not any(
                o.kind == "AuthorizationPolicy" and (o.spec.get("selector") or {}) for o in lab.policies()
            )
        ):
            problems[-1] += (
                " — sidecars read only policies bound by selector (targetRefs to a Service are for waypoints)"
            )
        if (
            len(problems) > before_n
            and where.startswith("ambient")
            and not any(o.kind == "AuthorizationPolicy" and o.spec.get("targetRefs") for o in lab.policies())
        ):
            problems[-1] += " — a waypoint reads only policies bound by targetRefs"

    try:
        if lab.mode != "ambient":
            lab.set_mode("ambient")
        lab.set_waypoints(["reviews"])
        measure("ambient mode (reviews has a waypoint)")
        lab.set_waypoints(None)
        lab.set_mode("sidecar")
        measure("sidecar mode")
    finally:
        if lab.mode != mode:
            lab.set_mode(mode)
        lab.set_waypoints(waypoints or None)
    return fails(
        item,
        problems,
        f"in both modes every {method} to reviews got a 403 — from the waypoint in ambient "
        f"mode, from the reviews pods' sidecars in sidecar mode — and GETs pass ({n} of "
        f"{n} pages whole in each)",
    )


_NO_WRITES = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: no-writes-{who}}}
spec:
  ___:
{bind}
  action: DENY
  rules:
  - to:
    - operation:
        methods: [___]
"""

BOTH_MODES = Task(
    name="no-writes-in-both-modes",
    goal="The mesh is moving from sidecars to ambient: some namespaces still run sidecars, others ambient mode "
    "with waypoints. Refuse every {method} to reviews with a 403 in both data planes, with one pair of "
    "policies: the check applies them, loads the page and sends {method}s from productpage and the client "
    "in ambient mode (reviews has a waypoint), then in sidecar mode. GETs must keep working in both.",
    skeleton=_NO_WRITES.format(who="sidecars", bind="    matchLabels: {app: reviews}")
    + "---\n"
    + _NO_WRITES.format(who="waypoint", bind='  - {kind: Service, group: "", name: reviews}'),
    verify=_verify_both_modes,
    variants=({"method": "POST"}, {"method": "PUT"}, {"method": "DELETE"}),
)

TASKS = {t.name: t for t in (READ_ONLY, DENY_WINS, BOTH_MODES)}
