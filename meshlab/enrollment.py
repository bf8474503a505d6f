"""Who is in the mesh, and how: the lab's enrollment state, and what it means, pure.

Istio reads enrollment from labels and objects, and so does the lab:

- Namespace labels ``istio-injection`` and ``istio.io/dataplane-mode`` (sidecar or ambient) and
  ``istio.io/use-waypoint``;
- Service labels ``istio.io/use-waypoint`` (a service's label beats its namespace's; ``none``
  opts the service out);
- waypoint ``Gateway`` objects (``gatewayClassName: istio-waypoint``): a waypoint is deployed
  for each, and a label naming a waypoint that does not exist is not followed — "ztunnel sends
  traffic straight to the destination" — which :func:`missing_waypoints` says.

They change in three ways, which all end in :func:`plan`: the topology file (its namespace
labels; a ``use-waypoint`` label there deploys its waypoint, as a shorthand), the lab's
imperative calls (``set_mode`` = ``kubectl label namespace``, ``set_waypoints`` = ``istioctl
waypoint apply``), and YAML a learner applies (:func:`applied`, :func:`deleted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from . import mesh
from .topology.model import Topology, frozen_map

MESH_LABELS = (mesh.INJECTION, mesh.DATAPLANE, mesh.USE_WAYPOINT)
KINDS = ("Namespace", "Service", "Gateway")


@dataclass(frozen=True)
class Enrollment:
    namespace_labels: Mapping[str, Mapping[str, str]]  # namespace -> its labels
    service_labels: Mapping[tuple, str] = field(default_factory=dict)  # (ns, service) -> use-waypoint
    gateways: frozenset = frozenset()  # {(ns, name)} applied waypoint Gateways
    waypoints: "str | tuple[str, ...] | None" = None  # istioctl waypoint apply: see mesh
    last_applied: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict
    )  # ns -> labels its applied doc set

    @classmethod
    def of(cls, topo: Topology, waypoints: "str | Sequence[str] | None" = None) -> "Enrollment":
        return cls(
            {n.name: dict(n.labels) for n in topo.namespaces},
            waypoints=waypoints if waypoints is None or isinstance(waypoints, str) else tuple(waypoints),
        )


def with_mode(topo: Topology, mode: str) -> Topology:
    """``topo`` with every namespace labelled for ``mode`` (``Lab(mode=...)``)."""
    return replace(
        topo,
        namespaces=tuple(replace(n, labels=frozen_map(_relabel(n.labels, mode))) for n in topo.namespaces),
    )


def _relabel(labels: Mapping[str, str], mode: str) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in (mesh.INJECTION, mesh.DATAPLANE)} | mesh.mode_labels(
        mode
    )


def set_mode(e: Enrollment, base: Topology, mode: str, namespaces: Iterable[str]) -> Enrollment:
    """``kubectl label namespace`` for ``mode``. Services that ``istioctl waypoint apply`` put
    on a waypoint lose it when their namespace leaves ambient (a waypoint is for ambient)."""
    namespaces = set(namespaces)
    labels = {
        ns: _relabel(ls, mode) if ns in namespaces else dict(ls) for ns, ls in e.namespace_labels.items()
    }
    return _prune(replace(e, namespace_labels=labels), base)


def _prune(e: Enrollment, base: Topology) -> Enrollment:
    """Services that ``istioctl waypoint apply`` put on a waypoint lose it when their namespace
    is no longer ambient (a waypoint is for ambient): however the labels changed."""
    if not isinstance(e.waypoints, tuple):
        return e
    ambient = _ambient_namespaces(labelled(base, e))
    ns_of = {s.name: s.namespace for s in base.services}
    return replace(e, waypoints=tuple(s for s in e.waypoints if ns_of.get(s) in ambient) or None)


def set_waypoints(e: Enrollment, waypoints: "str | Sequence[str] | None") -> Enrollment:
    return replace(
        e, waypoints=waypoints if waypoints is None or isinstance(waypoints, str) else tuple(waypoints)
    )


def _ref(d: Mapping) -> tuple[str, str | None, str, dict]:
    meta = d.get("metadata") or {}
    ns = None if d.get("kind") == "Namespace" else meta.get("namespace") or "default"
    return d.get("kind"), ns, meta.get("name"), dict(meta.get("labels") or {})


def applied(e: Enrollment, docs: Iterable[Mapping], base: Topology | None = None) -> Enrollment:
    """``e`` after ``kubectl apply`` of Namespace, Service and Gateway documents (other kinds
    are ignored here). A Namespace's labels merge as kubectl's three-way merge does: the
    document's labels are set, and a label the previous applied document set but this one
    leaves out is removed; labels set otherwise (the topology, ``set_mode``) stay. A Service
    sets its ``istio.io/use-waypoint`` label (or removes it); a Gateway is a waypoint."""
    ns_labels = {k: dict(v) for k, v in e.namespace_labels.items()}
    last = {k: dict(v) for k, v in e.last_applied.items()}
    svc, gws = dict(e.service_labels), set(e.gateways)
    for d in docs:
        kind, ns, name, labels = _ref(d)
        if kind == "Namespace":
            dropped = set(last.get(name, {})) - set(labels)
            ns_labels[name] = {k: v for k, v in ns_labels.get(name, {}).items() if k not in dropped} | labels
            last[name] = labels
        elif kind == "Service":
            if labels.get(mesh.USE_WAYPOINT):
                svc[(ns, name)] = labels[mesh.USE_WAYPOINT]
            else:
                svc.pop((ns, name), None)
        elif kind == "Gateway":
            gws.add((ns, name))
    new = replace(
        e, namespace_labels=ns_labels, service_labels=svc, gateways=frozenset(gws), last_applied=last
    )
    return _prune(new, base) if base is not None else new


def deleted(e: Enrollment, docs: Iterable[Mapping], base: Topology) -> Enrollment:
    """``e`` after deleting Namespace, Service and Gateway documents. Kubernetes would delete
    the namespace (or service) and everything in it; the lab keeps them, since they come from
    the topology, and only takes back the labels: a namespace's mesh labels return to the
    topology's, a service loses its ``istio.io/use-waypoint``. A deleted Gateway's waypoint goes."""
    base_labels = {n.name: dict(n.labels) for n in base.namespaces}
    ns_labels = {k: dict(v) for k, v in e.namespace_labels.items()}
    last = {k: dict(v) for k, v in e.last_applied.items()}
    svc, gws = dict(e.service_labels), set(e.gateways)
    for d in docs:
        kind, ns, name, _ = _ref(d)
        if kind == "Namespace":
            keep = {k: v for k, v in ns_labels.get(name, {}).items() if k not in MESH_LABELS}
            ns_labels[name] = keep | {k: v for k, v in base_labels.get(name, {}).items() if k in MESH_LABELS}
            last.pop(name, None)
        elif kind == "Service":
            svc.pop((ns, name), None)
        elif kind == "Gateway":
            gws.discard((ns, name))
    return _prune(
        replace(
            e, namespace_labels=ns_labels, service_labels=svc, gateways=frozenset(gws), last_applied=last
        ),
        base,
    )


def labelled(base: Topology, e: Enrollment) -> Topology:
    """``base`` with the namespaces' labels as ``e`` has them — including the
    ``istio.io/use-waypoint: waypoint`` that ``istioctl waypoint apply --enroll-namespace``
    (``waypoints="namespace"``) puts on each ambient namespace."""
    topo = replace(
        base,
        namespaces=tuple(
            replace(n, labels=frozen_map(e.namespace_labels.get(n.name, n.labels))) for n in base.namespaces
        ),
    )
    if e.waypoints != "namespace":
        return topo
    ambient = _ambient_namespaces(topo)
    return replace(
        topo,
        namespaces=tuple(
            replace(n, labels=frozen_map({**n.labels, mesh.USE_WAYPOINT: mesh.WAYPOINT}))
            if n.name in ambient
            else n
            for n in topo.namespaces
        ),
    )


def _ambient_namespaces(topo: Topology) -> set[str]:
    pods = mesh.mesh_by_pod(topo)
    return {p.namespace for p in topo.pods if pods[p.name] == "ambient"}


def gateways(base: Topology, e: Enrollment) -> set[tuple]:
    """The waypoint Gateways in force: the applied ones, those the topology file's namespace
    labels name for its ambient namespaces (the file's shorthand deploys them), and the
    ``waypoint`` that ``istioctl waypoint apply`` (``e.waypoints``) deploys."""
    ambient = _ambient_namespaces(labelled(base, e))
    implied = {
        (n.name, n.labels[mesh.USE_WAYPOINT])
        for n in base.namespaces
        if n.name in ambient and n.labels.get(mesh.USE_WAYPOINT) not in (None, "", "none")
    }
    by_istioctl = {(ns, mesh.WAYPOINT) for ns, _ in mesh.asked_by_istioctl(base, ambient, e.waypoints)}
    return set(e.gateways) | implied | by_istioctl


def plan(base: Topology, e: Enrollment) -> tuple[Topology, dict[str, str | None], dict[tuple, str]]:
    """What ``e`` means: the topology with its labels and waypoint pods, every pod's mesh, and
    ``{(namespace, service): waypoint pod}``. Raises ValueError for what cannot be."""
    topo = labelled(base, e)
    return mesh.add_waypoints(topo, mesh.mesh_by_pod(topo), e.waypoints, e.service_labels, gateways(base, e))


def missing_waypoints(base: Topology, e: Enrollment) -> list[str]:
    """Labels that name a waypoint no Gateway defines, as a learner should hear it."""
    topo = labelled(base, e)
    pods = mesh.mesh_by_pod(topo)
    have = gateways(base, e)
    asked = mesh.wanted_waypoints(topo, pods, None, e.service_labels)
    out: dict[tuple, list[str]] = {}
    for (ns, svc), wp in sorted(asked.items()):
        if (ns, wp) not in have:
            out.setdefault((ns, wp), []).append(svc)
    return [
        f"{', '.join(f'{ns}/{s}' for s in svcs)} {'use' if len(svcs) > 1 else 'uses'} waypoint {wp!r}, which no "
        f"Gateway defines in namespace {ns}: as in Istio, ztunnel sends that traffic straight to the "
        f"destination. Apply the waypoint Gateway (gatewayClassName: istio-waypoint, name: {wp}, "
        f"namespace: {ns}) to deploy it"
        for (ns, wp), svcs in out.items()
    ]
