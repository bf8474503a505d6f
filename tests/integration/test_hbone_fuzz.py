"""Bad HBONE input never stops a ztunnel or a waypoint. A real
:class:`~meshlab.proxy.ztunnel.Ztunnel` serves one ambient pod (its HBONE port 15008, mutual TLS
with lab certificates, an echo app behind it) on an event loop in a thread of its own; the test is
a peer with a lab certificate that speaks broken HTTP/2 over TLS — frames and sequences Hypothesis
makes. After each, the ztunnel must still serve: a fresh, valid HBONE client gets its CONNECT
answered and its bytes echoed, no connection is left behind, and nothing raised inside the event
loop. Then the same for a :class:`~meshlab.proxy.waypoint.Waypoint` in front of a service. Both
HTTP/2 engines. (No lab and no backend, as in test_ambient's
``test_ztunnel_carries_any_tcp_bytes_unchanged``.)"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import struct
import sys
import threading
import time

import pytest
import uvloop
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame
from hypothesis import example, given, settings, strategies as st

from meshlab.backends.state import Slot
from meshlab.fuzzgen import DONE, HELLO, connect, h2_bad_frames, h2_opening, opening_wire, raw, strategy
from meshlab.fuzzprobe import exchange
from meshlab.identity import LabCA, client_context
from meshlab.net import nghttp2
from meshlab.net.cluster import HBONE_PORT, ClusterNet, PodAddr, ServiceAddr
from meshlab.proxy import h2engine, h2events, hbone
from meshlab.proxy.waypoint import Waypoint
from meshlab.proxy.ztunnel import Ztunnel

ENGINES = ["nghttp2", "h2"]
APP_PORT = 7000


def capped(n: int):
    """Hypothesis settings: the profile's example count ($HYPOTHESIS_PROFILE), at most ``n``, and
    the same examples on every run."""
    return settings(max_examples=min(settings().max_examples, n), deadline=None, derandomize=True)


class ProxyInThread:
    """A proxy that serves HBONE, with the app behind it, on an event loop (uvloop's, as in the
    lab) in a thread of its own, which records every error the loop reports and every bug the
    HBONE driver's safety net logs; and pod ``a-0``'s certificate, for the test to present."""

    role = "?"

    def __init__(self, tmp, block: int, engine: str):
        self.ca = LabCA.create(tmp / "ca")
        a = self.ca.issue("default", "a")
        self.block, self.engine = block, engine
        self.other_ip = f"127.{block}.1.2"
        self.tls = client_context(a.cert_path, a.key_path, self.ca.root_path, alpn=["h2"])
        self.errors: list[dict] = []  # what the loop's exception handler got
        self.bugs: list[BaseException] = []  # what hbone's safety net logged
        self.loop: asyncio.AbstractEventLoop | None = None
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name=f"{self.role}-{engine}", daemon=True
        )
        self.thread.start()
        if not ready.wait(20):
            raise RuntimeError(f"the {self.role} did not start: {self.errors}")

    # what a role defines
    ip: str  # where its HBONE port is
    authority: str  # what a valid CONNECT asks for

    async def start(self) -> None: ...
    def close(self) -> None: ...
    def held(self) -> int: ...  # what it holds for connections in flight
    def authorities(self) -> list[str]: ...  # what a fuzzing peer CONNECTs to (by index)

    def serves(self) -> bool:
        """Does a fresh, valid HBONE client get its CONNECT answered and its bytes served?"""

    def _run(self, ready: threading.Event) -> None:
        _BY_THREAD[threading.get_ident()] = self
        loop = self.loop = uvloop.new_event_loop()
        loop.set_exception_handler(lambda _, ctx: self.errors.append(ctx))

        async def main():
            await self.start()
            self._stop = loop.create_future()
            ready.set()
            await self._stop
            self.close()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
            del _BY_THREAD[threading.get_ident()]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(10)

    def in_loop(self, fn):
        """``fn()`` called on the proxy's event loop; its result."""

        async def call():
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def reported(self) -> tuple[list, list]:
        """What the loop reported and the safety net logged until now, after a garbage collection
        in the loop's thread (a task's unretrieved exception is reported only when it is freed);
        then forgotten."""
        self.in_loop(gc.collect)
        errors, bugs = self.errors[:], self.bugs[:]
        del self.errors[: len(errors)], self.bugs[: len(bugs)]
        return errors, bugs

    def settle(self, timeout: float = 3.0) -> int:
        """Wait until the proxy holds nothing for a connection; returns what it still holds."""
        deadline = time.monotonic() + timeout
        while (n := self.in_loop(self.held)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return n

    def dial(self) -> ssl.SSLSocket:
        """A TLS connection to the proxy's HBONE port, with a's certificate."""
        sock = socket.create_connection((self.ip, HBONE_PORT), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.tls.wrap_socket(sock)

    def exchange(self, payload: bytes, done) -> tuple[str | None, bytes]:
        """A fresh, valid HBONE client: CONNECT, and once answered 200, send ``payload`` and END;
        returns the status and what came back (until ``done(what came back)``, or the stream
        ended). The client is h2's engine whatever the proxy's: two threads must not both drive
        nghttp2 engines (they share ``h2engine_nghttp2._ptr``; a process of the lab runs one event loop)."""
        e = h2engine.new_engine(True, "h2")
        sid = e.request([(":method", "CONNECT", False), (":authority", self.authority, False)])
        status, got, ended = None, b"", False
        with self.dial() as t:
            t.sendall(e.data_to_send())
            deadline = time.monotonic() + 5
            while not ended and not done(got) and time.monotonic() < deadline:
                data = t.recv(65536)
                if not data:
                    break
                for ev in e.receive(data):
                    if ev[0] == h2events.HEADERS and ev[1] == sid:
                        status = ev[2].get(":status")
                        e.send(sid, payload)
                        e.end(sid)
                    elif ev[0] == h2events.DATA:
                        got += ev[2]
                        e.consume(ev[1], len(ev[2]))
                    elif ev[0] in (h2events.END, h2events.RESET):
                        ended = True
                t.sendall(e.data_to_send())
        return status, got


async def _echo(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except ConnectionError:
        pass
    w.close()


class ZtunnelInThread(ProxyInThread):
    """Pod ``b-0`` (app: an echo server) behind its node's ztunnel."""

    role = "ztunnel"

    async def start(self) -> None:
        b = self.ca.issue("default", "b")
        self.ip, self.app_ip = f"127.{self.block}.2.2", f"127.{self.block}.130.2"
        self.authority = f"{self.ip}:{APP_PORT}"
        self.net = ClusterNet(
            pods=(
                PodAddr("a-0", "default", "n1", self.other_ip, service_account="a", mesh="ambient"),
                PodAddr(
                    "b-0",
                    "default",
                    "n2",
                    self.ip,
                    service_account="b",
                    ports=(APP_PORT,),
                    local_ip=self.app_ip,
                    mesh="ambient",
                ),
            ),
            services=(),
        )
        self.app = await asyncio.start_server(_echo, self.app_ip, APP_PORT)
        self.z = Ztunnel("n2", self.net, {b.spiffe_id: (b.cert_path, b.key_path)}, self.ca.root_path)
        await self.z.start()

    def close(self) -> None:
        self.z.close()
        self.app.close()

    def held(self) -> int:
        return len(self.z.open)  # its connections in flight (Delivery pipes)

    def authorities(self) -> list[str]:
        """b's app; a port b does not listen on; a pod that is not b; not an address at all."""
        return [
            self.authority,
            self.authority,
            f"{self.ip}:{APP_PORT + 1}",
            f"{self.other_ip}:{APP_PORT}",
            "",
            "nonsense",
        ]

    def echo(self, payload: bytes) -> tuple[str | None, bytes]:
        return self.exchange(payload, lambda got: got == payload)

    def serves(self) -> bool:
        return self.echo(b"still serving") == ("200", b"still serving")


async def _http_ok(r, w):
    """An app that answers every HTTP/1.1 request (no body) with 200 and ``ok``."""
    try:
        while await r.readuntil(b"\r\n\r\n"):
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await w.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    w.close()


class WaypointInThread(ProxyInThread):
    """Service ``web`` (VIP:80 -> pod web-0:8080, a plain HTTP app outside the mesh) behind its
    waypoint, which takes HBONE CONNECTs to the service's VIP and serves HTTP/1.1 inside them."""

    role = "waypoint"
    GET = b"GET / HTTP/1.1\r\nhost: web\r\n\r\n"

    async def start(self) -> None:
        w = self.ca.issue("default", "waypoint")
        self.ip, self.web_ip, self.vip = (
            f"127.{self.block}.1.3",
            f"127.{self.block}.2.2",
            f"127.{self.block}.250.1",
        )
        self.authority = f"{self.vip}:80"
        net = ClusterNet(
            pods=(
                PodAddr("a-0", "default", "n1", self.other_ip, service_account="a", mesh="ambient"),
                PodAddr(
                    "waypoint-0",
                    "default",
                    "n1",
                    self.ip,
                    service_account="waypoint",
                    labels={"gateway.networking.k8s.io/gateway-name": "waypoint"},
                ),
                PodAddr("web-0", "default", "n2", self.web_ip, service_account="web", ports=(8080,)),
            ),
            services=(ServiceAddr("web", "default", self.vip, 80, 8080, ("web-0",), waypoint="waypoint-0"),),
        )
        self.app = await asyncio.start_server(_http_ok, self.web_ip, 8080)
        self.w = Waypoint("waypoint-0", net, w.cert_path, w.key_path, self.ca.root_path)
        await self.w.start()

    def close(self) -> None:
        self.w.close()
        self.app.close()

    def held(self) -> int:
        """Its HBONE streams in flight: one task each (the app's handlers are the rest)."""
        return sum(1 for t in asyncio.all_tasks(self.loop) if "_stream" in repr(t.get_coro()))

    def authorities(self) -> list[str]:
        """The service; a port it does not have; its pod's own address; not an address at all."""
        return [self.authority, self.authority, f"{self.vip}:81", f"{self.web_ip}:8080", "", "nonsense"]

    def serves(self) -> bool:
        status, got = self.exchange(self.GET, lambda got: got.endswith(b"\r\n\r\nok"))
        return status == "200" and got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"\r\n\r\nok")


_BY_THREAD: dict[int, ProxyInThread] = {}  # the proxy whose event loop runs in that thread


@pytest.fixture(scope="module", autouse=True)
def per_thread():
    """Each proxy's thread uses its own HTTP/2 engine (``h2engine.engine_name``: what
    MESHLAB_H2_ENGINE picks once per process), and what hbone's safety net logs there is
    recorded as that proxy's bug. Also: what exists now is no garbage (``gc.freeze``: each
    collection the tests make is quick), and the GIL changes hands sooner (two threads in ping-pong)."""
    mp = pytest.MonkeyPatch()
    choose, log = h2engine.engine_name, hbone._log_bug

    def engine_name() -> str:
        proxy = _BY_THREAD.get(threading.get_ident())
        return proxy.engine if proxy is not None else choose()

    def log_bug(e: BaseException) -> None:
        proxy = _BY_THREAD.get(threading.get_ident())
        if proxy is not None:
            proxy.bugs.append(e)
        log(e)

    mp.setattr(h2engine, "engine_name", engine_name)
    mp.setattr(hbone, "_log_bug", log_bug)
    gc.freeze()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    yield
    sys.setswitchinterval(switch)
    gc.unfreeze()
    mp.undo()


def running(cls, engine: str, tmp_path_factory):
    """A proxy of class ``cls`` on ``engine``, in an address block no lab holds."""
    if engine == "nghttp2" and nghttp2.lib is None:
        pytest.skip(f"the nghttp2 engine cannot run here: {nghttp2.why_missing()}")
    slot = Slot()
    proxy = None
    try:
        proxy = cls(tmp_path_factory.mktemp(f"{cls.role}-{engine}"), slot.number, engine)
        yield proxy
    finally:
        if proxy is not None:
            proxy.stop()
        slot.release()


@pytest.fixture(scope="module", params=ENGINES)
def ztunnel(request, tmp_path_factory):
    yield from running(ZtunnelInThread, request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=ENGINES)
def waypoint(request, tmp_path_factory):
    yield from running(WaypointInThread, request.param, tmp_path_factory)


@pytest.fixture
def clean(ztunnel):
    """The ztunnel, and at the end: nothing raised in its loop, nothing left open."""
    ztunnel.reported()
    yield ztunnel
    assert ztunnel.settle() == 0
    assert ztunnel.reported() == ([], [])


# -- the peer --------------------------------------------------------------------------------------


def test_a_valid_client_is_served(clean):
    assert clean.in_loop(lambda: clean.z.stats()["h2_engine"]).startswith(clean.engine)
    assert clean.echo(b"x" * 100_000) == ("200", b"x" * 100_000)


def test_a_connection_error_closes_the_connection_also_with_streams_open(clean):
    """A peer with a stream open (its bytes already echoed) breaks the connection's flow control:
    GOAWAY FLOW_CONTROL_ERROR, and the ztunnel closes the connection (RFC 9113 section 5.4.1)
    rather than keep it, and the app connection behind the stream, for as long as the peer likes."""
    with clean.dial() as t:
        a = exchange(
            t,
            HELLO + connect(1, f"{clean.ip}:{APP_PORT}") + DataFrame(1, data=b"hi").serialize(),
            until=lambda a: a.of(DataFrame, 1),
        )
        assert a.of(HeadersFrame, 1) and a.of(DataFrame, 1)[0].data == b"hi"
        a = exchange(t, WindowUpdateFrame(0, window_increment=2**31 - 1).serialize() * 2)
        assert a.goaway() is not None and a.goaway().error_code == 0x3
        assert a.closed, "the ztunnel sent GOAWAY but kept the connection"
    assert clean.settle() == 0
    assert clean.serves()


def test_a_stream_error_resets_that_stream_and_the_others_carry_on(clean):
    """Two streams open; the peer overflows one's window: that stream is reset (FLOW_CONTROL_ERROR)
    and its app connection closed, while the other still echoes."""
    with clean.dial() as t:
        a = exchange(
            t,
            HELLO + connect(1, f"{clean.ip}:{APP_PORT}") + connect(3, f"{clean.ip}:{APP_PORT}"),
            until=lambda a: a.of(HeadersFrame, 1) and a.of(HeadersFrame, 3),
        )
        a = exchange(t, WindowUpdateFrame(1, window_increment=2**31 - 1).serialize() + DONE)
        assert [f.error_code for f in a.of(RstStreamFrame, 1)] == [0x3] and not a.closed
        a = exchange(t, DataFrame(3, data=b"three").serialize(), until=lambda a: a.of(DataFrame, 3))
        assert a.of(DataFrame, 3)[0].data == b"three"
        assert clean.in_loop(clean.held) == 1  # stream 3's; stream 1's is gone
    assert clean.serves()


@pytest.mark.parametrize(
    "forwarded", ['for="1.2.3.4:\u00b2"', 'for="no.such.name.invalid:1"', 'for="1.2.3.4"', "x"]
)
def test_a_connect_with_a_malformed_forwarded_header_is_still_delivered(clean, forwarded):
    """``forwarded`` is the peer's to write: one the ztunnel cannot read (a port that is not
    ASCII digits, a name instead of an address) is ignored; the connection still reaches the app."""
    with clean.dial() as t:
        a = exchange(
            t,
            HELLO + connect(1, f"{clean.ip}:{APP_PORT}", ("forwarded", forwarded)),
            until=lambda a: a.of(HeadersFrame, 1),
        )
        a = exchange(
            t,
            DataFrame(1, data=b"hi", flags=["END_STREAM"]).serialize(),
            until=lambda a: any("END_STREAM" in f.flags for f in a.of(DataFrame, 1)),
        )
        assert b"".join(f.data for f in a.of(DataFrame, 1)) == b"hi"
    assert not clean.bugs


def test_a_connect_for_another_pod_is_answered_400_and_counted_in_no_metric(clean):
    """ztunnel's build_inbound_request: a CONNECT whose destination is not the workload behind
    this HBONE listener is an early deny — 400 BAD_REQUEST, a log line, no connection metric
    (src/proxy/inbound.rs); the tunnel still serves."""
    good = clean.authority
    try:
        clean.authority = f"{clean.other_ip}:{APP_PORT}"  # pod a-0, not b-0
        status, _ = clean.exchange(b"x", lambda got: False)
    finally:
        clean.authority = good
    assert status == "400"
    text = clean.in_loop(lambda: clean.z.metrics.text().decode())
    assert 'destination_workload="a"' not in text
    assert clean.serves()


def test_a_connect_that_breaks_its_handler_is_reset_and_the_connection_lives(ztunnel, request):
    """An :authority whose port is a digit to ``str.isdigit()`` but not to ``int()`` ('²').
    nghttp2 rejects it itself (RST_STREAM); h2 passes it on and the ztunnel refuses it (400: no
    such port; its judge once raised here). Either way only that stream goes: the same connection
    still carries another."""
    ztunnel.reported()
    with ztunnel.dial() as t:
        a = exchange(t, HELLO + connect(1, f"{ztunnel.ip}:\u00b2") + DONE)
        refused = a.of(RstStreamFrame, 1) or [f for f in a.of(HeadersFrame, 1) if "END_STREAM" in f.flags]
        assert refused and not a.closed  # nghttp2 resets it itself; with h2 the ztunnel answers 400
        a = exchange(
            t,
            connect(3, f"{ztunnel.ip}:{APP_PORT}") + DataFrame(3, data=b"3").serialize(),
            until=lambda a: a.of(DataFrame, 3),
        )
        assert a.of(DataFrame, 3)[0].data == b"3"
    assert ztunnel.settle() == 0 and ztunnel.serves()
    errors, bugs = ztunnel.reported()
    assert not errors
    assert not bugs, f"the ztunnel raised on a CONNECT: {bugs!r}"  # (judge_connect once did: int('²'))


def test_a_connect_to_a_port_past_65535_is_refused(ztunnel):
    """(Once: connect() to port 99999 raised OverflowError, the CONNECT was never answered.)"""
    ztunnel.reported()
    try:
        with ztunnel.dial() as t:
            a = exchange(
                t, HELLO + connect(1, f"{ztunnel.ip}:99999"), idle=1.0, until=lambda a: a.of(HeadersFrame, 1)
            )
            assert a.of(HeadersFrame, 1), "the CONNECT was never answered"
        assert ztunnel.reported() == ([], [])
    finally:
        ztunnel.settle()
        ztunnel.reported()


def test_a_stream_ended_before_the_app_connection_is_up_still_ends(ztunnel):
    """HTTP/2 lets a client send its bytes and END_STREAM right after the CONNECT, before the 200
    (ztunnel's own outbound waits for the 200; another client need not)."""
    with ztunnel.dial() as t:
        a = exchange(
            t,
            HELLO
            + connect(1, f"{ztunnel.ip}:{APP_PORT}")
            + DataFrame(1, data=b"early", flags=["END_STREAM"]).serialize(),
            idle=1.0,
            until=lambda a: any("END_STREAM" in f.flags for f in a.frames),
        )
        assert b"".join(f.data for f in a.of(DataFrame, 1)) == b"early"
        assert any("END_STREAM" in f.flags for f in a.frames), "the stream never ended"


# -- Hypothesis: a peer that sends anything ----------------------------------------------------------


@capped(80)
@example(
    opening=[(0, [], b"hi")],
    bad=[("WINDOW_UPDATE", raw(8, 0, 0, struct.pack(">L", 2**31 - 1)) * 2)],
    hang_up="close",
)
@given(
    opening=strategy(h2_opening),
    bad=strategy(h2_bad_frames),
    hang_up=st.sampled_from(["close", "reset", "stay until answered"]),
)
def test_any_frames_over_mtls_leave_the_ztunnel_serving(ztunnel, opening, bad, hang_up):
    """A peer with a lab certificate opens some CONNECTs, then sends anything (Hypothesis: bad
    lengths, unknown types, HEADERS on closed streams, window overflows, garbage...), then hangs
    up (or waits for the answer). A GOAWAY with an error code is followed by the ztunnel closing
    the connection; nothing raises in its event loop; once the peer is gone so are its
    connections; and a fresh client is served."""
    fuzz(ztunnel, opening, bad, hang_up)


def fuzz(proxy: ProxyInThread, opening, bad, hang_up: str) -> None:
    proxy.reported()
    names = proxy.authorities()
    wire = opening_wire(opening, names)
    with proxy.dial() as t:
        if hang_up == "reset":
            t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        exchange(
            t,
            wire,
            until=lambda a: (
                all(
                    a.of(HeadersFrame, 2 * i + 1) or a.of(RstStreamFrame, 2 * i + 1)
                    for i in range(len(opening))
                )
                and a.of(SettingsFrame, 0)
            ),
        )
        a = exchange(
            t, b"".join(b for _, b in bad) + DONE, idle=0.1 if hang_up != "stay until answered" else 0.3
        )
        goaway = a.goaway()
        if goaway is not None and goaway.error_code != 0:
            assert a.closed, f"GOAWAY {goaway.error_code}, and the connection stays open"
    assert proxy.settle() == 0, "connections left open after the peer hung up"
    assert proxy.serves(), "a fresh client is not served"
    assert proxy.reported() == ([], []), f"the {proxy.role} raised"


# -- the waypoint: the same peer, at the other end of an HBONE hop -------------------------------------


def test_a_request_through_the_waypoint_is_served(waypoint):
    waypoint.reported()
    assert waypoint.in_loop(h2engine.engine_name) == waypoint.engine
    assert waypoint.serves()
    assert waypoint.settle() == 0 and waypoint.reported() == ([], [])


@capped(50)
@given(
    opening=strategy(h2_opening),
    bad=strategy(h2_bad_frames),
    hang_up=st.sampled_from(["close", "reset", "stay until answered"]),
)
def test_any_frames_over_mtls_leave_the_waypoint_serving(waypoint, opening, bad, hang_up):
    """The same peer, at a waypoint: CONNECTs to a service, HTTP (or not) inside them, then
    anything; after it the waypoint still answers a fresh client's request."""
    fuzz(waypoint, opening, bad, hang_up)


def test_the_waypoint_answers_a_connect_whose_port_is_no_number(waypoint):
    """An :authority whose port is a digit to ``str.isdigit()`` but not to ``int()`` ('²'):
    nghttp2 refuses the stream itself; through h2 the waypoint must turn it away (or answer)."""
    waypoint.reported()
    with waypoint.dial() as t:
        a = exchange(
            t,
            HELLO + connect(1, f"{waypoint.vip}:\u00b2") + DataFrame(1, data=waypoint.GET).serialize(),
            idle=1.0,
            until=lambda a: a.of(RstStreamFrame, 1) or any("END_STREAM" in f.flags for f in a.frames),
        )
    assert waypoint.settle() == 0
    errors, _ = waypoint.reported()
    assert not errors, f"the waypoint raised: {errors!r}"  # (it once did: int('²') in _stream)
    refused = [f for f in a.of(HeadersFrame, 1) if "END_STREAM" in f.flags]  # its 400
    assert (
        a.of(RstStreamFrame, 1)
        or refused
        or b"".join(f.data for f in a.of(DataFrame, 1)).startswith(b"HTTP/1.1 ")
    )
