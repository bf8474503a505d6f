"""AuthorizationPolicy (``security.istio.io``): validated and checked. Pure.

It compiles to nothing: :mod:`.authz` decides from the checked ``spec`` (binding, then rules), and
each proxy keeps whether any policy binds to it per config push.

- **validate**: ``selector`` or ``targetRefs``/``targetRef`` (Gateway, Service, GatewayClass),
  ``action`` (ALLOW, DENY, AUDIT; CUSTOM is refused), ``rules`` (``from.source``, ``to.operation``,
  ``when`` with the keys :data:`.authzmatch.WHEN_KEYS`).
- **check**: Istio's status messages for policies that will not do what they say — an L7 rule
  bound to ztunnel, a ``targetRefs`` policy with no waypoint to enforce it.
"""

from __future__ import annotations

import ipaddress

from ..yamlnode import YamlNode, close_match
from .authz import ROOT_NAMESPACE, for_ztunnel
from .authzmatch import WHEN_KEYS, check_when_key
from .handler import Document, KindHandler, selector
from .objects import PolicyObject

API_VERSIONS = ("security.istio.io/v1", "security.istio.io/v1beta1")
AUTHZ_ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
_SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "requestPrincipals",
    "notRequestPrincipals",
)
_OPERATION_FIELDS = ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec, empty_ok=True).mapping(
        (), ("selector", "targetRefs", "targetRef", "action", "rules", "provider")
    )
    if "selector" in s and ("targetRefs" in s or "targetRef" in s):
        raise s["selector"].error("use either selector or targetRefs, not both")
    if "selector" in s:
        selector(s["selector"])
    refs = s["targetRefs"].seq(allow_empty=False) if "targetRefs" in s else []
    if "targetRef" in s:
        refs.append(s["targetRef"])
    for ref in refs:
        r = ref.mapping(("kind", "name"), ("group", "namespace"))
        kind = r["kind"].string(("Gateway", "Service", "GatewayClass"))
        group = r["group"].string() if "group" in r else ""
        want = "" if kind == "Service" else "gateway.networking.k8s.io"
        if group != want:
            raise (r["group"] if "group" in r else ref).error(
                f"a {kind} target's group is {want!r}" + ("" if want else " (the core API group)")
            )
        r["name"].name()
    action = s["action"].string(AUTHZ_ACTIONS) if "action" in s else "ALLOW"
    if action == "CUSTOM" or "provider" in s:
        raise (s.get("action") or s["provider"]).error(
            "CUSTOM authorization (an external authorizer) is out of scope for meshlab; "
            "use ALLOW, DENY or AUDIT"
        )
    for rule in s["rules"].seq() if "rules" in s else []:
        r = rule.mapping((), ("from", "to", "when"))
        for f in r["from"].seq() if "from" in r else []:
            src = f.mapping(("source",))["source"].mapping((), _SOURCE_FIELDS)
            for k, v in src.items():
                for item in v.seq(allow_empty=False):
                    item.string()
                    if "IpBlocks" in k or k.startswith("ipBlocks") or k.startswith("remoteIpBlocks"):
                        _check_cidr(item)
        for t in r["to"].seq() if "to" in r else []:
            op = t.mapping(("operation",))["operation"].mapping((), _OPERATION_FIELDS)
            for k, v in op.items():
                for item in v.seq(allow_empty=False):
                    x = item.string()
                    if k in ("ports", "notPorts") and not (x.isdigit() and 1 <= int(x) <= 65535):
                        raise item.error(
                            f"{x!r} is not a port: write ports as strings of digits, e.g. \"9080\""
                        )
        for w in r["when"].seq() if "when" in r else []:
            c = w.mapping(("key",), ("values", "notValues"))
            key = c["key"].string()
            try:
                check_when_key(key)
            except ValueError as e:
                raise c["key"].error(f"{e}{close_match(key, WHEN_KEYS)}") from None
            if "values" not in c and "notValues" not in c:
                raise w.error("a condition needs values or notValues")
            for k in ("values", "notValues"):
                for item in c[k].seq(allow_empty=False) if k in c else []:
                    item.string()


def _check_cidr(at: YamlNode) -> None:
    v = at.value()
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise at.error(f"{v!r} is not an IP address or CIDR block (for example 10.0.0.0/8)") from None


def check(o: PolicyObject, lab, store) -> list[str]:
    """Istio's status messages for policies that will not do what they say: an L7 rule bound to
    ztunnel (no waypoint in the way), a targetRefs policy with no waypoint to enforce it."""
    topo, spec = lab.topology, o.spec
    refs = spec.get("targetRefs") or ([spec["targetRef"]] if spec.get("targetRef") else [])
    if refs:
        out = []
        waypoints = (
            {topo.pod(p).namespace for p in lab.mesh if lab.mesh[p] == "waypoint"} if lab.mesh else set()
        )
        for r in refs:
            if r["kind"] == "Service" and (o.namespace, r["name"]) not in lab.waypoint_of:
                out.append(
                    f"{o}: targets Service {r['name']}, which no waypoint serves: nothing enforces it "
                    "(sidecars and ztunnel ignore targetRefs policies); add a waypoint for it"
                )
            elif r["kind"] == "Gateway" and o.namespace not in waypoints:
                out.append(
                    f"{o}: targets Gateway {r['name']}, but namespace {o.namespace} has no waypoint running"
                )
        return out
    want = (spec.get("selector") or {}).get("matchLabels") or {}
    ambient = [
        p
        for p in topo.pods
        if lab.mesh.get(p.name) == "ambient"
        and o.namespace in (p.namespace, ROOT_NAMESPACE)
        and all(p.labels.get(k) == v for k, v in want.items())
    ]
    if not ambient:
        return []
    _, warning = for_ztunnel({"name": o.name, "namespace": o.namespace, "spec": spec})
    return [f"{o}: {warning}"] if warning else []


HANDLER = KindHandler("AuthorizationPolicy", API_VERSIONS, validate, None, check)
