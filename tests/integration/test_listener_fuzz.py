"""Bad bytes to every plaintext listener kind (issue 13's reliability suite), on loopback: PROXY v2
headers and HTTP/1.1 at a sidecar's and a ztunnel's capture port (15001), HTTP/1.1 at a sidecar's
inbound port and at an app. Whatever arrives, the listener answers with a 4xx or closes the
connection (never a 5xx of its own making, never a crash), and the next good request is served.
(HBONE frames are fuzzed in test_hbone_fuzz.py, TLS peers in test_peer_security.py.)"""

import socket

import pytest
from hypothesis import HealthCheck, given, settings

from meshlab import Lab
from meshlab.fuzzgen import http_request, proxy_header, strategy
from meshlab.net import proxyproto

pytestmark = pytest.mark.integration

HTTP = strategy(http_request)
PROXY_HEADER = strategy(proxy_header)


@pytest.fixture(scope="module", params=["sidecar", "ambient"])
def lab(request):
    with Lab("httpbin", mode=request.param, verbose=False) as lab:
        yield lab


def _send(ip: str, port: int, data: bytes, src: str | None = None) -> bytes:
    s = socket.socket()
    try:
        s.settimeout(5)
        if src:
            s.bind((src, 0))
        s.connect((ip, port))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out
    except OSError:  # reset, or already gone (ENOTCONN at shutdown): refused either way
        return b""
    finally:
        s.close()


def _through_the_capture_port(lab, http: bytes) -> bytes:
    """``http`` from the client pod through its 15001, after the PROXY header that says it is for
    httpbin's service address; the whole answer (an OSError if the connection is refused)."""
    client = lab.net.pod("client-0")
    vip = lab.net.resolve("httpbin", "default")
    with socket.socket() as s:
        s.settimeout(5)
        s.bind((client.ip, 0))
        s.connect((client.ip, 15001))
        src = s.getsockname()
        s.sendall(proxyproto.encode(src[0], src[1], vip, 8000) + http)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _still_serves(lab) -> None:
    assert lab.request("client", "http://httpbin:8000/get", timeout=5).status == 200


def _no_own_5xx(answer: bytes) -> None:
    """A bad request gets a 4xx or a closed connection; a 5xx would be the proxy failing (the app
    behind it may still answer a request that was good enough to forward). One 5xx is a refusal,
    not a failure: 501 for an upgrade or CONNECT, which the lab's proxies do not carry."""
    if answer.startswith(b"HTTP/1.1 501") and b"upgrade and CONNECT are not supported" in answer:
        return
    if answer.startswith(b"HTTP/1.1 5"):
        assert b"upstream" in answer or b"istio-proxy" not in answer, answer[:200]


FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(proxy=PROXY_HEADER, http=HTTP)
def test_the_capture_port_survives_bad_proxy_headers_and_bad_http(lab, proxy, http):
    client = lab.net.pod("client-0")
    _send(client.ip, 15001, proxy + http, src=client.ip)
    _still_serves(lab)


@FUZZ
@given(http=HTTP)
def test_the_capture_port_survives_bad_http_after_a_good_proxy_header(lab, http):
    try:
        out = _through_the_capture_port(lab, http)
    except OSError:  # reset, or already gone: refused
        out = b""
    _no_own_5xx(out)
    _still_serves(lab)


@pytest.mark.parametrize(
    "upgrade",
    [
        b"CONNECT /\r\n\r\n:36\xfd garbage HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: httpbin\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    ],
)
def test_an_upgrade_through_the_capture_port_is_refused_and_the_next_call_gets_its_own_answer(lab, upgrade):
    """Found by the fuzzer: 'CONNECT /' (no version) was forwarded by the client's sidecar; the
    server's sidecar answered it (the app's 400) and then its own 501 on the same pooled
    connection, and the next good call read that 501 as its answer. A proxy refuses an upgrade or
    CONNECT itself (501, nothing forwarded) and never pools a connection that answered twice."""
    out = _through_the_capture_port(lab, upgrade)
    if lab.mode == "sidecar":  # a ztunnel carries bytes: the app answers
        assert out.startswith(b"HTTP/1.1 501") and out.count(b"HTTP/1.1 ") == 1, out[:300]
    for _ in range(5):
        _still_serves(lab)


@FUZZ
@given(http=HTTP)
def test_the_inbound_port_survives_bad_http(lab, http):
    """The pod's own port from outside the mesh: its sidecar's inbound listener, or its ztunnel's
    plaintext one (PERMISSIVE), and the app behind either."""
    pod = lab.net.pod("httpbin-0")
    _no_own_5xx(_send(pod.ip, 8080, http))
    _still_serves(lab)
