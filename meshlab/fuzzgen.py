"""Malformed inputs for every listener kind, as pure functions (no I/O): HTTP/1.1 requests and
responses, PROXY v2 headers, HTTP/2 frames for HBONE, TLS records.

Each generator takes a :class:`Draw`, the source of its choices, so one generator serves two
drivers: :class:`RandomDraw` (a seeded ``random.Random``: ``meshlab bench fuzz`` draws a million
inputs quickly) and :func:`strategy` (Hypothesis draws each choice, so the tests' examples shrink).
The frame helpers (:func:`raw`, :func:`connect`, :func:`parse`) build and read HTTP/2 frames byte by
byte, anything allowed — what a broken peer would send, never what the proxies' engines make.
"""

from __future__ import annotations

import random
import ssl
import struct
from functools import lru_cache
from typing import Callable, Protocol, Sequence

import hpack
from hyperframe.frame import Frame, PingFrame, SettingsFrame

from .net import proxyproto


class Draw(Protocol):
    """Where a generator's choices come from."""

    def pick(self, seq: Sequence): ...
    def number(self, lo: int, hi: int) -> int: ...
    def blob(self, max_size: int, min_size: int = 0) -> bytes: ...


class RandomDraw:
    """Choices from a seeded ``random.Random`` (the same seed, the same inputs)."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def pick(self, seq: Sequence):
        return seq[self.rng.randrange(len(seq))]

    def number(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def blob(self, max_size: int, min_size: int = 0) -> bytes:
        return self.rng.randbytes(self.rng.randint(min_size, max_size))


class _HypothesisDraw:
    def __init__(self, draw):
        from hypothesis import strategies as st

        self.draw, self.st = draw, st

    def pick(self, seq: Sequence):
        return self.draw(self.st.sampled_from(seq))

    def number(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def blob(self, max_size: int, min_size: int = 0) -> bytes:
        return self.draw(self.st.binary(min_size=min_size, max_size=max_size))


def strategy(gen: Callable[[Draw], object]):
    """A Hypothesis strategy drawing ``gen``'s choices (Hypothesis is a test dependency: imported here only)."""
    from hypothesis import strategies as st

    return st.composite(lambda draw: gen(_HypothesisDraw(draw)))()


def _some(d: Draw, gen: Callable[[Draw], object], most: int) -> list:
    return [gen(d) for _ in range(d.number(0, most))]


# -- HTTP/1.1 ---------------------------------------------------------------------------------------

METHODS = (b"GET", b"POST", b"HEAD", b"CONNECT", b"G\x00T", b"", b"GET GET")
TOKENS = (
    b"\r\n",
    b"\r\n\r\n",
    b":",
    b" ",
    b"\x00",
    b"\xff" * 8,
    b"Content-Length: -1",
    b"Transfer-Encoding: chunked",
    b"Content-Length: 99999999999999999999",
    b"Host:",
)
TAILS = (b"", b"\r\n\r\n", b" HTTP/1.1\r\n\r\n")


def _token(d: Draw) -> bytes:
    return d.blob(40) if d.number(0, 1) == 0 else d.pick(TOKENS)


def http_request(d: Draw) -> bytes:
    """A request line gone wrong: a method (or not), a target made of odd tokens, an end or none."""
    return d.pick(METHODS) + b" /" + b"".join(_some(d, _token, 12)) + d.pick(TAILS)


STATUS_LINES = (
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 999 Nine",
    b"HTTP/1.0 200 OK",
    b"HTTP/2 200",
    b"HTTP/1.1 -1 x",
    b"HTTP/1.1 20 short",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 204 No Content",
    b"HTTP/9.9 200 OK",
    b"ICY 200 OK",
    b"HTTP/1.1 200",
    b"",
    b"\x00HTTP/1.1 200 OK",
)
RESPONSE_HEADERS = (
    b"content-length: 5",
    b"content-length: -1",
    b"content-length: 99999999999999999999",
    b"content-length: 2\r\ncontent-length: 3",
    b"transfer-encoding: chunked",
    b"transfer-encoding: gzip, chunked",
    b"transfer-encoding: identity",
    b"connection: close",
    b"no colon here",
    b": empty name",
    b"x: \x00",
    b" folded: line",
    b"x-\xff: \xfe",
    b"content-length: 5\r\ntransfer-encoding: chunked",
    b"x" * 300,
)
BODIES = (
    b"",
    b"hello",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"zz\r\nhello\r\n",
    b"ffffffffffffffff\r\n",
    b"0\r\n",
    b"3\r\nab",
    b"0\r\nx-trailer: 1\r\n\r\n",
)


def http_response(d: Draw) -> bytes:
    """An upstream's answer gone wrong: an odd status line, odd headers (now and then past
    Envoy's 100), a head that ends or not, and a body that is or is not what it declared."""
    head = [d.pick(STATUS_LINES)]
    head += [d.pick(RESPONSE_HEADERS) if d.number(0, 2) else d.blob(30) for _ in range(d.number(0, 6))]
    if d.number(0, 15) == 0:
        head += [b"x-%d: 1" % i for i in range(101)]
    end = d.pick((b"\r\n\r\n", b"\r\n\r\n", b"\r\n", b"", b"\n\n"))
    return b"\r\n".join(head) + end + (d.pick(BODIES) if d.number(0, 3) else d.blob(40))


# -- PROXY protocol v2 -------------------------------------------------------------------------------

GOOD_PROXY = proxyproto.encode("127.0.0.1", 1, "127.0.0.1", 2)


def proxy_header(d: Draw) -> bytes:
    """Not a PROXY v2 header, a good one cut short, or the signature followed by anything."""
    k = d.number(0, 3)
    if k == 0:
        return d.blob(40)
    if k == 1:
        return GOOD_PROXY[: d.number(0, 27)]
    if k == 2:
        return proxyproto.SIGNATURE + d.blob(20, 4)
    cut = bytearray(GOOD_PROXY)  # the header with one byte past the signature changed
    cut[d.number(12, len(cut) - 1)] = d.number(0, 255)
    return bytes(cut)


# -- HTTP/2 frames (HBONE) ---------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HELLO = PREFACE + SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize()
DONE = PingFrame(0, opaque_data=b"fuzzdone").serialize()  # answered once all before it was read


def raw(kind: int, flags: int, sid: int, payload: bytes = b"", length: int | None = None) -> bytes:
    """A frame as bytes, anything allowed (its length need not be its payload's)."""
    n = len(payload) if length is None else length
    return struct.pack(">L", n)[1:] + bytes([kind, flags]) + struct.pack(">L", sid & 0xFFFFFFFF) + payload


def connect(sid: int, authority: str, *extra: tuple[str, str], end_stream: bool = False) -> bytes:
    """A CONNECT's HEADERS frame (HBONE's request), with any extra headers."""
    block = hpack.Encoder().encode([(":method", "CONNECT"), (":authority", authority), *extra])
    return raw(1, 0x4 | (0x1 if end_stream else 0), sid, block)


def parse(wire: bytes) -> list[Frame]:
    """The whole frames in ``wire`` (a partial last one is left out)."""
    frames, view = [], memoryview(wire)
    while len(view) >= 9:
        f, n = Frame.parse_frame_header(view[:9])
        if len(view) < 9 + n:
            break
        f.parse_body(view[9 : 9 + n])
        frames.append(f)
        view = view[9 + n :]
    return frames


SIDS = (1, 3, 5) * 3 + (7, 0, 2, 99)
CODES = (0, 1, 3, 5, 8, 0xFFFFFFFF)
OPENING_HEADERS = (
    ("forwarded", 'for="127.0.0.9:4000"'),
    ("traceparent", "a-b-c-d"),
    ("baggage", "k8s.pod.name=x,="),
    ("x-extra", "\u00e9\u00e8"),
    ("te", "trailers"),
)
GET = b"GET / HTTP/1.1\r\nhost: web\r\n\r\n"


def h2_opening(d: Draw) -> list[tuple[int, list, bytes]]:
    """Up to three CONNECTs (streams 1, 3, 5): (which of the target's authorities, odd headers now
    and then, bytes to send in it)."""

    def one(d):
        return (
            d.number(0, 5),
            [d.pick(OPENING_HEADERS) for _ in range(d.number(0, 2))],
            d.blob(32) if d.number(0, 1) == 0 else GET,
        )

    return _some(d, one, 3)


def _settings(d: Draw) -> bytes:
    return b"".join(
        struct.pack(">HL", d.number(0, 8), d.pick((0, 1, 2, 16383, 2**24, 2**31, 2**32 - 1)))
        for _ in range(d.number(0, 3))
    )


_BAD_FRAMES: tuple[Callable[[Draw], tuple[str, bytes]], ...] = (
    lambda d: ("DATA", raw(0, d.pick((0, 1, 8)), d.pick(SIDS), d.blob(64))),
    lambda d: (
        "WINDOW_UPDATE",
        raw(8, 0, d.pick(SIDS), struct.pack(">L", d.pick((0, 1, 2**31 - 1, 2**32 - 1)))),
    ),
    lambda d: ("RST_STREAM", raw(3, 0, d.pick(SIDS), struct.pack(">L", d.pick(CODES)))),
    lambda d: (
        "HEADERS",
        raw(
            1,
            d.pick((4, 5, 0)),
            d.pick(SIDS),
            hpack.Encoder().encode([(":method", "CONNECT"), (":authority", d.pick(("127.0.0.1:1", "x")))]),
        ),
    ),
    lambda d: ("HEADERS garbage", raw(1, 4, d.pick(SIDS), d.blob(24))),
    lambda d: ("CONTINUATION", raw(9, d.pick((0, 4)), d.pick(SIDS), d.blob(24))),
    lambda d: ("SETTINGS", raw(4, 0, 0, _settings(d))),
    lambda d: ("PRIORITY", raw(2, 0, d.pick(SIDS), struct.pack(">LB", d.pick(SIDS), 16))),
    lambda d: ("GOAWAY", raw(7, 0, 0, struct.pack(">LL", d.pick(SIDS), d.pick(CODES)))),
    lambda d: (f"type {(t := d.number(0, 255))}", raw(t, d.number(0, 255), d.pick(SIDS), d.blob(32))),
    lambda d: (
        "wrong length",
        raw(d.number(0, 10), 0, d.pick(SIDS), b"abc", d.pick((0, 20, 16385, 2**24 - 1))),
    ),
    lambda d: ("garbage", d.blob(32, 1)),
    lambda d: ("PUSH_PROMISE", raw(5, 4, 1, struct.pack(">L", 2))),
    lambda d: ("DATA past the window", b"".join(raw(0, 0, 1, b"\0" * 16384) for _ in range(70))),
)


def h2_bad(d: Draw) -> tuple[str, bytes]:
    """One bad frame (or bytes that are no frame), named: bad lengths, unknown types, HEADERS on
    closed streams, window overflows, a GOAWAY, a PUSH_PROMISE from a client..."""
    return d.pick(_BAD_FRAMES)(d)


def h2_bad_frames(d: Draw) -> list[tuple[str, bytes]]:
    """One to six of :func:`h2_bad`."""
    return [h2_bad(d) for _ in range(d.number(1, 6))]


def h2_sequence(d: Draw, authorities: Sequence[str]) -> tuple[bytes, bytes]:
    """A whole fuzzing peer's bytes: (the preface, settings and opening CONNECTs; the bad frames
    and the closing PING)."""
    opening = h2_opening(d)
    return opening_wire(opening, authorities), b"".join(b for _, b in h2_bad_frames(d)) + DONE


def opening_wire(opening, authorities: Sequence[str]) -> bytes:
    from hyperframe.frame import DataFrame

    return HELLO + b"".join(
        connect(2 * i + 1, authorities[k], *extra)
        + (DataFrame(2 * i + 1, data=data).serialize() if data else b"")
        for i, (k, extra, data) in enumerate(opening)
    )


# -- TLS records -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def client_hello() -> bytes:
    """A real TLS ClientHello record (made in memory by Python's ssl, with h2 in its ALPN)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    out = ssl.MemoryBIO()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


RECORD_TYPES = (
    20,
    21,
    22,
    23,
    24,
    0,
    25,
    255,
)  # change_cipher_spec, alert, handshake, data, heartbeat, nonsense
VERSIONS = (0x0301, 0x0303, 0x0300, 0x0304, 0x0002, 0xFFFF)


def tls_record(d: Draw) -> bytes:
    """One record, anything allowed: any type, any version, a length that may not be its payload's."""
    payload = d.blob(48)
    n = len(payload) if d.number(0, 2) else d.pick((0, 1, 2**14, 2**14 + 2048, 2**16 - 1, len(payload) + 5))
    return struct.pack(">BHH", d.pick(RECORD_TYPES), d.pick(VERSIONS), n) + payload


def tls_hello(d: Draw) -> bytes:
    """A real ClientHello cut short, with bytes changed, or followed by garbage."""
    hello = bytearray(client_hello())
    k = d.number(0, 3)
    if k == 0:
        return bytes(hello[: d.number(0, len(hello) - 1)])
    if k in (1, 2):
        for _ in range(d.number(1, 4)):
            hello[d.number(0, len(hello) - 1)] = d.number(0, 255)
        return bytes(hello)
    return bytes(hello) + d.blob(64, 1)


def tls_before_handshake(d: Draw) -> bytes:
    """What a peer sends first instead of a good ClientHello: records (one to four), a broken
    ClientHello, or plain garbage that starts like a handshake."""
    k = d.number(0, 3)
    if k == 0:
        return b"".join(tls_record(d) for _ in range(d.number(1, 4)))
    if k == 1:
        return tls_hello(d)
    if k == 2:
        return b"\x16\x03" + d.blob(40)
    return tls_hello(d)[: d.number(5, 60)] + tls_record(d)


def tls_after_handshake(d: Draw) -> bytes:
    """Records sent over an established TLS session outside it (so not sealed with its keys): a
    forged application-data record, an alert, a new ClientHello, a change_cipher_spec, garbage."""
    k = d.number(0, 3)
    if k == 0:
        return b"".join(tls_record(d) for _ in range(d.number(1, 3)))
    if k == 1:
        return client_hello()
    if k == 2:
        return struct.pack(">BHH", 23, 0x0303, 40) + d.blob(40, 40)
    return d.blob(64, 1)
