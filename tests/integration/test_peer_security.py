"""Who gets in over mutual TLS (issue 13's security suite), on both backends: a peer with no
certificate, one from a foreign CA, one whose certificate expired, and one with a good
certificate for an identity that authorization does not allow. The targets are a sidecar's inbound
port under STRICT and a ztunnel's HBONE port (mTLS always). Each is refused; a good peer is not."""

import datetime as dt
import socket
import ssl
import time

import pytest

from meshlab import Lab
from meshlab.identity import LabCA

pytestmark = pytest.mark.integration

STRICT = (
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
    "metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n"
)
ONLY_CURL = (
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata: {name: only-curl, namespace: default}\nspec:\n  selector: {matchLabels: {app: httpbin}}\n"
    "  action: ALLOW\n  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/curl]}}]}]\n"
)


def _tls(lab, outside, ip: str, port: int, cert=None, root: str | None = None, alpn=None) -> str:
    """Connect, handshake as ``cert`` (or with none), send one request; what happened, in a word."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # this peer checks nothing: the server must
    if cert is not None:
        ctx.load_cert_chain(cert.cert_path, cert.key_path)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = outside.connect(lab, ip, port)
    try:
        with ctx.wrap_socket(raw) as s:
            s.settimeout(5)
            if alpn:  # HBONE: the HTTP/2 preface and a CONNECT
                return _hbone_connect(s, f"{ip}:8080")  # the pod's own port
            s.sendall(b"GET /get HTTP/1.1\r\nHost: httpbin\r\nConnection: close\r\n\r\n")
            data = s.recv(65536)
            return "served" if data.startswith(b"HTTP/1.1 200") else ("refused" if not data else "answered")
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
        return "refused"


def _hbone_connect(s, authority: str) -> str:
    import h2.config
    import h2.connection
    import h2.events

    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "CONNECT"), (":authority", authority)])
    s.sendall(c.data_to_send())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            return "refused"
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                return "served" if dict(ev.headers).get(b":status") == b"200" else "refused"
            if isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                return "refused"
        s.sendall(c.data_to_send())
    return "refused"


@pytest.fixture
def peers(tmp_path):
    def make(lab):
        foreign = LabCA.create(tmp_path / "foreign").issue("default", "curl")
        expired = lab.ca.issue("default", "curl-expired", ttl=dt.timedelta(seconds=1))
        good = lab.ca.issue("default", "curl")
        stranger = lab.ca.issue("default", "not-curl")
        time.sleep(1.5)  # (the short-lived one expires)
        return {
            "no certificate": None,
            "foreign CA": foreign,
            "expired": expired,
            "not allowed": stranger,
            "good": good,
        }

    return make


@pytest.mark.parametrize("mode", ["sidecar", "ambient"])
def test_only_a_good_peer_gets_in(backend, outside, peers, mode):
    with Lab("httpbin", mode=mode, backend=backend, verbose=False) as lab:
        lab.apply(STRICT)
        lab.apply(ONLY_CURL)
        ip = lab.pod_ip("httpbin-0")
        port, alpn = (8080, None) if mode == "sidecar" else (15008, ["h2"])
        got = {name: _tls(lab, outside, ip, port, cert, alpn=alpn) for name, cert in peers(lab).items()}
        expect = {name: "refused" for name in got}
        expect["good"] = "served"
        if mode == "sidecar":
            expect["not allowed"] = "answered"  # L7 authorization at the sidecar: a 403, not a reset
        assert got == expect


@pytest.mark.parametrize("mode", ["sidecar", "ambient"])
def test_on_loopback_every_listener_is_on_a_lab_address(mode):
    """Every socket the lab's processes listen on is bound to one of the lab's own addresses (a
    pod's, a pod-local one, a node's): never a wildcard, never another host address."""
    import psutil

    with Lab(
        "bookinfo", mode=mode, waypoints="namespace" if mode == "ambient" else None, verbose=False
    ) as lab:
        block = lab.net.pods[0].ip.split(".")[1]
        seen = []
        for u in lab.usage().values():
            for c in psutil.Process(u.pid).net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    seen.append((u.name, c.laddr.ip, c.laddr.port))
        assert seen
        strays = [s for s in seen if not s[1].startswith(f"127.{block}.")]
        assert not strays, strays
