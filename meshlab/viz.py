"""Plots of what the lab measured: one request's waterfall, latency and cost across modes.

Every function takes results (no lab needed, so recorded runs replay) and returns a matplotlib
``Figure``; nothing here needs Jupyter or pyplot. Colours are the Okabe–Ito palette, which
colour-blind readers can tell apart, and every encoding is doubled by a pattern or a label.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .telemetry.paths import Path

#: Okabe–Ito colours per role.
COLORS = {"client": "#999999", "app": "#0072B2", "sidecar": "#E69F00", "ztunnel": "#009E73",
          "waypoint": "#CC79A7", "unreached": "#D55E00"}
MODE_COLORS = {"none": "#999999", "sidecar": "#E69F00", "ambient": "#009E73", "ambient+waypoint": "#CC79A7"}
L4_HATCH = "///"


def _figure_png(fig: Figure) -> bytes:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png")           # one render: the figures lay themselves out (constrained)
    return buf.getvalue()


def show_figures_in_jupyter() -> bool:
    """Make IPython draw a ``Figure`` as a PNG. meshlab draws without pyplot, and without pyplot
    nothing tells IPython how to show a figure: a notebook would print ``<Figure size 1000x328
    with 1 Axes>`` instead of the plot. Called on import; leaves a formatter the learner set
    (``%matplotlib ...``) alone. Returns whether a formatter is in place."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, _figure_png)
    return True


show_figures_in_jupyter()


def path_figure(path: Path, title: str | None = None) -> Figure:
    """A waterfall of one request: a bar per hop over time (ms from the first byte the client
    sent), indented by depth; L4 hops hatched; hops reached over mutual TLS outlined in black and
    labelled with the identity they saw; retries labelled with their attempt."""
    hops = path.hops
    t0 = hops[0].start if hops else 0.0
    fig = Figure(figsize=(10, 0.42 * len(hops) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    for i, h in enumerate(hops):
        y = len(hops) - 1 - i
        ax.barh(y, h.ms, left=(h.start - t0) * 1000, color=COLORS.get(h.role, "#56B4E9"),
                hatch=L4_HATCH if h.layer == "L4" else None, edgecolor="black" if h.mtls else "white",
                linewidth=1.6 if h.mtls else 0.5)
        label = "   " * h.depth + h.name + (f" ({h.direction})" if h.direction else "")
        ax.text(-0.01, y, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8)
        note = f"{h.ms:.2f} ms" + (" per connection" if h.per == "connection" else "")
        if h.attempt > 1:
            note += f", attempt {h.attempt}"
        if h.mtls:
            note += f", mTLS from {h.identity.rsplit('/sa/', 1)[-1] if h.identity else '?'}"
        if h.status is not None:
            note += f", {h.status}"
        elif h.error:
            note += f", {h.error if len(h.error) <= 60 else h.error[:57] + '...'}"   # long RBAC reasons
        ax.text((h.end - t0) * 1000, y, "  " + note, va="center", fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("time since the client started the request (ms, measured)")
    ax.set_xlim(0, max(((h.end - t0) * 1000 for h in hops), default=1) * 1.45)
    roles = sorted({h.role for h in hops}, key=list(COLORS).index)
    handles = [Patch(color=COLORS[r], label=r) for r in roles]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=L4_HATCH, label="L4 hop (connection)"),
                Patch(facecolor="white", edgecolor="black", linewidth=1.6, label="reached over mTLS")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_title(title or f"one request, hop by hop ({len(hops)} hops)", fontsize=10)
    return fig


def latency_figure(compare_result: dict) -> Figure:
    """p50 / p90 / p99 per mode (bars, with the added latency over no mesh written on them), and
    how many requests each is measured over."""
    modes = list(compare_result)
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    qs, hatches = ("p50", "p90", "p99"), ("", "..", "xx")
    width = 0.8 / len(qs)
    for j, q in enumerate(qs):
        for i, m in enumerate(modes):
            r = compare_result[m]
            v = r["latency_ms"][q]
            x = i + (j - 1) * width
            ax.bar(x, v, width, color=MODE_COLORS.get(m, "#56B4E9"), hatch=hatches[j], edgecolor="black", linewidth=0.5)
            added = r.get("added_latency_ms", {}).get(q)
            if added is not None and m != "none":
                ax.text(x, v, f"+{added:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(modes)),
                  [f"{m}\n(n={compare_result[m]['requests']['sent']})" for m in modes])
    ax.set_ylabel("latency of the whole request (ms, measured)")
    ax.set_title("latency by data plane: p50 / p90 / p99, '+' = added over no mesh", fontsize=10)
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=h, label=q) for q, h in zip(qs, hatches)],
              fontsize=8, loc="upper left")
    return fig


def cost_figure(compare_result: dict) -> Figure:
    """What the proxies cost per mode: how many, their memory (USS), their CPU per 1000 requests."""
    modes = list(compare_result)
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    panels = (("proxy processes", lambda r: r["proxy_count"]),
              ("proxy memory, USS (MB)", lambda r: r["proxy_uss_mb"]),
              ("proxy CPU s per 1000 requests", lambda r: r["proxy_cpu_s_per_1000_requests"]))
    for k, (title, f) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        vals = [f(compare_result[m]) for m in modes]
        ax.bar(range(len(modes)), vals, color=[MODE_COLORS.get(m, "#56B4E9") for m in modes],
               edgecolor="black", linewidth=0.5)
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(modes)), modes, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle("what the mesh costs here (measured with psutil at this lab's size)", fontsize=10)
    return fig


def topology_figure(topo, mesh: dict, path: Path | None = None, title: str | None = None) -> Figure:
    """The cluster as boxes — one per node, holding its pods; each pod's sidecar beside it; one
    ztunnel per node at its foot; waypoints as pods of their own — and, when ``path`` is given,
    one request's hops as arrows, each labelled with its time. Arrows reached over mTLS are solid
    and thick, L4 hops dashed, plaintext thin; the arrow's colour is the role of the hop it enters."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    nodes = [n.name for n in topo.nodes]
    pods_by_node = {n: [p for p in topo.pods if p.node == n] for n in nodes}
    rows = max((len(v) for v in pods_by_node.values()), default=1)
    node_w, pod_h, gap = 4.0, 0.8, 0.35
    height = rows * (pod_h + gap) + 1.6
    fig = Figure(figsize=(3.6 * len(nodes) + 1.5, 0.55 * height + 1.5), layout="constrained")
    ax = fig.add_subplot()
    where: dict[str, tuple[float, float]] = {}
    for i, n in enumerate(nodes):
        x0 = i * (node_w + 1.0)
        ax.add_patch(FancyBboxPatch((x0, 0), node_w, height, boxstyle="round,pad=0.05", facecolor="#F2F2F2",
                                    edgecolor="#666666"))
        ax.text(x0 + 0.1, height - 0.35, f"node {n}", fontsize=9, weight="bold")
        for k, p in enumerate(pods_by_node[n]):
            y = height - 1.0 - k * (pod_h + gap) - pod_h
            m = mesh.get(p.name)
            role = "waypoint" if m == "waypoint" else ("client" if p.app.kind == "client" else "app")
            w_app = 2.4 if m == "sidecar" else 3.6
            ax.add_patch(FancyBboxPatch((x0 + 0.2, y), w_app, pod_h, boxstyle="round,pad=0.02",
                                        facecolor=COLORS[role], edgecolor="black", linewidth=0.5, alpha=0.85))
            ax.text(x0 + 0.3, y + pod_h / 2, p.name, va="center", fontsize=7, color="white", weight="bold")
            where[p.name] = (x0 + 0.2 + w_app / 2, y + pod_h / 2)
            if m == "sidecar":
                ax.add_patch(FancyBboxPatch((x0 + 2.7, y), 1.1, pod_h, boxstyle="round,pad=0.02",
                                            facecolor=COLORS["sidecar"], edgecolor="black", linewidth=0.5))
                ax.text(x0 + 3.25, y + pod_h / 2, "sidecar", ha="center", va="center", fontsize=6)
                where[f"{p.name}/istio-proxy"] = (x0 + 3.25, y + pod_h / 2)
        if any(mesh.get(p.name) == "ambient" for p in pods_by_node[n]):
            ax.add_patch(FancyBboxPatch((x0 + 0.2, 0.15), 3.6, 0.55, boxstyle="round,pad=0.02",
                                        facecolor=COLORS["ztunnel"], edgecolor="black", linewidth=0.5,
                                        hatch=L4_HATCH))
            ax.text(x0 + 2.0, 0.42, f"ztunnel-{n} (L4)", ha="center", va="center", fontsize=7,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            where[f"ztunnel-{n}"] = (x0 + 2.0, 0.42)
    if path is not None:
        parents: list[int | None] = []
        for i, h in enumerate(path.hops):
            parents.append(next((j for j in range(i - 1, -1, -1) if path.hops[j].depth == h.depth - 1), None))
        for i, h in enumerate(path.hops):
            j = parents[i]
            if j is None or h.name not in where or path.hops[j].name not in where:
                continue
            a, b = where[path.hops[j].name], where[h.name]
            fan = ((i % 7) - 3) * 0.45               # arrows into and out of a ztunnel fan out
            if path.hops[j].name.startswith("ztunnel-"):
                a = (a[0] + fan, a[1])
            if h.name.startswith("ztunnel-"):
                b = (b[0] + fan, b[1])
            style = dict(linewidth=2.2 if h.mtls else 1.0, linestyle="--" if h.layer == "L4" else "-",
                         color=COLORS.get(h.role, "black"))
            rad = 0.25 if a[0] <= b[0] else -0.25
            ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, shrinkA=4, shrinkB=4,
                                         connectionstyle=f"arc3,rad={rad}", **style))
            mx, my = a[0] + 0.65 * (b[0] - a[0]), a[1] + 0.65 * (b[1] - a[1])
            ax.text(mx, my, f"{h.ms:.1f} ms", fontsize=6, ha="center",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
    ax.set_xlim(-0.3, len(nodes) * (node_w + 1.0) - 0.7)
    ax.set_ylim(-0.2, height + 0.2)
    ax.set_axis_off()
    from matplotlib.lines import Line2D
    handles = [Patch(color=COLORS[r], label=r) for r in ("client", "app", "sidecar", "ztunnel", "waypoint")]
    handles += [Line2D([], [], color="black", linewidth=2.2, label="hop reached over mTLS"),
                Line2D([], [], color="black", linewidth=1.0, label="plaintext hop"),
                Line2D([], [], color="black", linestyle="--", label="L4 hop (ztunnel)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_title(title or f"{topo.name}: nodes, pods and proxies" + (", one request's path" if path else ""),
                 fontsize=10)
    return fig


RUN_STYLES = ("-", "--", "-.", ":")


def runs_figure(runs: list[dict], title: str | None = None) -> Figure:
    """Latency after each change a learner made: one CDF per run of requests, newest last, each
    labelled with the change, its p50 / p99 and how many requests succeeded. ``runs`` are
    ``{"label", "latencies_ms", "ok", "sent"}`` (failed requests count in ``sent`` only; their
    latency is drawn too, since a timeout's or a fault's latency is the point)."""
    import numpy as np
    palette = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.add_subplot()
    newest = max((i for i, r in enumerate(runs) if len(r["latencies_ms"])), default=-1)
    for i, run in enumerate(runs):
        lat = np.sort(np.asarray(run["latencies_ms"], dtype=float))
        if not len(lat):
            continue
        y = np.arange(1, len(lat) + 1) / len(lat)
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        ax.step(lat, y, where="post", color=palette[i % len(palette)], linestyle=RUN_STYLES[i % len(RUN_STYLES)],
                linewidth=2.0 if i == newest else 1.2,
                label=f"{run['label']}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {run['ok']}/{run['sent']} ok")
    ax.set_xscale("log")
    ax.set_xlabel("latency of the whole request (ms, measured; log scale)")
    ax.set_ylabel("share of requests at most this slow")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    if runs:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "latency after each change (one line per run, newest thickest)", fontsize=10)
    return fig


def cost_scaling_figure(compare_result: dict, pods: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000),
                        pods_per_node: float | None = None) -> Figure:
    """Total proxy memory (USS) per mode as the mesh grows to N application pods: the lab's own
    size as a measured point (filled marker), larger meshes extrapolated from it (dashed lines,
    hollow markers, "extrapolated" in the legend) by :func:`meshlab.telemetry.cost.scaled` — a
    sidecar per pod, a ztunnel per node (``pods_per_node``; None: the lab's own ratio), the
    lab's waypoints as they are."""
    from .telemetry.cost import scaled
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    markers = {"none": "o", "sidecar": "s", "ambient": "^", "ambient+waypoint": "D"}
    for mode, r in compare_result.items():
        if not r.get("proxies"):
            continue
        color, marker = MODE_COLORS.get(mode, "#56B4E9"), markers.get(mode, "o")
        here = r.get("pods")                      # older results do not say: no measured point then
        measured = round(sum(p["uss_mb"] for p in r["proxies"]), 1)
        xs = sorted({*pods, *([here] if here else [])})
        ys = [scaled(r, n, pods_per_node)["uss_mb"] for n in xs]
        ax.plot(xs, ys, linestyle="--", color=color, marker=marker, markerfacecolor="white", markersize=5,
                label=f"{mode}: extrapolated ({scaled(r, max(pods), pods_per_node)['proxies']} proxies at {max(pods)} pods)")
        if here:
            ax.plot([here], [measured], linestyle="none", color=color, marker=marker, markersize=9,
                    markeredgecolor="black", label=f"{mode}: measured here, {here} pods, {measured:g} MB")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("application pods in the mesh")
    ax.set_ylabel("total proxy memory, USS (MB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    any_mode = next(iter(compare_result.values()), {})
    ppn = pods_per_node or (any_mode.get("pods", 0) / any_mode.get("nodes", 1) if any_mode.get("nodes") else None)
    ax.set_title("proxy memory as the mesh grows: filled = measured at this lab's size; dashed, hollow = "
                 f"extrapolated\n(a sidecar per pod, a ztunnel per node of {f'{ppn:g}' if ppn else '?'} pods, waypoints as in the lab; "
                 "ignores config growth)", fontsize=9)
    return fig
