"""The topology map: nodes, pods, sidecars, ztunnels and waypoints as boxes, and one request's hops as
numbered arrows routed around them (the geometry is :mod:`meshlab.viz_layout`'s)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..modes import PROXY_ROLES
from ..telemetry.paths import RequestPath
from .style import COLORS, L4_HATCH, _figure
from .waterfall import shown_interval

#: The topology map's layout, in data units (drawn at TOPO_INCH inches each): a corridor beside the
#: pod column on both sides, where arrows run; pods in rows; a node's ztunnel across its foot.
TOPO_INCH, SIDE, COL, POD_H, ROW, SIDECAR_W, ZT_Y, ZT_H = 0.55, 0.75, 4.0, 0.7, 1.25, 1.1, 0.55, 0.55
SIDECAR_GAP, ZT_GAP = 0.9, 0.9  # room for the arrows between a pod and its sidecar, or its ztunnel
NODE_GAP, KEY_INCH = 1.3, 4.2


def topology_figure(topo, mesh: dict, path: RequestPath | None = None, title: str | None = None) -> Figure:
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

    from ..viz_layout import Box, Router, first_free, points_along

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
    fig_h = max(map_h + 0.45, 0.45 + 1.6 + (0.18 * (key_lines + 1) + 0.1 if steps else 0))
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
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False
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
            fontsize=8,
            family="monospace",
            linespacing=1.35,
        )
    ax.set_title(
        title or f"{topo.name}: nodes, pods and proxies" + (", one request's path" if path else ""),
        fontsize=10,
    )
    return fig


def _map_steps(path: RequestPath) -> list[dict]:
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
