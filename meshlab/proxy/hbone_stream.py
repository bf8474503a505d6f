"""An HBONE stream: one CONNECT on an HBONE connection (:class:`~.hbone.Tunnel`), carrying one TCP
connection's bytes both ways — with its two faces (the sink callbacks of the fast path and the
async facade, :mod:`.hbone` says which role uses which), :class:`StreamIO` (a stream as an
HTTP/1.1 server loop's reader and writer), the CONNECT's header helpers, and :class:`TunnelError`.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque

from ..errors import DataPlaneError

HIGH_WATER = 1024 * 1024  # bytes a stream may have waiting to be framed before its source pauses


class TunnelError(DataPlaneError, ConnectionError):
    """An HBONE stream or its tunnel failed (reset, GOAWAY, closed)."""


class Stream:
    """One CONNECT stream: a TCP connection's bytes, both ways."""

    __slots__ = (
        "tunnel",
        "id",
        "headers",
        "sink",
        "bytes_in",
        "bytes_out",
        "local_ended",
        "remote_ended",
        "gone",
        "opened_here",
        "_response",
        "_inbox",
        "_waiter",
        "_unconsumed",
        "__weakref__",
    )

    def __init__(self, tunnel, stream_id: int, headers: dict[str, str], sink=None):
        self.tunnel, self.id, self.headers, self.sink = tunnel, stream_id, headers, sink
        self.bytes_in = self.bytes_out = 0
        self.local_ended = self.remote_ended = False
        self.gone = False  # reset, rejected, or its tunnel closed
        self.opened_here = False
        self._response: asyncio.Future | None = None  # the async facade's, client side
        self._inbox: deque | None = None
        self._waiter: asyncio.Future | None = None
        self._unconsumed = 0

    @property
    def usable(self) -> bool:
        """Can more bytes go both ways on this stream?"""
        return not self.gone and not self.tunnel.closed and not self.local_ended and not self.remote_ended

    @property
    def pending(self) -> bool:
        """Bytes arrived that no read has taken yet (async facade)."""
        return bool(self._inbox)

    @property
    def authority(self) -> str:
        return self.headers.get(":authority", "")

    # -- the fast path -------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.gone or self.local_ended:
            raise TunnelError(f"HBONE stream {self.id} is closed")
        self.bytes_out += len(data)
        t = self.tunnel
        try:
            t.engine.send(self.id, data)
        except ConnectionError as e:  # the engine's stream or connection broke, before we heard
            raise TunnelError(str(e)) from None
        t.flush_soon()

    def send_end(self) -> None:
        if not self.local_ended and not self.gone:
            self.local_ended = True
            t = self.tunnel
            t.engine.end(self.id)
            t.flush_soon()
            if self.remote_ended:
                t.streams.pop(self.id, None)

    def respond(self, status: int) -> None:
        """Answer a CONNECT (server side): 200 opens the pipe, anything else ends the stream."""
        t = self.tunnel
        if self.gone:
            return
        t.engine.respond(self.id, status, end=status != 200)
        t.flush_soon()
        if status != 200:
            self.local_ended = self.gone = True
            t.streams.pop(self.id, None)

    def reset(self) -> None:
        """Reset the stream (RST_STREAM, CANCEL), as ztunnel drops a connection a new policy no
        longer allows: the peer's reads fail, and so do ours."""
        if self.gone:
            return
        t = self.tunnel
        t.engine.reset(self.id)
        t.flush_soon()
        self._gone("reset here")

    def consume(self, n: int) -> None:
        """``n`` bytes received were handed on: the peer may send that many more (flow control)."""
        self.tunnel.engine.consume(self.id, n)
        self.tunnel.flush_soon()

    def backed_up(self) -> bool:
        """Should whoever feeds this stream pause? (Its bytes are not leaving fast enough: the
        socket is backed up, or the peer's flow-control window holds them here.) If so, the
        sink's ``on_drain()`` is called once they are moving again."""
        t = self.tunnel
        if t.paused or t.engine.pending(self.id) > HIGH_WATER:
            t.blocked.add(self)
            return True
        return False

    # -- events from the tunnel ----------------------------------------------------------------
    def _data(self, data: bytes) -> None:
        self.bytes_in += len(data)
        sink = self.sink
        if sink is not None:
            sink.on_data(data)
        else:
            self._put(data)

    def _end(self) -> None:
        self.remote_ended = True
        if self.local_ended:
            self.tunnel.streams.pop(self.id, None)
        if self.sink is not None:
            self.sink.on_end()
        else:
            self._put(b"")

    def _gone(self, reason: str) -> None:
        if self.gone:
            return
        self.gone = True
        self.tunnel.streams.pop(self.id, None)
        if self._response is not None and not self._response.done():
            self._response.set_exception(TunnelError(f"HBONE stream {self.id}: {reason}"))
        if self.sink is not None:
            self.sink.on_reset(reason)
        else:
            self._put(None)

    def _responded(self, headers: dict) -> None:
        status = headers.get(":status", "")
        if self._response is not None:
            if not self._response.done():
                self._response.set_result(headers)
        elif self.sink is not None:
            self.sink.on_response(int(status) if status.isascii() and status.isdigit() else 0)

    # -- the async facade ----------------------------------------------------------------------
    def _put(self, chunk: bytes | None) -> None:
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(chunk)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def read(self) -> bytes:
        """The next bytes from the peer; ``b""`` when it ended the stream. Raises on reset."""
        if self._unconsumed:
            self.consume(self._unconsumed)
            self._unconsumed = 0
        while not self._inbox:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._inbox.popleft()
        if chunk is None:
            self._inbox.appendleft(None)
            raise TunnelError(f"HBONE stream {self.id} was reset")
        self._unconsumed = len(chunk)  # consumed at the next read: the reader took it
        return chunk

    async def write(self, data: bytes) -> None:
        self.send(data)
        await self.drain()

    async def drain(self) -> None:
        while self.backed_up() and not self.gone and not self.tunnel.closed:
            await self.tunnel.drained()

    async def end(self) -> None:
        self.send_end()

    async def accept(self) -> None:
        self.respond(200)

    async def reject(self, status: int) -> None:
        self.respond(status)


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


def unique(name: str, value: str) -> tuple[str, str, bool]:
    """A header whose value is new on every CONNECT (``traceparent``, ``forwarded``): sent as a
    literal that is never indexed, so it does not churn both sides' HPACK tables for nothing."""
    return (name, value, True)


def header(name: str, value: str) -> tuple[str, str, bool]:
    return (name, value, False)


def forwarded_for(stream: Stream) -> tuple[str, int] | None:
    """The original client's address from the CONNECT's ``forwarded: for="ip:port"`` header;
    None unless it is an IPv4 address and a port. (The peer writes it, and the ztunnel binds to
    the address: a name there would be looked up, a DNS query blocking its event loop.)"""
    ip, _, port = stream.headers.get("forwarded", "").partition('for="')[2].rstrip('"').rpartition(":")
    if not (ip and port.isascii() and port.isdigit()):  # ("²".isdigit())
        return None
    try:
        socket.inet_pton(socket.AF_INET, ip)
    except (OSError, ValueError):
        return None
    return ip, int(port)
