"""A recording as one self-contained HTML page: ``meshlab report FILE -o run.html``.

Every figure is embedded as PNG data (``data:`` URLs) and the page has no script, font, style
sheet or image from anywhere else, so it opens offline, from a mail attachment or a USB stick.
Like the replay it draws from, it needs no lab (:mod:`meshlab.replay`).
"""

from __future__ import annotations

import base64
import html

from . import replay, viz
from .telemetry.stats import min_samples

STYLE = (
    "body{font-family:sans-serif;max-width:1150px;margin:1em auto;padding:0 1em;color:#222}"
    "img{max-width:100%;height:auto;display:block;margin:.5em 0 1.5em}"
    "table{border-collapse:collapse;font-size:90%}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}"
    ".label{background:#FFF4D6;padding:.4em .8em;border-left:4px solid #E69F00}"
    "pre{background:#F4F4F4;padding:.6em;overflow-x:auto;font-size:85%}"
)


def _img(fig, alt: str) -> str:
    data = base64.b64encode(viz.figure_png(fig)).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _esc(s) -> str:
    return html.escape(str(s), quote=False)


def _summary(run: replay.RecordedRun) -> str:
    s = run.result.summary()
    r, lat = s["requests"], s["latency_ms"]
    rows = [
        ("topology · data plane", f"{run.topology.name} · {run.data_plane}"),
        ("from → url", f"{run.result.source} → {run.result.url}"),
        (
            "requests",
            f"{r['sent']} sent, {r['ok']} ok, {r['failed']} failed; by status "
            + ", ".join(f"{k}: {v}" for k, v in sorted(r["by_status"].items())),
        ),
        (
            "latency (ms)",
            "-"
            if not lat["count"]
            else f"p50 {lat['p50']:.2f} · p90 {lat['p90']:.2f} · "
            + (
                f"p99 {lat['p99']:.2f}"
                if lat["count"] >= min_samples(99)
                else f"p99: too few requests (n<{min_samples(99)})"
            )
            + f" · max {lat['max']:.2f}",
        ),
        (
            "paths",
            "; ".join(f"{g['count']} × " + " → ".join(h["name"] for h in g["hops"]) for g in s["paths"][:3])
            or "none recorded",
        ),
    ]
    return "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows) + "</table>"


def report_html(rec: replay.Recording) -> str:
    """The page: the label (where and when it was recorded), then per run its summary, the path of
    its slowest successful request on the topology and as a waterfall, the policies in force; then
    latency across the runs and, where a run has no mesh to compare with, cost."""
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>meshlab recording: {_esc(rec.meta['what'] or rec.source)}</title><style>{STYLE}</style></head><body>",
        f"<h1>meshlab recording</h1><p class='label'><b>{_esc(rec.label)}</b></p>",
    ]
    if rec.meta["what"]:
        out.append(f"<p>{_esc(rec.meta['what'])}</p>")
    for i, run in enumerate(rec.runs):
        out.append(f"<h2>{i + 1}. {_esc(run.label)}</h2>" + _summary(run))
        path = run.path("slowest ok")
        if path is not None:
            out.append(
                _img(
                    viz.topology_figure(
                        run.topology,
                        run.mesh,
                        path,
                        title=f"{run.label}: the slowest successful request's path",
                    ),
                    f"{run.label}: path on the topology",
                )
            )
            out.append(
                _img(
                    viz.path_figure(path, title=f"{run.label}: the slowest successful request, hop by hop"),
                    f"{run.label}: waterfall",
                )
            )
        if run.policies.strip():
            out.append(
                f"<details><summary>Istio policies in force</summary><pre>{_esc(run.policies)}</pre></details>"
            )
    out.append("<h2>Latency across the runs</h2>")
    out.append(
        _img(
            viz.runs_figure(rec.latency_runs(), title="latency of every run (one line per run)"),
            "latency per run",
        )
    )
    cmp_ = rec.compare()
    if len(cmp_) > 1:
        out.append(_img(viz.latency_figure(cmp_), "latency by run: p50, p90, p99"))
    if any(r["proxies"] for r in cmp_.values()):
        out.append("<h2>What the proxies cost</h2>")
        out.append(_img(viz.cost_figure(cmp_), "proxy count, memory and CPU by run"))
    out.append(
        f"<p><small>{_esc(rec.label)}. Drawn from {_esc(rec.source)} by meshlab's report; "
        "every number was measured on the machine named above.</small></p></body></html>"
    )
    return "\n".join(out)


def write_report(recording, out) -> int:
    """Write :func:`report_html` of the recording at ``recording`` to ``out``; returns how many figures."""
    from pathlib import Path

    rec = replay.load(recording)
    text = report_html(rec)
    Path(out).write_text(text)
    return text.count("<img ")
