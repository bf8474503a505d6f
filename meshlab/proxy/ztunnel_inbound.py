"""A ztunnel's inbound connections, each judged by the core before it reaches the pod: an HBONE
CONNECT stream delivered in plaintext to the pod, from the original client's address
(:class:`Delivery`), and a plaintext connection from a client outside the mesh (:class:`PlaintextIn`).
A policy pushed later is applied to them while they are open (``recheck``).
"""

from __future__ import annotations

from ..net import interception
from ..net.cluster import PodAddr
from ..net.tcp import abort_with_reset
from ..trace import new_span_id, new_trace_id
from .hbone_stream import Stream, forwarded_for
from .ztunnel_conn import Pipe, Spliced
from .ztunnel_core import Verdict, with_flags


class Delivery(Pipe):
    """An HBONE CONNECT for one of this node's pods: judged (the pod's own listener, L4
    authorization), then a plaintext connection to the app from the original client's address."""

    def __init__(self, z, pod: PodAddr, stream: Stream, peer_id: str | None):
        super().__init__(z)
        self.pod, self.stream, self.peer_id = pod, stream, peer_id
        stream.sink = self
        self.denied = False
        self._early: list[bytes] = []
        parts = stream.headers.get("traceparent", "").split("-")
        conn_id = parts[1] if len(parts) == 4 else new_trace_id()
        parent = parts[2] if len(parts) == 4 else None
        fwd = forwarded_for(stream)
        src, self.src_ip = (f"{fwd[0]}:{fwd[1]}", fwd[0]) if fwd else (None, None)
        self.verdict: Verdict = z.core.judge_connect(pod, stream.authority, peer_id, self.src_ip)
        v = self.verdict
        if v.counted:  # (a misdirected CONNECT is an early deny: no metric)
            z.metrics.tcp_opened(v.labels)
        self.rec = z._open(
            conn_id,
            new_span_id(),
            parent,
            peer=src,
            mtls=True,
            peer_identity=peer_id,
            target=v.target.name if v.target else stream.authority,
            attrs={
                "direction": "inbound",
                "connection_security_policy": "mutual_tls",
                "endpoint": v.target.name if v.target else None,
            },
        )
        if not v.allowed:
            if v.denied:
                self.rec["decision"] = "deny"
                self.denied = True
            self.error = v.reason
            stream.respond(v.status)
            self.finish()
            return
        z.spawn(self._connect())

    async def _connect(self) -> None:
        v = self.verdict
        try:
            await interception.connect_from(v.target.listen_ip, v.port, self.src_ip, self.z.net, lambda: self)
        except (OSError, OverflowError, ValueError) as e:
            if not self.finished:
                self.error = f"{type(e).__name__}: {e}"
                self.stream.respond(503)
                self.finish()

    def connection_made(self, transport) -> None:
        self.transport = transport
        local = transport.get_extra_info("sockname")
        self.rec["attrs"]["local"] = f"{local[0]}:{local[1]}"
        if self.finished or self.stream.gone:  # a new policy, or the peer, closed it meanwhile
            abort_with_reset(transport)
            return
        self.stream.respond(200)
        for data in self._early:
            self.on_data(data)
        self._early.clear()
        if self.stream_done:  # the peer ended its side before the app was reached
            self.stream_done = False
            self.on_end()

    def on_data(self, data: bytes) -> None:
        if self.transport is None:
            self._early.append(data)
            return
        super().on_data(data)

    def on_end(self) -> None:
        if self.transport is None and not self.finished:
            self.stream_done = True  # passed on once the app connection is up
            return
        super().on_end()

    def recheck(self) -> None:
        v = self.verdict
        if v.target is None or v.port is None or self.finished:
            return
        decision = self.z.core.authorize(self.pod, v.port, self.peer_id, self.src_ip)
        if not decision.allowed:
            self.denied = True
            self.rec["decision"] = "deny"
            self.fail(f"closed by a new policy: RBAC: {decision.reason}")  # the pod sees a reset

    def done(self) -> None:
        flags = "-" if self.error is None else ("DENY" if self.denied else "CONNECT")
        # up = response bytes from the app into the tunnel, down = request bytes out to the app
        self.z._close(self.rec, error=self.error, bytes_in=self.down, bytes_out=self.up)
        if self.verdict.counted:
            self.z.metrics.tcp_closed(with_flags(self.verdict.labels, flags), self.up, self.down)


class PlaintextIn(Spliced):
    """A plaintext connection to an ambient pod's port, from a client outside the mesh: judged
    (STRICT, L4 authorization with no identity), then spliced to the app."""

    def __init__(self, z, pod: PodAddr | None, port: int | None):
        super().__init__(z)
        self.pod, self.port = pod, port
        self.rec: dict | None = None
        self.verdict: Verdict | None = None
        self.denied = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        z = self.z
        target = z.plaintext_target(transport, self.pod, self.port)
        if target is None:
            transport.close()
            return
        self.pod, self.port = target
        peer = transport.get_extra_info("peername")
        self.src_ip = peer[0] if peer else None
        src = f"{peer[0]}:{peer[1]}" if peer else None
        v = self.verdict = z.core.judge_plaintext(self.pod, self.port, self.src_ip)
        z.metrics.tcp_opened(v.labels)  # counted before the verdict, as ztunnel does (inbound_passthrough.rs)
        if not v.allowed:
            z._refuse(self.pod, src, v.reason, "inbound")
            z.metrics.tcp_closed(with_flags(v.labels, "DENY"), 0, 0)
            abort_with_reset(transport)
            return
        self.rec = z._open(
            new_trace_id(),
            new_span_id(),
            None,
            peer=src,
            mtls=False,
            target=self.pod.name,
            attrs={
                "direction": "inbound",
                "connection_security_policy": "unknown",
                "endpoint": self.pod.name,
            },
        )
        z.open.add(self)
        transport.pause_reading()
        z.spawn(self.connect(self.pod.listen_ip, self.port, self.src_ip))

    async def connect(self, ip, port, src_ip) -> None:
        await super().connect(ip, port, src_ip)
        if self.leg is not None and self.leg.transport is not None:
            local = self.leg.transport.get_extra_info("sockname")
            self.rec["attrs"]["local"] = f"{local[0]}:{local[1]}"

    def data_received(self, data: bytes) -> None:
        self.forward(data)

    def eof_received(self) -> bool:
        self.forward_eof()
        return True

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.rec is None:
            return
        if not self.client_eof and exc is not None and self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
        leg = self.leg.transport if self.leg else None
        if leg is not None and not leg.is_closing():
            if exc is not None or self.denied:
                abort_with_reset(leg)
            else:
                leg.close()
        self.finish()

    def recheck(self) -> None:
        if self.finished or self.rec is None:
            return
        v = self.z.core.judge_plaintext(self.pod, self.port, self.src_ip)
        if not v.allowed:
            self.denied = True
            self.rec["decision"] = "deny"
            self.error = "closed by a new policy: " + v.reason
            self.abort()

    def done(self) -> None:
        if self.rec is None:
            return
        self.z._close(self.rec, error=self.error, bytes_in=self.up, bytes_out=self.down)
        self.z.metrics.tcp_closed(
            with_flags(self.verdict.labels, "DENY" if self.denied else "-"), self.down, self.up
        )
