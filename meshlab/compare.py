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

from .telemetry.results import LoadResult
from .telemetry.stats import METHOD as ADDED_METHOD, added_cell, added_latency

if TYPE_CHECKING:
    from .lab import Lab

MODES = (("none", None, None), ("sidecar", "sidecar", None), ("ambient", "ambient", None),
         ("ambient+waypoint", "ambient", "namespace"))
PROXY_ROLES = ("sidecar", "ztunnel", "waypoint")


def path_facts(res: LoadResult) -> dict:
    """Per service-to-service call: proxy hops and L7 proxy steps; and the mTLS of mesh hops."""
    calls = hops = l7 = 0
    mesh_hops = mtls_hops = 0
    for p in res.paths.values():
        calls += sum(1 for h in p.hops if h.role == "app")
        proxies = [h for h in p.hops if h.role in PROXY_ROLES]
        hops += len(proxies)
        l7 += sum(1 for h in proxies if h.layer == "L7")
        received = [h for h in proxies if h.direction == "inbound"]   # where a mesh hop arrives
        mesh_hops += len(received)
        mtls_hops += sum(1 for h in received if h.mtls)
    return {"calls": calls, "proxy_hops_per_call": round(hops / calls, 2) if calls else None,
            "l7_steps_per_call": round(l7 / calls, 2) if calls else None,
            "mesh_hops": mesh_hops, "all_mesh_hops_mtls": (mesh_hops == mtls_hops) if mesh_hops else None}


def lab_facts(lab: "Lab") -> dict:
    """What a report says of the lab beside its load: what :func:`report` takes (and a recording keeps)."""
    from .proxy import h2engine
    hbone = any(w.role in ("ztunnel", "waypoint") for w in lab.proxies.values())
    return {"topology": lab.topology.name, "mode": lab.mode, "backend": lab.backend.name,
            "h2_engine": h2engine.describe() if hbone else None, "startup_s": round(lab.startup_s, 3),
            "pods": sum(1 for m in lab.mesh.values() if m != "waypoint"), "nodes": len(lab.topology.nodes)}


def run_report(lab: "Lab", res: LoadResult) -> dict:
    """What ``meshlab run --json`` prints for one load (and ``compare`` per mode)."""
    if not res.usage:                  # a result the lab did not make: its processes as they are now
        res.usage = [{k: v for k, v in u.to_dict().items() if k != "pid"} for u in lab.usage().values()]
    return report(res, lab_facts(lab))


def report(res: LoadResult, facts: dict) -> dict:
    """The report of one load from its result and the lab's :func:`lab_facts` — the same for a live
    lab and a recording (:mod:`meshlab.replay`)."""
    proxies = [{**u, "cpu_s": round(res.cpu_s.get(u["name"], 0.0), 4)} for u in res.usage
               if u["role"] in PROXY_ROLES]
    return {"topology": facts["topology"], "mode": facts["mode"], "backend": facts["backend"],
            "h2_engine": facts["h2_engine"] if any(p["role"] in ("ztunnel", "waypoint") for p in proxies) else None,
            "from": res.source, "url": res.url, **{k: res.settings.get(k) for k in ("concurrency", "rate")},
            "startup_s": facts["startup_s"], "pods": facts["pods"], "nodes": facts["nodes"],
            **res.summary(), "proxies": proxies, **path_facts(res)}


def add_cost(rep: dict) -> dict:
    """A mode's proxy totals, as ``compare`` tabulates them: count, USS, RSS, CPU per 1000 requests."""
    n = rep["requests"]["sent"] or 1
    rep["proxy_count"] = len(rep["proxies"])
    rep["proxy_uss_mb"] = round(sum(p["uss_mb"] for p in rep["proxies"]), 1)
    rep["proxy_rss_mb"] = round(sum(p["rss_mb"] for p in rep["proxies"]), 1)
    rep["proxy_cpu_s_per_1000_requests"] = round(sum(p["cpu_s"] for p in rep["proxies"]) * 1000 / n, 3)
    return rep


def compare(topology: str = "bookinfo", requests: int = 300, concurrency: int = 4, warmup: int = 30,
            backend: str = "loopback", log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    from .lab import Lab
    out = {}
    for label, mode, waypoints in MODES:
        log(f"compare: {label} ...")
        with Lab(topology, mode=mode or "none", backend=backend, waypoints=waypoints, verbose=False) as lab:
            lab.load(requests=warmup, concurrency=concurrency, progress=False)     # connections, TLS, caches
            lab.reset()
            res = lab.load(requests=requests, concurrency=concurrency)
            rep = run_report(lab, res)
            rep["latency_samples_ms"] = [round(v, 3) for v in res.latencies_ms()]
        out[label] = add_cost(rep)
    add_added_latency(out)
    return out


QUANTILES = {"p50": 50, "p90": 90, "p99": 99}


def add_added_latency(res: dict) -> dict:
    """What each mode added over ``none``, per percentile (:func:`~meshlab.telemetry.stats.added_latency`:
    an estimate with its bootstrap interval, or none with too few requests) in ``added_latency``;
    and in ``added_latency_ms`` the bare difference of percentiles, kept for older readers — it is
    what can come out negative at p99, so show ``added_latency`` instead."""
    base = res["none"]
    for rep in res.values():
        if "latency_samples_ms" in rep and "latency_samples_ms" in base:
            rep["added_latency"] = {k: added_latency(base["latency_samples_ms"], rep["latency_samples_ms"], q)
                                    for k, q in QUANTILES.items()}
        rep["added_latency_ms"] = {k: round(rep["latency_ms"][k] - base["latency_ms"][k], 3) for k in QUANTILES}
    return res


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


def cost_shape(topology: str = "minimal", url: str | None = None, requests: int = 400, concurrency: int = 4,
               backend: str = "loopback") -> dict:
    """Proxy CPU per request, by mode and workload: what a sidecar's cost grows with (requests: it
    parses every one) against what a ztunnel's grows with (connections: it never parses HTTP).
    Returns ``{mode: {workload: {"cpu_us_per_request": µs, "by_role": {role: µs}, "ok": n}}}``."""
    from .lab import Lab
    out: dict = {}
    for mode in ("sidecar", "ambient"):
        with Lab(topology, mode=mode, backend=backend, verbose=False) as lab:
            for name, headers in WORKLOADS.items():
                lab.load(url=url, requests=max(20, requests // 10), concurrency=concurrency, headers=headers,
                         progress=False)                                          # warm
                before = proxy_cpu_by_role(lab)
                res = lab.load(url=url, requests=requests, concurrency=concurrency, headers=headers, progress=False)
                after = proxy_cpu_by_role(lab)
                by_role = {r: round((after[r] - before.get(r, 0.0)) / requests * 1e6, 1) for r in after}
                out.setdefault(mode, {})[name] = {"cpu_us_per_request": round(sum(by_role.values()), 1),
                                                  "by_role": by_role, "ok": res.summary()["requests"]["ok"]}
    return out


def _added(r: dict, q: str) -> str:
    """A mode's added latency at ``q``, as a table cell (:func:`~meshlab.telemetry.stats.added_cell`),
    "-" for none itself."""
    return "-" if r["mode"] == "none" else added_cell(r, q)


def format_table(res: dict) -> str:
    modes = list(res)
    rows = [
        ("proxy hops per call", lambda r: r["proxy_hops_per_call"]),
        ("L7 proxy steps per call", lambda r: r["l7_steps_per_call"]),
        ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"]),
        ("latency p90 (ms)", lambda r: r["latency_ms"]["p90"]),
        ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"]),
        ("added over none, p50 (ms)", lambda r: _added(r, "p50")),
        ("added over none, p90 (ms)", lambda r: _added(r, "p90")),
        ("added over none, p99 (ms)", lambda r: _added(r, "p99")),
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
    col = max(12, *(len(m) + 2 for m in modes), *(len(_added(res[m], q)) + 2 for m in modes for q in QUANTILES))
    first = next(iter(res.values()))
    lines = [f"{first['topology']} on {first['backend']}: {first['requests']['sent']} requests "
             f"at concurrency {first['concurrency']} from {first['from']} to {first['url']} (measured here)",
             "".ljust(w) + "".join(m.rjust(col) for m in modes)]
    for label, f in rows:
        vals = []
        for m in modes:
            v = f(res[m])
            vals.append("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
        lines.append(label.ljust(w) + "".join(v.rjust(col) for v in vals))
    lines.append("Hops and steps count proxies per service-to-service call; CPU and memory are the proxies' "
                 "own (psutil), not the apps'.")
    lines.append(f"Added over none: {ADDED_METHOD}.")
    return "\n".join(lines)
