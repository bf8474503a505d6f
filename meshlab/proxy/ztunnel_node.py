"""ztunnel with capture at the node (the mininet backend): three listeners for all its pods.

On loopback, :class:`~meshlab.proxy.ztunnel.Ztunnel` opens listeners on each ambient pod's IP
(istio-cni's in-pod redirection, imitated). On mininet the node's own iptables rules
(:mod:`meshlab.backends.rules`) redirect its ambient pods' traffic into the node's network,
where this ztunnel listens once per port and tells the pods apart by address:

- **15001** — outbound: the source address says which pod; ``SO_ORIGINAL_DST`` where it was going.
- **15008** — HBONE in: the original destination says which pod it is for, so the TLS handshake
  presents *that pod's* certificate (the listener accepts the raw socket first, then starts TLS).
- **15006** — plaintext in (PERMISSIVE): the original destination is the pod and its port — or a
  service's address, when kube-proxy's rule chose one of this node's ambient pods behind it.

Everything after that is the per-pod ztunnel's own code (:class:`~.ztunnel_outbound.Outbound`,
:meth:`Ztunnel.deliver`, :class:`~.ztunnel_inbound.PlaintextIn`), told the pod by two hooks.

Simplified against Istio 1.21+ (ISTIO-FACTS §2.4): real ztunnel opens these listeners *inside*
each pod's network namespace and tunnels from the pod's IP, so traffic leaves the pod already
encrypted; here the pod-to-node hop (the pod's veth) carries plaintext, like Istio's earlier
node-level redirection. ztunnel still connects to the app from the client's pod IP (an
``IP_TRANSPARENT`` socket; :func:`meshlab.net.interception.connect_from`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from ..identity import server_context, spiffe_id
from ..net import interception
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, PodAddr
from ..net import tcp
from ..net.tcp import BACKLOG, listener
from .hbone import Tunnel
from .ztunnel import Ztunnel
from .ztunnel_inbound import PlaintextIn
from .ztunnel_outbound import Outbound

INBOUND_PLAINTEXT_PORT = interception.INBOUND_CAPTURE_PORT  # 15006


class NodeZtunnel(Ztunnel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server_ctx: dict[str, ssl.SSLContext] = {}

    async def start(self) -> None:
        """Listen once on the node (again on a net update: nothing to do, pods are looked up per
        connection in the current net)."""
        if self.started:
            return
        loop = self.loop = asyncio.get_running_loop()
        servers = self.started["*node*"] = []
        servers.append(
            await loop.create_server(
                lambda: Outbound(self, None), sock=listener("0.0.0.0", OUTBOUND_PORT), backlog=BACKLOG
            )
        )
        servers.append(
            await loop.create_server(
                lambda: PlaintextIn(self, None, None),
                sock=listener("0.0.0.0", INBOUND_PLAINTEXT_PORT),
                backlog=BACKLOG,
            )
        )
        # HBONE: the raw socket first (its original destination says which pod's certificate to
        # present), accepted by the lab's Listener, which outlasts running out of descriptors
        servers.append(
            tcp.Listener(
                listener("0.0.0.0", HBONE_PORT),
                lambda sock: self.spawn(self._hbone_connection(loop, sock)),
                name=self.name,
            )
        )

    def _local_ambient(self, ip: str) -> PodAddr | None:
        p = self.net.pod_by_ip(ip)
        return p if p is not None and p.node == self.node and p.mesh == "ambient" else None

    def outbound_source(self, transport, pod: PodAddr | None) -> PodAddr | None:
        """The pod is the connection's source address (None if not one of ours: stale rules)."""
        peer = transport.get_extra_info("peername")
        return self._local_ambient(peer[0]) if peer else None

    def plaintext_target(self, transport, pod, port) -> tuple[PodAddr, int] | None:
        try:
            ip, port = interception.socket_original_dst(transport.get_extra_info("socket"))
        except OSError:
            return None
        pod = self._local_ambient(ip)
        svc = self.net.service_at(ip, port) if pod is None else None
        if svc is not None:
            # a service address: kube-proxy's rule picked one of this node's ambient endpoints
            # and sent the connection here (rules.node_rules); any of them is as likely
            local = [p for p in map(self._local_ambient, (self.net.pod(n).ip for n in svc.endpoints)) if p]
            if local:
                pod, port = self.core.rng.choice(local), svc.target_port
        if pod is None or port not in pod.ports:
            return None
        return pod, port

    async def _hbone_connection(self, loop, sock: socket.socket) -> None:
        try:
            ip, _ = interception.socket_original_dst(sock)
        except OSError:
            sock.close()
            return
        pod = self._local_ambient(ip)
        if pod is None:
            sock.close()
            return
        try:
            await loop.connect_accepted_socket(
                lambda: Tunnel(False, lambda s, peer_id: self.deliver(pod, s, peer_id)),
                sock,
                ssl=self._tls_for(pod),
            )
        except (OSError, ssl.SSLError, KeyError):
            sock.close()

    def _tls_for(self, pod: PodAddr) -> ssl.SSLContext:
        ident = spiffe_id(pod.namespace, pod.service_account)
        ctx = self._server_ctx.get(ident)
        if ctx is None:
            cert, key = self.certs[ident]
            ctx = self._server_ctx[ident] = server_context(cert, key, self.root, alpn=["h2"])
        return ctx
