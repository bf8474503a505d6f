"""VirtualService and DestinationRule, evaluated: which route a request takes, where it goes,
with what timeout, retries and faults, and under which traffic policy. Pure functions.

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

from ..durations import parse_duration
from ..topology.model import CLUSTER_DOMAIN
from .loader import ROOT_NAMESPACE, PolicyObject, parse_retry_on
from .retries import BACKOFF_BASE, DEFAULT_RETRY, RetryPolicy

UNLIMITED = 2 ** 32 - 1


@dataclass(frozen=True)
class RequestInfo:
    """What route matching looks at."""
    method: str
    path: str                                   # the request target; the query is ignored
    headers: Mapping[str, str] = field(default_factory=dict)   # lower-case names
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
    host: str                    # fully qualified service name
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
    delay: tuple[float, float] | None = None        # (seconds, percent of requests)
    abort: tuple[int, float] | None = None          # (HTTP status, percent of requests)


# -- hosts ----------------------------------------------------------------------------------------

def fqdn(host: str, namespace: str) -> str:
    """A host as a VirtualService or DestinationRule writes it, as istiod reads it
    (``ResolveShortnameToFQDN`` in ``pilot/pkg/model/config.go``): a name with no dot is relative
    to the object's own namespace (``reviews`` -> ``reviews.<ns>.svc.cluster.local``); anything
    else — ``reviews.default`` too, ``*`` and IP addresses — is taken as written."""
    if host == "*" or "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


def short_name_hint(host: str, services: Iterable[str]) -> str:
    """For a dotted host that names no service but would if expanded: what to write instead."""
    if "." not in host or host.endswith(f".svc.{CLUSTER_DOMAIN}"):
        return ""
    for full in (f"{host}.svc.{CLUSTER_DOMAIN}", f"{host}.{CLUSTER_DOMAIN}"):
        if full in services:
            return (f" (Istio expands only a name with no dot; {host!r} is taken as written: write "
                    f"{host.split('.')[0]!r} in namespace {full.split('.')[1]} or {full!r})")
    return ""


def host_matches(pattern: str, service_fqdn: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return service_fqdn.endswith(pattern[1:])
    return pattern == service_fqdn


def exported_to(o: PolicyObject, namespace: str | None) -> bool:
    """Does ``o``'s ``exportTo`` let proxies in ``namespace`` see it? Unset or ``*``: everyone;
    ``.``: its own namespace only. (``namespace`` None: no proxy in mind, everyone.)"""
    export = o.spec.get("exportTo")
    return namespace is None or not export or "*" in export or ("." in export and o.namespace == namespace)


def virtual_services_for(objects: Iterable[PolicyObject], service_fqdn: str,
                         proxy: "RouteProxy | None" = None) -> list[PolicyObject]:
    """The VirtualServices naming a service that a proxy sees, oldest first: those exported to its
    namespace; for a waypoint, only those in its own namespace or the service's
    (``getVirtualServiceForWaypoint`` in ``pilot/pkg/networking/core/listener_waypoint.go``)."""
    service_ns = service_fqdn.split(".")[1] if service_fqdn.count(".") >= 2 else None
    out = []
    for o in objects:
        if o.kind != "VirtualService" or not any(host_matches(fqdn(h, o.namespace), service_fqdn)
                                                 for h in o.spec.get("hosts", [])):
            continue
        if proxy is not None and not exported_to(o, proxy.namespace):
            continue
        if proxy is not None and proxy.waypoint and o.namespace not in (proxy.namespace, service_ns):
            continue
        out.append(o)
    return out


def virtual_service_for(objects: Iterable[PolicyObject], service_fqdn: str,
                        proxy: "RouteProxy | None" = None) -> PolicyObject | None:
    """The VirtualService a sidecar uses for a service: the oldest one it sees (Istio keeps the
    oldest when two conflict)."""
    found = virtual_services_for(objects, service_fqdn, proxy)
    return found[0] if found else None


def destination_rule_for(objects: Iterable[PolicyObject], service_fqdn: str,
                         proxy_namespace: str | None = None) -> PolicyObject | None:
    """The DestinationRule a proxy in ``proxy_namespace`` uses for a service, where istiod looks
    (``PushContext.destinationRule``): one in the proxy's own namespace, else one in the service's
    namespace exported to the proxy, else one in the root namespace exported to it; in each, an
    exact host before a wildcard, the oldest first. (No ``proxy_namespace``: the first that names it.)"""
    named = [o for o in objects if o.kind == "DestinationRule"
             and host_matches(fqdn(o.spec.get("host", ""), o.namespace), service_fqdn)]
    if proxy_namespace is None:
        return named[0] if named else None
    service_ns = service_fqdn.split(".")[1] if service_fqdn.count(".") >= 2 else None

    def best(cands):
        exact = [o for o in cands if fqdn(o.spec.get("host", ""), o.namespace) == service_fqdn]
        return (exact or cands or [None])[0]
    if proxy_namespace != ROOT_NAMESPACE:
        local = best([o for o in named if o.namespace == proxy_namespace])
    else:
        local = best([o for o in named if o.namespace == ROOT_NAMESPACE and o.spec.get("exportTo") == ["."]])
    if local is not None:
        return local
    for ns in (service_ns, ROOT_NAMESPACE):
        found = best([o for o in named if o.namespace == ns and exported_to(o, proxy_namespace)])
        if found is not None:
            return found
    return None


# -- route matching -------------------------------------------------------------------------------

def string_match(m: Mapping, value: str | None, ignore_case: bool = False) -> bool:
    """One StringMatch. ``ignore_case`` (``ignoreUriCase``) applies to exact and prefix only:
    Envoy's ``case_sensitive`` is "ignored for safe_regex matching"."""
    if value is None:
        return False
    if "regex" in m:
        return re.fullmatch(m["regex"], value) is not None
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
            continue                              # Istio ignores these keys under headers
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


Routes = tuple  # ((match blocks, RouteAction), ...): a VirtualService's http routes, compiled


def compile_routes(vs: "PolicyObject | Sequence[PolicyObject] | None", service_fqdn: str,
                   proxy: RouteProxy | None = None) -> Routes:
    """A service's routes, in order, each with its match blocks and its action (built once per
    config, not per request). No VirtualService: Istio's default route, which matches everything.
    Several (a waypoint's): their routes one after the other, as ``buildWaypointInboundHTTPRouteConfig``
    merges them.

    For a ``proxy``, the source conditions are settled now, as istiod settles them for each proxy
    (:func:`source_blocks`); a route none of whose blocks is left is no route for that proxy. When
    no route is left at all, istiod builds the service's default route instead (the sidecar's
    ``buildSidecarVirtualHostsForVirtualService`` gives up on the VirtualService; the waypoint
    falls back to ``buildSidecarInboundHTTPRouteConfig``). Without a ``proxy`` the source
    conditions are checked per request, against :class:`RequestInfo`'s source."""
    services = [vs] if isinstance(vs, PolicyObject) else list(vs or [])
    out = []
    for v in services:
        for i, r in enumerate(v.spec.get("http") or []):
            blocks = r.get("match") or [{}]
            if proxy is not None:
                blocks = source_blocks(blocks, proxy)
                if not blocks:
                    continue
            out.append((blocks, route_action(v, i, r)))
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
    """The action for a request to ``service_fqdn``: its VirtualService's first matching route,
    Istio's default route when there is no VirtualService, or None (404, ``NR``) when the
    VirtualService has no route that matches."""
    return select_route(compile_routes(vs, service_fqdn), req)


def route_action(vs: PolicyObject, index: int, r: Mapping) -> RouteAction:
    name = f"VirtualService {vs.namespace}/{vs.name} http[{index}]" + (f" ({r['name']})" if r.get("name") else "")
    dests = tuple(Destination(fqdn(d["destination"]["host"], vs.namespace), d["destination"].get("subset"),
                              (d["destination"].get("port") or {}).get("number"), d.get("weight", 100 if len(r["route"]) == 1 else 0))
                  for d in r["route"])
    retry, base = retry_policy(r.get("retries"), name)
    timeout = parse_duration(r["timeout"]) if r.get("timeout") else None
    delay = abort = None
    fault = r.get("fault")
    if fault:
        if "delay" in fault:
            delay = (parse_duration(fault["delay"]["fixedDelay"]), percentage(fault["delay"]))
        if "abort" in fault:
            abort = (int(fault["abort"]["httpStatus"]), percentage(fault["abort"]))
    return RouteAction(name, dests, timeout, retry, base, delay, abort)


def percentage(f: Mapping) -> float:
    if "percentage" in f:
        return float(f["percentage"].get("value", 0))
    return float(f.get("percent", 0))


def retry_policy(retries: Mapping | None, source: str) -> tuple[RetryPolicy, float]:
    """Istio's translation of ``retries`` (``retry.ConvertPolicy`` in
    ``pilot/pkg/networking/core/route/retry/retry.go``): none given -> the mesh default;
    ``attempts`` 0 -> no retries; otherwise the default policy with the given attempts,
    ``retryOn``, ``perTryTimeout``, ``backoff`` and ``retryIgnorePreviousHosts`` (false drops
    Envoy's previous-hosts predicate: a retry may go back to the host that just failed)."""
    if retries is None:
        return DEFAULT_RETRY, BACKOFF_BASE
    attempts = int(retries.get("attempts", 0))
    if attempts <= 0:
        return RetryPolicy(attempts=0, retry_on=frozenset(), source=f"{source}: retries off"), BACKOFF_BASE
    on, codes = DEFAULT_RETRY.retry_on, DEFAULT_RETRY.retriable_status_codes
    if retries.get("retryOn"):
        on, codes = parse_retry_on(retries["retryOn"])
    per_try = parse_duration(retries["perTryTimeout"]) if retries.get("perTryTimeout") else None
    base = parse_duration(retries["backoff"]) if retries.get("backoff") else BACKOFF_BASE
    return RetryPolicy(attempts, on, codes, per_try, source=source,
                       ignore_previous_hosts=bool(retries.get("retryIgnorePreviousHosts", True))), base


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


# -- DestinationRule ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outlier:
    consecutive_5xx: int = 5
    consecutive_gateway: int = 0
    interval: float = 10.0
    base_ejection: float = 30.0
    max_ejection_percent: int = 10
    min_health_percent: int = 0


@dataclass(frozen=True)
class TrafficPolicy:
    lb: str = "LEAST_REQUEST"
    max_connections: int = UNLIMITED
    connect_timeout: float = 10.0
    max_pending: int = UNLIMITED
    max_requests: int = UNLIMITED
    max_requests_per_connection: int = 0           # 0: unlimited
    max_retries: int = UNLIMITED
    outlier: Outlier | None = None
    tls: str | None = None                          # None: Istio's auto mTLS; "DISABLE"; "ISTIO_MUTUAL"
    source: str = "defaults"

    @property
    def limited(self) -> bool:
        return (self.max_connections, self.max_pending, self.max_requests, self.max_retries) != (UNLIMITED,) * 4 \
            or self.max_requests_per_connection != 0


def subset_labels(dr: PolicyObject | None, subset: str) -> dict | None:
    """The labels a subset selects, or None when the DestinationRule does not define it."""
    for s in (dr.spec.get("subsets") or []) if dr else []:
        if s["name"] == subset:
            return dict(s.get("labels") or {})
    return None


def traffic_policy(dr: PolicyObject | None, subset: str | None = None) -> TrafficPolicy:
    if dr is None:
        return TrafficPolicy()
    parts = [dr.spec.get("trafficPolicy") or {}]
    for s in dr.spec.get("subsets") or []:
        if s["name"] == subset and s.get("trafficPolicy"):
            parts.append(s["trafficPolicy"])
    tp: dict = {}
    for p in parts:                                   # the subset's groups override the rule's
        tp.update(p)
    out: dict = {"source": f"DestinationRule {dr.namespace}/{dr.name}" + (f" subset {subset}" if subset else "")}
    lb = (tp.get("loadBalancer") or {}).get("simple")
    if lb and lb != "UNSPECIFIED":
        out["lb"] = lb
    cp = tp.get("connectionPool") or {}
    tcp, http = cp.get("tcp") or {}, cp.get("http") or {}
    if "maxConnections" in tcp:
        out["max_connections"] = int(tcp["maxConnections"])
    if "connectTimeout" in tcp:
        out["connect_timeout"] = parse_duration(tcp["connectTimeout"])
    for k, name in (("http1MaxPendingRequests", "max_pending"), ("http2MaxRequests", "max_requests"),
                    ("maxRequestsPerConnection", "max_requests_per_connection"), ("maxRetries", "max_retries")):
        if k in http:
            out[name] = int(http[k])
    od = tp.get("outlierDetection")
    if od is not None:
        out["outlier"] = Outlier(
            consecutive_5xx=int(od.get("consecutive5xxErrors", 5)),
            consecutive_gateway=int(od.get("consecutiveGatewayErrors", 0)),
            interval=parse_duration(od["interval"]) if "interval" in od else 10.0,
            base_ejection=parse_duration(od["baseEjectionTime"]) if "baseEjectionTime" in od else 30.0,
            max_ejection_percent=int(od.get("maxEjectionPercent") or 10),   # 0 is unset: Envoy's 10%
            min_health_percent=int(od.get("minHealthPercent", 0)))
    if tp.get("tls"):
        out["tls"] = tp["tls"]["mode"]
    return TrafficPolicy(**out)
