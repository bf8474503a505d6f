"""The figures' guarantees on live paths: Bookinfo in every mode, after a kept-alive load."""

import sys
from pathlib import Path as FsPath

import pytest

from meshlab import Lab
from meshlab.viz import path_figure, topology_figure

sys.path.insert(0, str(FsPath(__file__).resolve().parents[1] / "unit"))
from figure_checks import arrows_through_boxes, overlapping_labels  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "mode,waypoints", [("none", None), ("sidecar", None), ("ambient", None), ("ambient", ["reviews"])]
)
def test_maps_and_waterfalls_of_live_requests_keep_their_promises(backend, mode, waypoints):
    with Lab("bookinfo", mode=mode, waypoints=waypoints, backend=backend, verbose=False) as lab:
        res = lab.load(requests=10, concurrency=1, progress=False)
        topo, mesh = lab.topology, dict(lab.mesh)
    path = res.paths[res.outcomes[-1]["trace_id"]]
    fig = topology_figure(topo, mesh, path)
    assert not overlapping_labels(fig)
    assert not arrows_through_boxes(fig)
    water = path_figure(path)
    bars = water.axes[0].patches[: len(path.hops)]
    assert all(0 <= b.get_x() and b.get_x() + b.get_width() <= path.hops[0].ms + 1e-6 for b in bars)
    assert not overlapping_labels(water)
