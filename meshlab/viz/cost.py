"""What the proxies cost: count, memory and CPU by data plane, and memory extrapolated to N pods."""

from __future__ import annotations

from matplotlib.figure import Figure

from .style import MODE_COLORS, MODE_MARKERS, _figure, plain_log_ticks


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
    from ..telemetry.cost import scaled

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
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
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
