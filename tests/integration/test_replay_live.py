"""A live run recorded on loopback and replayed with no lab: the figures' data — every request's
outcome and path, the counts, the latency percentiles, the cost — equal what the live lab gave;
``meshlab run --record`` writes what ``meshlab report`` draws."""

from __future__ import annotations

import json

import pytest

from meshlab import Lab, replay
from meshlab.cli import main
from meshlab.compare import run_report
from meshlab.errors import LabError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Bookinfo in ambient with a waypoint per namespace (every kind of hop): two loads, recorded."""
    out = tmp_path_factory.mktemp("rec") / "run.json.gz"
    with Lab("bookinfo", mode="ambient", waypoints="namespace", verbose=False) as lab:
        with pytest.raises(LabError, match="nothing to record yet"):
            lab.record(out)
        first = lab.load(requests=20, concurrency=2, progress=False)
        lab.apply(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
            "spec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
            "    timeout: 2s\n"
        )
        second = lab.load(requests=20, concurrency=2, progress=False)
        live = [run_report(lab, first), run_report(lab, second)]
        lab.record(out, what="test", labels=["before", "with a timeout"])
    return live, (first, second), replay.load(out)


def test_the_replayed_reports_equal_the_live_ones(recorded):
    live, _, rec = recorded
    assert [r.report() for r in rec.runs] == json.loads(json.dumps(live))  # counts, percentiles, paths, cost
    assert rec.meta["backend"] == "loopback" and rec.label.startswith("recorded on the loopback backend, ")


def test_every_request_keeps_its_outcome_and_its_path_hop_by_hop(recorded):
    _, results, rec = recorded
    for res, run in zip(results, rec.runs):
        assert [(o["status"], o["trace_id"]) for o in run.result.outcomes] == [
            (o["status"], o["trace_id"]) for o in res.outcomes
        ]
        assert run.result.paths == res.paths  # every hop, with its times
        assert run.result.latencies_ms() == res.latencies_ms()


def test_the_runs_keep_the_policies_and_the_metrics_in_force(recorded):
    _, _, rec = recorded
    before, after = rec.runs
    assert "VirtualService" not in before.policies and "timeout: 2s" in after.policies
    assert after.metrics and any("istio_requests_total" in text for text in after.metrics.values())
    assert {w[2] for w in after.waypoints} and after.data_plane == "ambient+waypoint"


def test_run_record_then_report_from_the_command_line(tmp_path, capsys):
    rec, page = tmp_path / "run.json", tmp_path / "run.html"
    assert main(["run", "minimal", "--mode", "sidecar", "-n", "10", "--json", "--record", str(rec)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert replay.load(rec).run(0).report() == printed
    assert main(["report", str(rec), "-o", str(page)]) == 0
    assert page.read_text().count("<img ") >= 4
    assert main(["report", str(tmp_path / "missing.json"), "-o", str(page)]) == 2
    assert "missing.json: cannot read it" in capsys.readouterr().err
