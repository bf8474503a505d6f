"""meshlab compare: one run, four data planes, Istio's comparison table filled in with measurements."""

import pytest

from meshlab import Lab
from meshlab.compare import compare, format_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def table(module_backend):
    return compare(
        "minimal", requests=30, concurrency=2, warmup=5, backend=module_backend, log=lambda s: None
    )


def test_hops_and_l7_steps_per_call_match_istios_table(table):
    """Sidecar: 2 proxies, both L7. Ambient: 2 ztunnels, no L7. With a waypoint: 3, one of them L7."""
    got = {m: (r["proxy_hops_per_call"], r["l7_steps_per_call"]) for m, r in table.items()}
    assert got == {"none": (0, 0), "sidecar": (2, 2), "ambient": (2, 0), "ambient+waypoint": (3, 1)}


def test_proxy_counts_per_mode(table):
    """minimal has 2 pods on 2 nodes: 2 sidecars, or 2 ztunnels (+ 1 waypoint)."""
    assert {m: r["proxy_count"] for m, r in table.items()} == {
        "none": 0,
        "sidecar": 2,
        "ambient": 2,
        "ambient+waypoint": 3,
    }


def test_every_mesh_hop_is_mtls_and_every_request_succeeds(table):
    assert {m: r["all_mesh_hops_mtls"] for m, r in table.items()} == {
        "none": None,
        "sidecar": True,
        "ambient": True,
        "ambient+waypoint": True,
    }
    assert all(r["requests"]["ok"] == 30 for r in table.values())


def test_costs_are_measured_not_assumed(table):
    for m, r in table.items():
        assert r["added_latency_ms"]["p50"] == pytest.approx(
            r["latency_ms"]["p50"] - table["none"]["latency_ms"]["p50"]
        )
        assert len(r["latency_samples_ms"]) == 30
        assert r["added_latency"]["p50"]["low"] <= r["added_latency"]["p50"]["high"]  # 30 requests: enough
        assert r["added_latency"]["p99"]["estimate"] is None  # not for p99
        for p in r["proxies"]:
            assert p["uss_mb"] > 0 and p["rss_mb"] >= p["uss_mb"] and p["cpu_s"] >= 0
            assert set(p) >= {"name", "role", "rss_mb", "uss_mb", "cpu_s"}
    # CPU times tick in 10 ms steps: over 30 requests one mode's proxies may read 0, not all of them
    assert sum(r["proxy_cpu_s_per_1000_requests"] for m, r in table.items() if m != "none") > 0


def test_the_table_names_every_mode_and_row(table):
    text = format_table(table)
    for word in (
        "none",
        "sidecar",
        "ambient",
        "ambient+waypoint",
        "L7 proxy steps per call",
        "every mesh hop mTLS",
        "proxy CPU s per 1000 requests",
    ):
        assert word in text


def test_a_load_reports_the_cpu_each_process_used(backend):
    with Lab("minimal", mode="sidecar", backend=backend, verbose=False) as lab:
        res = lab.load(requests=200, concurrency=2)
        assert set(res.cpu_s) >= {"client-0", "server-0", "client-0/istio-proxy", "server-0/istio-proxy"}
        assert res.cpu_s["client-0/istio-proxy"] > 0  # 200 requests: well over one 10 ms tick
        u = lab.usage()
        assert u["server-0/istio-proxy"].role == "sidecar" and u["server-0"].role == "app"
