"""The waypoint ``Gateway`` (``gateway.networking.k8s.io``): validated and written. Pure.

meshlab builds waypoints only: ``gatewayClassName: istio-waypoint``, one HBONE listener on 15008,
``istio.io/waypoint-for: service`` (Istio's default). It compiles to nothing: the lab reads the
Gateway's name and namespace when it places waypoints (:mod:`meshlab.mesh`).
"""

from __future__ import annotations

from .. import mesh
from ..yamlnode import YamlNode
from .handler import Document, KindHandler

API_VERSIONS = ("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1")
WAYPOINT_FOR = ("service", "all", "workload", "none")


def validate(spec: YamlNode | None, doc: Document) -> None:
    s = doc.spec(spec).mapping(
        ("gatewayClassName", "listeners"), ("infrastructure",), unsupported=("addresses",)
    )
    cls = s["gatewayClassName"].string()
    if cls != "istio-waypoint":
        raise s["gatewayClassName"].error(
            f"{cls!r}: meshlab builds waypoints only (ingress and egress gateways "
            "are not supported); allowed: istio-waypoint"
        )
    for lst in s["listeners"].seq(allow_empty=False):
        m = lst.mapping(("name", "port", "protocol"), ("allowedRoutes",))
        if m["port"].port() != 15008:
            raise m["port"].error("a waypoint listens on 15008 (HBONE)")
        m["protocol"].string(["HBONE"])
    if "istio.io/waypoint-for" in doc.labels:
        v = doc.labels["istio.io/waypoint-for"]
        if v != "service":
            raise doc.label("istio.io/waypoint-for").error(
                f"istio.io/waypoint-for: {v!r} is not supported by meshlab; allowed: service (Istio's default). "
                "The lab's ztunnels send a waypoint only traffic addressed to a service, so 'all' and "
                "'workload' (traffic addressed to a pod) cannot be what Istio makes them"
            )


def waypoint_gateway(name: str = mesh.WAYPOINT, namespace: str = "default") -> dict:
    """The waypoint ``istioctl waypoint generate --for service`` writes (ISTIO-FACTS §2.3)."""
    return {
        "apiVersion": API_VERSIONS[0],
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace, "labels": {"istio.io/waypoint-for": "service"}},
        "spec": {
            "gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        },
    }


HANDLER = KindHandler("Gateway", API_VERSIONS, validate)
