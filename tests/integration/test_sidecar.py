"""Sidecar mode: every pod gets an L7 proxy; the mesh hop between sidecars is mutual TLS."""

import json
import re
import shutil
import subprocess

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
SA = "spiffe://cluster.local/ns/default/sa/"


@pytest.fixture(scope="module")
def bookinfo(module_backend):
    with Lab("bookinfo", mode="sidecar", backend=module_backend, verbose=False) as lab:
        yield lab


@pytest.fixture(scope="module")
def httpbin(module_backend):
    with Lab("httpbin", mode="sidecar", backend=module_backend, verbose=False) as lab:
        yield lab


def test_every_call_goes_app_sidecar_sidecar_app(bookinfo):
    """client -> its sidecar (outbound) -> productpage's sidecar (inbound, mTLS) -> productpage,
    and the same for every call productpage and reviews make."""
    r = bookinfo.request("client", PAGE)
    assert r.status == 200 and "Reviews served by:" in r.body
    hops = r.path.hops
    apps = [i for i, h in enumerate(hops) if h.role == "app"]
    assert len(apps) >= 3
    for i in apps:
        inbound, outbound = hops[i - 1], hops[i - 2]
        app = hops[i].name
        assert (inbound.name, inbound.role, inbound.direction) == (f"{app}/istio-proxy", "sidecar", "inbound")
        assert outbound.role == "sidecar" and outbound.direction == "outbound"
        assert inbound.mtls and not outbound.mtls and not hops[i].mtls
        assert inbound.depth == outbound.depth + 1 == hops[i].depth - 1


def test_the_server_side_sees_the_clients_spiffe_identity(bookinfo):
    """Each inbound sidecar saw the identity of the service account that called it."""
    r = bookinfo.request("client", PAGE)
    seen = {h.name: h.identity for h in r.path.hops if h.direction == "inbound"}
    assert seen["productpage-v1-0/istio-proxy"] == SA + "curl"
    assert seen["details-v1-0/istio-proxy"] == SA + "bookinfo-productpage"
    for name, ident in seen.items():
        if name.startswith("ratings"):
            assert ident == SA + "bookinfo-reviews"


def test_the_app_receives_the_identity_in_x_forwarded_client_cert(httpbin):
    """As Istio's inbound sidecar sets it (SANITIZE_SET with Subject, URI and DNS): the proxy's own
    identity, the SHA-256 of the caller's certificate, its (empty) subject and its SPIFFE URI; the
    caller's sidecar's x-forwarded-proto (http: the app's connection to it) and attempt count pass
    through (Istio's authz-custom task shows the same headers)."""
    r = httpbin.request("client", "http://httpbin:8000/headers")
    assert r.status == 200
    headers = json.loads(r.body)["headers"]
    assert re.fullmatch(
        rf'By={SA}httpbin;Hash=[0-9a-f]{{64}};Subject="";URI={SA}client', headers["X-Forwarded-Client-Cert"]
    ), headers["X-Forwarded-Client-Cert"]
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Envoy-Attempt-Count"] == "1"


def test_permissive_by_default_plaintext_from_outside_the_mesh_is_accepted(httpbin, outside):
    """Default PeerAuthentication is PERMISSIVE: a plaintext client with no sidecar still gets in,
    through the inbound sidecar, which records no identity."""
    ip = httpbin.pod_ip("httpbin-0")
    data = outside.exchange(
        httpbin, ip, 8080, b"GET /ip HTTP/1.1\r\nHost: httpbin\r\nConnection: close\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 200")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_sees_the_lab_ca_chain_and_the_spiffe_uri(httpbin, tmp_path, outside):
    """What a sidecar presents on its pod's port, as openssl sees it."""
    ip = httpbin.pod_ip("httpbin-0")
    cert = httpbin._certs[("default", "client")]
    out = outside.run(
        httpbin,
        [
            "openssl",
            "s_client",
            "-connect",
            f"{ip}:8080",
            "-showcerts",
            "-cert",
            cert.cert_path,
            "-key",
            cert.key_path,
            "-CAfile",
            httpbin.ca.root_path,
        ],
    )
    assert "Verify return code: 0 (ok)" in out
    assert "meshlab lab CA" in out
    pem = out[out.index("-----BEGIN CERTIFICATE-----") : out.index("-----END CERTIFICATE-----") + 25]
    (tmp_path / "leaf.pem").write_text(pem)
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
    ).stdout
    assert f"URI:{SA}httpbin" in text


def test_default_retries_hide_a_dead_endpoint(httpbin):
    """Istio's default retry policy retries connect failures on another host: with one httpbin
    replica's pod down (app and sidecar), every request still succeeds."""
    victim = "httpbin-1"
    for name in (victim, f"{victim}/istio-proxy"):
        proc = (httpbin.workers.get(name) or httpbin.proxies[name]).proc
        proc.kill()
        proc.wait()
    try:
        res = httpbin.load(url="http://httpbin:8000/get", requests=30, concurrency=1)
        assert res.by_status() == {"200": 30}
        retried = [
            p for p in res.paths.values() if any(h.role == "sidecar" and h.attempt > 1 for h in p.hops)
        ]
        assert retried, "no request needed a retry: the dead endpoint was never picked"
        # Envoy's URX means "retry limit exceeded": a request that succeeded on a retry has none
        assert "URX" not in httpbin.metrics("client-0/istio-proxy")
    finally:
        httpbin.reset()


def test_a_sidecar_tries_its_own_app_three_times_before_a_503(httpbin):
    """Since Istio 1.24 an inbound route retries a request that never reached the app twice
    (``reset-before-request``, releasenotes 52055): with httpbin-1's app down and its sidecar up, a
    request that lands there gets three tries at the app, then Envoy's 503 with flags UF,URX, and
    the caller's sidecar does not retry that 503 (the outbound default leaves 503 alone)."""
    victim = httpbin.workers["httpbin-1"].proc
    victim.kill()
    victim.wait()
    try:
        for _ in range(40):  # until the load balancer picks httpbin-1
            r = httpbin.request("client", "http://httpbin:8000/get")
            if r.status != 200:
                break
        assert r.status == 503 and "connection failure" in r.body
        tries = [h for h in r.path.hops if h.name == "httpbin-1:8080"]
        assert [(h.attempt, h.error) for h in tries] == [(n, "connect-failure") for n in (1, 2, 3)]
        outbound = [h for h in r.path.hops if h.role == "sidecar" and h.direction == "outbound"]
        assert [h.attempt for h in outbound] == [1]
        assert 'response_code="503",response_flags="UF,URX"' in httpbin.metrics("httpbin-1/istio-proxy")
    finally:
        httpbin.reset()


def test_a_503_is_not_retried_by_default(httpbin):
    """Since Istio 1.24 the default retry policy leaves 503 alone: one attempt per request."""
    r = httpbin.request("client", "http://httpbin:8000/status/503")
    assert r.status == 503
    inbound = [h for h in r.path.hops if h.direction == "inbound"]
    assert len(inbound) == 1 and inbound[0].attempt == 1


def test_run_json_hops_carry_layer_mtls_and_identity(backend):
    from meshlab.cli import main
    import io
    import json
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["run", "minimal", "--mode", "sidecar", "-n", "5", "--json", "--backend", backend]) == 0
    out = json.loads(buf.getvalue())
    assert out["mode"] == "sidecar" and out["requests"]["ok"] == 5 and out["backend"] == backend
    hops = out["paths"][0]["hops"]
    assert [h["name"] for h in hops] == [
        "client-0",
        "client-0/istio-proxy",
        "server-0/istio-proxy",
        "server-0",
    ]
    assert [h["mtls"] for h in hops] == [False, False, True, False]
    assert hops[2]["identity"] == SA + "client" and all(h["layer"] == "L7" for h in hops)


def test_a_malformed_request_to_a_sidecar_is_a_clear_400_and_the_sidecar_keeps_working(httpbin, outside):
    """Garbage sent to a pod's port reaches its inbound sidecar, which answers 400 naming itself
    and the problem; the next request works."""
    ip = httpbin.pod_ip("httpbin-0")
    with outside.connect(httpbin, ip, 8080) as s:
        s.sendall(b"NOT HTTP\r\n\r\n")
        data = s.recv(65536)
    assert (
        data.startswith(b"HTTP/1.1 400")
        and b"httpbin-0/istio-proxy" in data
        and b"malformed HTTP/1.1" in data
    )
    assert httpbin.request("client", "http://httpbin:8000/get").status == 200


def test_a_request_pipelined_before_garbage_is_still_answered_by_the_sidecar(httpbin, outside):
    """A good request and garbage in one write: the sidecar answers the request, then the 400
    naming the problem, and lets the client read both before it closes."""
    ip = httpbin.pod_ip("httpbin-0")
    data = outside.exchange(
        httpbin, ip, 8080, b"GET /status/418 HTTP/1.1\r\nHost: httpbin\r\n\r\nNOT HTTP\r\n\r\n"
    )
    first, _, rest = data.partition(b"\r\n")
    assert first.startswith(b"HTTP/1.1 418"), data
    assert b"HTTP/1.1 400" in rest and b"malformed HTTP/1.1" in rest


def test_headers_over_envoys_limits_are_a_431_at_once_and_the_sidecar_keeps_working(httpbin, outside):
    """Issue 13, defect 3. A request whose headers pass Envoy's 60 KiB is answered 431 by the
    client's own sidecar (the app never sees it); one that never ends is cut off after about
    60 KiB, not read on until the sidecar's memory runs out (64 MB took 17 s and 263 MB)."""
    import time

    r = httpbin.request("client", "http://httpbin:8000/get", headers=[("x-big", "a" * 61 * 1024)], timeout=5)
    assert r.status == 431 and "client-0/istio-proxy" in r.body and "larger than 61440 bytes" in r.body
    ip = httpbin.pod_ip("httpbin-0")
    with outside.connect(httpbin, ip, 8080) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /get HTTP/1.1\r\nHost: httpbin\r\nX-Endless: " + b"a" * (1 << 20))
        answer = s.recv(65536)
        took = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 431") and b"httpbin-0/istio-proxy" in answer, answer[:200]
    assert took < 2.0
    assert httpbin.request("client", "http://httpbin:8000/get", timeout=5).status == 200


def test_an_app_response_over_envoys_header_count_is_a_502_protocol_error(httpbin):
    """The app answers with 101 headers: its inbound sidecar cannot read that response (Envoy's
    max_headers_count, 100) and answers 502, flag UPE, with Envoy's words."""
    many = "&".join(f"x-{i}=1" for i in range(101))
    r = httpbin.request("client", f"http://httpbin:8000/response-headers?{many}", timeout=5)
    assert (
        r.status == 502
        and r.body
        == "upstream connect error or disconnect/reset before headers. reset reason: protocol error"
    )
    inbound = [
        s for s in httpbin.spans(r.trace_id) if s.kind == "server" and s.attrs.get("direction") == "inbound"
    ]
    assert [(s.name.startswith("httpbin-"), s.attrs["response_flags"]) for s in inbound] == [(True, "UPE")]
    fine = "&".join(f"x-{i}=1" for i in range(90))
    assert httpbin.request("client", f"http://httpbin:8000/response-headers?{fine}", timeout=5).status == 200


@pytest.mark.parametrize("mode, waypoints", [("sidecar", None), ("ambient", "namespace")])
def test_head_requests_cross_every_l7_proxy(mode, waypoints, backend):
    """A HEAD response has a content-length but no body: proxies must not wait for one, and they
    pass on the length the app declared (the GET's), as Envoy does."""
    with Lab("minimal", mode=mode, waypoints=waypoints, backend=backend, verbose=False) as lab:
        get = lab.request("client", "http://server:8000/", timeout=5)
        for _ in range(3):
            r = lab.request("client", "http://server:8000/", method="HEAD", timeout=5)
            assert r.status == 200 and r.body == ""
            assert int(dict(r.headers)["content-length"]) == len(get.body.encode()) > 0


def test_a_sidecar_that_ran_out_of_descriptors_accepts_again_and_says_so(outside):
    """Issue 13, defect 2. The inbound sidecar's descriptor limit is lowered, more connections
    than it allows are held against its listener, then closed: the listener accepts again (as
    Envoy's does — the connections it could not take wait in the kernel's backlog), the next
    request is served, and the proxy counts and logs what happened instead of going deaf."""
    import os
    import resource
    import time

    with Lab("httpbin", mode="sidecar", backend="loopback", verbose=False) as lab:
        proxy = lab.proxies["httpbin-0/istio-proxy"]
        ip = lab.pod_ip("httpbin-0")
        assert lab.request("client", "http://httpbin:8000/get", timeout=5).status == 200
        in_use = len(os.listdir(f"/proc/{proxy.pid}/fd"))
        hard = resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(proxy.pid, resource.RLIMIT_NOFILE, (in_use + 30, hard))
        held = [outside.connect(lab, ip, 8080) for _ in range(100)]
        time.sleep(0.5)  # the sidecar accepts what it can, then runs out
        for s in held:
            s.close()
        with outside.connect(lab, ip, 8080) as s:  # a new connection, not one kept alive
            s.sendall(b"GET /status/418 HTTP/1.1\r\nHost: httpbin\r\nConnection: close\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 418")
        (stats,) = [s for s in proxy.call("stats")["listeners"] if s["address"] == f"{ip}:8080"]
        assert stats["accept_failures"] > 0 and stats["exhaustions"] >= 1
        assert "Too many open files" in stats["last_error"]
        log = proxy.log_path.read_text()
        assert f"{ip}:8080" in log and "out of file descriptors" in log and "accepts again" in log


def test_on_loopback_a_stranger_cannot_send_through_a_pods_sidecar(bookinfo, through_capture_port):
    """Issue 13 (4): a sidecar's 15001 carries its own pod's connections (with that pod's
    identity); a process connecting from another address is refused with a reset, and so is a
    destination outside the lab, even from the pod's own address."""
    import socket as so

    if bookinfo.backend.name != "loopback":
        pytest.skip("the loopback backend's gap: on mininet 15001 is inside the pod's network")
    vip = bookinfo.net.resolve("details", "default")
    pod_ip = bookinfo.net.pod("productpage-v1-0").ip
    assert through_capture_port(bookinfo, "productpage-v1-0", "127.0.0.1", (vip, 9080)) == b"RESET"
    assert through_capture_port(bookinfo, "productpage-v1-0", pod_ip, (vip, 9080)).startswith(b"HTTP/1.1 ")
    outside = so.socket()
    outside.bind(("127.0.0.1", 0))
    outside.listen(1)
    try:
        assert through_capture_port(bookinfo, "productpage-v1-0", pod_ip, outside.getsockname()) == b"RESET"
    finally:
        outside.close()


def sni_policy(value: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: by-sni}\n"
        "spec:\n  selector: {matchLabels: {app: httpbin}}\n  action: ALLOW\n"
        f"  rules:\n  - when: [{{key: connection.sni, values: ['{value}']}}]\n"
    )


def test_the_sni_is_istios_and_authorization_sees_it(httpbin):
    """The client's sidecar asks for outbound_.<service port>_.<subset>_.<service FQDN>, as
    Istio's clusters do, and the server's sidecar gives it to connection.sni conditions."""
    httpbin.delete(all=True)
    httpbin.apply(sni_policy("outbound_.8000_._.httpbin.default.svc.cluster.local"))
    assert httpbin.request("client", "http://httpbin:8000/get").status == 200
    httpbin.apply(
        [
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin}\n"
            "spec: {host: httpbin, subsets: [{name: v1, labels: {version: v1}}]}\n",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: httpbin}\n"
            "spec: {hosts: [httpbin], http: [{route: [{destination: {host: httpbin, subset: v1}}]}]}\n",
        ]
    )
    assert httpbin.request("client", "http://httpbin:8000/get").status == 403  # the subset is in it now
    httpbin.apply(sni_policy("outbound_.8000_.v1_.*"))
    assert httpbin.request("client", "http://httpbin:8000/get").status == 200
    httpbin.delete(all=True)
