"""Integration tests start real processes and sockets. Labs are shared per module where the
tests only read from them, to keep the suite fast.

Fixtures parametrized over ``BACKENDS`` run on loopback and on mininet. Where mininet cannot
run (no root, no mnexec) its cases skip with the reason — unless ``MESHLAB_REQUIRE_MININET=1``
(set by ``scripts/test`` for root, as in CI), where such a skip is a failure.
"""

import os
import shlex
import socket
import subprocess

import pytest

from meshlab import Lab
from meshlab.backends import mininet_status

BACKENDS = ["loopback", "mininet"]


def need_backend(name: str) -> None:
    """Skip (or, where mininet is required, fail) a test whose backend cannot run here."""
    if name != "mininet":
        return
    ok, why = mininet_status()
    if ok:
        return
    if os.environ.get("MESHLAB_REQUIRE_MININET") == "1":
        pytest.fail(f"the mininet backend must run here (MESHLAB_REQUIRE_MININET=1) but: {why}")
    pytest.skip(f"mininet backend: {why}")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each backend's name in turn, for a test that starts its own lab (mininet: skipped or
    failed as need_backend says)."""
    need_backend(request.param)
    return request.param


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request) -> str:
    """The same, for module-scoped labs: each starts once per backend, and the module's tests
    run against it."""
    need_backend(request.param)
    return request.param


@pytest.fixture(scope="module")
def bookinfo(module_backend):
    with Lab("bookinfo", backend=module_backend, verbose=False) as lab:
        yield lab


@pytest.fixture(scope="module")
def httpbin(module_backend):
    with Lab("httpbin", backend=module_backend, verbose=False) as lab:
        yield lab


class Outside:
    """A client outside the mesh, on any backend: on mininet it runs in a node's own network
    (host networking, as a kubelet probe would); on loopback every address is reachable from
    anywhere, so it is the test's own process."""

    @staticmethod
    def where(lab) -> str:
        return lab.topology.nodes[0].name

    def connect(self, lab, ip: str, port: int, timeout: float = 5.0) -> socket.socket:
        """A plain TCP connection to ``ip:port``."""
        return lab.backend.connect(self.where(lab), (ip, port), timeout=timeout)

    def exchange(self, lab, ip: str, port: int, data: bytes) -> bytes:
        """Send ``data`` on a plain TCP connection to ``ip:port``; all the peer sends until it closes."""
        out = b""
        with self.connect(lab, ip, port) as s:
            s.sendall(data)
            while chunk := s.recv(65536):
                out += chunk
        return out

    def run(self, lab, argv: list[str], timeout: float = 20.0) -> str:
        """Run a command with no input; its stdout, then its stderr."""
        if lab.backend.name == "mininet":
            return lab.exec(self.where(lab), shlex.join(argv) + " </dev/null", timeout=timeout)
        r = subprocess.run(argv, input=b"", capture_output=True, timeout=timeout)
        return (r.stdout + r.stderr).decode(errors="replace")


@pytest.fixture(scope="session")
def outside() -> Outside:
    return Outside()


@pytest.fixture(scope="session")
def mininet_required():
    """For tests that only make sense on mininet."""
    need_backend("mininet")


@pytest.fixture(scope="session")
def through_capture_port():
    return _through_capture_port


def _through_capture_port(lab, pod_name: str, bind_ip: str, dst: tuple[str, int]) -> bytes:
    """Speak to a pod's outbound capture port (15001: its sidecar's, or its ztunnel's) as any
    process on this machine could on loopback: from ``bind_ip``, a PROXY v2 header naming
    ``dst``, then a request. What comes back, or ``b"RESET"``."""
    from meshlab.net import proxyproto

    pod = lab.net.pod(pod_name)
    s = socket.socket()
    try:
        s.settimeout(5)
        s.bind((bind_ip, 0))
        s.connect((pod.ip, 15001))
        src = s.getsockname()
        s.sendall(
            proxyproto.encode(src[0], src[1], dst[0], dst[1])
            + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out
    except (ConnectionResetError, BrokenPipeError):
        return b"RESET"
    finally:
        s.close()
