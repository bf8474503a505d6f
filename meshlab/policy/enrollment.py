"""Namespace and Service objects, for their labels (core ``v1``): validated, checked, written. Pure.

The topology owns namespaces and services; an applied Namespace or Service may only set the mesh's
labels — ``istio-injection``, ``istio.io/dataplane-mode``, ``istio.io/use-waypoint`` — and a
Service's ``spec`` (as ``meshlab export`` writes it) must say what the topology says. They compile
to nothing: the lab reads the labels when it places workloads in the mesh (:mod:`meshlab.mesh`).
"""

from __future__ import annotations

from typing import Sequence

from .. import mesh
from ..errors import PolicyError
from ..topology.loader import check_use_waypoint_namespace
from ..yamlnode import YamlNode, listing
from .handler import Document, KindHandler
from .hosts import fqdn
from .objects import PolicyObject

API_VERSIONS = ("v1",)
LABEL_VALUES = {"istio-injection": ("enabled", "disabled"), "istio.io/dataplane-mode": ("ambient", "none")}


def validate_namespace(spec: YamlNode | None, doc: Document) -> None:
    if spec is not None:
        spec.mapping((), ("finalizers",))
    _mesh_labels(doc)


def validate_service(spec: YamlNode | None, doc: Document) -> None:
    if spec is not None:  # as exported: the lab checks it matches its topology's (check_service)
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
    _mesh_labels(doc)


def _mesh_labels(doc: Document) -> None:
    for k, allowed in LABEL_VALUES.items():
        if k in doc.labels and doc.labels[k] not in allowed:
            raise doc.label(k).error(f"{doc.labels[k]!r} is not allowed; allowed: {listing(allowed)}")
    check_use_waypoint_namespace(doc.labels, doc.own_namespace, doc.label)


def _error(o: PolicyObject, message: str) -> PolicyError:
    return PolicyError(message, file=o.file, document=o.document, what=str(o))


def check_namespace(o: PolicyObject, lab, store) -> list[str]:
    namespaces = {n.name for n in lab.topology.namespaces}
    if o.name not in namespaces:
        raise _error(
            o,
            f"the lab has no namespace {o.name!r}: namespaces come from the topology "
            f"({', '.join(sorted(namespaces))})",
        )
    return []


def check_service(o: PolicyObject, lab, store) -> list[str]:
    """The service must be the topology's, and a ``spec`` must say what the topology says: the
    lab sets its labels, and cannot change its ports or selector."""
    services = {s.fqdn: s for s in lab.topology.services}
    svc = services.get(fqdn(o.name, o.namespace))
    if svc is None:
        raise _error(o, f"the lab has no service {o.namespace}/{o.name}: services come from the topology")
    spec = o.doc.get("spec")
    if not spec:
        return []
    if "selector" in spec and dict(spec["selector"]) != dict(svc.selector):
        raise _error(
            o,
            f"spec.selector {dict(spec['selector'])} differs from the topology's {dict(svc.selector)}: "
            "the lab's Services come from the topology, and an applied Service may only change "
            "metadata.labels",
        )
    for i, p in enumerate(spec.get("ports") or []):
        if p["port"] != svc.port or p.get("targetPort", p["port"]) != svc.target_port:
            raise _error(
                o,
                f"spec.ports[{i}] (port {p['port']}, targetPort {p.get('targetPort', p['port'])}) differs "
                f"from the topology's (port {svc.port}, targetPort {svc.target_port}): an applied Service "
                "may only change metadata.labels",
            )
    return []


# -- build ----------------------------------------------------------------------------------------


def namespace_labels(namespaces: Sequence[str], mode: str) -> list[dict]:
    """The Namespace objects whose labels put these namespaces in ``mode`` (``none``, ``sidecar``,
    ``ambient``)."""
    if mode not in mesh.MODES:
        raise ValueError(f"unknown mesh mode {mode!r}; allowed: {', '.join(mesh.MODES)}")
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": mesh.mode_labels(mode)}}
        for ns in namespaces
    ]


def use_waypoint(service: str, namespace: str = "default", waypoint: str = mesh.WAYPOINT) -> dict:
    """The Service labels that send ``service``'s traffic through ``waypoint``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "namespace": namespace, "labels": {mesh.USE_WAYPOINT: waypoint}},
    }


NAMESPACE = KindHandler(
    "Namespace", API_VERSIONS, validate_namespace, None, check_namespace, namespaced=False, core_labels=True
)
SERVICE = KindHandler("Service", API_VERSIONS, validate_service, None, check_service, core_labels=True)
