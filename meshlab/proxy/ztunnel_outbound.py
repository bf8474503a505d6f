"""A ztunnel's outbound connections: a pod's captured connection, sent through a pooled HBONE
tunnel to the destination pod's ztunnel (:class:`Outbound`), or in plaintext to a destination
outside the mesh (:class:`Passthrough`). What to do with it is the core's plan
(:meth:`~.ztunnel_core.ZtunnelCore.plan_outbound`).
"""

from __future__ import annotations

import asyncio
import ssl

from ..net import interception, proxyproto
from ..net.cluster import HBONE_PORT, PodAddr
from ..net.tcp import abort_with_reset
from ..trace import new_span_id, new_trace_id
from . import hbone
from .hbone_stream import HIGH_WATER, TunnelError, header, unique
from .ztunnel_conn import Pipe, Spliced
from .ztunnel_core import OutboundPlan, with_flags


class Outbound(Pipe):
    """A pod's captured outbound connection: its original destination (PROXY v2 header on
    loopback, ``SO_ORIGINAL_DST`` under iptables), a CONNECT through the pooled tunnel — or
    plaintext passthrough — then bytes both ways."""

    def __init__(self, z, pod: PodAddr | None):
        super().__init__(z)
        self.src = pod
        self.plan: OutboundPlan | None = None
        self._buf = b""
        self._connected = False
        self._passthrough: Passthrough | None = None
        self.rec: dict | None = None
        self.peer: tuple | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = self.peer = transport.get_extra_info("peername")
        self.rec = self.z._open(
            new_trace_id(),
            new_span_id(),
            None,
            peer=f"{peer[0]}:{peer[1]}" if peer else None,
            attrs={"direction": "outbound"},
        )
        self.src = self.z.outbound_source(transport, self.src)
        if self.src is None:  # not one of ours (stale rules, or a stranger on loopback)
            self.rec["decision"] = "deny"
            self.fail(f"refused: {self.rec['peer']} is not an ambient pod of this node")
            return
        if interception.by_iptables(self.z.net):
            try:
                ip, port = interception.socket_original_dst(transport.get_extra_info("socket"))
            except OSError as e:
                self.fail(f"OSError: {e}")
                return
            self._start(ip, port)

    def data_received(self, data: bytes) -> None:
        if self._connected:
            super().data_received(data)
            return
        if self._passthrough is not None:
            self._passthrough.forward(data)
            return
        self._buf += data
        if self.plan is None and self.rec is not None:
            try:
                got = proxyproto.decode(self._buf)
            except proxyproto.ProxyProtocolError as e:
                self.fail(f"ProxyProtocolError: {e}")
                return
            if got is None:
                return
            header, used = got
            self._buf = self._buf[used:]
            self._start(header.dst_ip, header.dst_port)
        if len(self._buf) > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()  # the tunnel is not open yet

    def eof_received(self) -> bool:
        if self._connected or self._passthrough is not None:
            if self._passthrough is not None:
                self.tcp_done = True
                self._passthrough.forward_eof()
                return True
            return super().eof_received()
        self.tcp_done = True  # ended before the tunnel opened: end it when it does
        if self.plan is None:
            self.fail("closed before its original destination was known")
            return False
        return True

    def _start(self, ip: str, port: int) -> None:
        z = self.z
        plan = self.plan = z.core.plan_outbound(self.src, ip, port)
        attrs = self.rec["attrs"]
        attrs.update(original_dst=plan.original, endpoint=plan.target.name if plan.target else None)
        self.rec["target"] = plan.target.name if plan.target else plan.authority
        if plan.target is None and not z.core.in_cluster(ip):
            self.plan, self.rec["decision"] = None, "deny"
            self.fail(
                f"refused: {plan.original} is outside the lab (this lab's ztunnel relays only to "
                "the cluster's pods and services)"
            )
            return
        z.metrics.tcp_opened(plan.labels)
        if not plan.hbone:  # not in the mesh: plaintext, straight to it
            attrs["passthrough"] = True
            self._passthrough = Passthrough(self)
            self.transport.pause_reading()
            z.spawn(self._passthrough.connect(plan.ip, plan.port, self.src.ip))
            return
        attrs.update(
            hbone=f"{plan.target.ip}:{HBONE_PORT}",
            src_identity=plan.source_identity,
            dst_identity=plan.destination_identity,
        )
        t = z.pool.ready(plan.pool_key)
        if t is not None:
            self._connect(t)
        else:
            self.transport.pause_reading()
            z.spawn(self._dial())

    async def _dial(self) -> None:
        plan, z = self.plan, self.z
        try:
            t = await z.pool.get(
                plan.pool_key,
                plan.target.ip,
                HBONE_PORT,
                z.client_tls(plan.source_identity),
                plan.destination_identity,
            )
        except (TunnelError, OSError, ssl.SSLError, asyncio.TimeoutError) as e:
            self.fail(f"{type(e).__name__}: {e}")
            return
        if not self.finished:
            self._connect(t)
            if self.transport is not None:
                self.transport.resume_reading()

    def _connect(self, tunnel: hbone.Tunnel) -> None:
        peer, rec = self.peer, self.rec
        try:
            self.stream = tunnel.open_stream(
                self.plan.authority,
                [
                    unique("traceparent", f"00-{rec['trace_id']}-{rec['span_id']}-01"),
                    unique("forwarded", f'for="{peer[0]}:{peer[1]}"'),
                    header(
                        "baggage", f"k8s.namespace.name={self.src.namespace},k8s.pod.name={self.src.name}"
                    ),
                ],
                self,
            )
        except TunnelError as e:
            self.fail(f"TunnelError: {e}")

    def on_response(self, status: int) -> None:
        if status != 200:
            self.fail(f"TunnelError: HBONE CONNECT {self.plan.authority} answered {status}")
            return
        self._connected = True
        buf, self._buf = self._buf, b""
        if buf:
            super().data_received(buf)
        if self.tcp_done:
            self.stream.send_end()
        elif self.transport is not None and not self.stream.backed_up():
            self.transport.resume_reading()  # paused while the CONNECT was answered (a full buffer)
        self._maybe_done()

    def recheck(self) -> None:
        pass  # the destination's ztunnel decides

    def connection_lost(self, exc) -> None:
        p = self._passthrough
        if p is None:
            super().connection_lost(exc)
            return
        p.transport = self.transport = None
        if not (p.client_eof and p.leg_eof_seen) and exc is not None and p.error is None:
            p.error = f"{type(exc).__name__}: {exc}"
        leg = p.leg.transport if p.leg else None
        if leg is not None and not leg.is_closing():
            if exc is not None:
                abort_with_reset(leg)
            else:
                leg.close()
        p.finish()

    def pause_writing(self) -> None:
        if self._passthrough is not None:
            self._passthrough.pause_writing()
        else:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self._passthrough is not None:
            self._passthrough.resume_writing()
        else:
            super().resume_writing()

    def done(self) -> None:
        z, plan = self.z, self.plan
        # up = request bytes into the tunnel, down = response bytes out to the app
        z._close(self.rec, error=self.error, bytes_in=self.up, bytes_out=self.down)
        if plan is not None:
            z.metrics.tcp_closed(
                plan.labels if self.error is None else with_flags(plan.labels, "CONNECT"), self.down, self.up
            )


class Passthrough(Spliced):
    """An outbound connection to a destination outside the mesh: the bytes go in plaintext."""

    def __init__(self, out: Outbound):
        super().__init__(out.z)
        self.out = out
        self.transport = out.transport

    async def connect(self, ip, port, src_ip) -> None:
        self.up += len(self.out._buf)
        if self.out._buf:
            self._pending.append(self.out._buf)
            self.out._buf = b""
        await super().connect(ip, port, src_ip)

    def finish(self) -> None:
        """The outbound connection it carries is recorded, as the Outbound's own."""
        if not self.finished:
            self.finished = True
            o = self.out
            o.up, o.down = self.up, self.down
            if self.error and o.error is None:
                o.error = self.error
            o.transport = None
            o.finish()
