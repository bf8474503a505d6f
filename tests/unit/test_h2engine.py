"""HBONE's sans-IO HTTP/2 engines (meshlab.proxy.h2engine), libnghttp2 and h2, through the one
interface the driver uses: a client and a server engine wired together in memory (h11's
ConnectionPair), no sockets. Every scenario runs on both engines and across them (nghttp2 client
to h2 server and back). Then a peer that breaks HTTP/2 — raw frames built with hyperframe, and
garbage — must get a stream or a connection error, never an exception out of ``receive()``."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import hpack
import pytest
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from hypothesis import event, example, given, settings, strategies as st

from meshlab.net import nghttp2
from meshlab.proxy.h2engine import new_engine
from meshlab.proxy.h2events import (
    CANCEL,
    DATA,
    END,
    GOAWAY,
    HEADERS,
    MAX_CONCURRENT_STREAMS,
    RESET,
    STREAM_WINDOW,
)

ENGINES = ["nghttp2", "h2"]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HTTP/2 error codes (RFC 9113 section 7)
PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, FRAME_SIZE_ERROR, COMPRESSION_ERROR = (
    0x1,
    0x3,
    0x5,
    0x6,
    0x9,
)
ENHANCE_YOUR_CALM = 0xB


def need(name: str) -> None:
    if name == "nghttp2" and nghttp2.lib is None:
        pytest.skip(f"the nghttp2 engine cannot run here: {nghttp2.why_missing()}")


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    need(request.param)
    return request.param


@pytest.fixture(
    params=[("nghttp2", "nghttp2"), ("h2", "h2"), ("nghttp2", "h2"), ("h2", "nghttp2")],
    ids=lambda p: f"{p[0]}-client-{p[1]}-server",
)
def engines(request) -> tuple[str, str]:
    """(client engine, server engine): each engine with itself, and each against the other."""
    for name in request.param:
        need(name)
    return request.param


def capped(n: int):
    """Hypothesis settings: the profile's example count ($HYPOTHESIS_PROFILE), at most ``n``, and
    the same examples on every run."""
    return settings(max_examples=min(settings().max_examples, n), deadline=None, derandomize=True)


# -- two engines in memory ---------------------------------------------------------------------


class ConnectionPair:
    """A client and a server engine joined in memory: :meth:`pump` carries bytes both ways until
    neither has anything to send, and keeps each side's events and everything each side sent."""

    def __init__(self, client: str, server: str):
        self.client, self.server = new_engine(True, client), new_engine(False, server)
        self.events = {self.client: [], self.server: []}
        self.wire = {self.client: bytearray(), self.server: bytearray()}
        self.pump()

    def pump(self, consume: bool = True) -> None:
        """Carry bytes until both sides are quiet; ``consume``: each side hands on the data it
        receives at once (flow control lets the peer send more)."""
        moved = True
        while moved:
            moved = False
            for src, dst in ((self.client, self.server), (self.server, self.client)):
                data = src.data_to_send()
                if not data:
                    continue
                moved = True
                self.wire[src] += data
                evs = dst.receive(data)
                self.events[dst] += evs
                if consume:
                    for e in evs:
                        if e[0] == DATA:
                            dst.consume(e[1], len(e[2]))

    def connect(self, authority: str = "10.0.0.5:9080", status: int = 200) -> int:
        """A CONNECT from the client; the server answers ``status`` (ending the stream unless 200)."""
        sid = self.client.request(
            [
                (":method", "CONNECT", False),
                (":authority", authority, False),
                ("traceparent", f"00-{len(authority):032x}-{1:016x}-01", True),
            ]
        )
        self.pump()
        (req,) = [e for e in self.events[self.server] if e[0] == HEADERS and e[1] == sid]
        assert req[2][":method"] == "CONNECT" and req[2][":authority"] == authority and not req[3]
        self.server.respond(sid, status, end=status != 200)
        self.pump()
        return sid

    def of(self, side, kind: int, sid: int | None = None) -> list[tuple]:
        return [e for e in self.events[side] if e[0] == kind and (sid is None or e[1] == sid)]

    def data(self, side, sid: int) -> bytes:
        return b"".join(e[2] for e in self.of(side, DATA, sid))


def test_connect_gets_its_200_and_bytes_cross_both_ways_until_both_end(engines):
    """One CONNECT: the server sees the method and authority, the client the 200; bytes go both
    ways; each side's END reaches the other, and nothing is reset."""
    p = ConnectionPair(*engines)
    sid = p.connect()
    (resp,) = p.of(p.client, HEADERS, sid)
    assert resp[2][":status"] == "200" and resp[3] is False
    p.client.send(sid, b"ping" * 1000)
    p.server.send(sid, b"pong")
    p.pump()
    assert p.data(p.server, sid) == b"ping" * 1000 and p.data(p.client, sid) == b"pong"
    p.client.end(sid)
    p.pump()
    assert p.of(p.server, END, sid) and not p.of(p.client, END)
    p.server.send(sid, b"after the client's end")
    p.server.end(sid)
    p.pump()
    assert p.data(p.client, sid) == b"pong" + b"after the client's end" and p.of(p.client, END, sid)
    assert not p.of(p.client, RESET) and not p.of(p.server, RESET)
    assert p.client.alive and p.server.alive


@pytest.mark.parametrize("direction", ["client-to-server", "server-to-client"])
def test_a_stream_holds_at_its_window_until_the_receiver_consumes(engines, direction):
    """More than a stream's window (4 MiB) sent at once: the receiver gets exactly one window
    until it consumes; the rest waits in the sender (``pending``) and follows as it does."""
    p = ConnectionPair(*engines)
    sid = p.connect()
    tx, rx = (p.client, p.server) if direction == "client-to-server" else (p.server, p.client)
    payload = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    tx.send(sid, payload)
    tx.end(sid)
    p.pump(consume=False)
    assert len(p.data(rx, sid)) == STREAM_WINDOW
    assert tx.pending(sid) == len(payload) - STREAM_WINDOW
    assert not p.of(rx, END, sid)
    given_back = 0
    while len(p.data(rx, sid)) > given_back:
        n = len(p.data(rx, sid)) - given_back
        rx.consume(sid, n)
        given_back += n
        p.pump(consume=False)
    assert p.data(rx, sid) == payload and tx.pending(sid) == 0 and p.of(rx, END, sid)
    assert not p.of(p.client, RESET) and not p.of(p.server, RESET)


@pytest.mark.parametrize("who", ["client", "server"])
def test_a_reset_reaches_the_peer_and_only_that_stream(engines, who):
    p = ConnectionPair(*engines)
    a, b = p.connect("10.0.0.5:1"), p.connect("10.0.0.5:2")
    side, peer = (p.client, p.server) if who == "client" else (p.server, p.client)
    side.reset(a)
    p.pump()
    assert p.of(peer, RESET) == [(RESET, a, CANCEL)]
    p.client.send(b, b"still here")
    p.pump()
    assert p.data(p.server, b) == b"still here"


@pytest.mark.parametrize("status", [401, 503])
def test_a_rejected_connect_ends_with_its_status(engines, status):
    """ztunnel turns a CONNECT away (RBAC 401, no such pod 503) with the status and END_STREAM."""
    p = ConnectionPair(*engines)
    sid = p.connect(status=status)
    assert p.of(p.client, HEADERS, sid) == [(HEADERS, sid, {":status": str(status)}, True)]
    assert p.of(p.client, END, sid) and not p.of(p.client, RESET)
    assert p.client.alive and p.server.alive


def test_goaway_tells_the_peer_the_connection_is_closing(engines):
    p = ConnectionPair(*engines)
    sid = p.connect()
    p.client.send(sid, b"x")
    p.client.end(sid)
    p.server.end(sid)
    p.pump()
    p.server.close()
    p.pump()
    assert p.of(p.client, GOAWAY) == [(GOAWAY, 0)]
    assert not p.client.alive


def test_a_connection_carries_its_limit_of_streams_at_once(engines):
    """As many streams as the server allows (MAX_CONCURRENT_STREAMS), open together, each with
    its own bytes both ways."""
    p = ConnectionPair(*engines)
    assert p.client.peer_max_streams() == MAX_CONCURRENT_STREAMS
    sids = [p.connect(f"10.0.0.5:{1000 + i}") for i in range(MAX_CONCURRENT_STREAMS)]
    for i, sid in enumerate(sids):
        p.client.send(sid, f"request {i} ".encode() * (i + 1))
        p.server.send(sid, f"response {i} ".encode() * (i + 1))
    for sid in sids:
        p.client.end(sid)
        p.server.end(sid)
    p.pump()
    for i, sid in enumerate(sids):
        assert p.data(p.server, sid) == f"request {i} ".encode() * (i + 1)
        assert p.data(p.client, sid) == f"response {i} ".encode() * (i + 1)
        assert p.of(p.server, END, sid) and p.of(p.client, END, sid)
    assert not p.of(p.client, RESET) and not p.of(p.server, RESET)


# -- any split of the bytes ------------------------------------------------------------------------


def summary(events: list[tuple]) -> tuple[list, dict]:
    """Events as the driver acts on them: everything but DATA in order, and each stream's bytes."""
    data: dict[int, bytes] = {}
    for e in events:
        if e[0] == DATA:
            data[e[1]] = data.get(e[1], b"") + e[2]
    return [e for e in events if e[0] != DATA], data


def feed(engine, wire: bytes, cuts: list[int]) -> list[tuple]:
    events, at = [], 0
    for cut in sorted(set(cuts)) + [len(wire)]:
        events += engine.receive(wire[at:cut])
        at = cut
    return events


@pytest.mark.parametrize("engine", ENGINES)
@capped(60)
@given(
    payloads=st.lists(
        st.tuples(st.binary(max_size=20000), st.binary(max_size=20000)), min_size=1, max_size=3
    ),
    reset_last=st.booleans(),
    data=st.data(),
)
def test_any_split_of_the_bytes_gives_the_same_events(engine, payloads, reset_last, data):
    """A conversation recorded between two engines, then each side's bytes replayed into a
    fresh engine of the same kind, cut anywhere: the same events come out."""
    need(engine)
    p = ConnectionPair(engine, engine)
    sids = []
    for i, (up, down) in enumerate(payloads):
        sid = p.connect(f"10.0.0.5:{i + 1}")
        sids.append(sid)
        p.client.send(sid, up)
        p.server.send(sid, down)
        if reset_last and i == len(payloads) - 1:
            p.pump()  # (what crosses after a reset is dropped: not replayable)
            p.client.reset(sid)
        else:
            p.client.end(sid)
            p.server.end(sid)
        p.pump()
    # the server's view, replayed
    wire = bytes(p.wire[p.client])
    server = new_engine(False, engine)
    server.data_to_send()
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12), label="client bytes cut at")
    assert summary(feed(server, wire, cuts)) == summary(p.events[p.server])
    # the client's view, replayed: a fresh client that sent the same CONNECTs
    wire = bytes(p.wire[p.server])
    client = new_engine(True, engine)
    for i in range(len(payloads)):
        client.request([(":method", "CONNECT", False), (":authority", f"10.0.0.5:{i + 1}", False)])
    client.data_to_send()
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12), label="server bytes cut at")
    assert summary(feed(client, wire, cuts)) == summary(p.events[p.client])


# -- a peer that breaks HTTP/2 ---------------------------------------------------------------------


def raw(kind: int, flags: int, sid: int, payload: bytes = b"", length: int | None = None) -> bytes:
    """A frame as bytes, anything allowed: any type, flags and stream id, and a length that need
    not be the payload's."""
    n = len(payload) if length is None else length
    return struct.pack(">L", n)[1:] + bytes([kind, flags]) + struct.pack(">L", sid & 0xFFFFFFFF) + payload


def block(headers) -> bytes:
    """An HPACK header block from an encoder of its own (literals only reach the peer's table)."""
    return hpack.Encoder().encode(headers)


def connect_block(authority: str = "10.0.0.5:9080") -> bytes:
    return block([(":method", "CONNECT"), (":authority", authority)])


def headers(sid: int, blk: bytes | None = None, end_stream: bool = False, end_headers: bool = True) -> bytes:
    f = HeadersFrame(sid, data=connect_block() if blk is None else blk)
    f.flags = {*(["END_HEADERS"] if end_headers else []), *(["END_STREAM"] if end_stream else [])}
    return f.serialize()


def data_frame(sid: int, payload: bytes, end_stream: bool = False) -> bytes:
    return DataFrame(sid, data=payload, flags=["END_STREAM"] if end_stream else []).serialize()


def parse(wire: bytes) -> list[Frame]:
    """What an engine sent, frame by frame (it must be well-formed HTTP/2)."""
    frames, view = [], memoryview(wire)
    while view:
        f, n = Frame.parse_frame_header(view[:9])
        assert len(view) >= 9 + n, "an engine sent a truncated frame"
        f.parse_body(view[9 : 9 + n])
        frames.append(f)
        view = view[9 + n :]
    return frames


class Peer:
    """A server engine that has had a valid client preface and SETTINGS (and ACKed its own), for
    a test to send whatever it likes to."""

    def __init__(self, name: str):
        self.engine = new_engine(False, name)
        self.events: list[tuple] = []
        self.sent: list[Frame] = []
        self.engine.data_to_send()
        self.send(PREFACE + SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize())
        self.flush()

    def send(self, wire: bytes) -> list[tuple]:
        evs = self.engine.receive(wire)
        self.events += evs
        return evs

    def flush(self) -> list[Frame]:
        frames = parse(self.engine.data_to_send())
        self.sent += frames
        return frames

    def goaway(self) -> GoAwayFrame | None:
        gs = [f for f in self.sent if isinstance(f, GoAwayFrame)]
        return gs[-1] if gs else None

    def resets(self) -> dict[int, int]:
        return {f.stream_id: f.error_code for f in self.sent if isinstance(f, RstStreamFrame)}

    def serves(self, sid: int = 0x7FFFFFFF) -> bool:
        """Does a new, valid CONNECT still get through — request in, 200 out, bytes both ways?"""
        evs = self.send(headers(sid) + data_frame(sid, b"hello"))
        if [e[:2] for e in evs if e[0] == HEADERS] != [(HEADERS, sid)] or (DATA, sid, b"hello") not in evs:
            return False
        self.engine.respond(sid, 200)
        self.engine.send(sid, b"world")
        frames = self.flush()
        sent = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sid)
        return (
            any(isinstance(f, HeadersFrame) and f.stream_id == sid for f in frames)
            and sent + b"world"[len(sent) :] == b"world"  # what the peer's window allows,
            and self.engine.pending(sid) == 5 - len(sent)
        )  # the rest held back


def test_a_fresh_peer_is_served(engine):
    assert Peer(engine).serves()


# (name, what the peer sends, the stream it breaks or None for the connection, the codes allowed,
# the engines that may let it pass). A stream error may also be answered as a connection error
# (RFC 9113 section 5.4: an endpoint can end a connection at any time). Two libraries are lenient
# where the RFC is not, and the engines inherit it: nghttp2 ignores a HEADERS whose stream id went
# backwards (it cannot tell it from a late frame on a closed stream, says its source), h2 ignores
# RST_STREAM on an idle stream.
A, B = 1, 3  # two streams the peer opens first


def _window_overflow_stream():
    return WindowUpdateFrame(A, window_increment=2**31 - 1).serialize()


def _continuation_flood():
    return headers(A + 4, connect_block()[:1], end_headers=False) + raw(9, 0, A + 4, b"") * 10000


def _data_beyond_window():
    chunk = data_frame(A, b"\0" * 16384)
    return chunk * (STREAM_WINDOW // 16384 + 1)


BAD = [
    (
        "WINDOW_UPDATE overflowing the connection window",
        WindowUpdateFrame(0, window_increment=2**31 - 1).serialize() * 2,
        None,
        {FLOW_CONTROL_ERROR},
    ),
    ("WINDOW_UPDATE overflowing a stream window", _window_overflow_stream(), A, {FLOW_CONTROL_ERROR}),
    (
        "WINDOW_UPDATE of 0 on a stream",
        WindowUpdateFrame(A, window_increment=0).serialize(),
        A,
        {PROTOCOL_ERROR},
    ),
    (
        "WINDOW_UPDATE of 0 on the connection",
        WindowUpdateFrame(0, window_increment=0).serialize(),
        None,
        {PROTOCOL_ERROR},
    ),
    ("DATA beyond the stream window", _data_beyond_window(), A, {FLOW_CONTROL_ERROR}),
    ("DATA on an idle stream", data_frame(9, b"x"), None, {PROTOCOL_ERROR}),
    (
        "HEADERS on a stream the peer reset",
        RstStreamFrame(A, error_code=CANCEL).serialize() + headers(A),
        A,
        {STREAM_CLOSED},
    ),
    (
        "HEADERS on a stream the peer ended",
        data_frame(A, b"", end_stream=True) + headers(A),
        A,
        {STREAM_CLOSED},
    ),
    (
        "HEADERS opening a stream below one already open",
        headers(A + 8) + headers(A + 6),
        None,
        {PROTOCOL_ERROR},
        {"nghttp2"},
    ),
    ("HEADERS on an even (server's) stream", headers(2), None, {PROTOCOL_ERROR}),
    (
        "HEADERS with a broken HPACK block",
        headers(A + 4, b"\xff\xff\xff\xff\xff\xff"),
        None,
        {COMPRESSION_ERROR, PROTOCOL_ERROR},
    ),
    ("HEADERS with no :authority", headers(A + 4, block([(":method", "CONNECT")])), A + 4, {PROTOCOL_ERROR}),
    (
        "HEADERS with an upper-case name",
        headers(A + 4, block([(":method", "CONNECT"), (":authority", "a:1"), ("X-Bad", "1")])),
        A + 4,
        {PROTOCOL_ERROR},
    ),
    ("CONTINUATION without HEADERS", raw(9, 4, A, connect_block()), None, {PROTOCOL_ERROR}),
    (
        "CONTINUATION flood",
        _continuation_flood(),
        None,
        {PROTOCOL_ERROR, ENHANCE_YOUR_CALM, COMPRESSION_ERROR},
    ),
    ("a frame longer than SETTINGS_MAX_FRAME_SIZE", raw(0, 0, A, b"x" * 16385), None, {FRAME_SIZE_ERROR}),
    ("SETTINGS ENABLE_PUSH=2", raw(4, 0, 0, struct.pack(">HL", 2, 2)), None, {PROTOCOL_ERROR}),
    (
        "SETTINGS INITIAL_WINDOW_SIZE=2^31",
        raw(4, 0, 0, struct.pack(">HL", 4, 2**31)),
        None,
        {FLOW_CONTROL_ERROR},
    ),
    ("SETTINGS MAX_FRAME_SIZE=100", raw(4, 0, 0, struct.pack(">HL", 5, 100)), None, {PROTOCOL_ERROR}),
    ("SETTINGS MAX_FRAME_SIZE=2^24", raw(4, 0, 0, struct.pack(">HL", 5, 2**24)), None, {PROTOCOL_ERROR}),
    ("SETTINGS of 5 bytes", raw(4, 0, 0, b"\0" * 5), None, {FRAME_SIZE_ERROR}),
    ("SETTINGS on a stream", raw(4, 0, A, b""), None, {PROTOCOL_ERROR}),
    (
        "SETTINGS ACK with a payload",
        raw(4, 1, 0, struct.pack(">HL", 3, 1)),
        None,
        {FRAME_SIZE_ERROR, PROTOCOL_ERROR},
    ),  # h2 says PROTOCOL_ERROR
    ("PING of 4 bytes", raw(6, 0, 0, b"1234"), None, {FRAME_SIZE_ERROR}),
    (
        "PUSH_PROMISE from a client",
        raw(5, 4, A, struct.pack(">L", 2) + connect_block()),
        None,
        {PROTOCOL_ERROR},
    ),
    (
        "RST_STREAM on an idle stream",
        RstStreamFrame(A + 10, error_code=CANCEL).serialize(),
        None,
        {PROTOCOL_ERROR},
        {"h2"},
    ),
    ("RST_STREAM on the connection", raw(3, 0, 0, struct.pack(">L", 0)), None, {PROTOCOL_ERROR}),
    ("PRIORITY depending on itself", PriorityFrame(A, depends_on=A).serialize(), A, {PROTOCOL_ERROR}),
    ("DATA with padding longer than the frame", raw(0, 0x8, A, b"\xff" + b"x" * 10), None, {PROTOCOL_ERROR}),
]


@pytest.mark.parametrize(
    "name, wire, stream, codes, lenient", [(*b, set())[:5] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_broken_frame_gets_a_stream_or_connection_error(engine, name, wire, stream, codes, lenient):
    """With two streams open, the peer breaks the protocol. A connection error: nothing raises,
    a GOAWAY with the right code goes out and the engine is no longer ``alive``. A stream error:
    that stream, and only that one, is reset (and the driver hears of it); the other still
    carries bytes, and new streams still open."""
    peer = Peer(engine)
    peer.send(headers(A, connect_block("10.0.0.5:1")) + headers(B, connect_block("10.0.0.5:2")))
    peer.flush()
    peer.send(wire)
    peer.flush()
    goaway = peer.goaway()
    if goaway is not None and goaway.error_code != 0:  # a connection error (allowed for any)
        assert goaway.error_code in codes
        assert not peer.engine.alive
        assert peer.engine.receive(headers(0x7FFFFFFF)) == []  # it reads no more
        return
    if engine in lenient and not peer.resets():
        assert peer.engine.alive and peer.serves()
        return
    assert stream is not None, f"{name}: a connection error was due, the engine sent {peer.sent}"
    assert set(peer.resets()) == {stream} and peer.resets()[stream] in codes
    assert any(e[:2] == (RESET, stream) for e in peer.events), "the driver is not told the stream is gone"
    assert peer.engine.alive
    other = B if stream == A else A
    peer.send(data_frame(other, b"still here"))
    assert peer.events[-1] == (DATA, other, b"still here")
    assert peer.serves()


def test_unknown_frame_types_are_ignored(engine):
    """RFC 9113 section 4.1: a frame of a type the endpoint does not know is discarded."""
    peer = Peer(engine)
    peer.send(headers(A))
    assert peer.send(raw(0x42, 0xFF, A, b"whatever") + raw(0xFA, 0, 0, b"")) == []
    assert peer.flush() == [] and peer.engine.alive
    assert peer.serves()


def test_a_frame_cut_short_waits_for_the_rest(engine):
    """A frame cut anywhere is not an error: nothing happens until the rest of it arrives."""
    peer = Peer(engine)
    wire = headers(A) + data_frame(A, b"x" * 100)
    for i in range(len(wire)):
        peer.send(wire[i : i + 1])
    assert [e[0] for e in peer.events if e[0] != DATA] == [HEADERS]
    assert summary(peer.events)[1] == {A: b"x" * 100}
    assert peer.engine.alive and peer.flush() == []


def test_an_engine_the_garbage_collector_frees_inside_cffi_does_not_hang_the_process():
    """An nghttp2 engine and its cffi handle point at each other, so the cyclic GC frees it, at
    whatever allocation it runs -- also one cffi makes holding its own lock (the first use of a C
    type, or of a library function). The engine's ``__del__`` once needed that lock (to resolve
    ``nghttp2_session_del``) and the process hung there for good. In a fresh process, as that
    happens only before any engine was ever freed."""
    need("nghttp2")
    code = textwrap.dedent("""
        import gc
        from meshlab.net import nghttp2 as ng
        from meshlab.proxy.h2engine_nghttp2 import Nghttp2Engine
        engine = Nghttp2Engine(client_side=False)
        del engine                  # garbage, but in a cycle: freed at the next collection
        with ng.ffi._lock:          # what cffi holds while it parses a type or resolves a name
            gc.collect()
        print("freed")""")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the process hung freeing an nghttp2 engine inside cffi's lock")
    assert r.stdout.strip() == "freed", r.stderr


def test_garbage_instead_of_the_preface_is_a_connection_error(engine):
    server = new_engine(False, engine)
    server.data_to_send()
    assert server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == []
    server.data_to_send()
    assert not server.alive


# -- Hypothesis: any sequence of frames, most of them wrong -----------------------------------------


@dataclass(frozen=True)
class Wire:
    """Bytes a fuzzing peer sends, named for Hypothesis' report, and what they do to framing:
    ``framed``, a whole frame whose length is right (the next frame starts after it); ``block``,
    "open" when a header block waits for CONTINUATION, "close" when it ends one."""

    note: str
    data: bytes
    framed: bool = True
    block: str = ""
    goaway: bool = False


SIDS = st.sampled_from([1, 3, 5] * 3 + [7, 0, 2, 99, 2**31 - 3])  # mostly the ones just opened
FLAGS = st.integers(0, 255)
CODES = st.sampled_from([0, 1, 2, 3, 5, 7, 8, 0xB, 0xFFFFFFFF])


def _headers_blocks():
    names = st.text("abcxyz-:", min_size=1, max_size=8)
    values = st.text(max_size=12)
    valid = st.builds(
        lambda a, extra: block([(":method", "CONNECT"), (":authority", a), *extra]),
        st.text(max_size=16),
        st.lists(st.tuples(names, values), max_size=3),
    )
    return st.one_of(valid, st.binary(max_size=40), valid.map(lambda b: b[:-1]), st.just(b""))


def _block_effect(kind: int, flags: int) -> str:
    if kind in (1, 5):  # HEADERS, PUSH_PROMISE
        return "" if flags & 4 else "open"
    return "close" if kind == 9 and flags & 4 else ""


def _connect(n: int, payload: bytes, end: bool) -> Wire:
    wire = headers(n, connect_block(f"10.0.0.5:{n}")) + (
        data_frame(n, payload, end) if payload or end else b""
    )
    return Wire(f"CONNECT {n} +{len(payload)}B end={end}", wire)


def _opening():
    """Up to three valid CONNECTs (streams 1, 3, 5), some with bytes, some ended: the streams the
    bad frames then land on."""
    return st.integers(0, 3).flatmap(
        lambda k: st.tuples(
            *[
                st.builds(_connect, st.just(2 * i + 1), st.binary(max_size=16), st.booleans())
                for i in range(k)
            ]
        )
    )


def _stream_wires():
    """Frames that break one of the open streams, not the connection (most of the time)."""
    sid = st.sampled_from([1, 3, 5])
    return st.one_of(
        st.builds(
            lambda s, n: Wire(
                f"WINDOW_UPDATE {s} +{n}", WindowUpdateFrame(s, window_increment=n).serialize()
            ),
            sid,
            st.sampled_from([1, 2**31 - 1 - 65535, 2**31 - 1]),
        ),
        st.builds(
            lambda s, c: Wire(f"RST_STREAM {s} {c}", RstStreamFrame(s, error_code=c).serialize()), sid, CODES
        ),
        st.builds(
            lambda s, d, e: Wire(f"DATA {s} {len(d)}B end={e}", data_frame(s, d, e)),
            sid,
            st.binary(max_size=64),
            st.booleans(),
        ),
        st.builds(
            lambda s, e, a: Wire(
                f"HEADERS {s} :authority={a!r} end_stream={e}", headers(s, connect_block(a), end_stream=e)
            ),
            sid,
            st.booleans(),
            st.sampled_from(["10.0.0.5:9", ""]),
        ),
        st.builds(
            lambda s, d: Wire(f"PRIORITY {s} on {d}", PriorityFrame(s, depends_on=d).serialize()), sid, sid
        ),
    )


def _wires():
    sid, blk = SIDS, _headers_blocks()
    return st.one_of(
        st.builds(
            lambda s, d, e: Wire(f"DATA {s} {len(d)}B end={e}", raw(0, e, s, d)),
            sid,
            st.binary(max_size=64),
            st.integers(0, 1),
        ),
        st.builds(
            lambda s, b, es, eh: Wire(
                f"HEADERS {s} end_stream={es} end_headers={eh}",
                raw(1, es | eh << 2, s, b),
                block="" if eh else "open",
            ),
            sid,
            blk,
            st.integers(0, 1),
            st.integers(0, 1),
        ),
        st.builds(
            lambda s, b, eh: Wire(
                f"CONTINUATION {s} end_headers={eh}", raw(9, eh << 2, s, b), block="close" if eh else ""
            ),
            sid,
            blk,
            st.integers(0, 1),
        ),
        st.builds(lambda s, c: Wire(f"RST_STREAM {s} {c}", raw(3, 0, s, struct.pack(">L", c))), sid, CODES),
        st.builds(
            lambda s, d, w, x: Wire(f"PRIORITY {s} on {d}", raw(2, 0, s, struct.pack(">LB", d | x << 31, w))),
            sid,
            SIDS,
            st.integers(0, 255),
            st.integers(0, 1),
        ),
        st.builds(
            lambda s, n: Wire(f"WINDOW_UPDATE {s} +{n}", raw(8, 0, s, struct.pack(">L", n))),
            sid,
            st.sampled_from([0, 1, 65535, 2**31 - 1, 2**31, 2**32 - 1]),
        ),
        st.builds(
            lambda s, kv, f: Wire(
                f"SETTINGS {s} {kv} flags={f}",
                raw(4, f, s, b"".join(struct.pack(">HL", k, v) for k, v in kv)),
            ),
            st.sampled_from([0, 0, 0, 1]),
            st.lists(
                st.tuples(
                    st.integers(0, 8),
                    st.sampled_from([0, 1, 2, 100, 16384, 65535, 2**24, 2**31 - 1, 2**31, 2**32 - 1]),
                ),
                max_size=3,
            ),
            st.sampled_from([0, 0, 1]),
        ),
        st.builds(
            lambda s, f, d: Wire(f"PING {s} flags={f} {len(d)}B", raw(6, f, s, d)),
            st.sampled_from([0, 1]),
            st.sampled_from([0, 1]),
            st.sampled_from([b"12345678", b"1234", b""]),
        ),
        st.builds(
            lambda s, p: Wire(
                f"PUSH_PROMISE {s} -> {p}", raw(5, 4, s, struct.pack(">L", p) + connect_block())
            ),
            sid,
            SIDS,
        ),
        st.builds(
            lambda last, c: Wire(
                f"GOAWAY last={last} {c}",
                GoAwayFrame(0, last_stream_id=last, error_code=c).serialize(),
                goaway=True,
            ),
            st.sampled_from([0, 1, 99, 2**31 - 1]),
            CODES,
        ),
        st.builds(
            lambda t, f, s, d: Wire(f"type {t:#x} flags={f} {s}", raw(t, f, s, d)),
            st.integers(10, 255),
            FLAGS,
            sid,
            st.binary(max_size=32),
        ),
        st.builds(
            lambda t, f, s, d: Wire(
                f"frame type {t} flags={f} {s} {len(d)}B", raw(t, f, s, d), block=_block_effect(t, f)
            ),
            st.integers(0, 9),
            FLAGS,
            sid,
            st.binary(max_size=32),
        ),
        st.builds(
            lambda t, s, d, n: Wire(
                f"type {t} {s}: length says {n}, {len(d)}B follow", raw(t, 4, s, d, n), framed=False
            ),
            st.integers(0, 12),
            sid,
            st.binary(max_size=16),
            st.sampled_from([0, 3, 20, 16384, 16385, 2**24 - 1]),
        ),
        st.builds(lambda d: Wire(f"garbage {d!r}", d, framed=False), st.binary(min_size=1, max_size=24)),
    )


@pytest.mark.parametrize("engine", ENGINES)
@capped(200)
@example(
    opening=(_connect(1, b"", False), _connect(3, b"x", True)),
    feeding="at once",  # a stream error
    bad=[Wire("WINDOW_UPDATE 1 +2147483647", WindowUpdateFrame(1, window_increment=2**31 - 1).serialize())],
)
@given(
    opening=_opening(),
    bad=st.lists(st.one_of(_stream_wires(), _wires()), min_size=1, max_size=6),
    feeding=st.sampled_from(["at once", "frame by frame", "frame by frame, answering each"]),
)
def test_any_frames_a_peer_sends_get_an_error_never_an_exception(engine, opening, bad, feeding):
    """After a valid preface the peer sends anything. Whatever it is, ``receive()`` returns; what
    the engine answers parses as HTTP/2; a GOAWAY with an error means the engine is no longer
    ``alive``, and an engine that is not alive (unless the peer said goodbye) sent a GOAWAY; a
    stream the engine resets is a RESET event for the driver; and while the engine is alive and
    the bytes still frame, a new CONNECT is served."""
    need(engine)
    peer = Peer(engine)
    wires = [*opening, *bad]
    if feeding == "at once":
        peer.send(b"".join(w.data for w in wires))
    else:
        for w in wires:
            peer.send(w.data)
            if feeding.endswith("answering each"):
                peer.flush()
    peer.flush()
    goaway, alive = peer.goaway(), peer.engine.alive
    said_goodbye = any(w.goaway for w in wires)
    event(
        f"{'alive' if alive else 'closed'}, GOAWAY {goaway and goaway.error_code}, "
        f"{len(peer.resets())} streams reset of {len([e for e in peer.events if e[0] == HEADERS])} opened"
    )
    if goaway is not None and goaway.error_code != 0:
        assert not alive
    if not alive and not said_goodbye:
        assert goaway is not None and goaway.error_code != 0
    if not alive:
        return
    opened = {e[1] for e in peer.events if e[0] == HEADERS} - {e[1] for e in peer.events if e[0] == RESET}
    assert not opened & set(peer.resets()), "the engine reset a stream and did not tell the driver"
    block = ""
    for w in wires:
        block = {"open": "open", "close": ""}.get(w.block, block)
    if all(w.framed for w in wires) and not block and not said_goodbye:
        assert peer.serves()
