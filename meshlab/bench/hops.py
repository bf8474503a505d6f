"""``meshlab bench hops``: per-hop added latency and throughput of each proxy role, against no
proxy and production proxies (:mod:`.rows`), all measured in one run on the ``minimal`` topology;
rows and ratios over several rounds, printed or written as JSON."""

from __future__ import annotations

import json
import statistics
import sys

import psutil

from .rows import NEW_CONNECTION, RELAY_PAIR, measure_row, reference_rows

#: A plaintext sidecar hop: Istio's auto mTLS turned off for the server by a DestinationRule.
PLAINTEXT_DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server-plaintext, namespace: default}
spec:
  host: server.default.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
"""


def bench_hops(
    requests: int = 1000,
    requests_c32: int = 2000,
    as_json: bool = False,
    json_path: str | None = "bench-hops.json",
    rounds: int = 1,
) -> int:
    """Per-hop added latency (p50/p99 at concurrency 1) and throughput (concurrency 32) of each
    proxy role, against no proxy and production proxies, all measured in this run on the
    ``minimal`` topology (client pod -> server pod, httpbin /get). With ``rounds`` > 1 the whole
    sequence runs that many times; rows and ratios are the medians over the rounds (each ratio
    computed within its own round, against that round's baseline), with their ranges — a
    shared, noisy machine moves one round's figures a lot."""
    per_round = [_hops_round(requests, requests_c32, r, rounds) for r in range(rounds)]
    rows = {
        k: {
            **per_round[0][0][k],
            **(
                {
                    f: _median([pr[0][k][f] for pr in per_round if f in pr[0].get(k, {})])
                    for f in ("p50_ms", "p99_ms", "added_p50_ms", "added_p99_ms", "rps_c32")
                    if f in per_round[0][0][k]
                }
            ),
            "all_ok": all(pr[0].get(k, {}).get("all_ok", True) for pr in per_round),
        }
        for k in per_round[0][0]
    }
    for k, r in rows.items():
        if "cpu_us_per_request" in r:
            r["cpu_us_per_request"] = {
                role: _median(
                    [
                        pr[0][k]["cpu_us_per_request"][role]
                        for pr in per_round
                        if role in pr[0].get(k, {}).get("cpu_us_per_request", {})
                    ]
                )
                for role in r["cpu_us_per_request"]
            }
    ratios = {k: _median([pr[1][k] for pr in per_round if k in pr[1]]) for k in per_round[0][1]}
    ranges = {
        k: [min(pr[1][k] for pr in per_round if k in pr[1]), max(pr[1][k] for pr in per_round if k in pr[1])]
        for k in per_round[0][1]
    }
    out = {
        "benchmark": "hops",
        "topology": "minimal",
        "url": "http://server:8000/get",
        "requests_c1": requests,
        "requests_c32": requests_c32,
        "cpus": psutil.cpu_count(),
        "rounds": rounds,
        "rows": rows,
        "ratios": ratios,
        "ratio_ranges": ranges,
        "h2_engine": _engine(),
        "note": "The client and server are this lab's Python apps in every row; 'added' is against the "
        "no-proxy row of this same run (new-connection rows: against the no-proxy new-connection row). "
        "Sidecar hops are measured with mTLS and in plaintext "
        "(a DestinationRule with tls mode DISABLE for the server); a waypoint hop is always "
        "HBONE (mTLS) on both sides, as in Istio. The python relay pair is the floor under the ztunnel "
        "pair: the ztunnel's own plaintext splice with no TLS, HTTP/2, policy or telemetry, so its "
        "CPU per new connection is what any Python proxy pair pays here for the TCP connections alone.",
    }
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"\nhop benchmark · minimal (client pod -> server pod, GET /get) · {out['cpus']} CPUs · "
        f"c=1: {requests} requests, c=32: {requests_c32}"
    )
    w = max(len(k) for k in rows) + 2
    print(
        f"{'':{w}}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}{'req/s c32':>11}  CPU µs per request (c32)"
    )
    for k, r in rows.items():
        if "skipped" in r:
            print(f"{k:{w}}  skipped: {r['skipped']}")
            continue
        cpu = ", ".join(f"{role} {v:.0f}" for role, v in r.get("cpu_us_per_request", {}).items())
        print(
            f"{k:{w}}{r['p50_ms']:9.3f}{r['p99_ms']:9.3f}{r.get('added_p50_ms', 0):9.3f}"
            f"{r.get('added_p99_ms', 0):9.3f}{r['rps_c32']:11.1f}  {cpu}"
            + ("" if r["all_ok"] else "  (some failed)")
        )
    print(
        "(rows 'new connection per request' are measured against 'no proxy, new connection per request'; "
        "there a request is a connection, so the CPU column is per connection)"
    )
    if rounds > 1:
        print(f"(medians of {rounds} rounds; each ratio is computed within its round, range in brackets)")
    for k, v in ratios.items():
        print(f"  {k}: {v}" + (f"  [{ranges[k][0]} .. {ranges[k][1]}]" if rounds > 1 else ""))
    if json_path:
        print(f"written to {json_path}")
    return 0


def _engine() -> str:
    from ..proxy import h2engine

    return h2engine.describe()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


#: Rows measured a second time with a new connection for every request.
NEW_CONNECTION_ROWS = ("no proxy", "sidecar pair (mTLS)", "ztunnel pair (HBONE mTLS)")


def _hops_round(requests: int, requests_c32: int, index: int = 0, rounds: int = 1) -> tuple[dict, dict]:
    """One round of :func:`bench_hops`: every row measured once, and the ratios within it."""
    from ..lab import Lab

    url = "http://server:8000/get"
    rows: dict[str, dict] = {}
    tag = f" (round {index + 1}/{rounds})" if rounds > 1 else ""
    for label, mode, wp, hops in (
        ("no proxy", "none", None, 0),
        ("sidecar pair (mTLS)", "sidecar", None, 2),
        ("sidecar pair (plaintext)", "sidecar", None, 2),
        ("ztunnel pair (HBONE mTLS)", "ambient", None, 2),
        ("ztunnel + waypoint + ztunnel", "ambient", "namespace", 3),
    ):
        print(f"bench hops: {label}{tag} ...", file=sys.stderr)
        with Lab("minimal", mode=mode, waypoints=wp, verbose=False) as lab:
            if "plaintext" in label:
                lab.apply(PLAINTEXT_DR)
            rows[label] = {**measure_row(lab, url, requests, requests_c32), "proxies_in_path": hops}
            if label in NEW_CONNECTION_ROWS:  # the same hop, a new connection for every request
                rows[f"{label}, new connection per request"] = {
                    **measure_row(lab, url, requests, requests_c32, NEW_CONNECTION),
                    "proxies_in_path": hops,
                }
            if mode == "none":
                print(f"bench hops: references (nginx, stunnel, python relays){tag} ...", file=sys.stderr)
                refs = reference_rows(lab, requests, requests_c32, lab.state.dir)
                for k, v in refs.items():
                    rows[k] = {**v, "proxies_in_path": 1 if k.startswith("nginx") else 2}
    for k, r in rows.items():
        base = rows[
            "no proxy, new connection per request" if k.endswith("new connection per request") else "no proxy"
        ]
        if "p50_ms" in r:
            r["added_p50_ms"] = round(r["p50_ms"] - base["p50_ms"], 3)
            r["added_p99_ms"] = round(r["p99_ms"] - base["p99_ms"], 3)
            r["rps_vs_no_proxy"] = round(r["rps_c32"] / base["rps_c32"], 2)
    nginx, stunnel = rows.get("nginx L7 hop", {}), rows.get("stunnel pair (L4 mTLS)", {})
    ratios = {}
    if nginx.get("added_p50_ms"):
        per_hop = rows["sidecar pair (mTLS)"]["added_p50_ms"] / 2
        ratios["sidecar hop (with mTLS) added p50 / nginx hop added p50"] = round(
            per_hop / nginx["added_p50_ms"], 2
        )
        ratios["sidecar pair rps / nginx rps (c=32)"] = round(
            rows["sidecar pair (mTLS)"]["rps_c32"] / nginx["rps_c32"], 2
        )
        plain = rows["sidecar pair (plaintext)"]
        ratios["sidecar hop (plaintext) added p50 / nginx hop added p50"] = round(
            plain["added_p50_ms"] / 2 / nginx["added_p50_ms"], 2
        )
        ratios["sidecar pair (plaintext) rps / nginx rps (c=32)"] = round(
            plain["rps_c32"] / nginx["rps_c32"], 2
        )
        wp_added = (
            rows["ztunnel + waypoint + ztunnel"]["added_p50_ms"]
            - rows["ztunnel pair (HBONE mTLS)"]["added_p50_ms"]
        )
        ratios["waypoint hop added p50 / nginx hop added p50"] = round(wp_added / nginx["added_p50_ms"], 2)
    if stunnel.get("added_p50_ms"):
        ratios["ztunnel pair added p50 / stunnel pair added p50"] = round(
            rows["ztunnel pair (HBONE mTLS)"]["added_p50_ms"] / stunnel["added_p50_ms"], 2
        )
    nc = ", new connection per request"
    st_nc, zt_nc, sc_nc = (
        rows.get(f"{k}{nc}", {})
        for k in ("stunnel pair (L4 mTLS)", "ztunnel pair (HBONE mTLS)", "sidecar pair (mTLS)")
    )
    if st_nc.get("added_p50_ms") and zt_nc.get("added_p50_ms") is not None:
        ratios["new connection per request: ztunnel pair added p50 / stunnel pair added p50"] = round(
            zt_nc["added_p50_ms"] / st_nc["added_p50_ms"], 2
        )
    if sc_nc.get("added_p50_ms") and zt_nc.get("added_p50_ms") is not None:
        ratios["new connection per request: ztunnel pair added p50 / sidecar pair added p50"] = round(
            zt_nc["added_p50_ms"] / sc_nc["added_p50_ms"], 2
        )
    zc, sc = (
        zt_nc.get("cpu_us_per_request", {}).get("ztunnel"),
        sc_nc.get("cpu_us_per_request", {}).get("sidecar"),
    )
    if zc and sc:
        ratios["new connection per request: ztunnel pair CPU / sidecar pair CPU"] = round(zc / sc, 2)
    # the floor: what a pair of Python relays that only copy bytes costs per new connection
    rc = rows.get(f"{RELAY_PAIR}{nc}", {}).get("cpu_us_per_request", {}).get("python relay")
    if rc and sc:
        ratios["new connection per request: python relay pair CPU (the floor) / sidecar pair CPU"] = round(
            rc / sc, 2
        )
    if rc and zc:
        ratios["new connection per request: ztunnel pair CPU / python relay pair CPU"] = round(zc / rc, 2)
    return rows, ratios
