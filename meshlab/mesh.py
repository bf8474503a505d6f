"""Which pods are in the mesh, and how: Istio's enrollment labels, as istiod reads them.

- A namespace labelled ``istio-injection: enabled`` gets sidecars (injected when pods are
  created, so enrolling a running pod means restarting it).
- A namespace labelled ``istio.io/dataplane-mode: ambient`` is captured by its nodes' ztunnels
  (no restart). A pod labelled ``istio.io/dataplane-mode: none`` opts out.
- A pod selected for both gets a sidecar: "the sidecar mode currently takes precedence".

``Lab(mode=...)`` is shorthand for labelling every namespace.

Waypoints (:func:`add_waypoints`): a waypoint is a Deployment of its own in the namespace —
here a pod ``waypoint-0`` with service account ``waypoint`` — used by the services that carry
``istio.io/use-waypoint`` (or all services of a namespace that carries it), for traffic
addressed to the service (``istio.io/waypoint-for: service``, the default).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from . import modes
from .topology.model import AppSpec, Pod, Topology, Workload, frozen_map

MODES = modes.MODES  # the modes a namespace can be in
INJECTION = "istio-injection"
DATAPLANE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"
WAYPOINT = "waypoint"


def pod_mesh(pod: Pod, ns_labels: Mapping[str, str]) -> str | None:
    """``"sidecar"``, ``"ambient"`` or None for one pod, given its namespace's labels."""
    if ns_labels.get(INJECTION) == "enabled" and pod.labels.get("sidecar.istio.io/inject") != "false":
        return "sidecar"
    if pod.labels.get(DATAPLANE) == "none":
        return None
    if pod.labels.get(DATAPLANE) == "ambient" or ns_labels.get(DATAPLANE) == "ambient":
        return "ambient"
    return None


def mode_labels(mode: str) -> dict[str, str]:
    """The namespace labels that put a namespace in ``mode``."""
    return {"none": {}, "sidecar": {INJECTION: "enabled"}, "ambient": {DATAPLANE: "ambient"}}[mode]


def mesh_by_pod(topo: Topology, mode: str | None = None) -> dict[str, str | None]:
    """Every pod's mesh. ``mode`` (when given) replaces every namespace's enrollment labels."""
    out = {}
    for p in topo.pods:
        labels = dict(topo.namespace(p.namespace).labels)
        if mode is not None:
            labels = {k: v for k, v in labels.items() if k not in (INJECTION, DATAPLANE)} | mode_labels(mode)
        out[p.name] = pod_mesh(p, labels)
    return out


def describe(mesh: Mapping[str, str | None]) -> str:
    """One word for the whole lab's pods: none, sidecar, ambient, or mixed (waypoints, which are
    ambient's own proxies, do not count)."""
    kinds = {m or "none" for m in mesh.values() if m != "waypoint"}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def wanted_waypoints(
    topo: Topology,
    mesh: Mapping[str, str | None],
    waypoints: "str | Sequence[str] | None",
    service_labels: "Mapping[tuple, str] | None" = None,
) -> dict[tuple, str]:
    """Which services ask for which waypoint: ``{(namespace, service): waypoint name}``.

    ``waypoints`` is ``None`` (only what the ``istio.io/use-waypoint`` labels ask for),
    ``"namespace"`` (a waypoint for every ambient namespace, enrolling the namespace, as
    ``istioctl waypoint apply --enroll-namespace``), or service names (``["reviews"]``: a
    waypoint in each one's namespace, used by those services only). ``service_labels`` are the
    services' own ``istio.io/use-waypoint`` labels, ``{(namespace, service): waypoint name}``,
    which beat their namespace's (``"none"`` opts a service out), as in Istio. Only services in
    ambient namespaces use waypoints.
    """
    enrolled: dict[tuple, str] = {}
    ambient_ns = {p.namespace for p in topo.pods if mesh.get(p.name) == "ambient"}
    for ns in topo.namespaces:
        if ns.labels.get(USE_WAYPOINT) not in (None, "", "none") and ns.name in ambient_ns:
            for s in topo.services:
                if s.namespace == ns.name:
                    enrolled[(s.namespace, s.name)] = ns.labels[USE_WAYPOINT]
    enrolled |= asked_by_istioctl(topo, ambient_ns, waypoints)
    for (ns_name, svc), wp in (service_labels or {}).items():  # a service's own label beats the rest
        if ns_name not in ambient_ns:
            continue
        if wp in (None, "", "none"):
            enrolled.pop((ns_name, svc), None)
        else:
            enrolled[(ns_name, svc)] = wp
    return enrolled


def asked_by_istioctl(
    topo: Topology, ambient_ns: set, waypoints: "str | Sequence[str] | None"
) -> dict[tuple, str]:
    """The services ``waypoints`` (``"namespace"`` or service names) puts on the ``waypoint``."""
    out = {}
    if waypoints == "namespace":
        for s in topo.services:
            if s.namespace in ambient_ns:
                out[(s.namespace, s.name)] = WAYPOINT
    elif waypoints is not None:
        if isinstance(waypoints, str):
            raise ValueError(f"waypoints must be 'namespace' or a list of service names; got {waypoints!r}")
        known = {s.name: s for s in topo.services}
        for name in waypoints:
            if name not in known:
                raise ValueError(f"no service named {name!r} for a waypoint; services: {', '.join(known)}")
            s = known[name]
            if s.namespace not in ambient_ns:
                raise ValueError(
                    f"service {name!r} is not in an ambient namespace: waypoints are for ambient mode"
                )
            out[(s.namespace, s.name)] = WAYPOINT
    return out


def add_waypoints(
    topo: Topology,
    mesh: dict[str, str | None],
    waypoints: "str | Sequence[str] | None",
    service_labels: "Mapping[tuple, str] | None" = None,
    gateways: "Iterable[tuple] | None" = None,
) -> tuple[Topology, dict[str, str | None], dict[tuple, str]]:
    """Add waypoint pods and say which services use them (:func:`wanted_waypoints` says who
    asks for which).

    ``gateways`` are the waypoint Gateways that exist, ``{(namespace, name)}`` — including the
    ``waypoint`` that ``istioctl waypoint apply`` (``waypoints``) deploys: see
    :func:`meshlab.enrollment.gateways`. When given, they are deployed even if nothing uses them
    yet ("it is not used by any resources until you explicitly configure those resources to use
    it"), and a label naming a waypoint that does not exist is not followed: "ztunnel sends
    traffic straight to the destination" (istio.io, ambient L7 features). When ``gateways`` is
    None, every waypoint a label names is deployed (a topology file's shorthand). Returns the topology with the waypoint
    workloads, the mesh with them (role ``"waypoint"``), and ``{(namespace, service): waypoint pod}``.
    """
    enrolled = wanted_waypoints(topo, mesh, waypoints, service_labels)
    if gateways is not None:
        gateways = set(gateways)
        enrolled = {k: wp for k, wp in enrolled.items() if (k[0], wp) in gateways}
    gateways = set(gateways or ())
    if not enrolled and not gateways:
        return topo, mesh, {}
    wanted = sorted({(ns, wp) for (ns, _), wp in enrolled.items()} | gateways)
    workloads, namespaces = list(topo.workloads), {n.name: n for n in topo.namespaces}
    taken = {p.name for p in topo.pods}
    pod_of: dict[tuple, str] = {}
    first_ns = topo.namespaces[0].name
    for ns, wp in wanted:
        # pod names are unique lab-wide here, and stable: a waypoint keeps its pod (and identity)
        # whatever other waypoints come and go — "waypoint-0" in the first namespace, else "waypoint-<ns>-0"
        name = wp if ns == first_ns else f"{wp}-{ns}"
        if f"{name}-0" in taken:
            raise ValueError(
                f"a waypoint would be pod {name}-0, but the topology already has a pod of that name"
            )
        workloads.append(
            Workload(
                name=name,
                namespace=ns,
                node=topo.nodes[0].name,
                service_account=wp,
                labels=frozen_map(
                    {"gateway.networking.k8s.io/gateway-name": wp, "istio.io/waypoint-for": "service"}
                ),
                app=AppSpec(kind="waypoint"),
            )
        )
        n = namespaces[ns]
        if wp not in n.service_accounts:
            namespaces[ns] = replace(n, service_accounts=(*n.service_accounts, wp))
        pod_of[(ns, wp)] = f"{name}-0"
        taken.add(f"{name}-0")
    topo = replace(
        topo, workloads=tuple(workloads), namespaces=tuple(namespaces[n.name] for n in topo.namespaces)
    )
    mesh = {**mesh, **{pod: "waypoint" for pod in pod_of.values()}}
    return topo, mesh, {key: pod_of[(key[0], wp)] for key, wp in enrolled.items()}
