"""Retries as Envoy makes them, on live traffic through the client's sidecar and through a
waypoint: which failures each ``retryOn`` retries (Envoy's trigger table), and where a retry goes."""

import os
import signal
import threading
import time

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

GET = "http://httpbin:8000/get"
MODES = [("sidecar", None), ("ambient", ["httpbin"])]
IDS = ["sidecar", "waypoint"]


def retry_vs(retries: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: httpbin}\n"
        "spec:\n  hosts: [httpbin]\n  http:\n  - route:\n    - destination: {host: httpbin}\n"
        f"    retries: {retries}\n"
    )


@pytest.fixture(params=MODES, ids=IDS)
def httpbin_l7(request):
    """httpbin's two pods behind an L7 proxy that retries: the client's sidecar, or httpbin's
    waypoint. A fresh lab each time: these tests kill a pod."""
    mode, waypoints = request.param
    with Lab("httpbin", mode=mode, waypoints=waypoints, verbose=False) as lab:
        yield lab


def router(lab) -> str:
    """The role whose attempts the test looks at."""
    return "waypoint" if lab.mode == "ambient" else "sidecar"


def attempts(lab, since: float) -> list:
    """The retrying proxy's attempt spans (one per try) that started after ``since``."""
    return [
        s
        for s in lab.spans()
        if s.kind == "client"
        and s.role == router(lab)
        and s.start >= since
        and (s.attrs or {}).get("direction") == "outbound"
    ]


def break_httpbin_0(lab) -> None:
    """Make httpbin-0 fail at the connection level, whatever was in flight: with sidecars its
    sidecar goes (the client's sidecar sees its connection reset, then refused); behind a
    waypoint its app goes (its ztunnel closes the stream, then refuses the CONNECT)."""
    name = "httpbin-0/istio-proxy" if lab.mode == "sidecar" else "httpbin-0"
    w = (lab.proxies if lab.mode == "sidecar" else lab.workers)[name]
    os.kill(w.pid, signal.SIGKILL)


def test_resets_and_connect_failures_are_retried_as_envoys_table_says(httpbin_l7):
    """Envoy retries a reset under gateway-error (it counts as a 5xx), and a connection that
    could not be made under reset; a per-try timeout under reset too, and not under
    connect-failure."""
    lab = httpbin_l7
    # a per-try timeout: retried under reset (3 tries, each cut at 0.2 s), not under connect-failure
    lab.apply(retry_vs("{attempts: 2, perTryTimeout: 0.2s, retryOn: reset}"))
    t0 = time.monotonic()
    r = lab.request("client", "http://httpbin:8000/delay/1")
    tries = attempts(lab, t0)
    assert r.status == 504 and [s.error for s in tries] == ["per-try-timeout"] * 3
    assert 550 < r.latency_ms < 1500
    lab.apply(retry_vs("{attempts: 2, perTryTimeout: 0.2s, retryOn: connect-failure}"))
    t0 = time.monotonic()
    r = lab.request("client", "http://httpbin:8000/delay/1")
    assert r.status == 504 and [s.error for s in attempts(lab, t0)] == ["per-try-timeout"]

    # a reset mid-request: retried under gateway-error, on the other pod
    lab.apply(retry_vs("{attempts: 2, retryOn: gateway-error}"))
    got = []
    load = threading.Thread(
        target=lambda: got.append(
            lab.load("client", "http://httpbin:8000/delay/0.6", requests=8, concurrency=4, progress=False)
        )
    )
    t0 = time.monotonic()
    load.start()
    time.sleep(0.3)  # four requests in flight, two of them on httpbin-0
    break_httpbin_0(lab)
    load.join(60)
    assert got and got[0].by_status() == {"200": 8}
    tries = attempts(lab, t0)
    reset = [s for s in tries if s.error == "reset"]
    assert reset and all(s.attrs["endpoint"] == "httpbin-0" for s in reset)
    assert all(s.status == 200 for s in tries if s.attempt > 1)

    # httpbin-0 is gone: each connection to it fails, and reset retries that too
    lab.apply(retry_vs("{attempts: 2, retryOn: reset}"))
    t0 = time.monotonic()
    res = lab.load("client", GET, requests=20, concurrency=2, progress=False)
    assert res.by_status() == {"200": 20}
    failed = [s for s in attempts(lab, t0) if s.error]
    assert failed and {s.error for s in failed} == {"connect-failure"}
    assert {s.attrs["endpoint"] for s in failed} == {"httpbin-0"}


@pytest.fixture(scope="module", params=MODES, ids=IDS)
def httpbin_shared(request):
    mode, waypoints = request.param
    with Lab("httpbin", mode=mode, waypoints=waypoints, verbose=False) as lab:
        yield lab


def second_try_same_pod(lab, retries: str, n: int = 20) -> int:
    """Of ``n`` requests that fail on every try, how many made their second try on the pod of
    their first."""
    lab.delete(all=True)
    lab.apply(retry_vs(retries))
    t0 = time.monotonic()
    res = lab.load("client", "http://httpbin:8000/status/503", requests=n, concurrency=1, progress=False)
    assert res.by_status() == {"503": n}
    by_request: dict = {}
    for s in attempts(lab, t0):
        by_request.setdefault(s.trace_id, {})[s.attempt] = s.attrs["endpoint"]
    assert len(by_request) == n and all(len(t) == 4 for t in by_request.values())
    return sum(t[1] == t[2] for t in by_request.values())


def test_retry_ignore_previous_hosts_false_lets_a_retry_return_to_the_same_pod(httpbin_shared):
    """By default (Istio adds Envoy's previous-hosts predicate) a retry avoids the pod that just
    failed; with retryIgnorePreviousHosts: false it is a fresh pick between the two pods."""
    assert second_try_same_pod(httpbin_shared, "{attempts: 3, retryOn: 5xx}") == 0
    same = second_try_same_pod(httpbin_shared, "{attempts: 3, retryOn: 5xx, retryIgnorePreviousHosts: false}")
    assert 3 <= same <= 17  # binomial(20, 1/2): outside only once in 5000 runs
    httpbin_shared.delete(all=True)


def fault_vs(fault: str, extra: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: httpbin}\n"
        "spec:\n  hosts: [httpbin]\n  http:\n  - route:\n    - destination: {host: httpbin}\n"
        f"    fault: {fault}\n{extra}"
    )


def test_a_fault_keeps_the_routes_retries_for_failures_from_upstream(httpbin_shared):
    """Envoy's fault filter answers an injected abort itself, before the router: never retried.
    The route's retries still cover failures from upstream: a 503 from httpbin is retried."""
    lab = httpbin_shared
    lab.delete(all=True)
    lab.apply(
        fault_vs(
            "{abort: {httpStatus: 503, percentage: {value: 50}}}",
            "    retries: {attempts: 5, retryOn: 5xx}\n",
        )
    )
    t0 = time.monotonic()
    res = lab.load(
        "client", "http://httpbin:8000/status/200,503", requests=100, concurrency=4, progress=False
    )
    aborted = [
        s
        for s in lab.spans()
        if s.kind == "server"
        and s.role == router(lab)
        and s.start >= t0
        and "FI" in (s.attrs or {}).get("response_flags", "")
    ]
    assert 25 <= len(aborted) <= 75  # binomial(100, 1/2): 5 sigma either side
    assert all(s.status == 503 for s in aborted)
    assert not {s.trace_id for s in aborted} & {s.trace_id for s in attempts(lab, t0)}  # no try at all
    upstream_503 = res.by_status().get("503", 0) - len(aborted)
    assert upstream_503 <= 5  # each non-aborted request had 6 tries at 1/2: ~1 in 64 fails them all
    assert res.by_status()["200"] == 100 - len(aborted) - upstream_503
    lab.delete(all=True)


def test_a_fault_delay_comes_before_the_routes_timeout(httpbin_shared):
    """An injected delay elapses before the router's timeout starts: with a 0.3 s delay and a
    0.25 s timeout a fast upstream answers (after the delay); a slow one is cut 0.25 s later."""
    lab = httpbin_shared
    lab.delete(all=True)
    lab.apply(fault_vs("{delay: {fixedDelay: 0.3s, percentage: {value: 100}}}", "    timeout: 0.25s\n"))
    fast = lab.request("client", GET)
    assert fast.status == 200 and 300 <= fast.latency_ms < 1000
    slow = lab.request("client", "http://httpbin:8000/delay/0.5")
    assert slow.status == 504 and 540 <= slow.latency_ms < 1000
    [server] = [
        s
        for s in lab.spans(slow.trace_id)
        if s.role == router(lab)
        and s.kind == "server"
        and s.attrs.get("cluster", "").endswith("httpbin.default.svc.cluster.local")
    ]
    assert set(server.attrs["response_flags"].split(",")) == {"DI", "UT"}
    lab.delete(all=True)
