"""Istio YAML from a handful of settings — what the control panel's policy widgets write, pure.

The panel holds no mesh logic: it turns its widgets into a :class:`RouteSettings` (one service's
VirtualService: retries, timeout, faults, weights) and an mTLS mode, and these functions write
the Istio objects that say the same, which the lab then applies like any learner's YAML::

    >>> vs = virtual_service(RouteSettings("reviews", attempts=3, retry_on=("5xx",), timeout_s=0.5))
    >>> vs["spec"]["http"][0]["retries"], vs["spec"]["http"][0]["timeout"]
    ({'attempts': 3, 'retryOn': '5xx'}, '500ms')

Settings left at their defaults write nothing, so Istio's defaults hold (two retries on
connect-failure, refused-stream, unavailable and cancelled; no timeout).

Enrollment is YAML too: :func:`namespace_labels` (a mesh mode as Namespace labels, from
:func:`meshlab.mesh.mode_labels`, the one mode -> labels table), :func:`waypoint_gateway` (the one
waypoint Gateway writer; ``meshlab export`` and the tasks use it too) and :func:`use_waypoint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .. import mesh
from ..durations import format_duration
from ..topology.model import Topology
from .loader import ROOT_NAMESPACE, PolicyObject
from .retries import RETRY_ON, RETRY_ON_MEANING
from .routing import destination_rule_for, fqdn, subset_labels

__all__ = ["MODES", "MTLS_MODES", "RETRY_ON", "RETRY_ON_MEANING", "ROOT_NAMESPACE", "RouteSettings", "WRITTEN_BY",
           "destination_rule", "namespace_labels", "peer_authentication", "subsets_defined", "use_waypoint",
           "versions", "virtual_service", "waypoint_gateway", "written_by_panel"]

#: The mesh modes :func:`namespace_labels` writes (:data:`meshlab.mesh.MODES`).
MODES = mesh.MODES
MTLS_MODES = ("UNSET", "PERMISSIVE", "STRICT", "DISABLE")
GATEWAY_API = "gateway.networking.k8s.io/v1"
#: Marks the objects the panel writes, so that it changes only those (never a learner's own YAML).
WRITTEN_BY = {"meshlab.io/written-by": "control-panel"}


def written_by_panel(doc: Mapping) -> bool:
    return ((doc.get("metadata") or {}).get("annotations") or {}).get("meshlab.io/written-by") == "control-panel"


def _meta(name: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace, "annotations": dict(WRITTEN_BY)}


@dataclass(frozen=True)
class RouteSettings:
    host: str                                   # a service, short name
    namespace: str = "default"
    attempts: int | None = None                 # None: Istio's default retry policy
    per_try_timeout_s: float | None = None
    retry_on: tuple[str, ...] = ()              # () with attempts: Istio's default retryOn
    timeout_s: float | None = None              # None: no timeout (Istio's default)
    delay_percent: float = 0.0
    delay_s: float = 0.0
    abort_percent: float = 0.0
    abort_status: int = 503
    weights: Mapping[str, int] = field(default_factory=dict)   # subset -> weight; empty: no split

    @property
    def is_default(self) -> bool:
        return (self.attempts is None and not self.timeout_s and not self.delay_percent and not self.abort_percent
                and not any(self.weights.values()))


def virtual_service(s: RouteSettings) -> dict | None:
    """The VirtualService for ``s``, or None when every setting is Istio's default."""
    if s.is_default:
        return None
    route: dict = {}
    if any(s.weights.values()):
        route["route"] = [{"destination": {"host": s.host, "subset": name}, "weight": w}
                          for name, w in s.weights.items() if w]
    else:
        route["route"] = [{"destination": {"host": s.host}}]
    if s.timeout_s:
        route["timeout"] = format_duration(s.timeout_s)
    if s.attempts is not None:
        retries: dict = {"attempts": s.attempts}
        if s.per_try_timeout_s:
            retries["perTryTimeout"] = format_duration(s.per_try_timeout_s)
        if s.retry_on:
            retries["retryOn"] = ",".join(s.retry_on)
        route["retries"] = retries
    fault: dict = {}
    if s.delay_percent:
        fault["delay"] = {"fixedDelay": format_duration(s.delay_s), "percentage": {"value": s.delay_percent}}
    if s.abort_percent:
        fault["abort"] = {"httpStatus": s.abort_status, "percentage": {"value": s.abort_percent}}
    if fault:
        route["fault"] = fault
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": _meta(s.host, s.namespace), "spec": {"hosts": [s.host], "http": [route]}}


def versions(topo: Topology, service: str, namespace: str = "default") -> dict[str, dict[str, str]]:
    """The service's subsets by its pods' ``version`` label (as Istio's samples name them):
    ``{"v1": {"version": "v1"}, ...}``; empty when its pods carry no version."""
    svc = next(s for s in topo.services if (s.name, s.namespace) == (service, namespace))
    found = sorted({p.labels["version"] for p in topo.pods if svc.selects(p) and "version" in p.labels})
    return {v: {"version": v} for v in found}


def destination_rule(service: str, namespace: str, subsets: Mapping[str, Mapping[str, str]]) -> dict:
    """A DestinationRule defining ``subsets`` (name -> labels), as destination-rule-all.yaml does."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": _meta(service, namespace),
            "spec": {"host": service, "subsets": [{"name": n, "labels": dict(ls)} for n, ls in subsets.items()]}}


def peer_authentication(mode: str) -> dict | None:
    """A mesh-wide PeerAuthentication (root namespace) in ``mode``; None for UNSET (no object:
    Istio's default, PERMISSIVE)."""
    if mode not in MTLS_MODES:
        raise ValueError(f"unknown mTLS mode {mode!r}; allowed: {', '.join(MTLS_MODES)}")
    if mode == "UNSET":
        return None
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": _meta("default", ROOT_NAMESPACE), "spec": {"mtls": {"mode": mode}}}


def subsets_defined(policies: Sequence[PolicyObject], s: RouteSettings) -> bool:
    """Does a DestinationRule in ``policies`` define every subset ``s`` gives a weight to?"""
    dr = destination_rule_for(policies, fqdn(s.host, s.namespace))
    return all(subset_labels(dr, name) is not None for name, weight in s.weights.items() if weight)


# -- enrollment: Namespace and Service labels, the waypoint Gateway ----------------------------------

def namespace_labels(namespaces: Sequence[str], mode: str) -> list[dict]:
    """The Namespace objects whose labels put these namespaces in ``mode`` (``none``, ``sidecar``,
    ``ambient``)."""
    if mode not in mesh.MODES:
        raise ValueError(f"unknown mesh mode {mode!r}; allowed: {', '.join(mesh.MODES)}")
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": mesh.mode_labels(mode)}}
            for ns in namespaces]


def waypoint_gateway(name: str = mesh.WAYPOINT, namespace: str = "default") -> dict:
    """The waypoint ``istioctl waypoint generate --for service`` writes (ISTIO-FACTS §2.3)."""
    return {"apiVersion": GATEWAY_API, "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace, "labels": {"istio.io/waypoint-for": "service"}},
            "spec": {"gatewayClassName": "istio-waypoint",
                     "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}}


def use_waypoint(service: str, namespace: str = "default", waypoint: str = mesh.WAYPOINT) -> dict:
    """The Service labels that send ``service``'s traffic through ``waypoint``."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": service, "namespace": namespace, "labels": {mesh.USE_WAYPOINT: waypoint}}}
