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

Everything after that is the per-pod ztunnel's own code: :meth:`Ztunnel._outbound`,
:meth:`Ztunnel._inbound` and :meth:`Ztunnel._inbound_plaintext`.

Simplified against Istio 1.21+ (ISTIO-FACTS §2.4): real ztunnel opens these listeners *inside*
each pod's network namespace and tunnels from the pod's IP, so traffic leaves the pod already
encrypted; here the pod-to-node hop (the pod's veth) carries plaintext, like Istio's earlier
node-level redirection. ztunnel still connects to the app from the client's pod IP (an
``IP_TRANSPARENT`` socket; :func:`meshlab.net.capture.connect_from`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from ..identity import server_context, spiffe_id
from ..net import capture
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, PodAddr
from ..net.tcp import listener
from .ztunnel import Ztunnel

INBOUND_PLAINTEXT_PORT = capture.INBOUND_CAPTURE_PORT     # 15006


class NodeZtunnel(Ztunnel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server_ctx: dict[str, ssl.SSLContext] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Listen once on the node (again on a net update: nothing to do, pods are looked up per
        connection in the current net)."""
        if self.started:
            return
        servers = self.started["*node*"] = []
        servers.append(await asyncio.start_server(self._node_outbound, sock=listener("0.0.0.0", OUTBOUND_PORT)))
        servers.append(await asyncio.start_server(self._node_plaintext,
                                                  sock=listener("0.0.0.0", INBOUND_PLAINTEXT_PORT)))
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", HBONE_PORT))
        s.listen(512)
        s.setblocking(False)
        servers.append(_Acceptor(s, asyncio.ensure_future(self._accept_hbone(loop, s))))

    def _local_ambient(self, ip: str) -> PodAddr | None:
        p = self.net.pod_by_ip(ip)
        return p if p is not None and p.node == self.node and p.mesh == "ambient" else None

    async def _node_outbound(self, reader, writer) -> None:
        src = self._local_ambient(writer.get_extra_info("peername")[0])
        if src is None:                  # not one of ours (rules are stale): refuse it
            writer.close()
            return
        await self._outbound(src, reader, writer)

    async def _node_plaintext(self, reader, writer) -> None:
        try:
            ip, port = capture.socket_original_dst(writer.get_extra_info("socket"))
        except OSError:
            writer.close()
            return
        pod = self._local_ambient(ip)
        svc = self.net.service_at(ip, port) if pod is None else None
        if svc is not None:
            # a service address: kube-proxy's rule picked one of this node's ambient endpoints
            # and sent the connection here (rules.node_rules); any of them is as likely
            local = [p for p in map(self._local_ambient, (self.net.pod(n).ip for n in svc.endpoints)) if p]
            if local:
                pod, port = self.rng.choice(local), svc.target_port
        if pod is None or port not in pod.ports:
            writer.close()
            return
        await self._inbound_plaintext(pod, port, reader, writer)

    async def _accept_hbone(self, loop, lsock: socket.socket) -> None:
        while True:
            sock, _ = await loop.sock_accept(lsock)
            t = asyncio.ensure_future(self._hbone_connection(loop, sock))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _hbone_connection(self, loop, sock: socket.socket) -> None:
        try:
            ip, _ = capture.socket_original_dst(sock)
        except OSError:
            sock.close()
            return
        pod = self._local_ambient(ip)
        if pod is None:
            sock.close()
            return
        reader = asyncio.StreamReader(limit=1 << 20)
        proto = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: proto, sock, ssl=self._tls_for(pod))
        except (OSError, ssl.SSLError, KeyError):
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, proto, reader, loop)
        try:
            await self._inbound(pod, reader, writer)
        finally:
            writer.close()

    def _tls_for(self, pod: PodAddr) -> ssl.SSLContext:
        ident = spiffe_id(pod.namespace, pod.service_account)
        ctx = self._server_ctx.get(ident)
        if ctx is None:
            cert, key = self.certs[ident]
            ctx = self._server_ctx[ident] = server_context(cert, key, self.root, alpn=["h2"])
        return ctx

    def close(self) -> None:
        super().close()
        for t in list(self._tasks):
            t.cancel()


class _Acceptor:
    """A raw listening socket and its accept loop, closed like an asyncio server."""

    def __init__(self, sock: socket.socket, task: asyncio.Future):
        self.sock, self.task = sock, task

    def close(self) -> None:
        self.task.cancel()
        self.sock.close()
