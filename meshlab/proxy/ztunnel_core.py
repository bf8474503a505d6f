"""What a ztunnel decides for a connection, with no I/O: where an outbound connection goes and
as whom, and whether an inbound one (HBONE or plaintext) may reach its pod.

:class:`ZtunnelCore` holds the cluster's addresses and the Istio config in force, and answers:

- :meth:`~ZtunnelCore.plan_outbound` — a pod's captured connection to ``ip:port``: the pod to
  tunnel to (one of the service's endpoints, chosen per connection as L4 load balancing does, or
  the service's waypoint), the CONNECT's ``:authority``, the source and destination identities;
  or plaintext passthrough when the destination is not in the mesh.
- :meth:`~ZtunnelCore.judge_connect` — an HBONE CONNECT arriving for one of its pods, from a
  peer with a proven identity: 200, or the status it refuses with (401 for L4 authorization, 503
  when the stream is not for this pod) and why.
- :meth:`~ZtunnelCore.judge_plaintext` — a plaintext connection to an ambient pod's port: refused
  under STRICT, or by L4 authorization (no identity).

Answers that depend only on who and where (labels for Istio's TCP metrics, authorization
decisions) are cached per (pod, port, peer), and the caches start afresh when the addresses or
the policies change. The asyncio driver is :mod:`meshlab.proxy.ztunnel`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..identity import spiffe_id
from ..net.cluster import ClusterNet, PodAddr
from ..policy.authz import authorize
from ..policy.authzmatch import Attributes
from ..policy.peerauth import mtls_mode
from .metrics import TCP_LABELS, peer_labels, service_labels

MESH = ("ambient", "waypoint", "sidecar")  # every one of them speaks HBONE on 15008


@dataclass(frozen=True, slots=True)
class OutboundPlan:
    """Where a captured outbound connection goes."""

    original: str  # "ip:port" the app asked for
    target: PodAddr | None  # the pod (or waypoint) reached, None outside the lab
    ip: str  # the CONNECT's :authority, or the passthrough address
    port: int
    hbone: bool  # through a tunnel (mTLS) or passthrough (plaintext)
    source_identity: str
    destination_identity: str | None
    labels: tuple  # Istio's TCP metric labels, reporter=source

    @property
    def authority(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def pool_key(self) -> tuple:
        """Which pooled HBONE connection carries it: ztunnel pools per (source identity,
        destination identity, destination pod address)."""
        return (self.source_identity, self.destination_identity, self.target.ip)


@dataclass(frozen=True, slots=True)
class Verdict:
    """An inbound connection's fate: ``status`` 200 lets it through."""

    status: int  # 200 | 401 (L4 authorization) | 400 (not this pod: ztunnel's early deny)
    reason: str | None  # why not, in the words the path shows
    target: PodAddr | None
    port: int | None
    labels: tuple  # Istio's TCP metric labels, reporter=destination
    denied: bool = False  # refused by policy (response flag DENY), not misdirected

    @property
    def allowed(self) -> bool:
        return self.status == 200

    @property
    def counted(self) -> bool:
        """In Istio's TCP metrics: every verdict but an early deny (400), which ztunnel only logs."""
        return self.status != 400


class ZtunnelCore:
    def __init__(self, node: str, net: ClusterNet, rng: random.Random | None = None):
        self.node, self.net = node, net
        self.rng = rng or random.Random(random.getrandbits(64))  # from the process seed, if set
        self.policies: list = []
        self._labels: dict[tuple, tuple] = {}
        self._authz: dict[tuple, object] = {}

    def update(self, net: ClusterNet) -> None:
        self.net = net
        self._labels.clear()
        self._authz.clear()

    def set_policies(self, objects: list) -> None:
        self.policies = list(objects)
        self._authz.clear()

    def local_pods(self) -> list[PodAddr]:
        return [p for p in self.net.pods if p.node == self.node and p.mesh == "ambient"]

    def in_cluster(self, ip: str) -> bool:
        """Is ``ip`` one of the lab's addresses (a pod, a service, a node)? Simplified: a real
        ztunnel passes traffic for destinations outside the mesh through; the lab's relays only
        inside the lab, so on loopback no local process can use it to reach the host's other
        services (issue 13)."""
        return self.net.holds(ip)

    # -- outbound ------------------------------------------------------------------------------
    def destination(self, ip: str, port: int) -> tuple[PodAddr | None, str, int]:
        """Who to tunnel to, and the ``:authority`` to ask for: the service's waypoint (with the
        service's address, as it was addressed), else one of its pods (chosen per connection)."""
        svc = self.net.service_at(ip, port)
        if svc is not None and svc.waypoint:
            return self.net.pod(svc.waypoint), ip, port
        if svc is not None:
            pod = self.net.pod(self.rng.choice(svc.endpoints))
            return pod, pod.ip, svc.target_port
        return self.net.pod_by_ip(ip), ip, port

    def plan_outbound(self, src: PodAddr, ip: str, port: int) -> OutboundPlan:
        dst, dst_ip, dst_port = self.destination(ip, port)
        hbone = dst is not None and dst.mesh in MESH
        key = ("source", src.name, dst.name if dst else None, ip, port, hbone)
        labels = self._labels.get(key)
        if labels is None:
            svc = self.net.service_at(ip, port)
            # ztunnel's outbound side does know: mutual_tls over HBONE, unknown for plain TCP
            # (istio/ztunnel src/proxy/outbound.rs, conn_metrics_from_request) — unlike a sidecar's
            labels = self._labels[key] = _values(
                {
                    "reporter": "source",
                    "request_protocol": "tcp",
                    "response_flags": "-",
                    "connection_security_policy": "mutual_tls" if hbone else "unknown",
                    **peer_labels("source", src),
                    **peer_labels("destination", dst if dst and dst.mesh != "waypoint" else None),
                    **service_labels(self.net, svc.fqdn if svc else None),
                }
            )
        return OutboundPlan(
            f"{ip}:{port}",
            dst,
            dst_ip,
            dst_port,
            hbone,
            spiffe_id(src.namespace, src.service_account),
            spiffe_id(dst.namespace, dst.service_account) if hbone else None,
            labels,
        )

    # -- inbound -------------------------------------------------------------------------------
    def judge_connect(self, pod: PodAddr, authority: str, peer_id: str | None, src_ip: str | None) -> Verdict:
        """A CONNECT on ``pod``'s HBONE listener (its in-pod listener delivers to that pod only),
        then L4 authorization at the destination ztunnel."""
        ip, _, port_s = authority.rpartition(":")
        target = self.net.pod_by_ip(ip)
        port = int(port_s) if port_s.isascii() and port_s.isdigit() and 0 < int(port_s) < 65536 else None
        key = ("destination", pod.name, target.name if target else None, port, peer_id, src_ip)
        labels = self._labels.get(key)
        if labels is None:
            svc = self.net.services_of(target.name, port) if target and port else []
            labels = self._labels[key] = _values(
                {
                    "reporter": "destination",
                    "request_protocol": "tcp",
                    "response_flags": "-",
                    "connection_security_policy": "mutual_tls",
                    **peer_labels(
                        "source", self.net.pod_by_ip(src_ip) if src_ip else None, peer_id, peer=True
                    ),
                    **peer_labels("destination", target),
                    **service_labels(self.net, svc[0].fqdn if svc else None),
                }
            )
        if target is None or target.name != pod.name or port is None:  # ztunnel: 400, an early deny
            return Verdict(  # (inbound.rs build_inbound_request: logged, counted in no connection metric)
                400, f"{authority} is not {pod.name}, whose HBONE port this is", target, port, labels
            )
        decision = self.authorize(pod, port, peer_id, src_ip)
        if not decision.allowed:
            return Verdict(401, f"RBAC: {decision.reason}", target, port, labels, denied=True)
        return Verdict(200, None, target, port, labels)

    def judge_plaintext(self, pod: PodAddr, port: int, src_ip: str | None) -> Verdict:
        """A plaintext connection to ``pod``'s ``port`` from outside the mesh: PERMISSIVE (the
        default) admits it with no identity; STRICT, which istiod makes a ztunnel rule, refuses it."""
        key = ("plaintext", pod.name, port, src_ip)
        labels = self._labels.get(key)
        if labels is None:
            svc = self.net.services_of(pod.name, port)
            labels = self._labels[key] = _values(
                {
                    "reporter": "destination",
                    "request_protocol": "tcp",
                    "response_flags": "-",
                    "connection_security_policy": "unknown",  # ztunnel's value for plaintext inbound
                    **peer_labels("source", self.net.pod_by_ip(src_ip) if src_ip else None, peer=True),
                    **peer_labels("destination", pod),
                    **service_labels(self.net, svc[0].fqdn if svc else None),
                }
            )
        mode, decided_by = mtls_mode(self.policies, pod.namespace, pod.labels, port, ambient=True)
        if mode == "STRICT":
            return Verdict(401, f"plaintext refused: {decided_by} is STRICT", pod, port, labels, denied=True)
        decision = self.authorize(pod, port, None, src_ip)
        if not decision.allowed:
            return Verdict(401, f"RBAC: {decision.reason}", pod, port, labels, denied=True)
        return Verdict(200, None, pod, port, labels)

    def authorize(self, pod: PodAddr, port: int, peer_id: str | None, src_ip: str | None):
        """L4 AuthorizationPolicy for a connection to ``pod`` (ISTIO-FACTS §4.4: what ztunnel can
        enforce; L7 rules bound here fail closed for ALLOW and lose their HTTP fields for DENY)."""
        key = (pod.name, port, peer_id, src_ip)
        d = self._authz.get(key)
        if d is None:
            d = self._authz[key] = authorize(
                self.policies,
                Attributes(
                    destination_port=port, source_principal=peer_id, source_ip=src_ip, destination_ip=pod.ip
                ),
                enforcement="ztunnel",
                namespace=pod.namespace,
                labels=pod.labels,
                layer="L4",
            )
        return d


def _values(labels: dict) -> tuple:
    return tuple(labels.get(k, "unknown") for k in TCP_LABELS)


def with_flags(labels: tuple, flags: str) -> tuple:
    """The same TCP labels with another ``response_flags``."""
    i = TCP_LABELS.index("response_flags")
    return labels if labels[i] == flags else labels[:i] + (flags,) + labels[i + 1 :]
