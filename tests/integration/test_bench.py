"""The benchmarks run and report measured figures (their values are never asserted: noisy machines)."""

import json

import pytest

from meshlab.bench.hops import bench_hops
from meshlab.bench.startup import bench_startup

pytestmark = pytest.mark.integration


def test_bench_hops_reports_every_row_against_the_same_runs_baseline(tmp_path, capsys):
    # loopback only: bench hops has no --backend; it runs nginx and stunnel next to the lab on
    # loopback addresses, where the lab's client pod reaches them (a mininet pod could not)
    out = tmp_path / "hops.json"
    assert bench_hops(requests=20, requests_c32=40, json_path=str(out)) == 0
    data = json.loads(out.read_text())
    rows = data["rows"]
    for k in (
        "no proxy",
        "sidecar pair (mTLS)",
        "ztunnel pair (HBONE mTLS)",
        "ztunnel + waypoint + ztunnel",
        "nginx L7 hop",
        "stunnel pair (L4 mTLS)",
        "python relay pair (L4, plaintext)",
        "python relay pair (L4, plaintext), new connection per request",
    ):
        assert k in rows
    # the floor row's CPU is its relays' own (two processes, measured by pid)
    assert (
        rows["python relay pair (L4, plaintext), new connection per request"]["cpu_us_per_request"][
            "python relay"
        ]
        > 0
    )
    assert "new connection per request: ztunnel pair CPU / python relay pair CPU" in data["ratios"]
    for k, r in rows.items():
        if "skipped" not in r:
            assert r["all_ok"] and r["p50_ms"] > 0 and r["rps_c32"] > 0 and "added_p50_ms" in r, k
        else:
            assert "apt-get install" in r["skipped"]
    assert rows["no proxy"]["added_p50_ms"] == 0
    assert "hop benchmark" in capsys.readouterr().out


def test_bench_hops_in_rounds_reports_medians_and_ranges(tmp_path, capsys):
    out = tmp_path / "hops.json"
    assert bench_hops(requests=10, requests_c32=20, json_path=str(out), rounds=2) == 0
    data = json.loads(out.read_text())
    assert data["rounds"] == 2
    for k, v in data["ratios"].items():
        lo, hi = data["ratio_ranges"][k]
        assert lo <= v <= hi, k  # a median lies within its range
    assert "(medians of 2 rounds" in capsys.readouterr().out


def test_bench_startup_reports_time_memory_and_where_it_goes(capsys):
    assert bench_startup("minimal", repeat=1, as_json=True, mode="sidecar") == 0
    data = json.loads(capsys.readouterr().out)
    med = data["median"]
    assert med["processes"] == 4 and med["serving_s"] >= med["start_s"] > 0 and med["pss_mb"] > 0
    roles = data["by_role"]
    assert {"app", "sidecar", "fork-server"} <= set(roles)
    assert roles["sidecar"]["processes"] == 2 and roles["sidecar"]["uss_mb_median"] > 0
    assert round(sum(r["pss_mb"] for r in roles.values())) == pytest.approx(med["pss_mb"], abs=2)


def test_bench_fuzz_throws_a_bounded_number_of_inputs_at_every_listener_kind():
    from meshlab.fuzzbench import run_fuzz
    from meshlab.fuzztargets import KINDS

    out = run_fuzz(inputs=800, seconds=120, progress=False)
    assert out["inputs"] <= 800 and set(out["inputs_by_kind"]) == set(KINDS)
    assert out["crashes"] == 0 and all(out["served_at_the_end"].values())
    assert sum(sum(o.values()) for o in out["outcomes"].values()) == out["inputs"]  # one outcome per input
    assert set(out["rss_mb_after"]) == set(out["rss_mb_before"])
