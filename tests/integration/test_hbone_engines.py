"""HBONE runs on either HTTP/2 engine — libnghttp2 (the default where it loads) or h2 (the
fallback) — chosen once per process from MESHLAB_H2_ENGINE, and says which one ran."""

import time

import pytest

from meshlab import Lab
from meshlab.net import nghttp2
from meshlab.proxy import h2engine

pytestmark = pytest.mark.integration

ENGINES = ["nghttp2", "h2"]
PAGE = "http://productpage:9080/productpage"


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    if request.param == "nghttp2" and nghttp2.lib is None:
        pytest.skip(f"libnghttp2: {nghttp2.why_missing()}")
    monkeypatch.setenv("MESHLAB_H2_ENGINE", request.param)  # the lab's processes inherit it
    return request.param


def test_ambient_with_a_waypoint_serves_bookinfo_on_either_engine(engine, backend):
    """Every call crosses ztunnel -> HBONE -> waypoint -> HBONE -> ztunnel, and the proxies say
    which engine framed it."""
    with Lab("bookinfo", mode="ambient", waypoints=["reviews"], backend=backend, verbose=False) as lab:
        res = lab.load(requests=30, concurrency=4, progress=False)
        assert res.summary()["requests"]["ok"] == 30
        r = lab.request("client", PAGE)
        assert r.status == 200 and "waypoint" in {h.role for h in r.path.hops}
        stats = lab.proxies["ztunnel-node-1"].call("stats")
        assert stats["h2_engine"].startswith(engine + " ")


def test_every_connection_a_ztunnel_carries_closes(engine, backend):
    """After the load, no connection is left open in either ztunnel (the waypoint's kept-alive
    streams aside, which is why this lab has none)."""
    with Lab("bookinfo", mode="ambient", backend=backend, verbose=False) as lab:
        assert lab.load(requests=30, concurrency=4, progress=False).summary()["requests"]["ok"] == 30
        stats = lab.proxies["ztunnel-node-1"].call("stats")
        for _ in range(50):  # the last close may still be on its way
            if stats["connections_open"] == 0:
                break
            time.sleep(0.05)
            stats = lab.proxies["ztunnel-node-1"].call("stats")
        assert stats["connections_open"] == 0  # every connection closed and accounted for


def test_a_large_body_crosses_hbone_under_flow_control(engine):
    """More bytes than one stream's HTTP/2 window (4 MiB) go through: WINDOW_UPDATEs follow the
    receiver's reads, on either engine."""
    body = "0123456789abcdef" * (5 * 2**20 // 16)  # 5 MiB up, and echoed back down
    with Lab("httpbin", mode="ambient", verbose=False) as lab:
        r = lab.request("client", "http://httpbin:8000/anything", method="POST", body=body, timeout=60)
        assert r.status == 200
        hops = [h for h in r.path.hops if h.role == "ztunnel"]
        assert hops and all(h.error is None for h in hops)


def test_an_unknown_engine_is_refused_with_the_allowed_names(monkeypatch):
    monkeypatch.setenv("MESHLAB_H2_ENGINE", "quic")
    with pytest.raises(ValueError, match="nghttp2, h2"):
        h2engine.choose()


def test_150_concurrent_connections_to_one_pod_open_a_second_tunnel(engine):
    """Issue 13, defect 1: one HBONE connection carries at most 100 streams (ztunnel's pool
    limit, announced as SETTINGS_MAX_CONCURRENT_STREAMS); the 101st connection goes on another
    tunnel to the same pod, instead of being reset."""
    with Lab("minimal", mode="ambient", verbose=False) as lab:
        res = lab.load(requests=450, concurrency=150, progress=False)
        assert res.summary()["requests"]["ok"] == 450, res.summary()
        stats = [lab.proxies[n].call("stats") for n in lab.proxies if n.startswith("ztunnel")]
        keys = [(t["source"], t["destination"], t["address"]) for s in stats for t in s["tunnels"]]
        assert any(keys.count(k) >= 2 for k in keys), keys
