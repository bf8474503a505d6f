"""Read Istio YAML — one or many documents — into checked :class:`PolicyObject` s.

The subset meshlab builds (see ``docs/policy-support.md``): VirtualService and DestinationRule
(``networking.istio.io``), PeerAuthentication and AuthorizationPolicy (``security.istio.io``), the
waypoint ``Gateway`` (``gateway.networking.k8s.io``, ``gatewayClassName: istio-waypoint``), and
``Namespace`` / ``Service`` objects for their labels (``istio-injection``,
``istio.io/dataplane-mode``, ``istio.io/use-waypoint``).

Every problem is one :class:`~meshlab.errors.PolicyError` naming the file, the document, the
line, the field path (``spec.http[0].retries.retryOn``) and what is allowed. A field the real API
has but meshlab does not build is refused by name, never ignored. Checking here is about shape;
whether the object fits the running lab (does the namespace exist?) is :mod:`.store`'s job.

An object keeps the document exactly as written (``doc``), so the lab can show it and export it;
the evaluating code reads the same dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from ..errors import PolicyError
from ..topology.loader import check_use_waypoint_namespace
from ..yamlnode import YamlNode, close_match, compose_documents, dict_to_yaml, listing, yaml_problem
from .authz import ROOT_NAMESPACE, WHEN_KEYS, check_when_key
from .retries import RETRY_ON

__all__ = ["ROOT_NAMESPACE", "PolicyObject", "load_policies", "parse_retry_on"]

API_VERSIONS = {
    "VirtualService": ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"),
    "DestinationRule": ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"),
    "PeerAuthentication": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "AuthorizationPolicy": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "Gateway": ("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"),
    "Namespace": ("v1",),
    "Service": ("v1",),
}
KINDS = tuple(API_VERSIONS)
NAMESPACED = {k for k in KINDS if k != "Namespace"}
#: Kinds of the real APIs meshlab does not build: named when applied, never ignored.
UNSUPPORTED_KINDS = {
    "ServiceEntry": "the lab has no traffic leaving the cluster", "Sidecar": "not built",
    "EnvoyFilter": "the lab's proxies are not Envoy", "WorkloadEntry": "not built",
    "RequestAuthentication": "JWT is not built", "Telemetry": "not built", "WasmPlugin": "not built",
    "ProxyConfig": "not built", "HTTPRoute": "Gateway API routes are not built yet: use a VirtualService",
    "GRPCRoute": "not built", "TCPRoute": "not built", "ReferenceGrant": "not built",
    "Deployment": "workloads come from the topology", "Pod": "workloads come from the topology",
}
MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
LB_SIMPLE = ("UNSPECIFIED", "LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
TLS_MODES = ("DISABLE", "ISTIO_MUTUAL")
AUTHZ_ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
WAYPOINT_FOR = ("service", "all", "workload", "none")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


@dataclass(frozen=True)
class PolicyObject:
    """One applied object: its kind, namespace and name, and the document as written."""
    kind: str
    namespace: str | None
    name: str
    doc: dict = field(compare=False, hash=False)
    file: str | None = field(default=None, compare=False)     # where it was read from
    document: int | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        """``file: document N, line L``."""
        return f"{self.file or '<policy>'}: document {self.document}" + (f", line {self.line}" if self.line else "")

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def spec(self) -> dict:
        return self.doc.get("spec") or {}

    @property
    def labels(self) -> dict:
        return (self.doc.get("metadata") or {}).get("labels") or {}

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_record(self) -> dict:
        """JSON-able, for the control channel: proxies evaluate the same document."""
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "doc": self.doc}

    @classmethod
    def from_record(cls, r: dict) -> "PolicyObject":
        return cls(r["kind"], r["namespace"], r["name"], r["doc"])


# ------------------------------------------------------------------------------------------------

def load_policies(source: "str | Path | dict | Iterable", file: str | None = None) -> list[PolicyObject]:
    """Policies from YAML text, a path to a YAML file, one document as a dict, or a list of those."""
    if isinstance(source, PolicyObject):
        return [source]
    if isinstance(source, dict):
        return _from_text(dict_to_yaml(source, PolicyError, file or "<dict>"), file or "<dict>", lines=False)
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and
                                    source.strip().endswith((".yaml", ".yml"))):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PolicyError(f"cannot read the file: {e}", file=str(path)) from None
        return _from_text(text, str(path))
    if isinstance(source, str):
        return _from_text(source, file or "<yaml>")
    if not isinstance(source, Iterable) or isinstance(source, (bytes, bytearray)):
        raise PolicyError(f"cannot read Istio objects from a {type(source).__name__}: give YAML text, a path to a "
                          ".yaml file, a dict (one object), or a list of those", file=file)
    out: list[PolicyObject] = []
    for item in source:
        out += load_policies(item, file)
    return out


def _from_text(text: str, file: str, lines: bool = True) -> list[PolicyObject]:
    docs = []
    try:
        for node in compose_documents(text):
            docs.append(node)
    except yaml.YAMLError as e:
        problem, line = yaml_problem(e, text)
        raise PolicyError(f"not valid YAML: {problem}", file=file, document=len(docs) + 1, line=line) from None
    out, seen = [], {}
    for i, node in enumerate(docs, 1):
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            continue                               # an empty document (--- followed by ---)
        obj = _Document(YamlNode(node, file, "", lines, error_cls=PolicyError, context={"document": i})).build()
        obj = PolicyObject(obj.kind, obj.namespace, obj.name, obj.doc, file, i,
                           node.start_mark.line + 1 if lines else None)
        if obj.key in seen:
            raise PolicyError(f"{obj} appears twice in one apply (also document {seen[obj.key]})",
                              file=file, document=i)
        seen[obj.key] = i
        out.append(obj)
    if not out:
        raise PolicyError("no policy documents found (expected apiVersion/kind/metadata/spec)", file=file)
    return out


class _Document:
    def __init__(self, root: YamlNode):
        self.root = root

    def build(self) -> PolicyObject:
        top = self.root.free_mapping()
        kind_at = top.get("kind")
        if kind_at is None:
            raise self.root.error(f"missing 'kind'; kinds meshlab reads: {listing(KINDS)}")
        kind = kind_at.string()
        if kind in UNSUPPORTED_KINDS:
            raise kind_at.error(f"kind {kind} is not supported by meshlab ({UNSUPPORTED_KINDS[kind]}); "
                                f"supported kinds: {listing(KINDS)}")
        if kind not in API_VERSIONS:
            raise kind_at.error(f"unknown kind {kind!r}{close_match(kind, KINDS)}; supported kinds: {listing(KINDS)}")
        top = self.root.mapping(("apiVersion", "kind", "metadata"),
                                ("spec",) if kind not in ("Namespace", "Service") else ("spec", "status"),
                                unsupported=("status",) if kind not in ("Namespace", "Service") else ())
        top["apiVersion"].string(API_VERSIONS[kind])
        meta = top["metadata"].mapping(("name",), ("namespace", "labels", "annotations"))
        name = meta["name"].name()
        self.root.context["what"] = f"{kind} {name}"
        namespace = None
        if kind in NAMESPACED:
            namespace = meta["namespace"].name() if "namespace" in meta else "default"
            self.root.context["what"] = f"{kind} {namespace}/{name}"
        elif "namespace" in meta:
            raise meta["namespace"].error("a Namespace is not in a namespace: remove metadata.namespace")
        labels = meta["labels"].labels() if "labels" in meta else {}
        if "annotations" in meta:
            meta["annotations"].free_mapping()       # kept and exported; they change nothing in the lab
        spec_at = top.get("spec")
        self.own_namespace = namespace or name          # a Namespace's own, or the object's
        getattr(self, "_" + kind)(spec_at, labels, meta)
        return PolicyObject(kind, namespace, name, self.root.value())

    # -- networking.istio.io -------------------------------------------------------------------
    def _VirtualService(self, spec: YamlNode | None, labels, meta) -> None:
        s = self._spec(spec).mapping(("hosts",), ("http", "gateways", "exportTo"),
                                     unsupported=("tcp", "tls"))
        for h in s["hosts"].seq(allow_empty=False):
            h.string()
        if "gateways" in s:
            for g in s["gateways"].seq():
                if g.string() != "mesh":
                    raise g.error("meshlab has no ingress gateways: gateways may only list 'mesh' "
                                  "(the sidecars and waypoints, Istio's default)")
        if "exportTo" in s:
            for e in s["exportTo"].seq():
                e.string(["*", "."])
        for r in s["http"].seq() if "http" in s else []:
            self._http_route(r)

    def _http_route(self, r: YamlNode) -> None:
        m = r.mapping(("route",), ("name", "match", "timeout", "retries", "fault"),
                      unsupported=("redirect", "directResponse", "rewrite", "mirror", "mirrors",
                                   "mirrorPercentage", "mirrorPercent", "mirror_percent", "corsPolicy",
                                   "headers", "delegate"))
        if "name" in m:
            m["name"].string()
        for mt in m["match"].seq() if "match" in m else []:
            self._match(mt)
        routes = m["route"].seq(allow_empty=False)
        for d in routes:
            dm = d.mapping(("destination",), ("weight",), unsupported=("headers",))
            self._destination(dm["destination"])
            if "weight" in dm:
                dm["weight"].integer(0, 2 ** 31 - 1)
        if len(routes) > 1 and all("weight" not in d.mapping() or d.at_key("weight").value() == 0 for d in routes):
            raise m["route"].error("every destination has weight 0 (or none): give the destinations weights "
                                   "(a destination gets weight / sum of weights of the traffic)")
        if "timeout" in m:
            m["timeout"].duration()
        if "retries" in m:
            rt = m["retries"].mapping((), ("attempts", "perTryTimeout", "retryOn", "retryIgnorePreviousHosts",
                                           "backoff"), unsupported=("retryRemoteLocalities",))
            if "attempts" in rt:
                rt["attempts"].integer(0, 1000)
            for k in ("perTryTimeout", "backoff"):
                if k in rt:
                    rt[k].duration()
            if "retryIgnorePreviousHosts" in rt:
                rt["retryIgnorePreviousHosts"].boolean()
            if "retryOn" in rt:
                parse_retry_on(rt["retryOn"].string(), rt["retryOn"])
        if "fault" in m:
            f = m["fault"].mapping((), ("delay", "abort"))
            if "delay" in f:
                d = f["delay"].mapping(("fixedDelay",), ("percentage", "percent"), unsupported=("exponentialDelay",))
                d["fixedDelay"].duration()
                self._percentage(d)
            if "abort" in f:
                a = f["abort"].mapping(("httpStatus",), ("percentage", "percent"),
                                       unsupported=("grpcStatus", "http2Error"))
                a["httpStatus"].integer(200, 599)
                self._percentage(a)

    def _percentage(self, m: dict) -> None:
        if "percentage" in m:
            p = m["percentage"].mapping(("value",))
            v = p["value"]._scalar(float, "a number from 0 to 100")
            if not 0 <= v <= 100:
                raise p["value"].error(f"{v} is out of range; allowed: 0 to 100 (percent of requests)")
        if "percent" in m:
            m["percent"].integer(0, 100)

    def _match(self, mt: YamlNode) -> None:
        m = mt.mapping((), ("name", "uri", "method", "authority", "headers", "withoutHeaders", "sourceLabels",
                            "sourceNamespace", "ignoreUriCase"),
                       unsupported=("scheme", "queryParams", "port", "gateways", "statPrefix"))
        for k in ("uri", "method", "authority"):
            if k in m:
                self._string_match(m[k])
        for k in ("headers", "withoutHeaders"):
            for name, v in (m[k].free_mapping().items() if k in m else []):
                if not _HEADER_NAME.match(name) or name != name.lower():
                    raise v.error(f"header name {name!r} must be lower-case (Istio: keys are lowercase "
                                  "and use hyphens as the separator)")
                if isinstance(v.node, yaml.MappingNode) and not v.node.value:
                    continue                      # {} is a presence check
                self._string_match(v)
        if "sourceLabels" in m:
            m["sourceLabels"].labels()
        if "sourceNamespace" in m:
            m["sourceNamespace"].name()
        if "ignoreUriCase" in m:
            m["ignoreUriCase"].boolean()

    def _string_match(self, at: YamlNode) -> None:
        m = at.mapping((), ("exact", "prefix", "regex"))
        if len(m) != 1:
            raise at.error("a string match needs exactly one of exact, prefix, regex")
        (k, v), = m.items()
        s = v.string()
        if k == "regex":
            try:
                re.compile(s)
            except re.error as e:
                raise v.error(f"not a valid regular expression: {e}") from None

    def _destination(self, at: YamlNode) -> None:
        d = at.mapping(("host",), ("subset", "port"))
        d["host"].string()
        if "subset" in d:
            d["subset"].name()
        if "port" in d:
            d["port"].mapping(("number",))["number"].port()

    def _DestinationRule(self, spec, labels, meta) -> None:
        s = self._spec(spec).mapping(("host",), ("subsets", "trafficPolicy", "exportTo"),
                                     unsupported=("workloadSelector",))
        s["host"].string()
        if "exportTo" in s:
            for e in s["exportTo"].seq():
                e.string(["*", "."])
        if "trafficPolicy" in s:
            self._traffic_policy(s["trafficPolicy"])
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
                self._traffic_policy(m["trafficPolicy"])

    def _traffic_policy(self, at: YamlNode) -> None:
        t = at.mapping((), ("loadBalancer", "connectionPool", "outlierDetection", "tls"),
                       unsupported=("portLevelSettings", "tunnel", "proxyProtocol", "retryBudget"))
        if "loadBalancer" in t:
            lb = t["loadBalancer"].mapping(("simple",), (), unsupported=("consistentHash", "localityLbSetting",
                                                                          "warmupDurationSecs", "warmup"))
            v = lb["simple"].string()
            if v == "PASSTHROUGH":
                raise lb["simple"].error("PASSTHROUGH is not supported by meshlab; allowed: " + listing(LB_SIMPLE))
            lb["simple"].string(LB_SIMPLE)
        if "connectionPool" in t:
            cp = t["connectionPool"].mapping((), ("tcp", "http"))
            if "tcp" in cp:
                tcp = cp["tcp"].mapping((), ("maxConnections", "connectTimeout"),
                                        unsupported=("tcpKeepalive", "maxConnectionDuration", "idleTimeout"))
                if "maxConnections" in tcp:
                    tcp["maxConnections"].integer(1, 2 ** 32 - 1)
                if "connectTimeout" in tcp:
                    tcp["connectTimeout"].duration()
            if "http" in cp:
                h = cp["http"].mapping((), ("http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection",
                                            "maxRetries"),
                                       unsupported=("idleTimeout", "h2UpgradePolicy", "useClientProtocol",
                                                    "maxConcurrentStreams"))
                for k in h:
                    h[k].integer(0 if k == "maxRequestsPerConnection" else 1, 2 ** 32 - 1)
        if "outlierDetection" in t:
            od = t["outlierDetection"].mapping((), ("consecutive5xxErrors", "consecutiveGatewayErrors", "interval",
                                                    "baseEjectionTime", "maxEjectionPercent", "minHealthPercent"),
                                               unsupported=("consecutiveErrors", "splitExternalLocalOriginErrors",
                                                            "consecutiveLocalOriginFailures"))
            for k in ("consecutive5xxErrors", "consecutiveGatewayErrors"):
                if k in od:
                    od[k].integer(0, 2 ** 32 - 1)
            for k in ("interval", "baseEjectionTime"):
                if k in od:
                    od[k].duration()
            for k in ("maxEjectionPercent", "minHealthPercent"):
                if k in od:
                    od[k].integer(0, 100)
        if "tls" in t:
            tls = t["tls"].mapping(("mode",), (), unsupported=("clientCertificate", "privateKey", "caCertificates",
                                                              "credentialName", "subjectAltNames", "sni",
                                                              "insecureSkipVerify"))
            mode = tls["mode"].string()
            if mode in ("SIMPLE", "MUTUAL"):
                raise tls["mode"].error(f"{mode} (TLS to a service outside the mesh) is not supported by meshlab; "
                                        f"allowed: {listing(TLS_MODES)}")
            tls["mode"].string(TLS_MODES)

    # -- security.istio.io ---------------------------------------------------------------------
    def _PeerAuthentication(self, spec, labels, meta) -> None:
        s = self._spec(spec, empty_ok=True).mapping((), ("selector", "mtls", "portLevelMtls"))
        if "selector" in s:
            self._selector(s["selector"])
        if "mtls" in s:
            s["mtls"].mapping((), ("mode",))
            if "mode" in s["mtls"].mapping():
                s["mtls"].at_key("mode").string(MTLS_MODES)
        if "portLevelMtls" in s:
            if "selector" not in s:
                raise s["portLevelMtls"].error("portLevelMtls needs a selector (Istio: it applies to workloads "
                                               "selected by the policy)")
            for port, v in s["portLevelMtls"].free_mapping().items():
                if not str(port).isdigit() or not 1 <= int(port) <= 65535:
                    raise v.error(f"{port!r} is not a port number (1 to 65535)")
                v.mapping(("mode",))["mode"].string(MTLS_MODES)

    def _selector(self, at: YamlNode) -> None:
        at.mapping(("matchLabels",))["matchLabels"].labels()

    def _AuthorizationPolicy(self, spec, labels, meta) -> None:
        s = self._spec(spec, empty_ok=True).mapping((), ("selector", "targetRefs", "targetRef", "action", "rules",
                                                         "provider"))
        if "selector" in s and ("targetRefs" in s or "targetRef" in s):
            raise s["selector"].error("use either selector or targetRefs, not both")
        if "selector" in s:
            self._selector(s["selector"])
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
                    f"a {kind} target's group is {want!r}" + ("" if want else " (the core API group)"))
            r["name"].name()
        action = s["action"].string(AUTHZ_ACTIONS) if "action" in s else "ALLOW"
        if action == "CUSTOM" or "provider" in s:
            raise (s.get("action") or s["provider"]).error(
                "CUSTOM authorization (an external authorizer) is out of scope for meshlab; "
                "use ALLOW, DENY or AUDIT")
        for rule in s["rules"].seq() if "rules" in s else []:
            r = rule.mapping((), ("from", "to", "when"))
            for f in r["from"].seq() if "from" in r else []:
                src = f.mapping(("source",))["source"].mapping((), (
                    "principals", "notPrincipals", "namespaces", "notNamespaces", "serviceAccounts",
                    "notServiceAccounts", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks",
                    "requestPrincipals", "notRequestPrincipals"))
                for k, v in src.items():
                    for item in v.seq(allow_empty=False):
                        item.string()
                        if "IpBlocks" in k or k.startswith("ipBlocks") or k.startswith("remoteIpBlocks"):
                            _check_cidr(item)
            for t in r["to"].seq() if "to" in r else []:
                op = t.mapping(("operation",))["operation"].mapping((), (
                    "hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"))
                for k, v in op.items():
                    for item in v.seq(allow_empty=False):
                        x = item.string()
                        if k in ("ports", "notPorts") and not (x.isdigit() and 1 <= int(x) <= 65535):
                            raise item.error(f"{x!r} is not a port: write ports as strings of digits, e.g. \"9080\"")
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

    # -- gateway.networking.k8s.io: the waypoint -----------------------------------------------
    def _Gateway(self, spec, labels, meta) -> None:
        s = self._spec(spec).mapping(("gatewayClassName", "listeners"), ("infrastructure",), unsupported=("addresses",))
        cls = s["gatewayClassName"].string()
        if cls != "istio-waypoint":
            raise s["gatewayClassName"].error(f"{cls!r}: meshlab builds waypoints only (ingress and egress gateways "
                                              "are not supported); allowed: istio-waypoint")
        for lst in s["listeners"].seq(allow_empty=False):
            m = lst.mapping(("name", "port", "protocol"), ("allowedRoutes",))
            if m["port"].port() != 15008:
                raise m["port"].error("a waypoint listens on 15008 (HBONE)")
            m["protocol"].string(["HBONE"])
        if "istio.io/waypoint-for" in labels:
            v = labels["istio.io/waypoint-for"]
            if v != "service":
                raise meta["labels"].at_key("istio.io/waypoint-for").error(
                    f"istio.io/waypoint-for: {v!r} is not supported by meshlab; allowed: service (Istio's default). "
                    "The lab's ztunnels send a waypoint only traffic addressed to a service, so 'all' and "
                    "'workload' (traffic addressed to a pod) cannot be what Istio makes them")

    # -- core v1: labels only ------------------------------------------------------------------
    def _Namespace(self, spec, labels, meta) -> None:
        if spec is not None:
            spec.mapping((), ("finalizers",))
        self._mesh_labels(labels, meta)

    def _Service(self, spec, labels, meta) -> None:
        if spec is not None:     # as exported: the lab checks it matches its topology's (store.check)
            s = spec.mapping((), ("ports", "selector", "type"))
            if "type" in s:
                s["type"].string(["ClusterIP"])
            for port in s["ports"].seq(allow_empty=False) if "ports" in s else []:
                m = port.mapping(("port",), ("name", "targetPort", "protocol"))
                m["port"].port()
                if "targetPort" in m:
                    m["targetPort"].port()
                if "protocol" in m:
                    m["protocol"].string(["TCP"])
            if "selector" in s:
                s["selector"].labels()
        self._mesh_labels(labels, meta)

    def _mesh_labels(self, labels: dict, meta: dict) -> None:
        checks = {"istio-injection": ("enabled", "disabled"), "istio.io/dataplane-mode": ("ambient", "none")}
        for k, allowed in checks.items():
            if k in labels and labels[k] not in allowed:
                raise meta["labels"].at_key(k).error(f"{labels[k]!r} is not allowed; allowed: {listing(allowed)}")
        check_use_waypoint_namespace(labels, self.own_namespace, lambda k: meta["labels"].at_key(k))

    # -- shared --------------------------------------------------------------------------------
    def _spec(self, spec: YamlNode | None, empty_ok: bool = False) -> YamlNode:
        if spec is None:
            if empty_ok:
                return YamlNode(yaml.MappingNode("tag:yaml.org,2002:map", []), self.root.file, "spec",
                                self.root.lines, error_cls=PolicyError, context=self.root.context)
            raise self.root.error("missing 'spec'")
        if isinstance(spec.node, yaml.ScalarNode) and spec.value() is None and empty_ok:
            return YamlNode(yaml.MappingNode("tag:yaml.org,2002:map", []), spec.file, "spec", spec.lines,
                            error_cls=PolicyError, context=spec.context)
        return spec


def _check_cidr(at: YamlNode) -> None:
    import ipaddress
    v = at.value()
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise at.error(f"{v!r} is not an IP address or CIDR block (for example 10.0.0.0/8)") from None


def parse_retry_on(value: str, at: YamlNode | None = None) -> tuple[frozenset[str], frozenset[int]]:
    """``"5xx,gateway-error,503"`` -> (policies, status codes). Integer entries are status codes:
    Istio adds ``retriable-status-codes`` for them."""
    policies, codes = set(), set()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part.isdigit():
            code = int(part)
            if not 100 <= code <= 599:
                _fail(at, f"retryOn status code {code} is out of range (100 to 599)")
            codes.add(code)
            policies.add("retriable-status-codes")
        elif part in RETRY_ON:
            policies.add(part)
        else:
            _fail(at, f"unknown retryOn value {part!r}{close_match(part, RETRY_ON)}; allowed: {listing(RETRY_ON)}, "
                      "or HTTP status codes such as 503")
    return frozenset(policies), frozenset(codes)


def _fail(at: YamlNode | None, message: str):
    if at is not None:
        raise at.error(message)
    raise ValueError(message)
