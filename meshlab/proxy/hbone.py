"""HBONE: many TCP streams as HTTP/2 CONNECT streams over one mutual-TLS connection.

The HTTP/2 (framing, HPACK, flow control) is an :mod:`~meshlab.proxy.h2engine` engine's —
libnghttp2 or h2, sans-IO; this module is the asyncio driver around it, callback-driven: a
:class:`Tunnel` is the ``asyncio.Protocol`` of one HBONE connection (client or server side),
and each CONNECT is a :class:`~.hbone_stream.Stream`. Bytes move without a task per connection:

- the **fast path** (ztunnel) gives a stream a *sink* — an object with ``on_response(status)``,
  ``on_data(bytes)``, ``on_end()``, ``on_reset(reason)`` and ``on_drain()`` — and sends with
  ``stream.send()``, ``stream.send_end()``, ``stream.respond()``;
- the **async facade** (the L7 proxies, which read HTTP inside a stream) uses ``await
  stream.read()``, ``await stream.write()``, ``await stream.end()``, ``accept()``, ``reject()``,
  and ``await tunnel.open(...)``.

Frames queued during one event-loop turn, by any number of streams, leave in one write (one TLS
record, one syscall). The client side opens streams (``:authority`` = the destination pod's
IP:port); the server side hands each CONNECT to ``on_stream(stream, peer_identity)``. A
:class:`TunnelPool` keeps the client side's connections, one dial per key.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Callable

from ..net import tcp
from . import h2engine
from .h2events import DATA, END, GOAWAY, HEADERS, MAX_CONCURRENT_STREAMS, RESET
from .hbone_stream import HIGH_WATER, Stream, TunnelError

_RBUF = bytearray(256 * 1024)  # decrypted bytes land here (one process, one loop: shared)
_RVIEW = memoryview(_RBUF)


class Tunnel(asyncio.BufferedProtocol):
    """One HBONE (HTTP/2 over mTLS) connection, client or server side, as an asyncio protocol
    over the TLS transport. A buffered protocol: the TLS layer decrypts into one preallocated
    buffer, rather than allocating (and freeing) a fresh 256 KiB bytes object for every read."""

    def __init__(self, client_side: bool, on_stream: Callable | None = None, engine: str | None = None):
        self.client_side = client_side
        self.engine = h2engine.new_engine(client_side, engine)
        self.on_stream = on_stream  # server side: (stream, peer identity) -> None | coroutine
        self.streams: dict[int, Stream] = {}
        self.transport = None
        self.closed = False
        self.paused = False  # the socket is backed up
        self.peer_identity: str | None = None
        self.opened = 0  # CONNECT streams this side opened
        self._flush_pending = False
        self.blocked: set[Stream] = set()  # streams whose source paused (see Stream.backed_up)
        self._drained: asyncio.Future | None = None
        self._tasks: set = set()
        self.on_close: Callable[["Tunnel"], None] | None = None
        self.loop = asyncio.get_running_loop()

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        from ..identity import peer_spiffe_id

        self.transport = transport
        self.peer_identity = peer_spiffe_id(transport.get_extra_info("ssl_object"))
        self.flush()

    def get_buffer(self, sizehint: int):
        return _RVIEW

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_RVIEW[:nbytes])

    def data_received(self, data) -> None:
        self._flush_pending = True  # what the events queue leaves in one write, below
        for ev in self.engine.receive(data):
            try:
                self._event(ev)
            except Exception as e:  # one stream's failure is that stream's, not the tunnel's
                _log_bug(e)
                s = self.streams.get(ev[1]) if ev[0] != GOAWAY else None
                if s is not None:
                    self.engine.reset(s.id)
                    try:
                        s._gone(f"internal error: {type(e).__name__}: {e}")
                    except Exception as again:  # its sink fails again (it broke half made): the same
                        _log_bug(again)
        self.flush()
        if not self.engine.alive:  # a connection error (or, h2, the peer's GOAWAY): the engine
            self._close_transport()  # reads no more, so the connection closes, open streams too

    def _event(self, ev: tuple) -> None:
        kind = ev[0]
        if kind == DATA:
            s = self.streams.get(ev[1])
            if s is not None:
                s._data(ev[2])
            else:
                self.engine.consume(ev[1], len(ev[2]))
        elif kind == HEADERS:
            self._headers(ev[1], ev[2])
        elif kind == END:
            s = self.streams.get(ev[1])
            if s is not None:
                s._end()
        elif kind == RESET:
            s = self.streams.get(ev[1])
            if s is not None:
                s._gone(f"reset by the peer (HTTP/2 error {ev[2]})")
        elif kind == GOAWAY:
            self.closed = True  # no new streams; open ones finish

    def _headers(self, sid: int, headers: dict) -> None:
        s = self.streams.get(sid)
        if s is not None:  # a response (client side); trailers are ignored
            if s.opened_here:
                s._responded(headers)
            return
        if self.client_side:
            return
        s = Stream(self, sid, headers)
        if headers.get(":method") != "CONNECT" or self.on_stream is None or self.closed:
            self.engine.respond(sid, 405 if headers.get(":method") != "CONNECT" else 503, end=True)
            return
        self.streams[sid] = s
        r = self.on_stream(s, self.peer_identity)
        if r is not None:  # a coroutine: the async facade's users
            t = self.loop.create_task(r)
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    def eof_received(self) -> bool:
        return False  # TLS: close

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.transport = None
        for s in list(self.streams.values()):
            s._gone("the HBONE connection closed")
        self.streams.clear()
        self.blocked.clear()
        self._wake_drained()
        if self.on_close is not None:
            self.on_close(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_drained()
        self._unblock()

    def _unblock(self) -> None:
        """Sources paused for streams whose bytes now move again (the socket took them, or a
        WINDOW_UPDATE let the engine frame them): resume them."""
        if self.paused:
            return
        for s in list(self.blocked):
            if s.gone or self.engine.pending(s.id) <= HIGH_WATER // 2:
                self.blocked.discard(s)
                if not s.gone and s.sink is not None:
                    s.sink.on_drain()

    # -- sending -------------------------------------------------------------------------------
    def flush_soon(self) -> None:
        """Send what the engine has queued at the end of this event-loop turn, together with
        whatever other streams queue meanwhile."""
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        data = self.engine.data_to_send()
        t = self.transport
        if data and t is not None and not t.is_closing():
            t.write(data)
        if self.blocked:
            self._unblock()
            if self._drained is not None:
                self._wake_drained()
        if not self.engine.alive and not self.streams and t is not None and not t.is_closing():
            t.close()  # GOAWAY sent or received, and nothing left to carry

    def _wake_drained(self) -> None:
        f, self._drained = self._drained, None
        if f is not None and not f.done():
            f.set_result(None)

    async def drained(self) -> None:
        """Wait until bytes move again: the socket takes them, or a flush framed some (or the
        tunnel closed)."""
        if self.closed:
            return
        if self._drained is None:
            self._drained = self.loop.create_future()
        self.flush_soon()
        await self._drained

    def _close_transport(self) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            self.flush()
            t.close()

    # -- client side ---------------------------------------------------------------------------
    def can_open(self) -> bool:
        """Room for another stream? (Not closing, and below the peer's concurrent-stream limit.)"""
        return (
            not self.closed
            and self.engine.alive
            and self.transport is not None
            and len(self.streams) < min(self.engine.peer_max_streams(), MAX_CONCURRENT_STREAMS)
        )

    def open_stream(self, authority: str, headers: list[tuple[str, str, bool]], sink=None) -> Stream:
        """Send a CONNECT to ``authority`` now; the answer comes to ``sink.on_response(status)``.
        ``headers`` are ``(name, value, sensitive)``: sensitive ones (that change on every
        CONNECT, see :func:`unique`) stay out of the HPACK table."""
        if self.closed or self.transport is None:
            raise TunnelError("the HBONE connection is closed")
        sid = self.engine.request([(":method", "CONNECT", False), (":authority", authority, False), *headers])
        s = Stream(self, sid, {":authority": authority}, sink)
        s.opened_here = True
        self.opened += 1
        self.streams[sid] = s
        self.flush_soon()
        return s

    async def open(self, authority: str, headers: list[tuple[str, str, bool]]) -> Stream:
        """CONNECT to ``authority``; returns the stream once the peer said 200 (async facade)."""
        s = self.open_stream(authority, headers)
        s._response = self.loop.create_future()
        resp = await s._response
        if resp.get(":status") != "200":
            s.gone = True
            self.streams.pop(s.id, None)
            raise TunnelError(f"HBONE CONNECT {authority} answered {resp.get(':status')}")
        return s

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.engine.close()
            self._close_transport()
        self.closed = True


def _log_bug(e: BaseException) -> None:
    import sys
    import traceback

    print(f"meshlab hbone: {type(e).__name__}: {e}", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)


async def serve(ip: str, port: int, tls: ssl.SSLContext, on_stream: Callable, name: str = "") -> tcp.Listener:
    """An HBONE server on ``ip:port``: every CONNECT goes to ``on_stream(stream, the peer's SPIFFE
    identity)`` (a plain function, or a coroutine function run as a task). Accepted by the lab's
    :class:`~meshlab.net.tcp.Listener`, which outlasts running out of descriptors."""
    return await tcp.serve_protocol(ip, port, lambda: Tunnel(False, on_stream), ssl=tls, name=name)


class TunnelPool:
    """Pooled HBONE connections per key (ztunnel: source identity, destination identity,
    destination pod address), dialled once even when many connections ask at the same moment.
    A connection carrying as many streams as its peer allows is full: the next stream goes on
    another connection to the same place, as ztunnel's pool does."""

    def __init__(self, connect_timeout: float = 10.0):
        self.tunnels: dict[tuple, list[Tunnel]] = {}
        self._dialing: dict[tuple, asyncio.Future] = {}
        self.connect_timeout = connect_timeout
        self.closed = False

    def ready(self, key: tuple) -> Tunnel | None:
        """An open connection for ``key`` with room for a stream, without waiting."""
        for t in self.tunnels.get(key, ()):
            if t.can_open():
                return t
        return None

    async def get(self, key: tuple, ip: str, port: int, ctx: ssl.SSLContext, expect_identity: str) -> Tunnel:
        while True:
            t = self.ready(key)
            if t is not None:
                return t
            dialing = self._dialing.get(key)
            if dialing is None:
                break
            await asyncio.shield(dialing)  # then take it, or one with room, from the loop's top
        fut = asyncio.get_running_loop().create_future()
        self._dialing[key] = fut
        try:
            t = await asyncio.wait_for(self._dial(ip, port, ctx), self.connect_timeout)
            if t.peer_identity != expect_identity:
                t.close()
                raise TunnelError(f"{ip}:{port} presented {t.peer_identity}, expected {expect_identity}")
            if self.closed:
                t.close()
                raise TunnelError("the pool is closed")
            self.tunnels.setdefault(key, []).append(t)
            t.on_close = lambda t, key=key: self._forget(key, t)
            fut.set_result(t)
            return t
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: waiters get it through shield
            raise
        finally:
            self._dialing.pop(key, None)

    async def _dial(self, ip: str, port: int, ctx: ssl.SSLContext) -> Tunnel:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await tcp.connect(sock, ip, port)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        _, t = await loop.create_connection(lambda: Tunnel(True), sock=sock, ssl=ctx, server_hostname="")
        return t

    def _forget(self, key: tuple, t: Tunnel) -> None:
        ts = self.tunnels.get(key)
        if ts and t in ts:
            ts.remove(t)
            if not ts:
                del self.tunnels[key]

    def all(self) -> list[tuple[tuple, Tunnel]]:
        return [(k, t) for k, ts in self.tunnels.items() for t in ts]

    def close(self) -> None:
        self.closed = True
        for _, t in self.all():
            t.close()
