"""The plots, drawn from recorded runs (tests/fixtures/recorded): no lab, no Jupyter."""

import json
from pathlib import Path as FsPath

import pytest
from figure_checks import arrows_through_boxes, overlapping_labels

from meshlab.telemetry.paths import RequestPath
from meshlab.viz import COLORS, cost_figure, cost_scaling_figure, latency_figure, path_figure, runs_figure

REC = FsPath(__file__).resolve().parents[1] / "fixtures" / "recorded"
BY_MODE = json.loads((REC / "bookinfo-paths-by-mode.json").read_text())["paths"]


def bookinfo_map(mode: str):
    """Bookinfo's topology and mesh in ``mode`` ("ambient+waypoint": a waypoint for reviews)."""
    from meshlab import mesh
    from meshlab.topology import load_topology

    topo = load_topology("bookinfo")
    m = mesh.mesh_by_pod(topo, mode.split("+")[0])
    if mode == "ambient+waypoint":
        topo, m, _ = mesh.add_waypoints(topo, m, ["reviews"])
    return topo, m


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def legend_labels(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()] + [
        t.get_text() for leg in fig.legends for t in leg.get_texts()
    ]


def test_waterfall_has_a_bar_per_hop_labelled_with_name_time_and_identity():
    path = RequestPath.from_record(json.loads((REC / "bookinfo-ambient-waypoint-path.json").read_text()))
    fig = path_figure(path)
    ax = fig.axes[0]
    assert len(ax.patches) == len(path.hops)
    labels = texts(fig)
    for h in path.hops:
        assert any(h.name in t for t in labels), h.name
    assert any("mTLS from waypoint" in t for t in labels)  # reviews' ztunnel saw the waypoint
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == sum(1 for h in path.hops if h.layer == "L4")
    assert {
        "ztunnel",
        "waypoint",
        "app",
        "L4 hop: its connection, while it carried this request",
        "reached over mTLS",
    } <= set(legend_labels(fig))


@pytest.mark.parametrize("mode", list(BY_MODE))
def test_every_bar_of_a_waterfall_lies_within_its_request(mode):
    """A kept-alive connection outlives the request (here by half a second): an L4 hop's bar is
    only the part that carried this request, and its label says how long the connection was open."""
    path = RequestPath.from_record(BY_MODE[mode])
    fig = path_figure(path)
    bars = [p for p in fig.axes[0].patches if p.get_width() is not None][: len(path.hops)]
    request_ms = path.hops[0].ms
    for h, bar in zip(path.hops, bars):
        assert -1e-9 <= bar.get_x() and bar.get_x() + bar.get_width() <= request_ms + 1e-6, h.name
    notes = [t.get_text() for t in fig.axes[0].texts][1::2]  # name, note, name, note, ...
    clipped = [
        (h, n) for h, n in zip(path.hops, notes) if h.start < path.hops[0].start or h.end > path.hops[0].end
    ]
    if mode.startswith("ambient"):
        assert clipped, "the recorded load's client connection outlives its request"
    for h, note in clipped:
        assert f"connection open {h.ms:.1f} ms" in note, (h.name, note)
    assert not overlapping_labels(fig)


def test_an_l4_hop_counts_for_a_request_only_while_it_carried_the_request():
    """Hop.for_request: the connection clipped to the call it carried, never outside it."""
    path = RequestPath.from_record(BY_MODE["ambient"])
    for h in path.hops:
        s, e = h.for_request
        assert h.start - 1e-9 <= s <= e <= h.end + 1e-9
        if h.per == "connection":
            assert h.call_start is not None and h.call_start - 1e-9 <= s and e <= h.call_end + 1e-9
            assert h.request_ms <= h.ms
    assert any(h.request_ms < h.ms / 10 for h in path.hops)  # the client's connection: far shorter


@pytest.mark.parametrize("mode", list(BY_MODE))
def test_the_topology_map_keeps_labels_apart_and_arrows_off_other_boxes(mode):
    """No two labels overlap (measured on the rendered text), and no arrow crosses a box it does not
    connect, on Bookinfo in every mode with a recorded request's path."""
    from meshlab.viz import topology_figure

    topo, m = bookinfo_map(mode)
    path = RequestPath.from_record(BY_MODE[mode])
    fig = topology_figure(topo, m, path)
    assert not overlapping_labels(fig)
    assert not arrows_through_boxes(fig)
    drawn = [h for h in path.hops[1:] if h.role != "unreached"]
    assert len([p for p in fig.axes[0].patches if p.get_gid() and " -> " in p.get_gid()]) == len(drawn)
    key = next(t.get_text() for t in fig.texts if t.get_text().startswith("the request, step by step"))
    assert all(f"→ {h.name}" in key for h in drawn)
    if mode.startswith("ambient"):
        assert "connection open" in key


def test_a_waterfall_without_a_mesh_names_no_l4_hop_and_no_mtls_in_its_key():
    """The key names what the plot shows: with no mesh, no hatched hop and no mutual TLS (00's
    first waterfall listed both)."""
    fig = path_figure(RequestPath.from_record(BY_MODE["none"]))
    labels = set(legend_labels(fig))
    assert "app" in labels and "reached over mTLS" not in labels
    assert not any(x.startswith("L4 hop") for x in labels)


@pytest.mark.parametrize("mode", list(BY_MODE))
def test_every_waterfall_note_ends_inside_the_plot_so_the_image_keeps_its_width(mode):
    """Each hop's note (its time, connection, identity) is written after its bar: it must end
    inside the axes. A note past them widened the image beyond its figure size (1,030 px for a
    10-inch figure), wider than JupyterLab's output area, which cut the identity off."""
    import io

    from IPython.core.pylabtools import print_figure
    from PIL import Image

    fig = path_figure(RequestPath.from_record(BY_MODE[mode]))
    png = print_figure(fig, "png", bbox_inches="tight")  # as Jupyter's inline display saves it
    ax = fig.axes[0]
    right = ax.get_window_extent().x1
    notes = [t for t in ax.texts if " ms" in t.get_text() and t.get_transform() == ax.transData]
    assert len(notes) == len(RequestPath.from_record(BY_MODE[mode]).hops)
    assert all(t.get_window_extent().x1 <= right + 0.5 for t in notes), [t.get_text() for t in notes]
    assert Image.open(io.BytesIO(png)).size[0] <= fig.get_size_inches()[0] * fig.dpi + 20


def test_a_long_error_note_takes_a_second_line_instead_of_stretching_the_time_axis():
    """10 §4's waterfall: a hop refused near the end of the request, noted with its RBAC reason on
    one line, stretched the axis to about 590 ms for a 107 ms request, every bar squeezed into the
    left fifth (3.9x the request here). The reason goes on a line of its own."""
    record = json.loads(json.dumps(BY_MODE["ambient+waypoint"]))
    end = record["hops"][0]["end"]
    record["hops"][-1].update(
        status=None,
        mtls=True,
        identity="spiffe://cluster.local/ns/backend/sa/bookinfo-reviews",
        error="RBAC: implicit deny: ALLOW policies apply (backend/ratings) but none matched",
        start=end - 0.00046,
        end=end - 0.0004,
    )
    path = RequestPath.from_record(record)
    ax = path_figure(path).axes[0]
    assert ax.get_xlim()[1] <= 2 * path.hops[0].ms * 1.15
    rbac = next(t for t in ax.texts if "RBAC" in t.get_text())
    assert rbac.get_text().splitlines()[-1].strip().startswith("RBAC: implicit deny")
    assert rbac.get_window_extent().x1 <= ax.get_window_extent().x1 + 0.5


def test_latency_figure_shows_three_quantiles_per_mode_with_counts():
    table = json.loads((REC / "minimal-compare.json").read_text())
    fig = latency_figure(table)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * len(table)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert all(any(m in t and "n=30" in t for t in ticks) for m in table)
    assert set(legend_labels(fig)) == {"p50", "p90", "p99"}
    assert sum(t.endswith("(no CI)") for t in texts(fig)) == 3 * (len(table) - 1)  # no samples recorded


def test_added_latency_on_the_latency_figure_has_its_interval_and_its_method():
    """150 requests a mode (recorded live): p50 and p90 with a 95% interval, p99 not estimated;
    the method is written on the figure."""
    table = json.loads((REC / "bookinfo-compare.json").read_text())
    fig = latency_figure(table)
    bars = [t for t in fig.axes[0].texts]
    assert len(bars) == 3 * (len(table) - 1)
    assert sum(t.get_text() == "needs n≥500" for t in bars) == len(table) - 1  # p99 of 150 requests
    assert all("[" in t.get_text() and "]" in t.get_text() for t in bars if t.get_text() != "needs n≥500")
    assert "bootstrap" in fig._supxlabel.get_text() and "p99: 500" in fig._supxlabel.get_text()
    assert not overlapping_labels(fig)


def test_the_comparison_table_shows_added_latency_with_intervals():
    from meshlab.compare import format_table

    table = json.loads((REC / "bookinfo-compare.json").read_text())
    text = format_table(table)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("added over none, p50"))
    assert lines[at + 1].startswith("  95% interval") and lines[at + 1].count("[") == 3  # under its estimate
    assert "needs n≥500" in next(line for line in lines if line.startswith("added over none, p99"))
    assert "bootstrap" in text
    # the table itself (not its heading and notes) fits a notebook's output area without wrapping:
    # in JupyterLab at 1440 px, ~120 monospace characters; four modes and intervals once took 119
    assert max(len(line) for line in lines[1:-2]) <= 105


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
    path = RequestPath.from_record(json.loads((REC / "bookinfo-ambient-waypoint-path.json").read_text()))
    fig = topology_figure(topo, m, path)
    labels = texts(fig)
    for name in (
        "node node-1",
        "node node-2",
        "productpage-v1-0",
        "waypoint-0",
        "ztunnel-node-1 (L4)",
        "ztunnel-node-2 (L4)",
    ):
        assert name in labels, name
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(path.hops) - 1  # every hop after the client has its arrow
    assert sorted(t for t in labels if t.isdigit()) == sorted(str(k) for k in range(1, len(arrows) + 1))
    assert {"hop reached over mTLS", "L4 hop (ztunnel)", "sidecar", "waypoint"} <= set(legend_labels(fig))
    assert not overlapping_labels(fig) and not arrows_through_boxes(fig)  # an older record, too


def test_topology_view_puts_a_sidecar_beside_every_pod_in_sidecar_mode():
    from meshlab import mesh
    from meshlab.topology import load_topology
    from meshlab.viz import topology_figure

    topo = load_topology("bookinfo")
    fig = topology_figure(topo, mesh.mesh_by_pod(topo, "sidecar"))
    assert texts(fig).count("sidecar") == len(topo.pods)
    assert not any("ztunnel" in t for t in texts(fig))


def test_runs_figure_draws_one_labelled_cdf_per_run_with_its_counts():
    runs = [
        {"label": "as it was", "latencies_ms": [2.0, 3.0, 4.0, 50.0], "ok": 4, "sent": 4},
        {"label": "reviews: abort 503 on 50%", "latencies_ms": [1.0, 1.5, 2.5, 3.0], "ok": 2, "sent": 4},
        {"label": "nothing measured", "latencies_ms": [], "ok": 0, "sent": 0},
    ]
    fig = runs_figure(runs)
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # an empty run draws nothing
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("as it was: p50 3.5 ms") and legend[0].endswith("4/4 ok")
    assert legend[1].startswith("reviews: abort 503 on 50%") and legend[1].endswith("2/4 ok")
    assert ax.lines[1].get_linewidth() > ax.lines[0].get_linewidth()  # the newest run drawn is thickest
    assert "measured" in ax.get_xlabel()


def test_log_axes_are_labelled_with_plain_numbers_not_powers_of_ten():
    """A learner reads "2", "5", "50" ms on the CDF's log axis, not "10⁰", "10¹" or "4×10⁰"."""
    runs = [{"label": "as it was", "latencies_ms": [1.2, 2.0, 3.0, 4.0, 50.0], "ok": 5, "sent": 5}]
    fig = runs_figure(runs)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in [*ax.get_xticklabels(), *ax.get_xticklabels(minor=True)] if t.get_text()]
    assert labels and "10" in labels
    assert all(t.replace(".", "", 1).isdigit() for t in labels), labels


def test_cost_scaling_marks_the_measured_point_and_the_extrapolation():
    from meshlab.telemetry.cost import scaled

    res = json.loads((REC / "minimal-compare.json").read_text())
    side = scaled(res["sidecar"], 1000)
    assert side["by_role"]["sidecar"][0] == 1000 and side["proxies"] == 1000  # a sidecar per pod
    amb = scaled(res["ambient"], 1000, pods_per_node=50)
    assert amb["by_role"]["ztunnel"][0] == 20  # a ztunnel per node
    wp = scaled(res["ambient+waypoint"], 1000, pods_per_node=50)
    assert wp["by_role"]["waypoint"][0] == sum(
        p["role"] == "waypoint" for p in res["ambient+waypoint"]["proxies"]
    )
    fig = cost_scaling_figure(res)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lab.startswith("sidecar: measured here") for lab in labels)
    assert any(lab.startswith("sidecar: extrapolated") for lab in labels)
    assert "none" not in " ".join(labels)  # no proxies, nothing to draw
    assert "extrapolated" in fig.axes[0].get_title()


def test_cost_scaling_of_an_older_result_needs_pods_per_node_and_draws_no_measured_point():
    import pytest

    res = json.loads((REC / "minimal-compare.json").read_text())
    for r in res.values():
        r.pop("pods"), r.pop("nodes")
    with pytest.raises(ValueError, match="pass pods_per_node"):
        cost_scaling_figure(res)
    labels = [
        t.get_text() for t in cost_scaling_figure(res, pods_per_node=30).axes[0].get_legend().get_texts()
    ]
    assert labels and not any("measured here" in lab for lab in labels)
