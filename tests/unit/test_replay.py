"""Recorded runs read back with no lab (meshlab.replay): every figure draws from a shipped
recording, nothing of the lab's runtime is imported, and a damaged, foreign, too new or too
large file is refused with one clear error before anything is drawn."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest
from figure_checks import all_texts, overlapping_labels
from hypothesis import HealthCheck, given, settings, strategies as st

from meshlab import replay, viz
from meshlab.records import RecordError, from_data, to_data
from meshlab.topology import Topology, load_topology

SHIPPED = ("three-flows", "mtls-capture", "strict-refusal", "retry-storm")
THREE = replay.RUNS_DIR / "three-flows.json.gz"


@pytest.fixture(scope="module")
def flows():
    return replay.load("three-flows")


@pytest.fixture(scope="module")
def small_raw():
    """A small, valid recording as data: two runs of the mTLS capture's calls."""
    return json.loads(gzip.decompress((replay.RUNS_DIR / "mtls-capture.json.gz").read_bytes()))


def test_every_shipped_recording_loads_is_small_and_says_where_and_when_it_was_recorded():
    assert set(SHIPPED) <= set(replay.shipped())
    for name in SHIPPED:
        path = replay.RUNS_DIR / f"{name}.json.gz"
        # three-flows, the largest: 4 x 150 Bookinfo pages with every span (~445 KB gzipped)
        assert path.stat().st_size < 512_000, f"{name}: too big to ship"
        rec = replay.load(name)
        assert rec.label.startswith(f"recorded on the {rec.meta['backend']} backend, {rec.meta['recorded']}")
        assert rec.meta["backend"] == "mininet" and rec.meta["what"]


def test_the_three_flows_go_through_the_proxies_each_data_plane_has(flows):
    roles = {r.label: {h.role for p in r.result.paths.values() for h in p.hops} for r in flows.runs}
    assert roles["none"] == {"client", "app"}
    assert "sidecar" in roles["sidecar"] and "ztunnel" not in roles["sidecar"]
    assert "ztunnel" in roles["ambient"] and not roles["ambient"] & {"sidecar", "waypoint"}
    assert {"ztunnel", "waypoint"} <= roles["ambient+waypoint"]
    for r in flows.runs:  # every request has its path
        assert len(r.result.paths) == len(r.result.outcomes) == 150


def test_the_waterfall_of_a_recorded_request(flows):
    run = flows.run("ambient+waypoint")
    path = run.path("slowest ok")
    fig = viz.path_figure(path)
    assert len(fig.axes[0].patches) >= len(path.hops)
    assert any("waypoint" in t.get_text() for t in all_texts(fig))


def test_the_topology_map_of_a_recorded_request(flows):
    run = flows.run("sidecar")
    fig = viz.topology_figure(run.topology, run.mesh, run.path())
    assert any(p.get_gid() == "productpage-v1-0/istio-proxy" for p in fig.axes[0].patches)
    assert not overlapping_labels(fig)


def test_latency_across_the_recorded_modes(flows):
    cmp_ = flows.compare()
    assert list(cmp_) == ["none", "sidecar", "ambient", "ambient+waypoint"]
    assert cmp_["sidecar"]["added_latency"]["p50"] is not None  # over the recorded "none" run
    fig = viz.latency_figure(cmp_)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "none\n(n=150)" and len(fig.axes[0].patches) == 12


def test_cost_and_cost_scaling_of_the_recorded_modes(flows):
    cmp_ = flows.compare()
    assert cmp_["none"]["proxy_count"] == 0 and cmp_["sidecar"]["proxy_count"] == cmp_["sidecar"]["pods"]
    assert cmp_["ambient"]["proxy_count"] == cmp_["ambient"]["nodes"]  # a ztunnel per node
    assert len(viz.cost_figure(cmp_).axes) == 3
    fig = viz.cost_scaling_figure(cmp_)
    assert any("measured here" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_runs_figure_of_the_retry_storm():
    rec = replay.load("retry-storm")
    storm = rec.run("attempts: 10, retryOn: 5xx")
    tries = [sum(1 for h in p.hops if h.role == "app") for p in storm.result.paths.values()]
    assert tries and all(t == 11 for t in tries)  # every request reached httpbin 11 times
    assert "retries" in storm.policies and "attempts: 10" in storm.policies
    fig = viz.runs_figure(rec.latency_runs())
    assert len(fig.axes[0].get_legend().get_texts()) == 2


def test_the_strict_refusal_and_the_capture_it_refers_to():
    refused = replay.load("strict-refusal").run(0)
    assert refused.result.summary()["requests"]["ok"] == 0 and "STRICT" in refused.policies
    assert viz.path_figure(refused.path("first failed"))
    rec = replay.load("mtls-capture")
    assert rec.captures().manifest["topology"] == "mtls-migration"


def test_loading_and_drawing_a_recording_imports_nothing_of_the_lab_runtime():
    code = (
        "import sys\nfrom meshlab import replay, viz\nrec = replay.load('three-flows')\nr = rec.run(0)\n"
        "viz.path_figure(r.path()); viz.topology_figure(r.topology, r.mesh, r.path())\n"
        "c = rec.compare(); viz.latency_figure(c); viz.cost_figure(c); viz.cost_scaling_figure(c)\n"
        "viz.runs_figure(rec.latency_runs())\n"
        "from meshlab.report import report_html; report_html(replay.load('strict-refusal'))\n"
        "print(sorted(m for m in ('asyncio', 'psutil', 'uvloop', 'httptools', 'h2', 'cffi', 'meshlab.lab',\n"
        "                         'meshlab.proxy', 'meshlab.backends') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "agg"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_topologies_round_trip_through_the_record_codec():
    for name in ("bookinfo", "mtls-migration", "httpbin"):
        t = load_topology(name)
        back = from_data(Topology, json.loads(json.dumps(to_data(t))), "topology")
        assert back == t and back.pods == t.pods


# -- refusals ------------------------------------------------------------------------------------
def refused(data_or_bytes, tmp_path) -> str:
    raw = data_or_bytes if isinstance(data_or_bytes, bytes) else json.dumps(data_or_bytes).encode()
    f = tmp_path / "r.json"
    f.write_bytes(raw)
    with pytest.raises(replay.RecordingError) as e:
        replay.load(f)
    assert str(f) in str(e.value)
    return str(e.value)


def test_a_newer_format_version_says_so(small_raw, tmp_path):
    msg = refused({**small_raw, "version": replay.VERSION + 1}, tmp_path)
    assert f"format version {replay.VERSION + 1} is newer" in msg and "update meshlab" in msg


def test_a_foreign_file_is_not_a_recording(tmp_path):
    assert "not a meshlab recording" in refused({"cells": []}, tmp_path)
    assert "not JSON" in refused(b"\x89PNG\r\n", tmp_path)
    assert "damaged gzip" in refused(gzip.compress(b'{"format": 1}')[:-9], tmp_path)


def test_huge_files_are_refused_before_they_are_read(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # sparse: no disk or time spent
        f.truncate(replay.MAX_FILE_BYTES + 1)
    with pytest.raises(replay.RecordingError, match="at most"):
        replay.load(big)
    monkeypatch.setattr(replay, "MAX_JSON_BYTES", 10_000)  # a small gzip that unpacks past the limit
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * 50_000))
    with pytest.raises(replay.RecordingError, match="more than 10000 bytes"):
        replay.load(bomb)


def test_a_wrong_type_names_the_field(small_raw, tmp_path):
    bad = json.loads(json.dumps(small_raw))
    bad["runs"][1]["topology"]["workloads"][0]["app"]["calls"] = "none"
    assert "runs[1].topology.workloads[0].app.calls: 'none' is a string; expected a list" in refused(
        bad, tmp_path
    )
    bad = json.loads(json.dumps(small_raw))
    bad["runs"][0]["load"]["outcomes"][3]["status"] = "200"
    assert "runs[0].load.outcomes[3].status" in refused(bad, tmp_path)


def leaves(data, at=()):
    """Every (path, value) of a JSON tree whose value is not a container."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves(v, (*at, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves(v, (*at, i))
    else:
        yield at, data


def put(data, at, value):
    data = json.loads(json.dumps(data))
    node = data
    for k in at[:-1]:
        node = node[k]
    node[at[-1]] = value
    return data


def loads_and_draws(raw: bytes) -> None:
    """Either refused (RecordingError) or every figure of every run draws: never half-drawn."""
    try:
        rec = replay.loads(raw)
    except replay.RecordingError as e:
        assert str(e).startswith("<bytes>: ") and len(str(e)) < 600
        return
    for r in rec.runs:
        r.report()
        p = r.path("first")
        if p is not None:
            viz.path_figure(p)
    rec.compare()


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_leaf_changed_to_any_json_value_is_refused_clearly_or_draws(small_raw, data):
    paths = list(leaves(small_raw))
    at, _ = data.draw(st.sampled_from(paths), label="field")
    value = data.draw(JSON_VALUES, label="value")
    loads_and_draws(json.dumps(put(small_raw, at, value)).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1, exclude_max=True), compressed=st.booleans())
def test_a_truncated_recording_is_refused(small_raw, cut, compressed):
    raw = json.dumps(small_raw).encode()
    if compressed:
        raw = gzip.compress(raw)
    with pytest.raises(replay.RecordingError):
        replay.loads(raw[: int(len(raw) * cut)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    version=st.one_of(st.integers(-5, 1000).filter(lambda v: v != 1), st.text(max_size=3), st.none()),
    fmt=st.sampled_from(["meshlab-recording", "meshlab-recordings", 1, None]),
)
def test_unknown_versions_and_formats_are_refused(small_raw, version, fmt):
    with pytest.raises(replay.RecordingError, match="version|not a meshlab recording"):
        replay.loads(json.dumps({**small_raw, "version": version, "format": fmt}).encode())


def test_the_record_codec_refuses_unknown_and_missing_fields():
    d = to_data(load_topology("minimal"))
    with pytest.raises(RecordError, match="unknown field 'colour'"):
        from_data(Topology, {**d, "colour": 1}, "topology")
    d.pop("nodes")
    with pytest.raises(RecordError, match="field 'nodes' is missing"):
        from_data(Topology, d, "topology")
