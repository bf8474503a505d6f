"""Latency: p50 / p90 / p99 by data plane with what each added over no mesh, and one CDF per run."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .style import MODE_COLORS, _figure, plain_log_ticks


def latency_figure(compare_result: dict) -> Figure:
    """p50 / p90 / p99 per mode (bars), how many requests each is measured over, and on each bar
    what the mode added over no mesh: the difference with its bootstrap interval, "≈0" where the
    interval includes 0 (this run cannot tell the two apart), "n<500" where a percentile has too
    few requests behind it (:func:`meshlab.telemetry.stats.added_latency`; the method is written
    under the plot). Results without latency samples (older ones) show the bare difference."""
    from ..telemetry.stats import METHOD, added_cell

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
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("latency of the whole request (ms, measured; log scale)")
    ax.set_ylabel("share of requests at most this slow")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    if runs:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "latency after each change (one line per run, newest thickest)", fontsize=10)
    return fig
