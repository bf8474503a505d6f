"""DestinationRule (``networking.istio.io``): validated, compiled, checked, written. Pure.

- **validate**: ``host``, ``subsets`` (names, labels, their own ``trafficPolicy``), ``exportTo``,
  ``trafficPolicy`` (``loadBalancer.simple``, ``connectionPool``, ``outlierDetection``, ``tls``
  mode); the rest of the real API is refused by name.
- **compile** to a :class:`CompiledDestinationRule`: each subset's labels and the
  :class:`TrafficPolicy` in force for the rule and for each subset — a subset's policy overrides
  the rule's, field group by field group (ISTIO-FACTS §4.2).
- **where it applies** (:func:`destination_rule_for`): istiod's lookup order.
- **build**: :func:`destination_rule` (subsets by version, as ``destination-rule-all.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..durations import parse_duration
from ..topology.model import Topology
from ..yamlnode import YamlNode, listing
from .authz import ROOT_NAMESPACE
from .handler import Document, KindHandler
from .hosts import exported_to, fqdn, host_matches, short_name_hint
from .objects import PolicyObject, panel_meta

API_VERSIONS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
LB_SIMPLE = ("UNSPECIFIED", "LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
TLS_MODES = ("DISABLE", "ISTIO_MUTUAL")
UNLIMITED = 2**32 - 1


# -- validate -------------------------------------------------------------------------------------


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec).mapping(
        ("host",), ("subsets", "trafficPolicy", "exportTo"), unsupported=("workloadSelector",)
    )
    s["host"].string()
    if "exportTo" in s:
        for e in s["exportTo"].seq():
            e.string(["*", "."])
    if "trafficPolicy" in s:
        _traffic_policy(s["trafficPolicy"])
    names = {}
    for sub in s["subsets"].seq() if "subsets" in s else []:
        m = sub.mapping(("name",), ("labels", "trafficPolicy"))
        n = m["name"].name()
        if n in names:
            raise m["name"].error(f"subset {n!r} is defined twice")
        names[n] = True
        if "labels" in m:
            m["labels"].labels()
        if "trafficPolicy" in m:
            _traffic_policy(m["trafficPolicy"])


def _traffic_policy(at: YamlNode) -> None:
    t = at.mapping(
        (),
        ("loadBalancer", "connectionPool", "outlierDetection", "tls"),
        unsupported=("portLevelSettings", "tunnel", "proxyProtocol", "retryBudget"),
    )
    if "loadBalancer" in t:
        lb = t["loadBalancer"].mapping(
            ("simple",),
            (),
            unsupported=("consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup"),
        )
        v = lb["simple"].string()
        if v == "PASSTHROUGH":
            raise lb["simple"].error(
                "PASSTHROUGH is not supported by meshlab; allowed: " + listing(LB_SIMPLE)
            )
        lb["simple"].string(LB_SIMPLE)
    if "connectionPool" in t:
        cp = t["connectionPool"].mapping((), ("tcp", "http"))
        if "tcp" in cp:
            tcp = cp["tcp"].mapping(
                (),
                ("maxConnections", "connectTimeout"),
                unsupported=("tcpKeepalive", "maxConnectionDuration", "idleTimeout"),
            )
            if "maxConnections" in tcp:
                tcp["maxConnections"].integer(1, 2**32 - 1)
            if "connectTimeout" in tcp:
                tcp["connectTimeout"].duration()
        if "http" in cp:
            h = cp["http"].mapping(
                (),
                ("http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection", "maxRetries"),
                unsupported=("idleTimeout", "h2UpgradePolicy", "useClientProtocol", "maxConcurrentStreams"),
            )
            for k in h:
                h[k].integer(0 if k == "maxRequestsPerConnection" else 1, 2**32 - 1)
    if "outlierDetection" in t:
        od = t["outlierDetection"].mapping(
            (),
            (
                "consecutive5xxErrors",
                "consecutiveGatewayErrors",
                "interval",
                "baseEjectionTime",
                "maxEjectionPercent",
                "minHealthPercent",
            ),
            unsupported=(
                "consecutiveErrors",
                "splitExternalLocalOriginErrors",
                "consecutiveLocalOriginFailures",
            ),
        )
        for k in ("consecutive5xxErrors", "consecutiveGatewayErrors"):
            if k in od:
                od[k].integer(0, 2**32 - 1)
        for k in ("interval", "baseEjectionTime"):
            if k in od:
                od[k].duration()
        for k in ("maxEjectionPercent", "minHealthPercent"):
            if k in od:
                od[k].integer(0, 100)
    if "tls" in t:
        tls = t["tls"].mapping(
            ("mode",),
            (),
            unsupported=(
                "clientCertificate",
                "privateKey",
                "caCertificates",
                "credentialName",
                "subjectAltNames",
                "sni",
                "insecureSkipVerify",
            ),
        )
        mode = tls["mode"].string()
        if mode in ("SIMPLE", "MUTUAL"):
            raise tls["mode"].error(
                f"{mode} (TLS to a service outside the mesh) is not supported by meshlab; "
                f"allowed: {listing(TLS_MODES)}"
            )
        tls["mode"].string(TLS_MODES)


# -- compile --------------------------------------------------------------------------------------


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
    max_requests_per_connection: int = 0  # 0: unlimited
    max_retries: int = UNLIMITED
    outlier: Outlier | None = None
    tls: str | None = None  # None: Istio's auto mTLS; "DISABLE"; "ISTIO_MUTUAL"
    source: str = "defaults"

    @property
    def limited(self) -> bool:
        return (self.max_connections, self.max_pending, self.max_requests, self.max_retries) != (
            UNLIMITED,
        ) * 4 or self.max_requests_per_connection != 0


@dataclass(frozen=True)
class CompiledDestinationRule:
    """``host`` (fully qualified), each subset's labels, and the traffic policy for the rule
    (``policies[None]``) and for each subset."""

    host: str
    subsets: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    policies: tuple[tuple[str | None, TrafficPolicy], ...]

    def labels(self, subset: str) -> dict | None:
        for name, labels in self.subsets:
            if name == subset:
                return dict(labels)
        return None

    def policy(self, subset: str | None) -> TrafficPolicy:
        found = dict(self.policies)
        return found.get(subset) or found[None]


def compile(o: PolicyObject) -> CompiledDestinationRule:
    spec = o.spec
    subsets = tuple(
        (s["name"], tuple(sorted((s.get("labels") or {}).items()))) for s in spec.get("subsets") or []
    )
    policies = [(None, _policy(o, None))] + [
        (s["name"], _policy(o, s["name"])) for s in spec.get("subsets") or []
    ]
    return CompiledDestinationRule(fqdn(spec.get("host", ""), o.namespace), subsets, tuple(policies))


def _policy(dr: PolicyObject, subset: str | None) -> TrafficPolicy:
    parts = [dr.spec.get("trafficPolicy") or {}]
    for s in dr.spec.get("subsets") or []:
        if s["name"] == subset and s.get("trafficPolicy"):
            parts.append(s["trafficPolicy"])
    tp: dict = {}
    for p in parts:  # the subset's groups override the rule's
        tp.update(p)
    out: dict = {
        "source": f"DestinationRule {dr.namespace}/{dr.name}" + (f" subset {subset}" if subset else "")
    }
    lb = (tp.get("loadBalancer") or {}).get("simple")
    if lb and lb != "UNSPECIFIED":
        out["lb"] = lb
    cp = tp.get("connectionPool") or {}
    tcp, http = cp.get("tcp") or {}, cp.get("http") or {}
    if "maxConnections" in tcp:
        out["max_connections"] = int(tcp["maxConnections"])
    if "connectTimeout" in tcp:
        out["connect_timeout"] = parse_duration(tcp["connectTimeout"])
    for k, name in (
        ("http1MaxPendingRequests", "max_pending"),
        ("http2MaxRequests", "max_requests"),
        ("maxRequestsPerConnection", "max_requests_per_connection"),
        ("maxRetries", "max_retries"),
    ):
        if k in http:
            out[name] = int(http[k])
    od = tp.get("outlierDetection")
    if od is not None:
        out["outlier"] = Outlier(
            consecutive_5xx=int(od.get("consecutive5xxErrors", 5)),
            consecutive_gateway=int(od.get("consecutiveGatewayErrors", 0)),
            interval=parse_duration(od["interval"]) if "interval" in od else 10.0,
            base_ejection=parse_duration(od["baseEjectionTime"]) if "baseEjectionTime" in od else 30.0,
            max_ejection_percent=int(od.get("maxEjectionPercent") or 10),  # 0 is unset: Envoy's 10%
            min_health_percent=int(od.get("minHealthPercent", 0)),
        )
    if tp.get("tls"):
        out["tls"] = tp["tls"]["mode"]
    return TrafficPolicy(**out)


def _compiled(dr: PolicyObject) -> CompiledDestinationRule:
    return dr.compiled if isinstance(dr.compiled, CompiledDestinationRule) else compile(dr)


def subset_labels(dr: PolicyObject | None, subset: str) -> dict | None:
    """The labels a subset selects, or None when the DestinationRule does not define it."""
    return _compiled(dr).labels(subset) if dr is not None else None


def traffic_policy(dr: PolicyObject | None, subset: str | None = None) -> TrafficPolicy:
    """The traffic policy for a DestinationRule's host (or one of its subsets); Envoy's defaults
    with no DestinationRule."""
    return _compiled(dr).policy(subset) if dr is not None else TrafficPolicy()


# -- where it applies -----------------------------------------------------------------------------


def destination_rule_for(
    objects: Iterable[PolicyObject], service_fqdn: str, proxy_namespace: str | None = None
) -> PolicyObject | None:
    """The DestinationRule a proxy in ``proxy_namespace`` uses for a service, where istiod looks
    (``PushContext.destinationRule``): one in the proxy's own namespace, else one in the service's
    namespace exported to the proxy, else one in the root namespace exported to it; in each, an
    exact host before a wildcard, the oldest first. (No ``proxy_namespace``: the first that names it.)"""
    named = [
        o
        for o in objects
        if o.kind == "DestinationRule"
        and host_matches(fqdn(o.spec.get("host", ""), o.namespace), service_fqdn)
    ]
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


# -- check ----------------------------------------------------------------------------------------


def check(o: PolicyObject, lab, store) -> list[str]:
    """A host that is no service; a subset that selects no pod."""
    topo = lab.topology
    services = {s.fqdn: s for s in topo.services}
    host = fqdn(o.spec["host"], o.namespace)
    if host not in services:
        return [
            f"{o}: host {o.spec['host']!r} ({host}) is not a service in the lab; it affects nothing"
            f"{short_name_hint(host, services)}"
        ]
    out = []
    pods = [p for p in topo.pods if services[host].selects(p)]
    for s in o.spec.get("subsets") or []:
        want = s.get("labels") or {}
        if not any(all(p.labels.get(k) == v for k, v in want.items()) for p in pods):
            out.append(f"{o}: subset {s['name']!r} selects no pod of {host} (labels {want})")
    return out


# -- build ----------------------------------------------------------------------------------------


def versions(topo: Topology, service: str, namespace: str = "default") -> dict[str, dict[str, str]]:
    """The service's subsets by its pods' ``version`` label (as Istio's samples name them):
    ``{"v1": {"version": "v1"}, ...}``; empty when its pods carry no version."""
    svc = next(s for s in topo.services if (s.name, s.namespace) == (service, namespace))
    found = sorted({p.labels["version"] for p in topo.pods if svc.selects(p) and "version" in p.labels})
    return {v: {"version": v} for v in found}


def destination_rule(service: str, namespace: str, subsets: Mapping[str, Mapping[str, str]]) -> dict:
    """A DestinationRule defining ``subsets`` (name -> labels), as destination-rule-all.yaml does."""
    return {
        "apiVersion": API_VERSIONS[0],
        "kind": "DestinationRule",
        "metadata": panel_meta(service, namespace),
        "spec": {"host": service, "subsets": [{"name": n, "labels": dict(ls)} for n, ls in subsets.items()]},
    }


def subsets_defined(
    policies: Sequence[PolicyObject], host: str, namespace: str, subsets: Iterable[str]
) -> bool:
    """Does a DestinationRule in ``policies`` define every one of ``subsets`` of ``host``?"""
    dr = destination_rule_for(policies, fqdn(host, namespace))
    return all(subset_labels(dr, name) is not None for name in subsets)


HANDLER = KindHandler("DestinationRule", API_VERSIONS, validate, compile, check)
