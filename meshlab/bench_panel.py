"""``meshlab bench panel``: the notebook loop a learner feels, timed through the control panel.

Apart from :mod:`meshlab.bench` because it drives the widgets (:mod:`meshlab.widgets`, so
ipywidgets): the rest of the CLI runs without them, and only this command imports them.
"""

from __future__ import annotations

import json
import statistics
import time


def bench_panel(repeat: int = 5, requests: int = 200, as_json: bool = False) -> int:
    """The notebook loop a learner feels: apply one change from the control panel, send
    ``requests`` requests, redraw the plots (the path and the latency of every run, rendered to
    PNG as Jupyter would). Two changes, each timed: toggling a waypoint for reviews (a new proxy
    process, every ztunnel told) and toggling a VirtualService with retries and a timeout for
    reviews (a policy push). Baseline, in the same run: the same send + redraw, no change."""
    import io
    from .lab import Lab
    from .widgets import ControlPanel

    def render(panel):
        for fig in (panel.last_figure, panel.runs_figure):
            fig.savefig(io.BytesIO(), format="png")

    def toggle_waypoint(panel, i):
        panel.waypoints.value = ("reviews",) if i % 2 == 0 else ()

    def toggle_policy(panel, i):
        panel.timeout.value = 2.0 if i % 2 == 0 else 0  # one change: a VirtualService comes or goes

    changes = {
        "waypoint": ("toggle a waypoint for reviews", toggle_waypoint),
        "policy": ("toggle a VirtualService (timeout) for reviews", toggle_policy),
    }
    results = {}
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        panel = ControlPanel(lab)
        panel.auto_send.value = False
        panel.requests.value = requests
        panel.service.value = ("default", "reviews")
        panel._on_send()  # warm: connections, imports, fonts
        for key, (what, change) in changes.items():
            if key == "policy":
                panel.waypoints.value = ("reviews",)  # L7 policy in ambient needs the waypoint
            rows = []
            for i in range(repeat):
                t0 = time.monotonic()
                change(panel, i)
                t1 = time.monotonic()
                panel._on_send()
                t2 = time.monotonic()
                render(panel)
                t3 = time.monotonic()
                panel._on_send()  # baseline: no change, same work
                render(panel)
                t4 = time.monotonic()
                if panel.last_error:
                    raise RuntimeError(panel.last_error)
                rows.append(
                    {
                        "apply_s": t1 - t0,
                        "send_s": t2 - t1,
                        "redraw_s": t3 - t2,
                        "loop_s": t3 - t0,
                        "baseline_send_and_redraw_s": t4 - t3,
                    }
                )
            med = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
            results[key] = {
                "change": what,
                "median": med,
                "ratio_loop_vs_baseline": round(med["loop_s"] / med["baseline_send_and_redraw_s"], 2),
                "runs": rows,
            }
    out = {
        "benchmark": "panel",
        "topology": "bookinfo",
        "mode": "ambient",
        "requests": requests,
        "repeat": repeat,
        "changes": results,
    }
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"\npanel benchmark · bookinfo ambient · apply a change, send {requests} requests, redraw · "
        f"median of {repeat}"
    )
    for r in results.values():
        med = r["median"]
        print(f"  {r['change']}")
        print(f"    apply the change     {med['apply_s'] * 1000:8.0f} ms")
        print(f"    send {requests} requests     {med['send_s'] * 1000:8.0f} ms")
        print(f"    redraw (PNG)         {med['redraw_s'] * 1000:8.0f} ms")
        print(
            f"    whole loop           {med['loop_s'] * 1000:8.0f} ms   (baseline, no change: "
            f"{med['baseline_send_and_redraw_s'] * 1000:.0f} ms; ratio {r['ratio_loop_vs_baseline']}x)"
        )
    return 0
