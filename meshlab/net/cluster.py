"""The cluster's network as data: pod IPs, service virtual IPs and their endpoints.

A backend allocates the addresses (:class:`ClusterNet` is what it hands every process), so apps
and proxies never ask the backend anything at run time. Plain JSON-able data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field

from ..topology.model import CLUSTER_DOMAIN


#: Ports a pod's proxy listens on (ISTIO-FACTS §2.2, §3): outbound capture, inbound capture,
#: HBONE, and the admin/metrics port.
OUTBOUND_PORT, INBOUND_PORT, HBONE_PORT, ADMIN_PORT = 15001, 15006, 15008, 15020


@dataclass(frozen=True)
class PodAddr:
    """A pod's addresses. ``local_ip`` is the pod's own "localhost": where its app listens when a
    sidecar owns the pod IP's ports (as iptables would send them to the sidecar). ``mesh`` is
    ``None``, ``"sidecar"`` or ``"ambient"``."""
    name: str
    namespace: str
    node: str
    ip: str
    labels: dict = field(default_factory=dict)
    service_account: str = "default"
    ports: tuple[int, ...] = ()
    local_ip: str | None = None
    mesh: str | None = None

    @property
    def listen_ip(self) -> str:
        """Where the app listens: on the pod-local address when a proxy captures the pod's
        inbound traffic (its sidecar, or its node's ztunnel), else on the pod IP."""
        return self.local_ip if self.mesh in ("sidecar", "ambient") and self.local_ip else self.ip


@dataclass(frozen=True)
class ServiceAddr:
    name: str
    namespace: str
    vip: str
    port: int
    target_port: int
    endpoints: tuple[str, ...]      # pod names
    waypoint: str | None = None     # the waypoint pod that handles traffic addressed to this service

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}"


@dataclass(frozen=True)
class ClusterNet:
    """Every address in the lab. ``kube_proxy`` says who picks a service's endpoint: ``"dialer"``
    (the loopback backend: the pod's dialer does what kube-proxy's iptables DNAT would) or
    ``"kernel"`` (the mininet backend: real DNAT rules on the node). ``interception`` says how a
    proxy learns a captured connection's original destination (see :mod:`meshlab.net.capture`):
    ``"proxy-protocol"`` (loopback) or ``"iptables"`` (mininet: ``SO_ORIGINAL_DST``)."""
    pods: tuple[PodAddr, ...]
    services: tuple[ServiceAddr, ...]
    nodes: dict = field(default_factory=dict)     # node name -> node IP
    kube_proxy: str = "dialer"
    interception: str = "proxy-protocol"

    def pod(self, name: str) -> PodAddr:
        for p in self.pods:
            if p.name == name:
                return p
        raise KeyError(name)

    def pod_or_none(self, name: str) -> PodAddr | None:
        for p in self.pods:
            if p.name == name:
                return p
        return None

    def services_of(self, pod_name: str, port: int | None = None) -> list[ServiceAddr]:
        """The services that send to this pod (on ``port``, when given)."""
        return [s for s in self.services if pod_name in s.endpoints and (port is None or s.target_port == port)]

    def pod_by_ip(self, ip: str) -> PodAddr | None:
        for p in self.pods:
            if p.ip == ip:
                return p
        return None

    def service_at(self, ip: str, port: int | None = None) -> ServiceAddr | None:
        for s in self.services:
            if s.vip == ip and (port is None or s.port == port):
                return s
        return None

    def service_by_fqdn(self, fqdn: str, port: int | None = None) -> ServiceAddr | None:
        """A service by its full name (and port; without one, its only or first port)."""
        found = [s for s in self.services if s.fqdn == fqdn]
        for s in found:
            if port is None or s.port == port:
                return s
        return None

    def resolve(self, host: str, from_namespace: str) -> str | None:
        """Cluster DNS with the pod's search path: ``reviews``, ``reviews.default``,
        ``reviews.default.svc``, ``reviews.default.svc.cluster.local`` -> the service VIP."""
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        host = host.rstrip(".").lower()
        for s in self.services:
            if host in (s.fqdn, f"{s.name}.{s.namespace}.svc", f"{s.name}.{s.namespace}") or (
                    host == s.name and s.namespace == from_namespace):
                return s.vip
        return None

    # -- (de)serialisation for the control channel ---------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClusterNet":
        return cls(pods=tuple(PodAddr(**{**p, "ports": tuple(p["ports"])}) for p in d["pods"]),
                   services=tuple(ServiceAddr(**{**s, "endpoints": tuple(s["endpoints"])}) for s in d["services"]),
                   nodes=dict(d.get("nodes", {})), kube_proxy=d.get("kube_proxy", "dialer"),
                   interception=d.get("interception", "proxy-protocol"))
