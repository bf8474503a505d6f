"""The HBONE driver (meshlab.proxy.hbone.Tunnel) fed bytes by hand, with a transport that only
keeps what is written: what it does when the peer breaks HTTP/2 — or when what it hands a stream
to breaks — on both engines, with no sockets and no TLS."""

from __future__ import annotations

import asyncio
import struct

import hpack
import pytest
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from meshlab.net import nghttp2
from meshlab.proxy import hbone
from meshlab.proxy.hbone import Tunnel
from meshlab.proxy.hbone_stream import Stream, TunnelError, forwarded_for

PREFACE = (
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    + SettingsFrame(0).serialize()
    + SettingsFrame(0, flags=["ACK"]).serialize()
)


@pytest.fixture(params=["nghttp2", "h2"])
def engine(request) -> str:
    if request.param == "nghttp2" and nghttp2.lib is None:
        pytest.skip(f"the nghttp2 engine cannot run here: {nghttp2.why_missing()}")
    return request.param


class Transport:
    """What a Tunnel writes, and whether it closed (as asyncio's, connection_lost comes later)."""

    def __init__(self):
        self.out, self.closed = bytearray(), False

    def get_extra_info(self, name, default=None):
        return default

    def write(self, data) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def frames(self) -> list[Frame]:
        frames, view = [], memoryview(bytes(self.out))
        while view:
            f, n = Frame.parse_frame_header(view[:9])
            f.parse_body(view[9 : 9 + n])
            frames.append(f)
            view = view[9 + n :]
        return frames


class Sink:
    """A stream's sink that notes what happens to it."""

    def __init__(self):
        self.data, self.ended, self.reset = b"", False, None

    def on_data(self, data):
        self.data += data

    def on_end(self):
        self.ended = True

    def on_reset(self, reason):
        self.reset = reason

    def on_response(self, status):
        pass

    def on_drain(self):
        pass


def connect(sid: int, authority: str = "10.0.0.5:9080") -> bytes:
    f = HeadersFrame(sid, data=hpack.Encoder().encode([(":method", "CONNECT"), (":authority", authority)]))
    f.flags.add("END_HEADERS")
    return f.serialize()


def server(engine: str, on_stream) -> tuple[Tunnel, Transport]:
    """A server-side Tunnel that has read a valid preface (call inside a running loop)."""
    t, tr = Tunnel(False, on_stream, engine=engine), Transport()
    t.connection_made(tr)
    t.data_received(PREFACE)
    return t, tr


def run(coro):
    return asyncio.run(coro)


def test_a_connection_error_closes_the_transport_also_with_streams_open(engine):
    """The peer overflows the connection window while a stream is open: GOAWAY, and the Tunnel
    closes the connection (before, it waited for streams that would never hear again)."""

    async def main():
        streams = []
        t, tr = server(engine, lambda s, peer: streams.append(s) or setattr(s, "sink", Sink()))
        t.data_received(connect(1))
        streams[0].respond(200)
        await asyncio.sleep(0)
        assert not tr.closed and t.streams
        t.data_received(WindowUpdateFrame(0, window_increment=2**31 - 1).serialize() * 2)
        return tr, streams[0]

    tr, stream = run(main())
    assert [f.error_code for f in tr.frames() if isinstance(f, GoAwayFrame)] == [0x3]
    assert tr.closed


def test_a_stream_send_after_a_connection_error_is_a_tunnel_error_or_nothing(engine):
    """Between the connection error and connection_lost (asyncio's, a loop turn later) the app
    side may still send on its stream: TunnelError (what the ztunnel's pipes catch), or the bytes
    wait; never another exception (h2's ProtocolError escaped before)."""

    async def main():
        streams = []
        t, tr = server(engine, lambda s, peer: streams.append(s) or setattr(s, "sink", Sink()))
        t.data_received(connect(1))
        streams[0].respond(200)
        await asyncio.sleep(0)
        t.data_received(struct.pack(">L", 4)[1:] + bytes([5, 4]) + struct.pack(">LL", 1, 2))  # PUSH_PROMISE
        assert tr.closed
        try:
            streams[0].send(b"from the app, late")
        except TunnelError:
            pass

    run(main())


def test_a_stream_error_the_engine_finds_drops_the_stream(engine):
    """The peer overflows one stream's window: the engine resets that stream, and the driver
    hears of it (its sink's on_reset): nghttp2's RESET was lost before. The other stream goes on."""

    async def main():
        sinks = {}

        def on_stream(s: Stream, peer):
            s.sink = sinks[s.id] = Sink()
            s.respond(200)

        t, tr = server(engine, on_stream)
        t.data_received(connect(1) + connect(3))
        t.data_received(WindowUpdateFrame(1, window_increment=2**31 - 1).serialize())
        t.data_received(DataFrame(3, data=b"three").serialize())
        await asyncio.sleep(0)
        return t, tr, sinks

    t, tr, sinks = run(main())
    assert sinks[1].reset and 1 not in t.streams
    assert [(f.stream_id, f.error_code) for f in tr.frames() if isinstance(f, RstStreamFrame)] == [(1, 0x3)]
    assert sinks[3].reset is None and sinks[3].data == b"three" and not tr.closed


def test_a_handler_that_breaks_twice_costs_its_stream_not_the_connection(engine, monkeypatch):
    """``on_stream`` raises, and the sink it left raises again as the stream is dropped (a
    ztunnel Delivery half made): both are logged as bugs, the stream is reset, and the next
    CONNECT on the same connection is served."""
    bugs = []
    monkeypatch.setattr(hbone, "_log_bug", bugs.append)

    class Broken(Sink):
        def on_reset(self, reason):
            raise AttributeError("no span yet")

    async def main():
        served = []

        def on_stream(s: Stream, peer):
            if s.authority == "broken:1":
                s.sink = Broken()
                raise ValueError("invalid literal for int()")
            s.sink = Sink()
            s.respond(200)
            served.append(s.id)

        t, tr = server(engine, on_stream)
        t.data_received(connect(1, "broken:1"))
        t.data_received(connect(3))
        await asyncio.sleep(0)
        return tr, served

    tr, served = run(main())
    assert [type(b) for b in bugs] == [ValueError, AttributeError]
    assert [(f.stream_id, f.error_code) for f in tr.frames() if isinstance(f, RstStreamFrame)] == [(1, 0x8)]
    assert served == [3] and not tr.closed


class _S:
    def __init__(self, forwarded: str):
        self.headers = {"forwarded": forwarded}


@pytest.mark.parametrize(
    "value, expected",
    [
        ('for="10.0.0.7:4321"', ("10.0.0.7", 4321)),
        ('for="10.0.0.7:\u00b2"', None),  # a digit to str.isdigit(), not to int()
        ('for="some.name.example:1"', None),  # binding to it would look the name up
        ('for="10.0.0.7"', None),
        ('for="10.0.0.7\x00:1"', None),
        ("", None),
    ],
)
def test_forwarded_for_reads_an_address_or_nothing(value, expected):
    assert forwarded_for(_S(value)) == expected
