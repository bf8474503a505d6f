"""Load and validate a topology YAML file into the frozen model.

Every problem raises one :class:`~meshlab.errors.TopologyError` naming the file, the line, the
field path (``workloads[2].node``) and what is allowed, before anything starts. Validation walks
PyYAML's composed node tree, so every value still knows its line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from ..errors import TopologyError
from ..yamlnode import (
    YamlNode as _At,
    close_match as _close,
    check_depth,
    compose_documents,
    listing as _list,
    yaml_problem,
)
from .model import (
    APP_KINDS,
    RATINGS_VARIANTS,
    STAR_COLORS,
    AppSpec,
    Call,
    Entry,
    Links,
    Namespace,
    Node,
    Service,
    Topology,
    Workload,
    frozen_map,
)

TOPOLOGY_DIR = Path(__file__).resolve().parent.parent.parent / "topologies"


# ------------------------------------------------------------------------------------------------
# public entry points
# ------------------------------------------------------------------------------------------------


def topology_files() -> list[Path]:
    """The topology files that ship with meshlab, in ``topologies/``, by name (``bookinfo`` before
    ``bookinfo-two-namespaces``)."""
    return sorted(TOPOLOGY_DIR.glob("*.yaml"), key=lambda p: p.stem)


def find_topology_file(name_or_path: str | Path) -> Path:
    """``"bookinfo"`` -> ``topologies/bookinfo.yaml``; a path is taken as it is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file() or "/" in str(name_or_path):
        if not p.exists():
            raise TopologyError(
                f"no such file; shipped topologies: {_list(f.stem for f in topology_files())}", file=str(p)
            )
        return p
    cand = TOPOLOGY_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise TopologyError(
        f"unknown topology {str(name_or_path)!r}{_close(str(name_or_path), [f.stem for f in topology_files()])}; "
        f"shipped topologies: {_list(f.stem for f in topology_files())}, or give a path to a .yaml file "
        "or a generated topology's spec (gen:services=20,replicas=10,nodes=4)",
        file=str(name_or_path),
    )


def load_topology(source: "str | Path | dict | Topology") -> Topology:
    """Load a topology from a shipped name (``"bookinfo"``), a file path, a generated topology's
    spec (``"gen:services=20,replicas=10,nodes=4"``, see :mod:`meshlab.topology.generator`), a
    dict, or pass one through."""
    if isinstance(source, Topology):
        return source
    if isinstance(source, str) and source.startswith("gen:"):
        return load_spec(source)
    if isinstance(source, dict):
        return topology_from_dict(source)
    path = find_topology_file(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(f"cannot read the file: {e}", file=str(path)) from None
    return parse_topology(text, file=str(path))


def topology_from_dict(source: dict, file: str = "<dict>") -> Topology:
    """A topology from a dict shaped like a topology file, validated the same way (PyYAML's
    representer turns it into the node tree the checks walk, with no YAML text in between)."""
    check_depth(source, TopologyError, file)
    try:
        node = yaml.representer.SafeRepresenter().represent_data(source)
    except yaml.YAMLError as e:
        bad = e.args[-1] if e.args else e
        raise TopologyError(
            f"cannot represent {bad!r} ({type(bad).__name__}); use only dicts, lists, "
            "strings, numbers, true/false and None",
            file=file,
        ) from None
    return _Builder(_At(node, file, "", False), file).build()


def parse_topology(text: str, file: str = "<string>", lines: bool = True) -> Topology:
    try:
        docs = list(compose_documents(text))
    except yaml.YAMLError as e:
        problem, line = yaml_problem(e, text)
        raise TopologyError(f"not valid YAML: {problem}", file=file, line=line) from None
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise TopologyError(f"expected exactly one YAML document; found {len(docs)}", file=file, line=1)
    return _Builder(_At(docs[0], file, "", lines), file).build()


# ------------------------------------------------------------------------------------------------

_TOP_REQUIRED = ("name", "nodes", "namespaces", "services", "workloads")
_TOP_OPTIONAL = ("description", "entry", "links")
#: link settings: (key, lowest, highest). Bandwidth up to 1000 Mbit/s, as Mininet's TCLink takes.
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
#: Istio's pod-level waypoint labels, which apply to traffic addressed to the pod itself.
POD_WAYPOINT_LABELS = ("istio.io/use-waypoint", USE_WAYPOINT_NAMESPACE)
LINK_FIELDS = (("bandwidth_mbit", 0.1, 1000.0), ("delay_ms", 0.0, 10000.0), ("loss_pct", 0.0, 100.0))


class _Builder:
    def __init__(self, root: _At, file: str):
        self.root, self.file = root, file

    def build(self) -> Topology:
        top = self.root.mapping(_TOP_REQUIRED, _TOP_OPTIONAL)
        name = top["name"].name()
        description = top["description"].string() if "description" in top else ""
        nodes = self._unique(
            [self._node(a) for a in top["nodes"].seq(allow_empty=False)], top["nodes"], "node"
        )
        namespaces = self._unique(
            [self._namespace(a) for a in top["namespaces"].seq(allow_empty=False)],
            top["namespaces"],
            "namespace",
        )
        ns_by_name = {ns.name: ns for ns, _ in namespaces}
        workloads = [
            self._workload(a, [n.name for n, _ in nodes], ns_by_name)
            for a in top["workloads"].seq(allow_empty=False)
        ]
        self._unique(workloads, top["workloads"], "workload", key=lambda w: (w.namespace, w.name))
        services = [self._service(a, ns_by_name) for a in top["services"].seq()]
        self._unique(services, top["services"], "service", key=lambda s: (s.namespace, s.name))
        topo = Topology(
            name=name,
            description=description,
            nodes=tuple(n for n, _ in nodes),
            namespaces=tuple(n for n, _ in namespaces),
            services=tuple(s for s, _ in services),
            workloads=tuple(w for w, _ in workloads),
            source=None if self.file.startswith("<") else self.file,
            links=self._links(top["links"]) if "links" in top else None,
        )
        self._check_pod_names(topo, {(w.namespace, w.name): a for w, a in workloads})
        for svc, at in services:
            self._check_service_endpoints(topo, svc, at)
        resolved = tuple(
            replace(wl, app=replace(wl.app, calls=self._resolve_calls(topo, wl))) for wl, _ in workloads
        )
        entry = self._entry(top["entry"], topo) if "entry" in top else None
        return replace(topo, workloads=resolved, entry=entry)

    # -- pieces --------------------------------------------------------------------------------
    def _unique(self, items, seq_at: _At, what: str, key=lambda x: x.name):
        seen: dict = {}
        for item, at in items:
            k = key(item)
            at = at.at_key("name")
            if k in seen:
                label = "/".join(k) if isinstance(k, tuple) else k
                first = f"on line {seen[k].line}" if seen[k].line is not None else f"at {seen[k].path}"
                raise at.error(f"duplicate {what} name {label!r} (first defined {first})")
            seen[k] = at
        return items

    def _node(self, at: _At):
        m = at.mapping(("name",), ("labels", "links"))
        return Node(
            name=m["name"].name(),
            labels=frozen_map(m["labels"].labels() if "labels" in m else {}),
            links=self._links(m["links"]) if "links" in m else None,
        ), at

    def _links(self, at: _At) -> Links:
        m = at.mapping((), [k for k, _, _ in LINK_FIELDS])
        return Links(**{k: m[k].number(lo, hi) for k, lo, hi in LINK_FIELDS if k in m})

    def _namespace(self, at: _At):
        m = at.mapping(("name",), ("labels", "serviceAccounts"))
        sas = ["default"]
        if "serviceAccounts" in m:
            for sa_at in m["serviceAccounts"].seq():
                sa = sa_at.name()
                if sa in sas and sa != "default":
                    raise sa_at.error(f"duplicate service account {sa!r}")
                if sa not in sas:
                    sas.append(sa)
        name = m["name"].name()
        labels = m["labels"].labels() if "labels" in m else {}
        check_use_waypoint_namespace(labels, name, lambda k: m["labels"].at_key(k))
        return Namespace(name=name, labels=frozen_map(labels), service_accounts=tuple(sas)), at

    def _workload(self, at: _At, node_names: list[str], namespaces: dict[str, Namespace]):
        m = at.mapping(
            ("name", "node", "app"), ("namespace", "serviceAccount", "labels", "replicas", "ports")
        )
        name = m["name"].name()
        node = m["node"].string()
        if node not in node_names:
            raise m["node"].error(
                f"unknown node {node!r}{_close(node, node_names)}; nodes: {_list(node_names)}"
            )
        ns = m["namespace"].string() if "namespace" in m else "default"
        if ns not in namespaces:
            raise m["namespace"].error(
                f"unknown namespace {ns!r}{_close(ns, namespaces)}; namespaces: {_list(namespaces)}"
            )
        sa = m["serviceAccount"].string() if "serviceAccount" in m else "default"
        known_sas = namespaces[ns].service_accounts
        if sa not in known_sas:
            raise m["serviceAccount"].error(
                f"unknown service account {sa!r} in namespace {ns!r}{_close(sa, known_sas)}; "
                f"declared there: {_list(known_sas)} (add it under namespaces[].serviceAccounts)"
            )
        labels = m["labels"].labels() if "labels" in m else {}
        for k in POD_WAYPOINT_LABELS:
            if k in labels:
                raise (
                    m["labels"]
                    .at_key(k)
                    .error(
                        f"a pod-level {k} is not supported by meshlab: in Istio it applies to traffic addressed "
                        "to the pod itself, which the lab's ztunnels never send to a waypoint; put "
                        "istio.io/use-waypoint on the pod's Service or namespace"
                    )
                )
        labels.setdefault("app", name)
        replicas = m["replicas"].integer(1, 50) if "replicas" in m else 1
        app = self._app(m["app"])
        default_port = APP_KINDS[app.kind]
        if "ports" in m:
            ports = tuple(p.port() for p in m["ports"].seq())
        else:
            ports = (default_port,) if default_port else ()
        return Workload(
            name=name,
            namespace=ns,
            node=node,
            service_account=sa,
            labels=frozen_map(labels),
            app=app,
            replicas=replicas,
            ports=ports,
        ), at

    def _app(self, at: _At) -> AppSpec:
        m = at.mapping(("kind",), ("serviceTime", "calls", "starColor", "variant"))
        kind = m["kind"].string(APP_KINDS)
        service_time = m["serviceTime"].duration() if "serviceTime" in m else 0.0
        params: dict[str, object] = {}
        if "starColor" in m:
            if kind != "reviews":
                raise m["starColor"].error(f"starColor applies only to kind reviews, not {kind!r}")
            params["starColor"] = m["starColor"].string(STAR_COLORS)
        if "variant" in m:
            if kind != "ratings":
                raise m["variant"].error(f"variant applies only to kind ratings, not {kind!r}")
            params["variant"] = m["variant"].string(RATINGS_VARIANTS)
        calls = tuple(self._call(c) for c in m["calls"].seq()) if "calls" in m else ()
        if kind == "reviews" and calls and "starColor" not in params:
            raise at.error("a reviews app that calls ratings needs starColor (black as in v2, red as in v3)")
        return AppSpec(kind=kind, service_time=service_time, calls=calls, params=frozen_map(params))

    def _call(self, at: _At) -> tuple:
        m = at.mapping(("service", "path"), ("port", "timeout", "retries"))
        path = m["path"].string()
        if not path.startswith("/"):
            raise m["path"].error(f"a path starts with '/'; got {path!r}")
        return _PendingCall(
            service=m["service"].string(),
            port=m["port"].port() if "port" in m else None,
            path=path,
            timeout=m["timeout"].duration() if "timeout" in m else None,
            retries=m["retries"].integer(0, 10) if "retries" in m else 0,
            at=at,
            m=m,
        )

    def _service(self, at: _At, namespaces: dict[str, Namespace]):
        m = at.mapping(("name", "port", "selector"), ("namespace", "targetPort", "portName"))
        ns = m["namespace"].string() if "namespace" in m else "default"
        if ns not in namespaces:
            raise m["namespace"].error(f"unknown namespace {ns!r}; namespaces: {_list(namespaces)}")
        port = m["port"].port()
        selector = m["selector"].labels()
        if not selector:
            raise m["selector"].error("a service needs a non-empty selector, for example {app: reviews}")
        return Service(
            name=m["name"].name(),
            namespace=ns,
            port=port,
            target_port=m["targetPort"].port() if "targetPort" in m else port,
            selector=frozen_map(selector),
            port_name=m["portName"].string() if "portName" in m else "http",
        ), at

    def _check_pod_names(self, topo: Topology, at_by_workload: dict[tuple[str, str], _At]):
        seen: dict[str, str] = {}
        for w in topo.workloads:
            at = at_by_workload[(w.namespace, w.name)].at_key("name")
            for pn in w.pod_names():
                if pn in seen:
                    raise at.error(
                        f"pod name {pn!r} of workload '{w.namespace}/{w.name}' clashes with a pod of workload "
                        f"{seen[pn]!r}; pod names must be unique across namespaces, rename one of the workloads"
                    )
                seen[pn] = f"{w.namespace}/{w.name}"

    def _check_service_endpoints(self, topo: Topology, svc: Service, at: _At):
        eps = topo.endpoints(svc)
        if not eps:
            raise at.at_key("selector").error(
                f"service {svc.name!r} selects no pod: no workload in namespace "
                f"{svc.namespace!r} has labels {dict(svc.selector)}"
            )
        for p in eps:
            if svc.target_port not in p.ports:
                raise at.at_key("targetPort" if svc.target_port != svc.port else "port").error(
                    f"service {svc.name!r} sends to port {svc.target_port}, but pod {p.name!r} "
                    f"listens on {_list(map(str, p.ports)) if p.ports else 'no port'}"
                )

    def _resolve_calls(self, topo: Topology, wl: Workload) -> tuple[Call, ...]:
        resolved = []
        for i, pc in enumerate(wl.app.calls):
            svc = topo.resolve_service(pc.service, wl.namespace)
            if svc is None:
                names = [
                    s.name if s.namespace == wl.namespace else f"{s.name}.{s.namespace}"
                    for s in topo.services
                ]
                raise pc.m["service"].error(
                    f"unknown service {pc.service!r}{_close(pc.service, names)}; services: {_list(names)}"
                )
            port = pc.port if pc.port is not None else svc.port
            if port != svc.port:
                raise pc.m["port"].error(f"service {svc.name!r} has port {svc.port}, not {port}")
            resolved.append(
                Call(service=pc.service, port=port, path=pc.path, timeout=pc.timeout, retries=pc.retries)
            )
        return tuple(resolved)

    def _entry(self, at: _At, topo: Topology) -> Entry:
        m = at.mapping(("from", "url"))
        src = m["from"].string()
        try:
            topo.pod(src)
        except KeyError:
            names = [w.name for w in topo.workloads]
            raise m["from"].error(
                f"unknown workload {src!r}{_close(src, names)}; workloads: {_list(names)}"
            ) from None
        url = m["url"].string()
        if not url.startswith("http://"):
            raise m["url"].error(f"expected an http:// URL; got {url!r}")
        return Entry(source=src, url=url)


class _PendingCall:
    """A call as parsed, before its service is resolved against the whole topology."""

    def __init__(self, service, port, path, timeout, retries, at, m):
        self.service, self.port, self.path = service, port, path
        self.timeout, self.retries, self.at, self.m = timeout, retries, at, m


def check_use_waypoint_namespace(labels: dict, own_namespace: str, at_key) -> None:
    """``istio.io/use-waypoint-namespace`` naming another namespace is refused (the lab's waypoints
    serve their own namespace's services); naming the object's own namespace says what leaving it
    out says. ``at_key(label)`` gives the node to blame."""
    v = labels.get(USE_WAYPOINT_NAMESPACE)
    if v is not None and v != own_namespace:
        raise at_key(USE_WAYPOINT_NAMESPACE).error(
            f"{USE_WAYPOINT_NAMESPACE}: {v!r} is not supported by meshlab: its waypoints serve the services of "
            f"their own namespace; allowed: {own_namespace!r} (this object's namespace, the same as leaving the "
            "label out). Deploy the waypoint in this namespace instead"
        )


def generate(services: int = 4, replicas: int = 1, nodes: int = 2) -> Topology:
    """A generated :class:`~meshlab.topology.Topology` (:mod:`.generator`), validated by this loader."""
    from .generator import GenSpec

    return load_spec(GenSpec(services=services, replicas=replicas, nodes=nodes))


def load_spec(spec) -> Topology:
    """The topology of a generated topology's spec (a :class:`~.generator.GenSpec` or its string,
    ``gen:services=20,replicas=10,nodes=4``), through this loader."""
    from .generator import GenSpec

    spec = GenSpec.parse(spec) if isinstance(spec, str) else spec
    return topology_from_dict(spec.to_dict(), file=f"<{spec}>")
