"""What ``meshlab export`` holds before it writes anything: the objects by file, and what the README
must say. Pure data: :func:`meshlab.export.manifests` fills it, :mod:`meshlab.export_readme`
renders its README, :func:`meshlab.export.write` writes both."""

from __future__ import annotations

from dataclasses import dataclass, field

from .topology.model import Topology

#: Node label that pins a pod to the topology's node (set on kind's nodes by the README's config).
NODE_LABEL = "meshlab/node"


@dataclass
class Manifests:
    """What :func:`meshlab.export.export` writes: objects by file, and what the README must say."""

    topology: Topology
    mode: str | None
    waypoints: "str | list[str] | None"
    namespaces: list[dict] = field(default_factory=list)
    apps: list[dict] = field(default_factory=list)
    waypoint_gateways: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    mesh_of_namespace: dict[str, str] = field(default_factory=dict)  # none | sidecar | ambient | mixed
    mesh_of_pod: dict[str, str] = field(default_factory=dict)  # none | sidecar | ambient
    images: list[tuple[str, str, str]] = field(default_factory=list)  # (workload, image, source)
    notes: list[str] = field(default_factory=list)  # what the images do differently from the lab
    warnings: list[str] = field(default_factory=list)  # what Istio will do differently from what was meant

    def documents(self) -> list[dict]:
        return [*self.namespaces, *self.apps, *self.waypoint_gateways, *self.policies]
