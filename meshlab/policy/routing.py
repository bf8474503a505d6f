"""Routes, evaluated: which route a request takes, where it goes, with what timeout, retries and
faults, and under which traffic policy. Pure functions.

The route tables come compiled (:class:`RouteSource`) from the two kinds that write them —
:mod:`.virtualservice` and Gateway API :mod:`.httproute` — and are evaluated here alike; the
traffic policy comes from :mod:`.destinationrule` (re-exported here).

Istio's semantics (ISTIO-FACTS §4.1, §4.2):

- ``http`` routes are tried in order and the first match wins; conditions inside one ``match``
  block are ANDed, the blocks are ORed; a route with no ``match`` matches everything. A service
  with a VirtualService but no matching route answers 404 (Envoy's ``NR``).
- ``sourceLabels`` and ``sourceNamespace`` are about the proxy, not the request: istiod builds
  each proxy's routes keeping only the match blocks whose ``sourceLabels`` the proxy's workload
  carries and whose ``sourceNamespace`` is its namespace (``sourceMatchHTTP`` in
  ``pilot/pkg/networking/core/route/route.go``). A sidecar is its client's proxy, so that is the
  client; a waypoint serves every client, and istiod drops match blocks with ``sourceLabels`` from
  its routes ("source label matching is not supported in ambient mode", ``waypointInboundRoute``
  in ``listener_waypoint.go``, istio/istio#51565) and checks ``sourceNamespace`` against the
  waypoint's own namespace. :class:`RouteProxy` and :func:`compile_routes` do the same.
- ``uri`` matches the path without its query string (exact / prefix / regex, RE2 there, Python's
  ``re`` here — the same for the patterns of Istio's tasks); header keys are lower case and ``{}``
  is a presence check.
- A destination gets ``weight / sum(weights)`` of the requests; a lone destination gets all.
- ``retries``: ``attempts`` retries after the first try (0: none), ``retryOn`` as Envoy reads it
  (integers are status codes), ``perTryTimeout``; no ``retries`` at all means Istio's default
  policy. ``timeout`` covers all attempts; none by default.
- A route with a ``fault`` keeps its ``timeout`` and ``retries``: istiod sets both whatever the
  fault (``TranslateRoute`` / ``applyHTTPRouteDestination`` in
  ``pilot/pkg/networking/core/route/route.go``). What a request sees comes from Envoy's filter
  order: the fault filter runs before the router, so an injected abort is the filter's own answer
  (never retried), and an injected delay elapses before the router's timeout starts; failures
  from upstream on that route are still retried and still time out. The VirtualService
  reference's "timeouts or retries will not be enabled when faults are enabled on the client
  side" describes the injected requests (istio/istio#13705). A fault with no ``percentage`` (and
  no deprecated ``percent``) applies to no request, as the proto says.
- A DestinationRule's subset policy overrides its rule-level policy, field by field group.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .destinationrule import (
    UNLIMITED,
    Outlier,
    TrafficPolicy,
    destination_rule_for,
    subset_labels,
    traffic_policy,
)
from .hosts import exported_to, fqdn, host_matches, short_name_hint
from .objects import PolicyObject
from .retries import BACKOFF_BASE, DEFAULT_RETRY, RetryPolicy

__all__ = [
    "DEFAULT_RETRY",
    "UNLIMITED",
    "Destination",
    "Outlier",
    "RequestInfo",
    "RouteAction",
    "RouteProxy",
    "RouteSource",
    "Routes",
    "TrafficPolicy",
    "compile_routes",
    "destination_rule_for",
    "exported_to",
    "fault_decision",
    "fqdn",
    "host_matches",
    "match_block",
    "pick_destination",
    "route_request",
    "select_route",
    "short_name_hint",
    "source_blocks",
    "string_match",
    "subset_labels",
    "traffic_policy",
    "virtual_service_for",
    "virtual_services_for",
]


@dataclass(frozen=True)
class RequestInfo:
    """What route matching looks at."""

    method: str
    path: str  # the request target; the query is ignored
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    authority: str = ""
    source_labels: Mapping[str, str] = field(default_factory=dict)
    source_namespace: str | None = None


@dataclass(frozen=True)
class RouteProxy:
    """The proxy a route table is built for (istiod builds one per proxy): its workload's
    namespace and labels, and whether it is a waypoint."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    waypoint: bool = False


@dataclass(frozen=True)
class Destination:
    host: str  # fully qualified service name
    subset: str | None = None
    port: int | None = None
    weight: int = 100


@dataclass(frozen=True)
class RouteAction:
    """What to do with a request: ``rule`` names where it came from, for spans and learners."""

    rule: str
    destinations: tuple[Destination, ...]
    timeout: float | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    backoff_base: float = BACKOFF_BASE
    delay: tuple[float, float] | None = None  # (seconds, percent of requests)
    abort: tuple[int, float] | None = None  # (HTTP status, percent of requests)


@dataclass(frozen=True)
class RouteSource:
    """A compiled VirtualService or HTTPRoute: the services it routes (fully qualified host
    patterns), its ``exportTo``, and its routes in the order they are tried, each as (match
    blocks, action). A block is a mapping of conditions (``uri``, ``method``, ``authority``,
    ``headers``, ``withoutHeaders``, ``sourceLabels``, ``sourceNamespace``, ``ignoreUriCase``)
    as :func:`match_block` reads them; ``{}`` matches every request."""

    name: str
    hosts: tuple[str, ...]
    routes: tuple[tuple[tuple[Mapping, ...], RouteAction], ...]
    export_to: tuple[str, ...] = ()


def _source(o: PolicyObject) -> RouteSource:
    if not isinstance(o.compiled, RouteSource):
        raise ValueError(
            f"{o} is not compiled: read it with load_policies() (or kinds.from_records() in a proxy)"
        )
    return o.compiled


# -- which route tables a proxy uses ----------------------------------------------------------------


def virtual_services_for(
    objects: Iterable[PolicyObject], service_fqdn: str, proxy: "RouteProxy | None" = None
) -> list[PolicyObject]:
    """The route tables (objects of any kind that compiles to a :class:`RouteSource`:
    VirtualServices, HTTPRoutes whose ``parentRefs`` name the service) naming a service that a proxy
    sees, oldest first: those exported to its namespace; for a waypoint, only those in its own
    namespace or the service's (``getVirtualServiceForWaypoint`` in
    ``pilot/pkg/networking/core/listener_waypoint.go``; istiod converts an HTTPRoute into a
    VirtualService first, so the same rules hold)."""
    service_ns = service_fqdn.split(".")[1] if service_fqdn.count(".") >= 2 else None
    out = []
    for o in objects:
        if not isinstance(o.compiled, RouteSource) or not any(
            host_matches(h, service_fqdn) for h in o.compiled.hosts
        ):
            continue
        if proxy is not None and not exported_to(o, proxy.namespace):
            continue
        if proxy is not None and proxy.waypoint and o.namespace not in (proxy.namespace, service_ns):
            continue
        out.append(o)
    return out


def virtual_service_for(
    objects: Iterable[PolicyObject], service_fqdn: str, proxy: "RouteProxy | None" = None
) -> PolicyObject | None:
    """The route table a sidecar uses for a service: the oldest one it sees (Istio keeps the
    oldest when two conflict)."""
    found = virtual_services_for(objects, service_fqdn, proxy)
    return found[0] if found else None


# -- route matching -------------------------------------------------------------------------------


def string_match(m: Mapping, value: str | None, ignore_case: bool = False) -> bool:
    """One StringMatch. ``ignore_case`` (``ignoreUriCase``) applies to exact and prefix only:
    Envoy's ``case_sensitive`` is "ignored for safe_regex matching". ``pathPrefix`` (what an
    HTTPRoute's ``PathPrefix`` compiles to) matches whole path elements: ``/api`` matches
    ``/api`` and ``/api/x``, not ``/apix`` (Envoy's ``path_separated_prefix``)."""
    if value is None:
        return False
    if "regex" in m:
        return re.fullmatch(m["regex"], value) is not None
    if "pathPrefix" in m:
        p = m["pathPrefix"]
        return p == "/" or value == p or value.startswith(p + "/")
    if ignore_case:
        value = value.lower()
    if "exact" in m:
        return value == (m["exact"].lower() if ignore_case else m["exact"])
    if "prefix" in m:
        return value.startswith(m["prefix"].lower() if ignore_case else m["prefix"])
    return True


def match_block(m: Mapping, req: RequestInfo) -> bool:
    """One ``match`` block: every condition in it holds."""
    path = req.path.split("?", 1)[0]
    if "uri" in m and not string_match(m["uri"], path, bool(m.get("ignoreUriCase"))):
        return False
    if "method" in m and not string_match(m["method"], req.method):
        return False
    if "authority" in m and not string_match(m["authority"], req.authority):
        return False
    for name, sm in (m.get("headers") or {}).items():
        if name in ("uri", "scheme", "method", "authority"):
            continue  # Istio ignores these keys under headers
        value = req.headers.get(name)
        if value is None or (sm and not string_match(sm, value)):
            return False
    for name, sm in (m.get("withoutHeaders") or {}).items():
        value = req.headers.get(name)
        if value is not None and (not sm or string_match(sm, value)):
            return False
    for k, v in (m.get("sourceLabels") or {}).items():
        if req.source_labels.get(k) != v:
            return False
    if "sourceNamespace" in m and m["sourceNamespace"] != req.source_namespace:
        return False
    return True


Routes = tuple  # ((match blocks, RouteAction), ...): a service's routes, compiled


def compile_routes(
    vs: "PolicyObject | Sequence[PolicyObject] | None", service_fqdn: str, proxy: RouteProxy | None = None
) -> Routes:
    """A service's routes, in order, each with its match blocks and its action, from the route
    tables' compiled routes (built once per config, not per request). No route table: Istio's
    default route, which matches everything. Several (a waypoint's): their routes one after the
    other, as ``buildWaypointInboundHTTPRouteConfig`` merges them.

    For a ``proxy``, the source conditions are settled now, as istiod settles them for each proxy
    (:func:`source_blocks`); a route none of whose blocks is left is no route for that proxy. When
    no route is left at all, istiod builds the service's default route instead (the sidecar's
    ``buildSidecarVirtualHostsForVirtualService`` gives up on the VirtualService; the waypoint
    falls back to ``buildSidecarInboundHTTPRouteConfig``, which builds a waypoint's default route
    like a sidecar's outbound one, with the mesh's default retry policy: Istio 1.31, istio#60682;
    from 1.24 to 1.30 it had the inbound default instead, :data:`~.retries.DEFAULT_INBOUND_RETRY`).
    Without a ``proxy`` the source
    conditions are checked per request, against :class:`RequestInfo`'s source."""
    tables = [vs] if isinstance(vs, PolicyObject) else list(vs or [])
    out = []
    for v in tables:
        for blocks, action in _source(v).routes:
            blocks = list(blocks)
            if proxy is not None:
                blocks = source_blocks(blocks, proxy)
                if not blocks:
                    continue
            out.append((blocks, action))
    if not out:
        return (([{}], RouteAction("default route", (Destination(service_fqdn),))),)
    return tuple(out)


def source_blocks(blocks: Sequence[Mapping], proxy: RouteProxy) -> list[dict]:
    """The match blocks a proxy's routes keep, with their source conditions settled (istiod's
    ``sourceMatchHTTP``; at a waypoint, ``waypointInboundRoute`` first drops every block with
    ``sourceLabels``)."""
    out = []
    for b in blocks:
        labels, ns = b.get("sourceLabels") or {}, b.get("sourceNamespace")
        if labels and proxy.waypoint:
            continue
        if any(proxy.labels.get(k) != v for k, v in labels.items()) or (ns and ns != proxy.namespace):
            continue
        out.append({k: v for k, v in b.items() if k not in ("sourceLabels", "sourceNamespace")})
    return out


def select_route(routes: Routes, req: RequestInfo) -> RouteAction | None:
    """The first route with a matching block, or None (404, ``NR``)."""
    for blocks, action in routes:
        if any(match_block(b, req) for b in blocks):
            return action
    return None


def route_request(vs: PolicyObject | None, service_fqdn: str, req: RequestInfo) -> RouteAction | None:
    """The action for a request to ``service_fqdn``: its route table's first matching route,
    Istio's default route when there is none, or None (404, ``NR``) when the table has no route
    that matches."""
    return select_route(compile_routes(vs, service_fqdn), req)


def pick_destination(dests: Sequence[Destination], rng: random.Random) -> Destination:
    """``weight / sum(weights)`` of the requests each; a lone destination gets them all."""
    if len(dests) == 1:
        return dests[0]
    total = sum(d.weight for d in dests)
    x = rng.uniform(0, total)
    for d in dests:
        if x < d.weight:
            return d
        x -= d.weight
    return [d for d in dests if d.weight > 0][-1]


def fault_decision(action: RouteAction, rng: random.Random) -> tuple[float, int | None]:
    """(seconds to delay, status to abort with or None) for one request. Delay and abort are
    drawn independently, as Istio's fault filter does."""
    delay = 0.0
    if action.delay and rng.uniform(0, 100) < action.delay[1]:
        delay = action.delay[0]
    abort = None
    if action.abort and rng.uniform(0, 100) < action.abort[1]:
        abort = action.abort[0]
    return delay, abort
