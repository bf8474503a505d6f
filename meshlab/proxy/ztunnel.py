"""The ztunnel role: one L4 proxy per node for its ambient pods. It never parses HTTP.

For every ambient pod on its node (istio-cni's in-pod redirection: listeners in each pod's
network), ztunnel listens on the pod IP's

- **15001** — the pod's captured outbound connections (PROXY v2 header on loopback). It picks
  the destination pod behind a service (per connection, at random, as L4 load balancing is),
  then opens — or reuses — one HBONE connection per (source identity, destination identity,
  destination pod address): HTTP/2 CONNECT over mTLS to the destination pod's IP on port 15008,
  ``:authority`` = the pod's IP:port, presenting the *source pod's* certificate. A destination
  outside the mesh gets the bytes in plaintext.
- **15008** — HBONE in: mTLS with the destination pod's certificate, then each CONNECT stream is
  delivered in plaintext to the pod, from the original client's IP.
- **the pod's own ports** — plaintext from clients outside the mesh (15006's job in a real pod):
  accepted under the default PERMISSIVE mode, with no identity. The app listens on the pod's own
  "localhost" behind ztunnel, as it does behind a sidecar.

What to do with a connection is decided by the sans-IO :class:`~.ztunnel_core.ZtunnelCore`; this
module moves the bytes, callback-driven, with no task per connection: each app connection is an
``asyncio.Protocol`` that is also its HBONE stream's sink (:mod:`meshlab.proxy.hbone`), so bytes
go from one socket's callback to the other's write. Connections are counted in Istio's TCP
metrics (tallied, folded into Prometheus counters when read) and recorded as one span each
(layer L4): bytes both ways, mTLS, the peer identity. The CONNECT carries ``traceparent`` (the
connection's id) and ``forwarded``, as ztunnel's do, so the lab can chain the source and
destination halves of one connection.
"""

from __future__ import annotations

import asyncio
import random
import ssl

from ..identity import client_context, server_context, spiffe_id
from ..net import capture, proxyproto
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, ClusterNet, PodAddr
from ..net.tcp import BACKLOG, abort_with_reset, listener
from ..trace import Span, new_span_id, new_trace_id, now, span_dict
from . import hbone
from .hbone import Stream, TunnelError, TunnelPool, forwarded_for, header, unique
from .metrics import ProxyMetrics
from .ztunnel_core import OutboundPlan, Verdict, ZtunnelCore, with_flags


class Ztunnel:
    def __init__(self, node: str, net: ClusterNet, certs: dict[str, tuple[str, str]], root: str, rng=None):
        self.node, self.root = node, root
        self.name = f"ztunnel-{node}"
        self.certs = certs  # SPIFFE id -> (cert path, key path), this node's pods
        self.core = ZtunnelCore(node, net, rng or random.Random())
        self._client_ctx: dict[str, ssl.SSLContext] = {}
        self.pool = TunnelPool()
        self.metrics = ProxyMetrics(l7=False)  # ztunnel never sees requests: TCP metrics only
        self.spans: list[dict] = []
        self.live: dict[str, dict] = {}
        self.started: dict[str, list] = {}  # pod -> its listeners
        self.open: set = set()  # connections in flight (their protocol objects)
        self._tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def net(self) -> ClusterNet:
        return self.core.net

    @property
    def policies(self) -> list:
        return self.core.policies

    def set_policies(self, objects: list) -> None:
        """Istio config in force: ztunnel enforces PeerAuthentication and L4 authorization —
        also on connections already open, as ztunnel's policy watcher does: a plaintext one a
        new STRICT forbids, or any one a new AuthorizationPolicy denies, is dropped at once
        (plaintext: TCP reset; HBONE: the stream is reset)."""
        self.core.set_policies(objects)
        for conn in list(self.open):
            conn.recheck()

    def local_pods(self) -> list[PodAddr]:
        return self.core.local_pods()

    async def start(self) -> None:
        """Listen for every ambient pod of this node (and stop for pods that left ambient):
        what istio-cni sets up in each pod's network as it enrolls, with no pod restart."""
        loop = self.loop = asyncio.get_running_loop()
        local = {p.name: p for p in self.local_pods()}
        for name in [n for n in self.started if n not in local]:
            for s in self.started.pop(name):
                s.close()
        for p in local.values():
            if p.name in self.started:
                continue
            ident = spiffe_id(p.namespace, p.service_account)
            cert, key = self.certs[ident]
            tls = server_context(cert, key, self.root, alpn=["h2"])
            servers = self.started[p.name] = []  # filled as they open: a failed bind loses none
            servers.append(
                await loop.create_server(
                    lambda p=p: Outbound(self, p), sock=listener(p.ip, OUTBOUND_PORT), backlog=BACKLOG
                )
            )
            servers.append(
                await hbone.serve(
                    p.ip, HBONE_PORT, tls, lambda s, peer_id, p=p: self.deliver(p, s, peer_id), name=self.name
                )
            )
            for port in p.ports:  # plaintext to the pod's own ports (15006's job in a real pod)
                servers.append(
                    await loop.create_server(
                        lambda p=p, port=port: PlaintextIn(self, p, port),
                        sock=listener(p.ip, port),
                        backlog=BACKLOG,
                    )
                )

    def stats(self) -> dict:
        """The HBONE connection pool: one entry per connection, keyed (source identity,
        destination identity, pod address); more than one per key when one filled up."""
        return {
            "tunnels": [
                {
                    "source": k[0],
                    "destination": k[1],
                    "address": k[2],
                    "streams": t.opened,
                    "open": not t.closed,
                }
                for k, t in self.pool.all()
            ],
            "h2_engine": hbone.h2engine.describe(),
            "connections_open": len(self.open),
            "open": [c.describe() for c in list(self.open)[:20]],
        }

    def update(self, net: ClusterNet) -> None:
        self.core.update(net)

    def close(self) -> None:
        for servers in self.started.values():
            for s in servers:
                s.close()
        self.pool.close()
        for t in list(self._tasks):
            t.cancel()

    def spawn(self, coro) -> None:
        t = self.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- hooks the node-level ztunnel (mininet) overrides --------------------------------------
    def outbound_source(self, transport, pod: PodAddr | None) -> PodAddr | None:
        """Which pod a captured outbound connection comes from: the listener's, when the
        connection comes from that pod's own address. On loopback any local process can reach
        15001; only the pod's own connections are its to send with its identity."""
        peer = transport.get_extra_info("peername")
        return pod if pod is not None and peer and peer[0] == pod.ip else None

    def plaintext_target(
        self, transport, pod: PodAddr | None, port: int | None
    ) -> tuple[PodAddr, int] | None:
        """Which pod and port a plaintext inbound connection is for (the listener's, here)."""
        return pod, port

    def client_tls(self, src_id: str) -> ssl.SSLContext:
        ctx = self._client_ctx.get(src_id)
        if ctx is None:
            cert, key = self.certs[src_id]
            ctx = self._client_ctx[src_id] = client_context(cert, key, self.root, alpn=["h2"])
        return ctx

    # -- inbound HBONE -------------------------------------------------------------------------
    def deliver(self, pod: PodAddr, stream: Stream, peer_id: str | None) -> None:
        """A CONNECT on ``pod``'s HBONE listener: judged, then delivered in plaintext to the pod,
        from the original client's address."""
        Delivery(self, pod, stream, peer_id)

    # -- connection spans ----------------------------------------------------------------------
    def _open(self, conn_id: str, span_id: str, parent: str | None, **fields) -> dict:
        """A connection's span, kept open until it closes; :meth:`drain` reports it either way."""
        rec = dict(
            trace_id=conn_id,
            span_id=span_id,
            parent_id=parent,
            name=self.name,
            role="ztunnel",
            kind="server",
            layer="L4",
            start=now(),
            **fields,
        )
        self.live[span_id] = rec
        return rec

    def _close(self, rec: dict, **fields) -> None:
        rec.update(fields)
        rec["end"] = now()
        self.live.pop(rec["span_id"], None)
        self.spans.append(rec)

    def _refuse(self, pod: PodAddr, peer: str | None, reason: str, direction: str, **fields) -> None:
        """A connection policy turned away: a span of its own, so the path shows where it stopped."""
        rec = self._open(
            new_trace_id(),
            new_span_id(),
            None,
            peer=peer,
            target=pod.name,
            attrs={"direction": direction, "endpoint": pod.name, "decision": "deny"},
            **fields,
        )
        self._close(rec, error=reason)

    def drain_dicts(self) -> list[dict]:
        """Finished connection spans, plus open ones as they stand now (marked ``open``), as
        ``Span.to_dict()`` dicts; a later drain reports an open one again, and the lab keeps the newest."""
        out, self.spans = self.spans, []
        t = now()
        out += [{**r, "end": t, "attrs": {**r["attrs"], "open": True}} for r in self.live.values()]
        return [span_dict(r) for r in out]

    def drain(self) -> list[Span]:
        return [Span(**d) for d in self.drain_dicts()]


# -- connections ---------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """What every connection a ztunnel carries has: its ztunnel, its (client-side) transport, the
    error it ended with, byte counts, and one end — :meth:`finish`, which records it once."""

    def __init__(self, z: Ztunnel):
        self.z = z
        self.transport = None
        self.up = self.down = 0
        self.finished = False
        self.error: str | None = None

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.z.open.discard(self)
            self.done()

    def done(self) -> None:
        """Record the connection (span, metrics): once."""

    def recheck(self) -> None:
        """Policy changed: is this connection still allowed?"""


class _Pipe(_Connection):
    """One TCP connection and one HBONE stream, joined: the TCP side's protocol and the stream's
    sink at once. Bytes read from the socket go into the stream, bytes from the stream out to the
    socket; each side's end (FIN, END_STREAM) is passed on, and a reset either way resets the other.
    ``up``/``down`` count bytes socket -> stream and stream -> socket."""

    def __init__(self, z: Ztunnel):
        super().__init__(z)
        self.stream: Stream | None = None
        self.tcp_done = self.stream_done = False
        self._write_paused = False
        self._unconsumed = 0
        z.open.add(self)

    # socket -> stream
    def data_received(self, data: bytes) -> None:
        s = self.stream
        self.up += len(data)
        try:
            s.send(data)
        except ConnectionError as e:  # the stream or its tunnel is gone
            self.fail(f"TunnelError: {e}")
            return
        if s.backed_up():
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.tcp_done = True
        if self.stream is not None:
            self.stream.send_end()
        self._maybe_done()
        return True  # half-closed: the answer may still come

    def on_drain(self) -> None:
        if self.transport is not None and not self.tcp_done:
            self.transport.resume_reading()

    # stream -> socket
    def on_data(self, data: bytes) -> None:
        self.down += len(data)
        self.transport.write(data)
        if self._write_paused:
            self._unconsumed += len(data)  # the peer waits until the socket takes it
        else:
            self.stream.consume(len(data))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._unconsumed and self.stream is not None:
            self.stream.consume(self._unconsumed)
            self._unconsumed = 0

    def on_end(self) -> None:
        self.stream_done = True
        t = self.transport
        if not self.tcp_done and t is not None and not t.is_closing() and t.can_write_eof():
            t.write_eof()  # (when the socket's side is done too, close sends the FIN)
        self._maybe_done()

    def on_reset(self, reason: str) -> None:
        self.fail(f"TunnelError: {reason}")

    def on_response(self, status: int) -> None:
        pass

    # both
    def _maybe_done(self) -> None:
        if self.tcp_done and self.stream_done and not self.finished:
            t = self.transport
            if t is not None:
                t.close()
            self.finish()

    def connection_lost(self, exc) -> None:
        self.transport = None
        if not self.finished:
            if not (self.tcp_done and self.stream_done) and self.error is None:
                if exc is not None:
                    self.error = f"{type(exc).__name__}: {exc}"
                if self.stream is not None and not self.stream.gone and not self.stream_done:
                    self.stream.reset()  # the socket went before the stream was done
            self.finish()

    def fail(self, error: str) -> None:
        """Drop both sides: the socket with a reset (what an app sees of a refused or broken
        connection), the stream with RST_STREAM."""
        if self.error is None:
            self.error = error
        if self.stream is not None and not self.stream.gone:
            self.stream.reset()
        t = self.transport
        if t is not None:
            abort_with_reset(t)
        self.finish()

    def describe(self) -> str:
        """One line for ``stats()["open"]``: how far an open connection has got, each way."""
        s = self.stream
        return (
            f"{type(self).__name__} up={self.up} down={self.down} tcp_done={self.tcp_done} "
            f"stream_done={self.stream_done} "
            f"stream={'-' if s is None else (s.id, s.local_ended, s.remote_ended, s.gone)}"
            f" transport={'-' if self.transport is None else 'open'}"
        )


class Outbound(_Pipe):
    """A pod's captured outbound connection: its original destination (PROXY v2 header on
    loopback, ``SO_ORIGINAL_DST`` under iptables), a CONNECT through the pooled tunnel — or
    plaintext passthrough — then bytes both ways."""

    def __init__(self, z: Ztunnel, pod: PodAddr | None):
        super().__init__(z)
        self.src = pod
        self.plan: OutboundPlan | None = None
        self._buf = b""
        self._connected = False
        self._passthrough: _Passthrough | None = None
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
        if capture.by_iptables(self.z.net):
            try:
                ip, port = capture.socket_original_dst(transport.get_extra_info("socket"))
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
        if len(self._buf) > hbone._HIGH_WATER and self.transport is not None:
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
            self._passthrough = _Passthrough(self)
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


class Delivery(_Pipe):
    """An HBONE CONNECT for one of this node's pods: judged (the pod's own listener, L4
    authorization), then a plaintext connection to the app from the original client's address."""

    def __init__(self, z: Ztunnel, pod: PodAddr, stream: Stream, peer_id: str | None):
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
            await capture.connect_from(v.target.listen_ip, v.port, self.src_ip, self.z.net, lambda: self)
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
        self.z.metrics.tcp_closed(with_flags(self.verdict.labels, flags), self.up, self.down)


class _Leg(asyncio.Protocol):
    """The second TCP connection of a plaintext pair (to the app, or to an address outside the
    mesh): what it reads goes out on its partner's socket."""

    def __init__(self, owner: "_Spliced"):
        self.owner = owner
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.owner.from_leg(data)

    def eof_received(self) -> bool:
        self.owner.leg_eof()
        return True

    def pause_writing(self) -> None:
        self.owner.pause_source()

    def resume_writing(self) -> None:
        self.owner.resume_source()

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.owner.leg_lost(exc)


class _Spliced(_Connection):
    """A plaintext connection and its leg: bytes both ways, FIN passed on, reset passed on.
    ``up``/``down`` count client -> leg and leg -> client."""

    def __init__(self, z: Ztunnel):
        super().__init__(z)
        self.leg: _Leg | None = None
        self.client_eof = self.leg_eof_seen = False
        self._pending: list[bytes] = []

    def forward(self, data: bytes) -> None:
        self.up += len(data)
        leg = self.leg
        if leg is None or leg.transport is None:
            self._pending.append(data)
        else:
            leg.transport.write(data)

    def forward_eof(self) -> None:
        self.client_eof = True
        leg = self.leg
        if leg is not None and leg.transport is not None and leg.transport.can_write_eof():
            leg.transport.write_eof()
        self._maybe_done()

    async def connect(self, ip: str, port: int, src_ip: str | None) -> None:
        try:
            _, self.leg = await capture.connect_from(ip, port, src_ip, self.z.net, lambda: _Leg(self))
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"
            self.abort()
            return
        if self.transport is None or self.finished:
            self.leg.transport.close()
            return
        for d in self._pending:
            self.leg.transport.write(d)
        self._pending.clear()
        if self.client_eof:
            self.forward_eof()
        else:
            self.resume_source()

    def from_leg(self, data: bytes) -> None:
        self.down += len(data)
        if self.transport is not None:
            self.transport.write(data)

    def leg_eof(self) -> None:
        self.leg_eof_seen = True
        t = self.transport
        if t is not None and not t.is_closing() and t.can_write_eof():
            t.write_eof()
        self._maybe_done()

    def pause_source(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_source(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        if self.leg is not None and self.leg.transport is not None:
            self.leg.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.leg is not None and self.leg.transport is not None:
            self.leg.transport.resume_reading()

    def leg_lost(self, exc) -> None:
        if not (self.client_eof and self.leg_eof_seen) and exc is not None and self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
        t = self.transport
        if t is not None and not t.is_closing():
            if exc is not None:
                abort_with_reset(t)
            else:
                t.close()
        self.finish()

    def _maybe_done(self) -> None:
        if self.client_eof and self.leg_eof_seen:
            for t in (self.transport, self.leg.transport if self.leg else None):
                if t is not None:
                    t.close()
            self.finish()

    def abort(self) -> None:
        for t in (self.transport, self.leg.transport if self.leg else None):
            if t is not None:
                abort_with_reset(t)
        self.finish()

    def describe(self) -> str:
        """One line for ``stats()["open"]``."""
        return (
            f"{type(self).__name__} up={self.up} down={self.down} client_eof={self.client_eof} "
            f"leg_eof={self.leg_eof_seen} leg={'-' if self.leg is None else 'yes'}"
        )


class _Passthrough(_Spliced):
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


class PlaintextIn(_Spliced):
    """A plaintext connection to an ambient pod's port, from a client outside the mesh: judged
    (STRICT, L4 authorization with no identity), then spliced to the app."""

    def __init__(self, z: Ztunnel, pod: PodAddr | None, port: int | None):
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
        if not v.allowed:
            z._refuse(self.pod, src, v.reason, "inbound")
            abort_with_reset(transport)
            return
        z.metrics.tcp_opened(v.labels)
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
