"""Slow clients (issue 13's resource-exhaustion suite): connections that send a request a byte at a
time and never finish it — a head that never ends, through the caller's capture port, and a body
that never arrives, at the server pod's own port. As in Envoy (Istio sets no request-headers
timeout), a proxy keeps such connections open; what it must not do is stop serving others, or
keep their descriptors once the clients go."""

import socket
import time

import psutil
import pytest

from meshlab import Lab
from meshlab.net import proxyproto

pytestmark = pytest.mark.integration

SLOW = 200
MODES = [("sidecar", None), ("ambient", None), ("ambient", "namespace")]


def _descriptors(lab) -> dict[str, int]:
    return {n: psutil.Process(p.pid).num_fds() for n, p in lab.proxies.items()}


@pytest.mark.parametrize("mode, waypoints", MODES, ids=["sidecar", "ambient", "ambient+waypoint"])
def test_slow_clients_hold_connections_but_every_good_call_is_served_and_nothing_stays(mode, waypoints):
    with Lab("httpbin", mode=mode, waypoints=waypoints, verbose=False) as lab:
        assert lab.request("client", "http://httpbin:8000/get", timeout=5).status == 200
        before = _descriptors(lab)
        pids = {n: p.pid for n, p in lab.proxies.items()}
        client, pod = lab.net.pod("client-0"), lab.net.pod("httpbin-0")
        vip = lab.net.resolve("httpbin", "default")
        slow = []
        try:
            for i in range(SLOW):
                s = socket.socket()
                s.settimeout(5)
                if i % 2 == 0:  # a head that never ends, through the caller's mesh path
                    s.bind((client.ip, 0))
                    s.connect((client.ip, 15001))
                    src = s.getsockname()
                    s.sendall(
                        proxyproto.encode(src[0], src[1], vip, 8000)
                        + b"GET /get HTTP/1.1\r\nHost: httpbin\r\nX-Slow: "
                    )
                else:  # a body that never arrives, at the pod's own port
                    s.connect((pod.ip, 8080))
                    s.sendall(b"POST /post HTTP/1.1\r\nHost: httpbin\r\nContent-Length: 100000\r\n\r\nabc")
                slow.append(s)
            for _ in range(3):
                for s in slow:
                    s.send(b"a")  # still sending: not idle, not finished
                assert lab.request("client", "http://httpbin:8000/get", timeout=5).status == 200
                time.sleep(0.3)
            held = _descriptors(lab)
            assert sum(held.values()) >= sum(before.values()) + SLOW // 2, (before, held)  # they were held
        finally:
            for s in slow:
                s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = _descriptors(lab)
            if all(after[n] <= before[n] + 5 for n in before):
                break
            time.sleep(0.2)
        assert all(after[n] <= before[n] + 5 for n in before), (before, after)
        assert lab.request("client", "http://httpbin:8000/get", timeout=5).status == 200
        assert {n: p.pid for n, p in lab.proxies.items()} == pids  # no proxy died or restarted
