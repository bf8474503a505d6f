"""Sidecar or ambient? The same load through every data plane, in one run, measured.

``compare(topology)`` runs the topology's entry load in mode ``none``, ``sidecar``, ``ambient``
and ``ambient`` with a waypoint for every namespace, and reports, per mode, what Istio's
"Sidecar or ambient?" table talks about — with this machine's numbers: hops and L7 processing
steps per service call, latency and what the mesh added over no mesh, how many proxies run,
their memory and their CPU per 1000 requests, and whether every mesh hop was mutual TLS.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

from .modes import DATA_PLANES, MESHED
from .telemetry.report import PROXY_ROLES, QUANTILES, add_added_latency, add_cost, report
from .telemetry.results import LoadResult
from .telemetry.stats import METHOD as ADDED_METHOD, added_cell, describe_added

if TYPE_CHECKING:
    from .lab import Lab

#: (label, mode, waypoints) of each run, from :data:`meshlab.modes.DATA_PLANES`
MODES = tuple((str(d), d.mode.value, "namespace" if d.waypoints else None) for d in DATA_PLANES)


def run_report(lab: "Lab", res: LoadResult) -> dict:
    """What ``meshlab run --json`` prints for one load (and ``compare`` per mode)."""
    if not res.usage:  # a result the lab did not make: its processes as they are now
        res.usage = [{k: v for k, v in u.to_dict().items() if k != "pid"} for u in lab.usage().values()]
    return report(res, lab.facts())


def compare(
    topology: str = "bookinfo",
    requests: int = 300,
    concurrency: int = 4,
    warmup: int = 30,
    backend: str = "loopback",
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> dict:
    from .lab import Lab

    out = {}
    for label, mode, waypoints in MODES:
        log(f"compare: {label} ...")
        with Lab(topology, mode=mode, backend=backend, waypoints=waypoints, verbose=False) as lab:
            lab.load(requests=warmup, concurrency=concurrency, progress=False)  # connections, TLS, caches
            lab.reset()
            res = lab.load(requests=requests, concurrency=concurrency)
            rep = run_report(lab, res)
            rep["latency_samples_ms"] = [round(v, 3) for v in res.latencies_ms()]
        out[label] = add_cost(rep)
    add_added_latency(out)
    return out


#: Two workloads with the same requests: many requests per connection, or a new connection for
#: each (the client asks the server to close it, as Bookinfo's productpage opens one per call).
WORKLOADS = {"keep-alive": [], "new connection per request": [("connection", "close")]}


def proxy_cpu_by_role(lab: Lab) -> dict[str, float]:
    """CPU seconds each proxy role's processes have used so far, summed per role."""
    out: dict[str, float] = {}
    for u in lab.usage().values():
        if u.role in PROXY_ROLES:
            out[u.role] = out.get(u.role, 0.0) + u.cpu_s
    return out


def cost_shape(
    topology: str = "minimal",
    url: str | None = None,
    requests: int = 400,
    concurrency: int = 4,
    backend: str = "loopback",
) -> dict:
    """Proxy CPU per request, by mode and workload: what a sidecar's cost grows with (requests: it
    parses every one) against what a ztunnel's grows with (connections: it never parses HTTP).
    Returns ``{mode: {workload: {"cpu_us_per_request": µs, "by_role": {role: µs}, "ok": n}}}``."""
    from .lab import Lab

    out: dict = {}
    for mode in MESHED:
        with Lab(topology, mode=mode, backend=backend, verbose=False) as lab:
            for name, headers in WORKLOADS.items():
                lab.load(
                    url=url,
                    requests=max(20, requests // 10),
                    concurrency=concurrency,
                    headers=headers,
                    progress=False,
                )  # warm
                before = proxy_cpu_by_role(lab)
                res = lab.load(
                    url=url, requests=requests, concurrency=concurrency, headers=headers, progress=False
                )
                after = proxy_cpu_by_role(lab)
                by_role = {r: round((after[r] - before.get(r, 0.0)) / requests * 1e6, 1) for r in after}
                out.setdefault(mode, {})[name] = {
                    "cpu_us_per_request": round(sum(by_role.values()), 1),
                    "by_role": by_role,
                    "ok": res.summary()["requests"]["ok"],
                }
    return out


def _added(r: dict, q: str) -> tuple[str, str]:
    """A mode's added latency at ``q`` as two table cells, one above the other: the estimate
    ("+1.20", "≈0", "needs n≥500") and its interval ("[+0.80..+1.60]", or ""); "-" for none itself.
    Two short cells keep the table narrow enough for a notebook's output area."""
    if r["mode"] == "none":
        return "-", ""
    a = r.get("added_latency", {}).get(q)
    if a is None:
        return added_cell(r, q) or "-", ""
    head, _, ci = describe_added(a, short=True).partition("\n")
    return head, ci.replace(" to ", "..")


def format_table(res: dict) -> str:
    modes = list(res)
    rows = [
        ("proxy hops per call", lambda r: r["proxy_hops_per_call"]),
        ("L7 proxy steps per call", lambda r: r["l7_steps_per_call"]),
        ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"]),
        ("latency p90 (ms)", lambda r: r["latency_ms"]["p90"]),
        ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"]),
        ("added over none, p50 (ms)", lambda r: _added(r, "p50")[0]),
        ("  95% interval", lambda r: _added(r, "p50")[1]),
        ("added over none, p90 (ms)", lambda r: _added(r, "p90")[0]),
        ("  95% interval", lambda r: _added(r, "p90")[1]),
        ("added over none, p99 (ms)", lambda r: _added(r, "p99")[0]),
        ("  95% interval", lambda r: _added(r, "p99")[1]),
        ("requests ok / sent", lambda r: f"{r['requests']['ok']}/{r['requests']['sent']}"),
        ("proxies (processes)", lambda r: r["proxy_count"]),
        ("proxy memory, USS (MB)", lambda r: r["proxy_uss_mb"]),
        ("proxy memory, RSS (MB)", lambda r: r["proxy_rss_mb"]),
        ("proxy CPU s per 1000 requests", lambda r: r["proxy_cpu_s_per_1000_requests"]),
        ("every mesh hop mTLS", lambda r: {None: "-", True: "yes", False: "NO"}[r["all_mesh_hops_mtls"]]),
        ("HBONE's HTTP/2 engine", lambda r: r.get("h2_engine") or "-"),
        ("lab start-up (s)", lambda r: r["startup_s"]),
    ]
    w = max(len(r[0]) for r in rows) + 2
    col = max(
        12,
        *(len(m) + 2 for m in modes),
        *(len(c) + 2 for m in modes for q in QUANTILES for c in _added(res[m], q)),
    )
    first = next(iter(res.values()))
    lines = [
        f"{first['topology']} on {first['backend']}: {first['requests']['sent']} requests "
        f"at concurrency {first['concurrency']} from {first['from']} to {first['url']} (measured here)",
        "".ljust(w) + "".join(m.rjust(col) for m in modes),
    ]
    for label, f in rows:
        vals = []
        for m in modes:
            v = f(res[m])
            vals.append("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
        if not any(vals):
            continue  # (an interval row where no mode has one)
        lines.append((label.ljust(w) + "".join(v.rjust(col) for v in vals)).rstrip())
    lines.append(
        "Hops and steps count proxies per service-to-service call; CPU and memory are the proxies' "
        "own (psutil), not the apps'."
    )
    lines.append(f"Added over none: {ADDED_METHOD}.")
    return "\n".join(lines)
