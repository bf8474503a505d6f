"""The plots, drawn from recorded runs (tests/fixtures/recorded): no lab, no Jupyter."""

import json
from pathlib import Path as FsPath

from meshlab.telemetry.paths import Path
from meshlab.viz import COLORS, cost_figure, cost_scaling_figure, latency_figure, path_figure, runs_figure

REC = FsPath(__file__).resolve().parents[1] / "fixtures" / "recorded"


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def legend_labels(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_waterfall_has_a_bar_per_hop_labelled_with_name_time_and_identity():
    path = Path.from_record(json.loads((REC / "bookinfo-ambient-waypoint-path.json").read_text()))
    fig = path_figure(path)
    ax = fig.axes[0]
    assert len(ax.patches) == len(path.hops)
    labels = texts(fig)
    for h in path.hops:
        assert any(h.name in t for t in labels), h.name
    assert any("mTLS from waypoint" in t for t in labels)           # reviews' ztunnel saw the waypoint
    assert any("per connection" in t for t in labels)               # L4 hops are per connection
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == sum(1 for h in path.hops if h.layer == "L4")
    assert {"ztunnel", "waypoint", "app", "L4 hop (connection)", "reached over mTLS"} <= set(legend_labels(fig))


def test_latency_figure_shows_three_quantiles_per_mode_with_counts():
    table = json.loads((REC / "minimal-compare.json").read_text())
    fig = latency_figure(table)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * len(table)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert all(any(m in t and "n=30" in t for t in ticks) for m in table)
    assert set(legend_labels(fig)) == {"p50", "p90", "p99"}
    assert sum(t.startswith("+") for t in texts(fig)) == 3 * (len(table) - 1)


def test_cost_figure_has_proxies_memory_and_cpu_panels():
    table = json.loads((REC / "minimal-compare.json").read_text())
    fig = cost_figure(table)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["proxy processes", "proxy memory, USS (MB)", "proxy CPU s per 1000 requests"]
    counts = [t.get_text() for t in fig.axes[0].texts]
    assert counts == [str(table[m]["proxy_count"]) for m in table]


def test_palette_is_okabe_ito():
    assert COLORS["sidecar"] == "#E69F00" and COLORS["ztunnel"] == "#009E73" and COLORS["app"] == "#0072B2"


def test_topology_view_draws_nodes_pods_proxies_and_the_path():
    from matplotlib.patches import FancyArrowPatch

    from meshlab import mesh
    from meshlab.topology import load_topology
    from meshlab.viz import topology_figure
    topo = load_topology("bookinfo")
    m = mesh.mesh_by_pod(topo, "ambient")
    topo, m, _ = mesh.add_waypoints(topo, m, ["reviews"])
    path = Path.from_record(json.loads((REC / "bookinfo-ambient-waypoint-path.json").read_text()))
    fig = topology_figure(topo, m, path)
    labels = texts(fig)
    for name in ("node node-1", "node node-2", "productpage-v1-0", "waypoint-0", "ztunnel-node-1 (L4)",
                 "ztunnel-node-2 (L4)"):
        assert name in labels, name
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(path.hops) - 1                # every hop after the client has its arrow
    assert sum(t.endswith(" ms") for t in labels) == len(arrows)
    assert {"hop reached over mTLS", "L4 hop (ztunnel)", "sidecar", "waypoint"} <= set(legend_labels(fig))


def test_topology_view_puts_a_sidecar_beside_every_pod_in_sidecar_mode():
    from meshlab import mesh
    from meshlab.topology import load_topology
    from meshlab.viz import topology_figure
    topo = load_topology("bookinfo")
    fig = topology_figure(topo, mesh.mesh_by_pod(topo, "sidecar"))
    assert texts(fig).count("sidecar") == len(topo.pods)
    assert not any("ztunnel" in t for t in texts(fig))


def test_runs_figure_draws_one_labelled_cdf_per_run_with_its_counts():
    runs = [{"label": "as it was", "latencies_ms": [2.0, 3.0, 4.0, 50.0], "ok": 4, "sent": 4},
            {"label": "reviews: abort 503 on 50%", "latencies_ms": [1.0, 1.5, 2.5, 3.0], "ok": 2, "sent": 4},
            {"label": "nothing measured", "latencies_ms": [], "ok": 0, "sent": 0}]
    fig = runs_figure(runs)
    ax = fig.axes[0]
    assert len(ax.lines) == 2                              # an empty run draws nothing
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("as it was: p50 3.5 ms") and legend[0].endswith("4/4 ok")
    assert legend[1].startswith("reviews: abort 503 on 50%") and legend[1].endswith("2/4 ok")
    assert ax.lines[1].get_linewidth() > ax.lines[0].get_linewidth()      # the newest run drawn is thickest
    assert "measured" in ax.get_xlabel()


def test_cost_scaling_marks_the_measured_point_and_the_extrapolation():
    from meshlab.telemetry.cost import scaled
    res = json.loads((REC / "minimal-compare.json").read_text())
    side = scaled(res["sidecar"], 1000)
    assert side["by_role"]["sidecar"][0] == 1000 and side["proxies"] == 1000      # a sidecar per pod
    amb = scaled(res["ambient"], 1000, pods_per_node=50)
    assert amb["by_role"]["ztunnel"][0] == 20                                     # a ztunnel per node
    wp = scaled(res["ambient+waypoint"], 1000, pods_per_node=50)
    assert wp["by_role"]["waypoint"][0] == sum(p["role"] == "waypoint" for p in res["ambient+waypoint"]["proxies"])
    fig = cost_scaling_figure(res)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lab.startswith("sidecar: measured here") for lab in labels)
    assert any(lab.startswith("sidecar: extrapolated") for lab in labels)
    assert "none" not in " ".join(labels)                                         # no proxies, nothing to draw
    assert "extrapolated" in fig.axes[0].get_title()


def test_cost_scaling_of_an_older_result_needs_pods_per_node_and_draws_no_measured_point():
    import pytest
    res = json.loads((REC / "minimal-compare.json").read_text())
    for r in res.values():
        r.pop("pods"), r.pop("nodes")
    with pytest.raises(ValueError, match="pass pods_per_node"):
        cost_scaling_figure(res)
    labels = [t.get_text() for t in cost_scaling_figure(res, pods_per_node=30).axes[0].get_legend().get_texts()]
    assert labels and not any("measured here" in lab for lab in labels)
