"""How a ztunnel joins the two sides of a connection, callback-driven, with no task per connection.

- :class:`Connection` — what every connection a ztunnel carries has: its ztunnel
  (:class:`~.ztunnel.Ztunnel`), byte counts, the error it ended with, and one end that records it.
- :class:`Pipe` — a TCP connection and an HBONE stream (:mod:`meshlab.proxy.hbone`), joined: the
  socket's protocol is the stream's sink, so bytes go from one side's callback to the other's write.
- :class:`Leg` and :class:`Spliced` — a TCP connection and a second one, joined: plaintext both ways.

What each connection is for — outbound (:mod:`.ztunnel_outbound`) or inbound
(:mod:`.ztunnel_inbound`) — is in the subclasses.
"""

from __future__ import annotations

import asyncio

from ..net import interception
from ..net.tcp import abort_with_reset
from .hbone_stream import Stream


class Connection(asyncio.Protocol):
    """What every connection a ztunnel carries has: its ztunnel, its (client-side) transport, the
    error it ended with, byte counts, and one end — :meth:`finish`, which records it once."""

    def __init__(self, z):
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


class Pipe(Connection):
    """One TCP connection and one HBONE stream, joined: the TCP side's protocol and the stream's
    sink at once. Bytes read from the socket go into the stream, bytes from the stream out to the
    socket; each side's end (FIN, END_STREAM) is passed on, and a reset either way resets the other.
    ``up``/``down`` count bytes socket -> stream and stream -> socket."""

    def __init__(self, z):
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


class Leg(asyncio.Protocol):
    """The second TCP connection of a plaintext pair (to the app, or to an address outside the
    mesh): what it reads goes out on its partner's socket."""

    def __init__(self, owner: "Spliced"):
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


class Spliced(Connection):
    """A plaintext connection and its leg: bytes both ways, FIN passed on, reset passed on.
    ``up``/``down`` count client -> leg and leg -> client."""

    def __init__(self, z):
        super().__init__(z)
        self.leg: Leg | None = None
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
            _, self.leg = await interception.connect_from(ip, port, src_ip, self.z.net, lambda: Leg(self))
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
