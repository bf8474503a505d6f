"""One load's report, as ``meshlab run --json`` prints it and ``meshlab compare`` tabulates it: pure
functions of a :class:`~meshlab.telemetry.results.LoadResult` and the lab's facts, the same for a
live lab (:mod:`meshlab.compare`) and a recording (:mod:`meshlab.replay`)."""

from __future__ import annotations

from .results import LoadResult
from .stats import added_latency
from ..modes import HBONE_ROLES, PROXY_ROLES

QUANTILES = {"p50": 50, "p90": 90, "p99": 99}


def path_facts(res: LoadResult) -> dict:
    """Per service-to-service call: proxy hops and L7 proxy steps; and the mTLS of mesh hops."""
    calls = hops = l7 = 0
    mesh_hops = mtls_hops = 0
    for p in res.paths.values():
        calls += sum(1 for h in p.hops if h.role == "app")
        proxies = [h for h in p.hops if h.role in PROXY_ROLES]
        hops += len(proxies)
        l7 += sum(1 for h in proxies if h.layer == "L7")
        received = [h for h in proxies if h.direction == "inbound"]  # where a mesh hop arrives
        mesh_hops += len(received)
        mtls_hops += sum(1 for h in received if h.mtls)
    return {
        "calls": calls,
        "proxy_hops_per_call": round(hops / calls, 2) if calls else None,
        "l7_steps_per_call": round(l7 / calls, 2) if calls else None,
        "mesh_hops": mesh_hops,
        "all_mesh_hops_mtls": (mesh_hops == mtls_hops) if mesh_hops else None,
    }


def report(res: LoadResult, facts: dict) -> dict:
    """The report of one load from its result and the lab's :func:`lab_facts` — the same for a live
    lab and a recording (:mod:`meshlab.replay`)."""
    proxies = [
        {**u, "cpu_s": round(res.cpu_s.get(u["name"], 0.0), 4)} for u in res.usage if u["role"] in PROXY_ROLES
    ]
    return {
        "topology": facts["topology"],
        "mode": facts["mode"],
        "backend": facts["backend"],
        "h2_engine": facts["h2_engine"] if any(p["role"] in HBONE_ROLES for p in proxies) else None,
        "from": res.source,
        "url": res.url,
        **{k: res.settings.get(k) for k in ("concurrency", "rate")},
        "startup_s": facts["startup_s"],
        "pods": facts["pods"],
        "nodes": facts["nodes"],
        **res.summary(),
        "proxies": proxies,
        **path_facts(res),
    }


def add_cost(rep: dict) -> dict:
    """A mode's proxy totals, as ``compare`` tabulates them: count, USS, RSS, CPU per 1000 requests."""
    n = rep["requests"]["sent"] or 1
    rep["proxy_count"] = len(rep["proxies"])
    rep["proxy_uss_mb"] = round(sum(p["uss_mb"] for p in rep["proxies"]), 1)
    rep["proxy_rss_mb"] = round(sum(p["rss_mb"] for p in rep["proxies"]), 1)
    rep["proxy_cpu_s_per_1000_requests"] = round(sum(p["cpu_s"] for p in rep["proxies"]) * 1000 / n, 3)
    return rep


def add_added_latency(res: dict) -> dict:
    """What each mode added over ``none``, per percentile (:func:`~meshlab.telemetry.stats.added_latency`:
    an estimate with its bootstrap interval, or none with too few requests) in ``added_latency``;
    and in ``added_latency_ms`` the bare difference of percentiles, kept for older readers — it is
    what can come out negative at p99, so show ``added_latency`` instead."""
    base = res["none"]
    for rep in res.values():
        if "latency_samples_ms" in rep and "latency_samples_ms" in base:
            rep["added_latency"] = {
                k: added_latency(base["latency_samples_ms"], rep["latency_samples_ms"], q)
                for k, q in QUANTILES.items()
            }
        rep["added_latency_ms"] = {
            k: round(rep["latency_ms"][k] - base["latency_ms"][k], 3) for k in QUANTILES
        }
    return res
