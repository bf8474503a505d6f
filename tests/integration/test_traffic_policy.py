"""A DestinationRule's traffic policy on live traffic, through the client's sidecar and through a
waypoint: Envoy's circuit breakers and outlier detection as Istio configures them."""

import time

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

CLUSTER = "outbound|8000||httpbin.default.svc.cluster.local"


@pytest.fixture(
    scope="module", params=[("sidecar", None), ("ambient", ["httpbin"])], ids=["sidecar", "waypoint"]
)
def lab(request):
    mode, waypoints = request.param
    with Lab("httpbin", mode=mode, waypoints=waypoints, verbose=False) as lab:
        yield lab


def router(lab):
    return "waypoint" if lab.mode == "ambient" else "sidecar"


def proxy(lab):
    return lab.proxies["waypoint-0" if lab.mode == "ambient" else "client-0/istio-proxy"]


def dr(traffic_policy: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: httpbin}\n"
        f"spec:\n  host: httpbin\n  trafficPolicy: {traffic_policy}\n"
    )


def attempts(lab, since: float) -> list:
    """The routing proxy's attempt spans (one per try) that started after ``since``."""
    return [
        s
        for s in lab.spans()
        if s.kind == "client"
        and s.role == router(lab)
        and s.start >= since
        and (s.attrs or {}).get("direction") == "outbound"
    ]


def served_by(lab, since: float) -> dict:
    """How many attempts each httpbin pod got from the routing proxy since ``since``."""
    out: dict = {}
    for s in attempts(lab, since):
        out[s.attrs["endpoint"]] = out.get(s.attrs["endpoint"], 0) + 1
    return out


def test_http2_max_requests_bounds_concurrent_http1_requests(lab):
    """http2MaxRequests: 1 lets one request at a time reach httpbin, over HTTP/1.1 too; the others
    get 503 at once (flag UO) and are not retried."""
    lab.delete(all=True)
    lab.apply(dr("{connectionPool: {http: {http2MaxRequests: 1}}}"))
    one = lab.load("client", "http://httpbin:8000/delay/0.1", requests=5, concurrency=1, progress=False)
    assert one.by_status() == {"200": 5}
    t0 = time.monotonic()
    res = lab.load("client", "http://httpbin:8000/delay/0.2", requests=15, concurrency=3, progress=False)
    by = res.by_status()
    assert set(by) == {"200", "503"} and by["503"] >= 3
    overflowed = [
        s
        for s in lab.spans()
        if s.kind == "server"
        and s.role == router(lab)
        and s.start >= t0
        and "UO" in (s.attrs or {}).get("response_flags", "")
    ]
    assert len(overflowed) == by["503"] and all(s.status == 503 for s in overflowed)
    fast = [o for o in res.outcomes if o["status"] == 503]
    assert max((o["end"] - o["start"]) for o in fast) < 0.15  # at once, not after a try
    tried = {s.trace_id for s in attempts(lab, t0)}
    assert not tried & {s.trace_id for s in overflowed}  # no attempt, no retry
    assert proxy(lab).call("stats")["clusters"][CLUSTER]["upstream_rq_pending_overflow"] == len(overflowed)
    lab.delete(all=True)


def test_outlier_detection_respects_max_ejection_percent(lab):
    """Two httpbin pods, every answer a 500, an ejection after one. At the default
    maxEjectionPercent (10%) Envoy ejects neither (one of two is 50%): both keep serving. At 50%
    it ejects the first to fail, and only that one: the other serves the rest."""
    lab.delete(all=True)
    lab.apply(dr("{outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s}}"))
    t0 = time.monotonic()
    res = lab.load("client", "http://httpbin:8000/status/500", requests=20, concurrency=1, progress=False)
    assert res.by_status() == {"500": 20}
    served = served_by(lab, t0)
    assert set(served) == {"httpbin-0", "httpbin-1"} and min(served.values()) >= 4
    stats = proxy(lab).call("stats")
    assert stats["outlier_ejected"][CLUSTER] == [] and stats["outlier_ejections_overflow"][CLUSTER] == 20

    lab.apply(
        dr(
            "{outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, "
            "maxEjectionPercent: 50}}"
        )
    )
    t0 = time.monotonic()
    res = lab.load("client", "http://httpbin:8000/status/500", requests=20, concurrency=1, progress=False)
    assert res.by_status() == {"500": 20}
    served = served_by(lab, t0)
    assert sorted(served.values()) == [1, 19]  # the first to fail, then only the other
    first = min(attempts(lab, t0), key=lambda s: s.start).attrs["endpoint"]
    assert served[first] == 1 and proxy(lab).call("stats")["outlier_ejected"][CLUSTER] == [first]
    lab.delete(all=True)
