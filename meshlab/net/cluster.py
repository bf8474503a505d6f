"""The cluster's network as data: pod IPs, service virtual IPs and their endpoints.

A backend allocates the addresses (:class:`ClusterNet` is what it hands every process), so apps
and proxies never ask the backend anything at run time. Plain JSON-able data.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field, fields
from functools import cached_property

from ..topology.model import CLUSTER_DOMAIN
from ..modes import MESHED


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
        return self.local_ip if self.mesh in MESHED and self.local_ip else self.ip


@dataclass(frozen=True)
class ServiceAddr:
    name: str
    namespace: str
    vip: str
    port: int
    target_port: int
    endpoints: tuple[str, ...]  # pod names
    waypoint: str | None = None  # the waypoint pod that handles traffic addressed to this service

    @cached_property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}"


@dataclass(frozen=True)
class ClusterNet:
    """Every address in the lab. ``kube_proxy`` says who picks a service's endpoint: ``"dialer"``
    (the loopback backend: the pod's dialer does what kube-proxy's iptables DNAT would) or
    ``"kernel"`` (the mininet backend: real DNAT rules on the node). ``interception`` says how a
    proxy learns a captured connection's original destination (see :mod:`meshlab.net.interception`):
    ``"proxy-protocol"`` (loopback) or ``"iptables"`` (mininet: ``SO_ORIGINAL_DST``)."""

    pods: tuple[PodAddr, ...]
    services: tuple[ServiceAddr, ...]
    nodes: dict = field(default_factory=dict)  # node name -> node IP
    kube_proxy: str = "dialer"
    interception: str = "proxy-protocol"

    # Lookups are indexed (built on first use: a ClusterNet never changes once made), since
    # proxies look addresses up on every request. The first match wins, as a scan would find it.
    @cached_property
    def _index(self) -> dict:
        ix: dict = {}
        for p in self.pods:
            ix.setdefault(("pod", p.name), p)
            ix.setdefault(("ip", p.ip), p)
        for s in self.services:
            ix.setdefault(("vip", s.vip, s.port), s)
            ix.setdefault(("vip", s.vip, None), s)
            ix.setdefault(("fqdn", s.fqdn, s.port), s)
            ix.setdefault(("fqdn", s.fqdn, None), s)
        return ix

    def pod(self, name: str) -> PodAddr:
        p = self._index.get(("pod", name))
        if p is None:
            raise KeyError(name)
        return p

    def pod_or_none(self, name: str) -> PodAddr | None:
        return self._index.get(("pod", name))

    def services_of(self, pod_name: str, port: int | None = None) -> list[ServiceAddr]:
        """The services that send to this pod (on ``port``, when given)."""
        key = ("of", pod_name, port)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = tuple(
                s
                for s in self.services
                if pod_name in s.endpoints and (port is None or s.target_port == port)
            )
        return list(found)

    def pod_by_ip(self, ip: str) -> PodAddr | None:
        return self._index.get(("ip", ip))

    def service_at(self, ip: str, port: int | None = None) -> ServiceAddr | None:
        return self._index.get(("vip", ip, port))

    def holds(self, ip: str) -> bool:
        """Is ``ip`` one of the lab's addresses: a pod's, a service's or a node's?"""
        return (
            self._index.get(("ip", ip)) is not None
            or self._index.get(("vip", ip, None)) is not None
            or ip in self.nodes.values()
        )

    def service_by_fqdn(self, fqdn: str, port: int | None = None) -> ServiceAddr | None:
        """A service by its full name (and port; without one, its only or first port)."""
        return self._index.get(("fqdn", fqdn, port))

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
                host == s.name and s.namespace == from_namespace
            ):
                return s.vip
        return None

    # -- (de)serialisation for the control channel ---------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able, and computed once (a large lab sends it to hundreds of processes): treat
        it as read-only."""
        return self._dict

    @cached_property
    def _dict(self) -> dict:
        return {
            "pods": [_plain(p) for p in self.pods],
            "services": [_plain(s) for s in self.services],
            "nodes": dict(self.nodes),
            "kube_proxy": self.kube_proxy,
            "interception": self.interception,
        }

    @cached_property
    def key(self) -> str:
        """A digest of the whole net: equal nets, equal keys (how the fork server names the net
        it holds for its children, see :func:`inherit`)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict) -> "ClusterNet":
        """From :meth:`to_dict`'s form, or ``{"inherited": key}``: the net a forked process found
        in its parent (:func:`inherit`)."""
        if "inherited" in d:
            return inherited(d["inherited"])
        return cls(
            pods=tuple(PodAddr(**{**p, "ports": tuple(p["ports"])}) for p in d["pods"]),
            services=tuple(ServiceAddr(**{**s, "endpoints": tuple(s["endpoints"])}) for s in d["services"]),
            nodes=dict(d.get("nodes", {})),
            kube_proxy=d.get("kube_proxy", "dialer"),
            interception=d.get("interception", "proxy-protocol"),
        )


def _plain(obj) -> dict:
    """A flat dataclass's fields as JSON-able values (what ``dataclasses.asdict`` gives, without
    its deep copy of every value)."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, dict) else v
    return out


# ------------------------------------------------------------------------------------------------
# a net handed down at fork time
# ------------------------------------------------------------------------------------------------

_INHERITED: dict[str, ClusterNet] = {}


def inherit(key: str, net: ClusterNet) -> None:
    """Hold ``net`` (indexed, ready to use) for processes forked from now on: the fork server
    (:mod:`meshlab.backends.zygote`) builds the lab's net once, instead of every pod parsing its own
    copy. Only the newest net is kept: older ones went to children already forked."""
    net._index  # noqa: B018 - built before the fork, so children share it
    for s in net.services:
        s.fqdn  # noqa: B018
    _INHERITED.clear()
    _INHERITED[key] = net


def inherited(key: str) -> ClusterNet:
    try:
        return _INHERITED[key]
    except KeyError:
        raise LookupError(
            f"no cluster network {key!r} was handed down to this process "
            f"(it holds {', '.join(_INHERITED) or 'none'}): was it forked by the lab's fork server?"
        ) from None
