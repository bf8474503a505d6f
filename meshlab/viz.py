"""Plots of what the lab measured: one request's waterfall, latency and cost across modes.

Every function takes results (no lab needed, so recorded runs replay) and returns a matplotlib
``Figure``; nothing here needs Jupyter or pyplot. Colours are the Okabe–Ito palette, which
colour-blind readers can tell apart, and every encoding is doubled by a pattern or a label.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .telemetry.paths import Hop, Path
from .modes import DATA_PLANES, PROXY_ROLES

#: Okabe–Ito colours per role.
COLORS = {
    "client": "#999999",
    "app": "#0072B2",
    "sidecar": "#E69F00",
    "ztunnel": "#009E73",
    "waypoint": "#CC79A7",
    "unreached": "#D55E00",
}
#: one colour and marker per data plane (meshlab.modes.DATA_PLANES, in order)
MODE_COLORS = dict(zip(map(str, DATA_PLANES), ("#999999", "#E69F00", "#009E73", "#CC79A7")))
MODE_MARKERS = dict(zip(map(str, DATA_PLANES), ("o", "s", "^", "D")))
L4_HATCH = "///"


def _figure_png(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # one render: the figures lay themselves out (constrained)
    return buf.getvalue()


def show_figures_in_jupyter() -> bool:
    """Make IPython draw a ``Figure`` as a PNG. meshlab draws without pyplot, and without pyplot
    nothing tells IPython how to show a figure: a notebook would print ``<Figure size 1000x328
    with 1 Axes>`` instead of the plot. Called by a notebook's :func:`meshlab.exercises.session` and
    whenever a plot here is made (not on import); leaves a formatter the learner set
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


def _figure(**kw) -> Figure:
    """A new Figure, which IPython (when this runs in it) knows how to show."""
    show_figures_in_jupyter()
    return Figure(**kw)


def shown_interval(h: Hop, request: Hop) -> tuple[float, float, str | None]:
    """The part of hop ``h`` that belongs to ``request`` (the path's first hop), and what to say
    about the rest. An L4 hop's span is its connection's, which a kept-alive or pooled connection
    opens before the request and keeps after it: only the part that carried this request's call
    is shown (:attr:`Hop.for_request`), and the note gives the connection's lifetime. Nothing is
    drawn outside the request's own start and end."""
    start, end = h.for_request
    start, end = min(max(start, request.start), request.end), min(end, request.end)
    end = max(start, end)
    clipped = start > h.start + 1e-9 or end < h.end - 1e-9
    if h.per == "connection":
        note = f"connection open {h.ms:.1f} ms" if clipped else None
    else:
        note = f"ran {h.ms:.1f} ms in all, past the request's end" if clipped else None
    return start, end, note


def _room_for_notes(fig: Figure, ax, notes: list, least: float) -> float:
    """The x limit at which every note, written after its bar's end, ends inside the axes (so the
    figure keeps its width: a note past the axes widened the saved image beyond a notebook's
    output area, which cut it off)."""
    for t in notes:
        t.set_in_layout(False)  # else the layout shrinks the axes to make room for them
    limit = least
    for _ in range(3):  # the layout moves the axes once the limit changes: settle
        ax.set_xlim(0, limit)
        fig.draw_without_rendering()  # lay out: the axes' width and each note's, in pixels
        width = ax.get_window_extent().width
        need = least
        for t in notes:
            w = t.get_window_extent().width * 1.03
            if w < width * 0.9:  # a note wider than most of the axes cannot fit: let it be
                need = max(need, t.get_position()[0] * width / (width - w))
        if need <= limit:
            break
        limit = need
    return limit


def path_figure(path: Path, title: str | None = None) -> Figure:
    """A waterfall of one request: a bar per hop over time (ms from the first byte the client
    sent), indented by depth; L4 hops hatched; hops reached over mutual TLS outlined in black and
    labelled with the identity they saw; retries labelled with their attempt.

    Every bar lies within the request's own start and end. An L4 hop (a ztunnel) handles
    connections, not requests, and a kept-alive connection can outlive the request by seconds:
    its bar is the part of the connection that carried this request, and its label says how long
    the connection was open (see :func:`shown_interval`)."""
    hops = path.hops
    t0 = hops[0].start if hops else 0.0
    fig = _figure(figsize=(9, 0.42 * len(hops) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    notes = []
    for i, h in enumerate(hops):
        y = len(hops) - 1 - i
        start, end, about = shown_interval(h, hops[0])
        ms = (end - start) * 1000
        ax.barh(
            y,
            ms,
            left=(start - t0) * 1000,
            color=COLORS.get(h.role, "#56B4E9"),
            hatch=L4_HATCH if h.layer == "L4" else None,
            edgecolor="black" if h.mtls else "white",
            linewidth=1.6 if h.mtls else 0.5,
        )
        label = "   " * h.depth + h.name + (f" ({h.direction})" if h.direction else "")
        ax.text(-0.01, y, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8)
        note = f"{ms:.2f} ms"
        if about:
            note += f" ({about})"
        if h.attempt > 1:
            note += f", attempt {h.attempt}"
        if h.mtls:
            note += f", mTLS from {h.identity.rsplit('/sa/', 1)[-1] if h.identity else '?'}"
        if h.status is not None:
            note += f", {h.status}"
        elif h.error:
            note += f", {h.error if len(h.error) <= 60 else h.error[:57] + '...'}"  # long RBAC reasons
        notes.append(ax.text((end - t0) * 1000, y, "  " + note, va="center", fontsize=7))
    ax.set_yticks([])
    ax.set_xlabel("time since the client started the request (ms, measured)")
    ax.set_xlim(0, _room_for_notes(fig, ax, notes, (hops[0].ms if hops else 1) * 1.15))
    roles = sorted({h.role for h in hops}, key=list(COLORS).index)
    handles = [Patch(color=COLORS[r], label=r) for r in roles]
    if any(h.layer == "L4" for h in hops):  # (the key names only what the plot shows)
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch=L4_HATCH,
                label="L4 hop: its connection, while it carried this request",
            )
        )
    if any(h.mtls for h in hops):
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=1.6, label="reached over mTLS"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False)
    ax.set_title(title or f"one request, hop by hop ({len(hops)} hops)", fontsize=10)
    return fig


def latency_figure(compare_result: dict) -> Figure:
    """p50 / p90 / p99 per mode (bars), how many requests each is measured over, and on each bar
    what the mode added over no mesh: the difference with its bootstrap interval, "≈0" where the
    interval includes 0 (this run cannot tell the two apart), "n<500" where a percentile has too
    few requests behind it (:func:`meshlab.telemetry.stats.added_latency`; the method is written
    under the plot). Results without latency samples (older ones) show the bare difference."""
    from .telemetry.stats import METHOD, added_cell

    modes = list(compare_result)
    fig = _figure(figsize=(9, 4.6), layout="constrained")
    ax = fig.add_subplot()
    qs, hatches = ("p50", "p90", "p99"), ("", "..", "xx")
    width = 0.8 / len(qs)
    top = max((compare_result[m]["latency_ms"][q] or 0) for m in modes for q in qs)
    for j, q in enumerate(qs):
        for i, m in enumerate(modes):
            r = compare_result[m]
            v = r["latency_ms"][q]
            x = i + (j - 1) * width
            ax.bar(
                x,
                v,
                width,
                color=MODE_COLORS.get(m, "#56B4E9"),
                hatch=hatches[j],
                edgecolor="black",
                linewidth=0.5,
            )
            if m == "none":
                continue
            text = added_cell(r, q)
            if text is None:
                continue
            ax.text(x, v + top * 0.015, text, ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_ylim(0, top * 1.5)
    ax.set_xticks(range(len(modes)), [f"{m}\n(n={compare_result[m]['requests']['sent']})" for m in modes])
    ax.set_ylabel("latency of the whole request (ms, measured)")
    ax.set_title(
        "latency by data plane: p50 / p90 / p99; on the bars, ms added over no mesh [95% interval]",
        fontsize=10,
    )
    ax.legend(
        handles=[Patch(facecolor="white", edgecolor="black", hatch=h, label=q) for q, h in zip(qs, hatches)],
        fontsize=8,
        loc="upper left",
    )
    import textwrap

    fig.supxlabel(textwrap.fill("Added over no mesh: " + METHOD + ".", 150), fontsize=7)
    return fig


def cost_figure(compare_result: dict) -> Figure:
    """What the proxies cost per mode: how many, their memory (USS), their CPU per 1000 requests."""
    modes = list(compare_result)
    fig = _figure(figsize=(10, 3.4), layout="constrained")
    panels = (
        ("proxy processes", lambda r: r["proxy_count"]),
        ("proxy memory, USS (MB)", lambda r: r["proxy_uss_mb"]),
        ("proxy CPU s per 1000 requests", lambda r: r["proxy_cpu_s_per_1000_requests"]),
    )
    for k, (title, f) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        vals = [f(compare_result[m]) for m in modes]
        ax.bar(
            range(len(modes)),
            vals,
            color=[MODE_COLORS.get(m, "#56B4E9") for m in modes],
            edgecolor="black",
            linewidth=0.5,
        )
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(modes)), modes, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle("what the mesh costs here (measured with psutil at this lab's size)", fontsize=10)
    return fig


#: The topology map's layout, in data units (drawn at TOPO_INCH inches each): a corridor beside the
#: pod column on both sides, where arrows run; pods in rows; a node's ztunnel across its foot.
TOPO_INCH, SIDE, COL, POD_H, ROW, SIDECAR_W, ZT_Y, ZT_H = 0.55, 0.75, 4.0, 0.7, 1.25, 1.1, 0.55, 0.55
SIDECAR_GAP, ZT_GAP = 0.9, 0.9  # room for the arrows between a pod and its sidecar, or its ztunnel
NODE_GAP, KEY_INCH = 1.3, 3.7


def topology_figure(topo, mesh: dict, path: Path | None = None, title: str | None = None) -> Figure:
    """The cluster as boxes — one per node, holding its pods; each pod's sidecar beside it; one
    ztunnel per node at its foot; waypoints as pods of their own — and, when ``path`` is given,
    one request's hops as numbered arrows, routed around every box they do not connect; the key
    beside the map gives each step's hop and time. Arrows reached over mTLS are thick, L4 hops
    dashed, plaintext thin; the arrow's colour is the role of the hop it enters. Labels are placed
    where they overlap no other label and no box name (checked on the rendered text)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    from .viz_layout import Box, Router, first_free, points_along

    nodes = [n.name for n in topo.nodes]
    pods_by_node = {n: [p for p in topo.pods if p.node == n] for n in nodes}
    rows = max((len(v) for v in pods_by_node.values()), default=1)
    node_w = 2 * SIDE + COL
    ztunnels = {n for n in nodes if any(mesh.get(p.name) == "ambient" for p in pods_by_node[n])}
    height = 0.85 + (rows - 1) * ROW + POD_H + (ZT_Y + ZT_H + ZT_GAP if ztunnels else 0.6)
    width = len(nodes) * node_w + (len(nodes) - 1) * NODE_GAP
    xlim, ylim = (-0.9, width + 0.9), (-0.6, height + 0.15)
    steps = _map_steps(path) if path is not None else []
    key_lines = sum(2 if s["note"] else 1 for s in steps)
    map_w, map_h = (xlim[1] - xlim[0]) * TOPO_INCH, (ylim[1] - ylim[0]) * TOPO_INCH
    fig_w = map_w + KEY_INCH + 0.2
    fig_h = max(map_h + 0.45, 0.45 + 1.45 + (0.16 * (key_lines + 1) + 0.1 if steps else 0))
    fig = _figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)  # a renderer, to measure labels as they will be drawn
    ax = fig.add_axes((0.1 / fig_w, (fig_h - 0.4 - map_h) / fig_h, map_w / fig_w, map_h / fig_h))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_axis_off()

    boxes: list[Box] = []
    names = []  # the Text of every box's name: labels keep off them
    blocked = []  # the node titles: arrows keep off them

    def box(name, x, y, w, h, **style):
        patch = FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.02", edgecolor="black", linewidth=0.5, **style
        )
        patch.set_gid(name)
        ax.add_patch(patch)
        boxes.append(Box(name, (x, y, x + w, y + h)))

    for i, n in enumerate(nodes):
        x0 = i * (node_w + NODE_GAP)
        ax.add_patch(
            FancyBboxPatch(
                (x0, 0), node_w, height, boxstyle="round,pad=0.05", facecolor="#F2F2F2", edgecolor="#666666"
            )
        )
        names.append(ax.text(x0 + 0.15, height - 0.4, f"node {n}", fontsize=9, weight="bold", va="center"))
        blocked.append((x0, height - 0.7, x0 + node_w, height))
        for k, p in enumerate(pods_by_node[n]):
            y = height - 0.85 - k * ROW - POD_H
            m = mesh.get(p.name)
            role = "waypoint" if m == "waypoint" else ("client" if p.app.kind == "client" else "app")
            w_app = COL - SIDECAR_W - SIDECAR_GAP if m == "sidecar" else COL
            box(p.name, x0 + SIDE, y, w_app, POD_H, facecolor=COLORS[role], alpha=0.85)
            names.append(
                ax.text(
                    x0 + SIDE + 0.12,
                    y + POD_H / 2,
                    p.name,
                    va="center",
                    fontsize=7,
                    color="white",
                    weight="bold",
                )
            )
            if m == "sidecar":
                sx = x0 + SIDE + COL - SIDECAR_W
                box(f"{p.name}/istio-proxy", sx, y, SIDECAR_W, POD_H, facecolor=COLORS["sidecar"])
                names.append(
                    ax.text(
                        sx + SIDECAR_W / 2, y + POD_H / 2, "sidecar", ha="center", va="center", fontsize=6
                    )
                )
        if n in ztunnels:
            box(f"ztunnel-{n}", x0 + SIDE, ZT_Y, COL, ZT_H, facecolor=COLORS["ztunnel"], hatch=L4_HATCH)
            names.append(
                ax.text(
                    x0 + SIDE + COL / 2,
                    ZT_Y + ZT_H / 2,
                    f"ztunnel-{n} (L4)",
                    ha="center",
                    va="center",
                    fontsize=7,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
                )
            )

    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform

    def px_rect(r):
        (a, b), (c, d) = to_px((r[0], r[1])), to_px((r[2], r[3]))
        return (a, b, c, d)

    taken = [tuple(t.get_window_extent(renderer).extents) for t in names]
    box_px = [px_rect(b.rect) for b in boxes]
    router = Router((xlim[0], ylim[0], xlim[1], ylim[1]), boxes, blocked=blocked)
    where = {b.name for b in boxes}
    drawn = []
    for s in steps:
        if s["from"] not in where or s["to"] not in where:
            continue
        pts = router.route(s["from"], s["to"])
        if pts is None:  # no way around (a crowded map): say so, draw nothing
            continue
        h = s["hop"]
        color = COLORS.get(h.role, "black")
        arrow = FancyArrowPatch(
            path=MplPath(pts),
            arrowstyle="-|>",
            mutation_scale=11,
            linewidth=2.0 if h.mtls else 1.0,
            linestyle="--" if h.layer == "L4" else "-",
            color=color,
            joinstyle="miter",
        )
        arrow.set_gid(f"{s['from']} -> {s['to']}")
        ax.add_patch(arrow)
        drawn.append(({**s, "n": len(drawn) + 1}, pts, color))
    arrow_px = [[to_px(p) for p, _ in points_along(pts, 0.1)[0]] for _, pts, _ in drawn]
    for n, (s, pts, color) in enumerate(drawn):
        label = ax.text(
            0,
            0,
            str(s["n"]),
            fontsize=7,
            ha="center",
            va="center",
            weight="bold",
            color="black",
            bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "edgecolor": color, "linewidth": 1.0},
        )
        e = label.get_window_extent(renderer)
        half_w, half_h = e.width / 2 + 3, e.height / 2 + 3  # with the circle around the digits
        along, length = points_along(pts, 0.1)
        inner = [(p, d) for p, d in along if 0.3 < d < length - 0.35] or along
        inner.sort(key=lambda pd: abs(pd[1] - length / 2))
        cands = []
        for p, _ in inner:
            cx, cy = to_px(p)
            cands.append(((cx - half_w, cy - half_h, cx + half_w, cy + half_h), p))
        others = [q for m, a in enumerate(arrow_px) if m != n for q in a]
        on_others = [(x - 1, y - 1, x + 1, y + 1) for x, y in others]
        pick = (
            first_free(cands, taken + box_px + on_others)
            or first_free(cands, taken + box_px)
            or first_free(cands, taken)
            or cands[0]
        )
        label.set_position(pick[1])
        taken.append(pick[0])

    handles = [Patch(color=COLORS[r], label=r) for r in ("client", "app", *PROXY_ROLES)]
    handles += [
        Line2D([], [], color="black", linewidth=2.0, label="hop reached over mTLS"),
        Line2D([], [], color="black", linewidth=1.0, label="plaintext hop"),
        Line2D([], [], color="black", linestyle="--", label="L4 hop (ztunnel)"),
    ]
    legend = ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False
    )
    if drawn:
        top = legend.get_window_extent(renderer).y0 / fig.dpi / fig_h - 0.1 / fig_h
        lines = ["the request, step by step (ms: time the hop spent on it)"]
        for s, _, _ in drawn:
            lines.append(f"{s['n']:>2}  → {s['to']}{s['dir']}  {s['ms']}")
            if s["note"]:
                lines.append(f"      {s['note']}")
        fig.text(
            (map_w + 0.25) / fig_w,
            top,
            "\n".join(lines),
            va="top",
            fontsize=7,
            family="monospace",
            linespacing=1.35,
        )
    ax.set_title(
        title or f"{topo.name}: nodes, pods and proxies" + (", one request's path" if path else ""),
        fontsize=10,
    )
    return fig


def _map_steps(path: Path) -> list[dict]:
    """The hops of ``path`` as arrows of the map: from the hop's caller to the hop, numbered in order,
    with the time to print (an L4 hop's share of this request, and its connection's lifetime)."""
    hops = path.hops
    out = []
    for i, h in enumerate(hops):
        j = next((j for j in range(i - 1, -1, -1) if hops[j].depth == h.depth - 1), None)
        if j is None:
            continue
        start, end, note = shown_interval(h, hops[0])
        ms = f"{(end - start) * 1000:.1f} ms"
        out.append(
            {
                "from": hops[j].name,
                "to": h.name,
                "hop": h,
                "dir": f" ({h.direction})" if h.direction else "",
                "ms": ms,
                "note": note,
            }
        )
    return out


RUN_STYLES = ("-", "--", "-.", ":")


def runs_figure(runs: list[dict], title: str | None = None) -> Figure:
    """Latency after each change a learner made: one CDF per run of requests, newest last, each
    labelled with the change, its p50 / p99 and how many requests succeeded. ``runs`` are
    ``{"label", "latencies_ms", "ok", "sent"}`` (failed requests count in ``sent`` only; their
    latency is drawn too, since a timeout's or a fault's latency is the point)."""
    import numpy as np

    palette = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")
    fig = _figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.add_subplot()
    newest = max((i for i, r in enumerate(runs) if len(r["latencies_ms"])), default=-1)
    for i, run in enumerate(runs):
        lat = np.sort(np.asarray(run["latencies_ms"], dtype=float))
        if not len(lat):
            continue
        y = np.arange(1, len(lat) + 1) / len(lat)
        p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
        ax.step(
            lat,
            y,
            where="post",
            color=palette[i % len(palette)],
            linestyle=RUN_STYLES[i % len(RUN_STYLES)],
            linewidth=2.0 if i == newest else 1.2,
            label=f"{run['label']}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {run['ok']}/{run['sent']} ok",
        )
    ax.set_xscale("log")
    ax.set_xlabel("latency of the whole request (ms, measured; log scale)")
    ax.set_ylabel("share of requests at most this slow")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    if runs:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "latency after each change (one line per run, newest thickest)", fontsize=10)
    return fig


def cost_scaling_figure(
    compare_result: dict,
    pods: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000),
    pods_per_node: float | None = None,
) -> Figure:
    """Total proxy memory (USS) per mode as the mesh grows to N application pods: the lab's own
    size as a measured point (filled marker), larger meshes extrapolated from it (dashed lines,
    hollow markers, "extrapolated" in the legend) by :func:`meshlab.telemetry.cost.scaled` — a
    sidecar per pod, a ztunnel per node (``pods_per_node``; None: the lab's own ratio), the
    lab's waypoints as they are."""
    from .telemetry.cost import scaled

    fig = _figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    for mode, r in compare_result.items():
        if not r.get("proxies"):
            continue
        color, marker = MODE_COLORS.get(mode, "#56B4E9"), MODE_MARKERS.get(mode, "o")
        here = r.get("pods")  # older results do not say: no measured point then
        measured = round(sum(p["uss_mb"] for p in r["proxies"]), 1)
        xs = sorted({*pods, *([here] if here else [])})
        ys = [scaled(r, n, pods_per_node)["uss_mb"] for n in xs]
        ax.plot(
            xs,
            ys,
            linestyle="--",
            color=color,
            marker=marker,
            markerfacecolor="white",
            markersize=5,
            label=f"{mode}: extrapolated "
            f"({scaled(r, max(pods), pods_per_node)['proxies']} proxies at {max(pods)} pods)",
        )
        if here:
            ax.plot(
                [here],
                [measured],
                linestyle="none",
                color=color,
                marker=marker,
                markersize=9,
                markeredgecolor="black",
                label=f"{mode}: measured here, {here} pods, {measured:g} MB",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("application pods in the mesh")
    ax.set_ylabel("total proxy memory, USS (MB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    any_mode = next(iter(compare_result.values()), {})
    ppn = pods_per_node or (
        any_mode.get("pods", 0) / any_mode.get("nodes", 1) if any_mode.get("nodes") else None
    )
    ax.set_title(
        "proxy memory as the mesh grows: filled = measured at this lab's size; dashed, hollow = "
        "extrapolated\n"
        f"(a sidecar per pod, a ztunnel per node of {f'{ppn:g}' if ppn else '?'} pods, waypoints as in the lab; "
        "ignores config growth)",
        fontsize=9,
    )
    return fig
