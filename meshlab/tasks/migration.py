"""Tasks about moving a mesh from sidecar to ambient mode, one namespace at a time (notebook 10), on
the ``bookinfo-two-namespaces`` topology (frontend: productpage and the client; backend: details,
reviews, ratings): keep a routing rule through the move (the waypoint first, then the relabel), and
move an L7 AuthorizationPolicy from a selector to ``targetRefs`` so that it keeps holding.

Istio's guide: https://istio.io/latest/docs/ambient/migrate/ (its "Enable ambient mode" page gives the
order: waypoints first, then the namespace label, then injection off and the pods restarted, then the
old selector-bound L7 policies deleted)."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import behind_waypoint, pages, served_by

NAMESPACES = ("frontend", "backend")


def _not_ambient(lab) -> list[str]:
    """The app pods of the two namespaces that are not in ambient mode (with their mesh)."""
    return [
        f"{row['pod']} ({row['mesh'] or 'no mesh'})"
        for row in lab.pods()
        if row["namespace"] in NAMESPACES and row["mesh"] not in ("ambient", "waypoint")
    ]


# -- keep the route through the move ------------------------------------------------------------------


def _route(version: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: backend}}
spec:
  host: reviews
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: backend}}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {{host: reviews, subset: {version}}}
"""


def _setup_route(lab, params: dict) -> None:
    """Both namespaces with sidecars, the reviews route in force; then backend moved to ambient
    (injection off, its pods restarted). productpage still has its sidecar, which applies the route."""
    lab.apply(_route(params["version"]))
    lab.set_mode("ambient", namespace="backend")


def _verify_route(lab, params: dict, before=None, n: int = 20) -> Result:
    item, version = "migrate-without-losing-the-route", params["version"]
    want = f"reviews-{version}"
    problems = []
    left = _not_ambient(lab)
    if left:
        problems.append(
            f"not in ambient mode yet: {', '.join(left)}. A pod whose namespace still says "
            "istio-injection: enabled keeps its sidecar (the sidecar takes precedence over ambient): "
            "label frontend for ambient and turn its injection off"
        )
    res = pages(lab, n)
    ok = res.summary()["requests"]["ok"]
    if ok != n:
        problems.append(f"only {ok} of {n} pages were 200")
    by = served_by(res)
    if by != {want: n}:
        why = ""
        if not behind_waypoint(lab, "reviews"):
            why = (
                ": productpage no longer has a sidecar to apply the VirtualService, and no waypoint carries "
                "reviews' traffic (ztunnel never parses HTTP). Deploy the waypoint Gateway in reviews' "
                "namespace and label the reviews Service to use it"
            )
            if any("no Gateway defines" in w for w in getattr(lab, "warnings", [])):
                why += " — the lab warned that a use-waypoint label names a waypoint no Gateway defines there"
        problems.append(
            f"the route to reviews {version} was lost: pages were served by "
            f"{', '.join(f'{k}: {v}' for k, v in by.items())}{why}"
        )
    return fails(
        item,
        problems,
        f"all {n} pages were served by {want}, through reviews' waypoint, and every pod "
        "of frontend and backend is in ambient mode with no sidecar",
    )


MIGRATE_WITHOUT_LOSING_THE_ROUTE = Task(
    name="migrate-without-losing-the-route",
    goal="backend is in ambient mode already (no waypoint) and a VirtualService sends all of reviews' traffic to "
    "{version}; productpage's sidecar still applies it. Move frontend to ambient mode (no sidecar left) "
    "without losing the route: every page still served by reviews-{version}. As Istio's guide orders it: "
    "deploy and attach reviews' waypoint first, then relabel the namespace.",
    skeleton="""\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: ___
  labels: {istio.io/waypoint-for: service}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: backend
  labels: {istio.io/use-waypoint: ___}
---
apiVersion: v1
kind: Namespace
metadata:
  name: frontend
  labels:
    istio.io/dataplane-mode: ___
    istio-injection: ___
""",
    verify=_verify_route,
    variants=({"version": "v3"}, {"version": "v1"}, {"version": "v2"}),
    setup=_setup_route,
)


# -- an L7 policy from selector to targetRefs ------------------------------------------------------------

POLICY = "allow-get-only"


def _selector_policy(service: str) -> str:
    return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {POLICY}, namespace: backend}}
spec:
  selector:
    matchLabels: {{app: {service}}}
  action: ALLOW
  rules:
  - to:
    - operation:
        methods: [GET]
"""


def _waypoint_for(service: str) -> list:
    """backend's waypoint (export's, as ``istioctl waypoint generate`` writes it) and ``service``
    labelled to use it."""
    from ..policy.builder import waypoint_gateway

    return [
        waypoint_gateway(namespace="backend"),
        f"""\
apiVersion: v1
kind: Service
metadata:
  name: {service}
  namespace: backend
  labels: {{istio.io/use-waypoint: waypoint}}
""",
    ]


def _setup_policy(lab, params: dict) -> None:
    """The sidecar mesh with its selector-bound L7 policy, then the migration done without moving the
    policy: the service's waypoint deployed and attached, both namespaces in ambient (pods restarted)."""
    lab.apply(_selector_policy(params["service"]))
    lab.apply(_waypoint_for(params["service"]))
    lab.set_mode("ambient")


def _url(service: str) -> str:
    return f"http://{service}.backend:9080/{service}/0"


def _verify_policy(lab, params: dict, before=None, n: int = 10) -> Result:
    item, service, method = "l7-policy-to-the-waypoint", params["service"], params["method"]
    problems = []
    res = pages(lab, n)
    s, broken = res.summary()["requests"], res.partial_failures()
    if s["ok"] != n or broken:
        by_selector = [
            o.name
            for o in lab.policies()
            if o.kind == "AuthorizationPolicy" and (o.doc.get("spec") or {}).get("selector")
        ]
        msg = (
            f"the pages lost {service}: {s['ok']} of {n} were 200, {sum(broken.values())} said a service failed "
            f"({', '.join(broken) or 'none'})"
        )
        if by_selector:
            msg += (
                f". {', '.join(by_selector)} is still bound by selector: in ambient mode ztunnel enforces it, "
                "cannot read HTTP methods, and denies every connection to the pods it selects"
            )
        else:
            msg += (
                ". The waypoint refused productpage's calls: the rule must allow what productpage sends (GET)"
            )
        problems.append(msg)
    get = lab.request("client", _url(service), timeout=5)
    if get.status != 200:
        problems.append(f"the client's GET to {service} got {get.status or get.error}; a GET must be allowed")
    bad = lab.request("client", _url(service), method=method, timeout=5)
    if bad.status is not None and bad.status < 400:
        problems.append(
            f"the client's {method} to {service} was answered {bad.status}: nobody enforces GET-only. A "
            f"targetRefs policy is enforced by the waypoint of what it names (kind Service, name "
            f"{service}); sidecars and ztunnel ignore it"
        )
    elif bad.status != 403:
        problems.append(
            f"the client's {method} to {service} was refused, but at connection ({bad.status or bad.error}), "
            "not by the waypoint's 403 (RBAC: access denied): an L4 refusal also stops GETs"
        )
    return fails(
        item,
        problems,
        f"{n} of {n} pages were whole, the client's GET to {service} was 200 and its "
        f"{method} was refused by the waypoint (403 {bad.body.strip()[:30]})",
    )


L7_POLICY_TO_THE_WAYPOINT = Task(
    name="l7-policy-to-the-waypoint",
    goal="In sidecar mode, the AuthorizationPolicy allow-get-only (namespace backend, selector app: {service}) let "
    "only GET requests reach {service}, enforced by the sidecars of its pods. The mesh has since moved to ambient "
    "mode, and {service} has a waypoint — but the policy is still bound by selector. Make it hold again: "
    "pages whole, the client's GET to {service} answered, its {method} refused by the waypoint (403). Apply "
    "it under the same name, so that it replaces the old one.",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get-only, namespace: backend}
spec:
  targetRefs:
  - {kind: ___, group: "", name: ___}
  action: ALLOW
  rules:
  - to:
    - operation:
        methods: [___]
""",
    verify=_verify_policy,
    # Istio's guide migrates allow-get-reviews (methods: GET, on reviews); the notebook shows ratings itself
    variants=(
        {"service": "reviews", "method": "DELETE"},
        {"service": "details", "method": "POST"},
        {"service": "reviews", "method": "POST"},
        {"service": "details", "method": "DELETE"},
    ),
    setup=_setup_policy,
)


TASKS = {t.name: t for t in (MIGRATE_WITHOUT_LOSING_THE_ROUTE, L7_POLICY_TO_THE_WAYPOINT)}
