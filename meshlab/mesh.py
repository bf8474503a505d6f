"""Which pods are in the mesh, and how: Istio's enrollment labels, as istiod reads them.

- A namespace labelled ``istio-injection: enabled`` gets sidecars (injected when pods are
  created, so enrolling a running pod means restarting it).
- A namespace labelled ``istio.io/dataplane-mode: ambient`` is captured by its nodes' ztunnels
  (no restart). A pod labelled ``istio.io/dataplane-mode: none`` opts out.
- A pod selected for both gets a sidecar: "the sidecar mode currently takes precedence".

``Lab(mode=...)`` is shorthand for labelling every namespace.
"""

from __future__ import annotations

from typing import Mapping

from .topology.model import Pod, Topology

MODES = ("none", "sidecar", "ambient")
INJECTION = "istio-injection"
DATAPLANE = "istio.io/dataplane-mode"


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
    """One word for the whole lab: none, sidecar, ambient, or mixed."""
    kinds = {m or "none" for m in mesh.values()}
    return kinds.pop() if len(kinds) == 1 else "mixed"
