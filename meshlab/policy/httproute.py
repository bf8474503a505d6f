"""Gateway API ``HTTPRoute`` (``gateway.networking.k8s.io/v1``) for mesh traffic: validated,
compiled, checked, written. Pure.

An HTTPRoute whose ``parentRefs`` name a **Service** (``group: ""``, ``kind: Service``) routes the
requests sent to that Service — the Gateway API's mesh binding (GAMMA, GEP-1294), which Istio
supports for mesh traffic since 1.22 (https://istio.io/latest/blog/2024/gateway-mesh-ga/) and
which its ambient docs recommend over VirtualService ("VirtualService support with waypoints is
Alpha ... migrating to HTTPRoute is strongly recommended",
https://istio.io/latest/docs/ambient/migrate/migrate-policies/). Where it applies is where a
VirtualService for that Service would: istiod converts the route into a VirtualService for the
Service's host. So **in ambient mode** the Service's waypoint applies it (a Service with no
waypoint gets the warning a VirtualService gets: ztunnel never reads HTTP); **in sidecar mode**
the client's sidecar applies it, as Istio's request-routing task does with Bookinfo in sidecar
mode (https://istio.io/latest/docs/tasks/traffic-management/request-routing/, "Gateway API" tab).

**The fields the lab reads** — every other field of the real API is refused by name when applied:

- ``spec.parentRefs[]``: ``group: ""``, ``kind: Service``, ``name``, optional ``namespace`` (the
  route's own: consumer routes in another namespace are not built) and ``port``. A parentRef
  with no ``kind`` is a Gateway (the API's default), which the lab has none of.
- ``spec.rules[]``: ``name``, ``matches``, ``backendRefs`` (at least one: the lab does not build
  a rule that answers by itself).
- ``matches[]``: ``path`` (``type`` ``PathPrefix`` — the default, whole path elements —,
  ``Exact`` or ``RegularExpression``; ``value``, default ``/``), ``headers[]`` (``type`` ``Exact``
  — the default — or ``RegularExpression``; ``name``, case-insensitive; ``value``) and
  ``method``. Conditions in one match are ANDed, the matches of a rule ORed; a rule with no
  matches matches every request.
- ``backendRefs[]``: ``group: ""`` and ``kind: Service`` (the defaults), ``name``, optional
  ``namespace`` (the route's own), ``port`` (required for a Service), ``weight`` (default 1): a
  backend gets ``weight / sum(weights)`` of the rule's requests. Backends are Services — to split
  by version, one Service per version (Istio's ``bookinfo-versions.yaml``: ``reviews-v1`` ...).

Not read, and refused: ``hostnames``, ``filters``, ``timeouts``, ``retry``,
``sessionPersistence``, ``matches[].queryParams``, ``parentRefs[].sectionName``,
``backendRefs[].filters``. With no ``retry`` field Istio's default retry policy applies, as for
a VirtualService route with no ``retries``.

**Order** (the Gateway API's precedence, which Istio applies by sorting the converted routes):
each match becomes one route, and the routes are tried exact path first, then the longest path
prefix (regular expressions after both), then a match with a method, then the one with the most
header matches; ties keep the order written. A request no route matches gets 404. Several
HTTPRoutes for one Service at a waypoint are tried one after the other, oldest first (the lab
does not sort across routes); a sidecar uses the oldest route table for a Service, as for
VirtualServices. Istio leaves mixing VirtualService and HTTPRoute for one Service undefined
(migrate-policies page above): the lab warns, and treats both as route tables, oldest first.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..yamlnode import YamlNode, listing
from .handler import Document, KindHandler
from .hosts import fqdn, service_fqdn
from .objects import PolicyObject
from .routing import Destination, RouteAction, RouteSource
from .virtualservice import l7_unenforced

API_VERSIONS = ("gateway.networking.k8s.io/v1",)
PATH_TYPES = ("PathPrefix", "Exact", "RegularExpression")
HEADER_TYPES = ("Exact", "RegularExpression")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
MAX_WEIGHT = 1_000_000


# -- validate -------------------------------------------------------------------------------------


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec).mapping(("parentRefs",), ("rules",), unsupported=("hostnames",))
    for ref in s["parentRefs"].seq(allow_empty=False):
        _parent_ref(ref, doc.own_namespace)
    rules = s["rules"].seq(allow_empty=False) if "rules" in s else []
    if not rules:
        raise (s["rules"] if "rules" in s else doc.root.at_key("spec")).error(
            "an HTTPRoute needs rules with backendRefs: the lab reads rules[].matches and rules[].backendRefs"
        )
    for rule in rules:
        r = rule.mapping(
            ("backendRefs",),
            ("name", "matches"),
            unsupported=("filters", "timeouts", "retry", "sessionPersistence"),
        )
        if "name" in r:
            r["name"].string()
        for m in r["matches"].seq() if "matches" in r else []:
            _match(m)
        backends = r["backendRefs"].seq(allow_empty=False)
        for b in backends:
            _backend_ref(b, doc.own_namespace)
        if all(_weight(b) == 0 for b in backends):
            raise r["backendRefs"].error(
                "every backend has weight 0: give a backend a weight (a backend gets "
                "weight / sum of weights of the rule's requests)"
            )


def _group_kind(m: dict, at: YamlNode, default_group: str, default_kind: str, what: str) -> None:
    group = m["group"].string() if "group" in m else default_group
    kind = m["kind"].string() if "kind" in m else default_kind
    if (group, kind) != ("", "Service"):
        where = m.get("kind") or m.get("group") or at
        raise where.error(
            f"a {what} of group {group!r}, kind {kind} is not supported by meshlab; allowed: "
            'group: "" and kind: Service (the mesh binding, GAMMA)'
            + (
                " — a parentRef with no kind is a Gateway, the Gateway API's default"
                if what == "parentRef" and "kind" not in m
                else ""
            )
        )


def _same_namespace(m: dict, namespace: str, what: str) -> None:
    if "namespace" in m and m["namespace"].name() != namespace:
        raise m["namespace"].error(
            f"a {what} in another namespace ({m['namespace'].value()}) is not supported by "
            f"meshlab; allowed: {namespace} (the route's own)"
        )


def _parent_ref(ref: YamlNode, namespace: str) -> None:
    m = ref.mapping(("name",), ("group", "kind", "namespace", "port"), unsupported=("sectionName",))
    _group_kind(m, ref, "gateway.networking.k8s.io", "Gateway", "parentRef")
    m["name"].name()
    _same_namespace(m, namespace, "parentRef")
    if "port" in m:
        m["port"].port()


def _backend_ref(ref: YamlNode, namespace: str) -> None:
    m = ref.mapping(("name", "port"), ("group", "kind", "namespace", "weight"), unsupported=("filters",))
    _group_kind(m, ref, "", "Service", "backendRef")
    m["name"].name()
    _same_namespace(m, namespace, "backendRef")
    m["port"].port()
    if "weight" in m:
        m["weight"].integer(0, MAX_WEIGHT)


def _weight(ref: YamlNode) -> int:
    m = ref.mapping()
    return m["weight"].value() if "weight" in m else 1


def _match(at: YamlNode) -> None:
    m = at.mapping((), ("path", "headers", "method"), unsupported=("queryParams",))
    if "path" in m:
        p = m["path"].mapping((), ("type", "value"))
        kind = p["type"].string(PATH_TYPES) if "type" in p else "PathPrefix"
        value = p["value"].string() if "value" in p else "/"
        if kind == "RegularExpression":
            _regex(p["value"], value)
        elif not value.startswith("/"):
            raise p["value"].error(f"a {kind} path starts with '/'; got {value!r}")
    for h in m["headers"].seq() if "headers" in m else []:
        hm = h.mapping(("name", "value"), ("type",))
        hm["name"].string()
        value = hm["value"].string()
        if "type" in hm and hm["type"].string(HEADER_TYPES) == "RegularExpression":
            _regex(hm["value"], value)
    if "method" in m:
        m["method"].string(METHODS)


def _regex(at: YamlNode, value: str) -> None:
    import re

    try:
        re.compile(value)
    except re.error as e:
        raise at.error(f"not a valid regular expression: {e}") from None


# -- compile --------------------------------------------------------------------------------------


def match_block(m: Mapping) -> dict:
    """One ``matches[]`` entry as a route-match block (:func:`meshlab.policy.routing.match_block`)."""
    path = m.get("path") or {}
    kind, value = path.get("type", "PathPrefix"), path.get("value", "/")
    if kind == "PathPrefix":
        value = value.rstrip("/") or "/"  # "a trailing / is ignored"
    block: dict = {
        "uri": {{"PathPrefix": "pathPrefix", "Exact": "exact", "RegularExpression": "regex"}[kind]: value}
    }
    headers: dict = {}
    for h in m.get("headers") or []:
        name = h["name"].lower()
        if name not in headers:  # the first of two same-named conditions counts
            headers[name] = {"regex" if h.get("type") == "RegularExpression" else "exact": h["value"]}
    if headers:
        block["headers"] = headers
    if m.get("method"):
        block["method"] = {"exact": m["method"]}
    return block


def precedence(block: Mapping) -> tuple:
    """The Gateway API's order of matches, as a sort key: exact path, longest prefix (regular
    expressions last), a method, the most headers."""
    ((kind, value),) = block["uri"].items()
    path_rank = {"exact": (0, 0), "pathPrefix": (1, -len(value))}.get(kind, (2, 0))
    return (*path_rank, 0 if "method" in block else 1, -len(block.get("headers") or {}))


def compile(o: PolicyObject) -> RouteSource:
    spec = o.spec
    entries = []
    for i, rule in enumerate(spec.get("rules") or []):
        name = f"HTTPRoute {o.namespace}/{o.name} rules[{i}]" + (
            f" ({rule['name']})" if rule.get("name") else ""
        )
        dests = tuple(
            Destination(
                service_fqdn(b["name"], b.get("namespace") or o.namespace),
                None,
                b["port"],
                int(b.get("weight", 1)),
            )
            for b in rule["backendRefs"]
        )
        action = RouteAction(name, dests)
        for m in rule.get("matches") or [{}]:
            entries.append(((match_block(m),), action))
    entries.sort(key=lambda e: precedence(e[0][0]))  # stable: ties keep the written order
    hosts = tuple(
        dict.fromkeys(service_fqdn(r["name"], r.get("namespace") or o.namespace) for r in spec["parentRefs"])
    )
    return RouteSource(f"HTTPRoute {o.namespace}/{o.name}", hosts, tuple(entries))


# -- check ----------------------------------------------------------------------------------------


def check(o: PolicyObject, lab, store) -> list[str]:
    """A parent or backend that is no service of the lab, a port that is not the service's, L7
    rules no proxy applies (the VirtualService's warning), a VirtualService for the same Service."""
    out = []
    services = {s.fqdn: s for s in lab.topology.services}
    for i, ref in enumerate(o.spec["parentRefs"]):
        host = service_fqdn(ref["name"], ref.get("namespace") or o.namespace)
        svc = services.get(host)
        if svc is None:
            out.append(
                f"{o}: parentRefs[{i}] names Service {ref['name']!r}, which is not a service in the lab; "
                f"the route affects nothing (services: {listing(sorted(s.name for s in services.values()))})"
            )
            continue
        if "port" in ref and ref["port"] != svc.port:
            out.append(
                f"{o}: parentRefs[{i}] port {ref['port']} is not a port of {svc.name} ({svc.port}): the route "
                "applies to no request"
            )
        why = l7_unenforced(o, svc, lab)
        if why:
            out.append(why)
        vs = [
            x
            for x in store.items
            if x.kind == "VirtualService"
            and any(fqdn(h, x.namespace) == host for h in x.spec.get("hosts") or [])
        ]
        if vs:
            out.append(
                f"{o}: {vs[0]} routes {svc.name} too; Istio leaves mixing VirtualService and HTTPRoute for one "
                "Service undefined (istio.io, ambient/migrate/migrate-policies). The lab tries the older one "
                "first (a waypoint: both, oldest first)"
            )
    for i, rule in enumerate(o.spec.get("rules") or []):
        for j, b in enumerate(rule["backendRefs"]):
            svc = services.get(service_fqdn(b["name"], b.get("namespace") or o.namespace))
            if svc is None:
                out.append(
                    f"{o}: rules[{i}].backendRefs[{j}] names Service {b['name']!r}, which is not a service in "
                    "the lab: those requests fail (the lab answers 503, NC)"
                )
            elif b["port"] != svc.port:
                out.append(
                    f"{o}: rules[{i}].backendRefs[{j}] port {b['port']} is not {svc.name}'s port ({svc.port}): "
                    "those requests fail (503, NC)"
                )
    return out


# -- build ----------------------------------------------------------------------------------------


def http_route(
    service: str,
    port: int,
    rules: Sequence[tuple[Mapping[str, str] | None, Mapping[str, int]]],
    namespace: str = "default",
    name: str | None = None,
) -> dict:
    """An HTTPRoute for ``service`` (its parentRef, on ``port``) with one rule per
    ``(headers, backends)``: requests carrying every header in ``headers`` (None: every request) go
    to ``backends`` (Service name -> weight; a lone backend needs none). Istio's request-routing
    task is ``http_route("reviews", 9080, [({"end-user": "jason"}, {"reviews-v2": 1}),
    (None, {"reviews-v1": 1})])``."""
    out = []
    for headers, backends in rules:
        rule: dict = {}
        if headers:
            rule["matches"] = [
                {"headers": [{"type": "Exact", "name": k, "value": v} for k, v in headers.items()]}
            ]
        rule["backendRefs"] = [
            {"name": b, "port": port, **({"weight": w} if len(backends) > 1 else {})}
            for b, w in backends.items()
        ]
        out.append(rule)
    return {
        "apiVersion": API_VERSIONS[0],
        "kind": "HTTPRoute",
        "metadata": {"name": name or service, "namespace": namespace},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": service, "port": port}],
            "rules": out,
        },
    }


HANDLER = KindHandler("HTTPRoute", API_VERSIONS, validate, compile, check)
