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
            note += f", {h.error}"
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
