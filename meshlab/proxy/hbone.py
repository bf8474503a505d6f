"""HBONE: many TCP streams as HTTP/2 CONNECT streams over one mutual-TLS connection.

The HTTP/2 framing, HPACK and flow control are the h2 library's (sans-IO); this module is the
asyncio driver around it. A :class:`Tunnel` is one HBONE connection; each CONNECT is a
:class:`Stream` — a byte pipe with ``read()``, ``write()`` and ``end()``. The client side opens
streams (``:authority`` = the destination pod's IP:port); the server side hands each incoming
CONNECT to ``on_connect(stream)``, which answers with ``accept()`` or ``reject(status)``.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import Awaitable, Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hpack import NeverIndexedHeaderTuple

_READ = 64 * 1024
_HIGH_WATER = 1024 * 1024        # bytes queued for the socket before a writer waits


class TunnelError(ConnectionError):
    pass


class _Connection(h2.connection.H2Connection):
    """h2's connection, remembering fewer closed streams. h2 keeps the last 65,536 (to tell a late
    frame on a reset stream from a protocol error); a pooled HBONE connection opens a stream per
    TCP connection it carries, so a ztunnel's memory grew by ~150 bytes with every connection
    until then (about 10 MB per tunnel). Rust's h2, under Istio's ztunnel, remembers a few dozen
    reset streams for a short while (``DEFAULT_RESET_STREAM_MAX``); a thousand is plenty."""
    MAX_CLOSED_STREAMS = 1024


class Stream:
    def __init__(self, tunnel: "Tunnel", stream_id: int, headers: dict[str, str]):
        self.tunnel, self.id, self.headers = tunnel, stream_id, headers
        self._chunks: deque = deque()          # bytes from the peer; b"" when it ended, None when reset
        self._waiter: asyncio.Future | None = None
        self.response: asyncio.Future = asyncio.get_running_loop().create_future()
        self.bytes_in = self.bytes_out = 0
        self._ended = False          # we ended our side
        self.remote_ended = False    # the peer ended its side
        self.opened_here = False     # we sent the CONNECT (client side)

    @property
    def usable(self) -> bool:
        """Can more bytes go both ways on this stream?"""
        return (not self.tunnel.closed and self.tunnel.streams.get(self.id) is self
                and not self._ended and not self.remote_ended)

    @property
    def authority(self) -> str:
        return self.headers.get(":authority", "")

    def _put(self, chunk: bytes | None) -> None:
        """What the tunnel received for this stream (a plain deque and one waiter: lighter than an
        asyncio.Queue, and read once per message)."""
        self._chunks.append(chunk)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def read(self) -> bytes:
        """The next bytes from the peer; ``b""`` when it ended the stream. Raises on reset."""
        while not self._chunks:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        if chunk is None:
            raise TunnelError(f"HBONE stream {self.id} was reset")
        self.bytes_in += len(chunk)
        return chunk

    async def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        await self.tunnel._send_data(self.id, data)

    async def end(self) -> None:
        if not self._ended:
            self._ended = True
            await self.tunnel._end(self.id)

    async def accept(self) -> None:
        await self.tunnel._respond(self.id, 200)

    async def reject(self, status: int) -> None:
        await self.tunnel._respond(self.id, status, end=True)

    def reset(self) -> None:
        """Reset the stream (RST_STREAM, CANCEL), as ztunnel drops a connection a new policy no
        longer allows: the peer's reads raise, and so do ours."""
        t = self.tunnel
        if t.streams.pop(self.id, None) is None:
            return
        try:
            t.conn.reset_stream(self.id, error_code=h2.errors.ErrorCodes.CANCEL)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass
        self._put(None)
        asyncio.get_running_loop().call_soon(t._write_now)


def h2_connection(client_side: bool) -> _Connection:
    """The sans-IO HTTP/2 connection of one side of an HBONE tunnel."""
    conn = _Connection(h2.config.H2Configuration(
        client_side=client_side, header_encoding="utf-8",
        # what we send is ours and well formed; what the peer sends is still checked
        validate_outbound_headers=False, normalize_outbound_headers=False))
    # HPACK's Huffman coding is optional (RFC 7541 5.2) and costly in pure Python; CONNECT
    # headers are short, so plain literals cost a few bytes and save a third of h2's CPU
    conn.encoder.encode = functools.partial(conn.encoder.encode, huffman=False)
    return conn


class Tunnel:
    """One HBONE (HTTP/2 over mTLS) connection, client or server side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client_side: bool,
                 on_connect: Callable[[Stream], Awaitable[None]] | None = None):
        self.reader, self.writer = reader, writer
        self.conn = h2_connection(client_side)
        self.on_connect = on_connect
        self.streams: dict[int, Stream] = {}
        self._window = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._flush_pending = False
        self.closed = False
        self.peer_identity: str | None = None
        self.opened = 0                       # CONNECT streams this side opened
        self._tasks: set[asyncio.Task] = set()
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4 * 1024 * 1024})
        self.conn.increment_flow_control_window(16 * 1024 * 1024)
        self._task = asyncio.ensure_future(self._run())

    async def _flush(self) -> None:
        """Send what h2 has queued. Frames queued in the same event-loop turn by many streams go
        out in one write (one TLS record, one syscall); we wait only when the socket is backed up."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._write_now)
        transport = self.writer.transport
        if transport is not None and transport.get_write_buffer_size() > _HIGH_WATER:
            async with self._write_lock:
                await self.writer.drain()

    def _write_now(self) -> None:
        self._flush_pending = False
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def _run(self) -> None:
        try:
            await self._flush()
            while True:
                data = await self.reader.read(_READ)
                if not data:
                    break
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for ev in events:
                    self._event(ev)
                await self._flush()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._shutdown()

    def _event(self, ev) -> None:
        if isinstance(ev, h2.events.DataReceived):         # the common case first
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            s = self.streams.get(ev.stream_id)
            if s:
                s._put(ev.data)
        elif isinstance(ev, h2.events.RequestReceived):
            s = Stream(self, ev.stream_id, dict(ev.headers))
            self.streams[ev.stream_id] = s
            if self.on_connect is not None and s.headers.get(":method") == "CONNECT":
                t = asyncio.ensure_future(self.on_connect(s))
                self._tasks.add(t)            # asyncio keeps only weak references to tasks
                t.add_done_callback(self._tasks.discard)
            else:
                self.conn.send_headers(ev.stream_id, [(":status", "405")], end_stream=True)
        elif isinstance(ev, h2.events.ResponseReceived):
            s = self.streams.get(ev.stream_id)
            if s and not s.response.done():
                s.response.set_result(dict(ev.headers))
        elif isinstance(ev, h2.events.StreamEnded):
            s = self.streams.get(ev.stream_id)
            if s:
                s.remote_ended = True
                s._put(b"")
                if s._ended:                  # both sides done: forget it
                    self.streams.pop(ev.stream_id, None)
        elif isinstance(ev, h2.events.StreamReset):
            s = self.streams.pop(ev.stream_id, None)
            if s:
                s._put(None)
                if not s.response.done():
                    s.response.set_exception(TunnelError(f"stream reset (error {ev.error_code})"))
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True

    def _shutdown(self) -> None:
        self.closed = True
        for s in self.streams.values():
            s._put(None)
            if s.opened_here and not s.response.done():      # someone awaits it in open()
                s.response.set_exception(TunnelError("the HBONE connection closed"))
        self.streams.clear()
        self._window.set()
        self.writer.close()

    # -- used by streams -----------------------------------------------------------------------
    async def _send_data(self, stream_id: int, data: bytes) -> None:
        while data:
            if self.closed or stream_id not in self.streams:
                raise TunnelError("the HBONE stream is gone")
            try:
                window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                raise TunnelError("the HBONE stream is closed") from None
            if window <= 0:
                self._window.clear()
                await self._window.wait()
                continue
            self.conn.send_data(stream_id, data[:window])
            data = data[window:]
            await self._flush()

    async def _end(self, stream_id: int) -> None:
        s = self.streams.get(stream_id)
        if s is not None and s.remote_ended:          # both sides done: forget it
            self.streams.pop(stream_id, None)
        try:
            self.conn.end_stream(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            return
        await self._flush()

    async def _respond(self, stream_id: int, status: int, end: bool = False) -> None:
        self.conn.send_headers(stream_id, [(":status", str(status))], end_stream=end)
        await self._flush()

    # -- client side ---------------------------------------------------------------------------
    async def open(self, authority: str, headers: list[tuple[str, str]]) -> Stream:
        """CONNECT to ``authority`` through the tunnel; returns the stream once the peer said 200.
        ``headers`` that differ on every connection (see :func:`unique`) stay out of the HPACK table."""
        if self.closed:
            raise TunnelError("the HBONE connection is closed")
        sid = self.conn.get_next_available_stream_id()
        self.opened += 1
        s = Stream(self, sid, {":authority": authority})
        s.opened_here = True
        self.streams[sid] = s
        self.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", authority), *headers])
        await self._flush()
        resp = await s.response
        if resp.get(":status") != "200":
            self.streams.pop(sid, None)
            raise TunnelError(f"HBONE CONNECT {authority} answered {resp.get(':status')}")
        return s

    def close(self) -> None:
        self._task.cancel()
        self.writer.close()


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: Stream) -> tuple[int, int]:
    """Copy bytes both ways between a TCP connection and an HBONE stream until both ends are done;
    returns (bytes from TCP into the tunnel, bytes from the tunnel out to TCP)."""
    sent = received = 0

    async def up():
        nonlocal sent
        while True:
            data = await reader.read(_READ)
            if not data:
                await stream.end()
                return
            sent += len(data)
            await stream.write(data)

    async def down():
        nonlocal received
        while True:
            data = await stream.read()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            received += len(data)
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
    try:
        await asyncio.gather(*tasks)
    except (ConnectionError, OSError, TunnelError):
        for t in tasks:
            t.cancel()
    return sent, received


async def serve_hbone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      on_stream: Callable[[Stream, str | None], Awaitable[None]]) -> None:
    """The server side of one HBONE connection: every CONNECT stream goes to
    ``on_stream(stream, the peer's SPIFFE identity)`` until the connection ends."""
    from ..identity import peer_spiffe_id
    peer_id = peer_spiffe_id(writer.get_extra_info("ssl_object"))
    tunnel = Tunnel(reader, writer, client_side=False, on_connect=lambda s: on_stream(s, peer_id))
    tunnel.peer_identity = peer_id
    await tunnel._task


def unique(name: str, value: str) -> NeverIndexedHeaderTuple:
    """A header whose value is new on every CONNECT (``traceparent``, ``forwarded``): sent as a
    literal that is never indexed, so it does not churn both sides' HPACK tables for nothing."""
    return NeverIndexedHeaderTuple(name, value)


def forwarded_for(stream: Stream) -> tuple[str, int] | None:
    """The original client's address from the CONNECT's ``forwarded: for="ip:port"`` header."""
    ip, _, port = stream.headers.get("forwarded", "").partition('for="')[2].rstrip('"').rpartition(":")
    return (ip, int(port)) if ip and port.isdigit() else None


class StreamIO:
    """An HBONE stream seen as the (reader, writer) pair an HTTP/1.1 server loop expects."""

    def __init__(self, stream: Stream):
        self.stream, self._out = stream, []

    async def read(self, n: int = -1) -> bytes:
        return await self.stream.read()

    def write(self, data: bytes) -> None:
        self._out.append(data)

    async def drain(self) -> None:
        data, self._out = b"".join(self._out), []
        if data:
            await self.stream.write(data)


class TunnelPool:
    """Pooled HBONE connections, one per key (ztunnel: source identity, destination identity,
    destination pod address), dialled once even when many connections ask at the same moment."""

    def __init__(self):
        self.tunnels: dict[tuple, Tunnel] = {}
        self._dialing: dict[tuple, asyncio.Future] = {}

    async def get(self, key: tuple, ip: str, port: int, ctx, expect_identity: str) -> Tunnel:
        t = self.tunnels.get(key)
        if t is not None and not t.closed:
            return t
        if key in self._dialing:
            return await asyncio.shield(self._dialing[key])
        fut = asyncio.get_running_loop().create_future()
        self._dialing[key] = fut
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port, ssl=ctx, server_hostname=""), 10)
            from ..identity import peer_spiffe_id
            seen = peer_spiffe_id(writer.get_extra_info("ssl_object"))
            if seen != expect_identity:
                writer.close()
                raise TunnelError(f"{ip}:{port} presented {seen}, expected {expect_identity}")
            t = Tunnel(reader, writer, client_side=True)
            t.peer_identity = seen
            self.tunnels[key] = t
            fut.set_result(t)
            return t
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()                   # retrieved: waiters get it through shield
            raise
        finally:
            self._dialing.pop(key, None)

    def close(self) -> None:
        for t in self.tunnels.values():
            t.close()
