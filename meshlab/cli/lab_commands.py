"""The commands that start a lab, send traffic and stop it: ``meshlab run`` (a load and its
summary, optionally recorded), ``meshlab trace`` (one request's path hop by hop) and
``meshlab compare`` (the same load through every data plane)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..modes import BACKENDS
from .args import TOPOLOGY_HELP, lab_args, positive_float, positive_int, traffic_args


def add_run(sub) -> None:
    run = sub.add_parser(
        "run",
        help="start a topology, send a load, print a summary",
        description="Start TOPOLOGY, send a load from a workload, print a summary and stop.",
    )
    lab_args(run)
    run.add_argument(
        "--requests",
        "-n",
        type=positive_int,
        default=None,
        help="how many requests (default 100 unless --duration)",
    )
    run.add_argument("--duration", "-t", type=positive_float, default=None, help="send for this many seconds")
    run.add_argument(
        "--rate",
        "-q",
        type=positive_float,
        default=None,
        help="requests per second (default: as fast as possible)",
    )
    run.add_argument(
        "--concurrency", "-c", type=positive_int, default=1, help="concurrent connections (default 1)"
    )
    traffic_args(run)
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    run.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="also write the run to FILE (.json, or .json.gz compressed) for replay with no lab: "
        "meshlab report FILE, meshlab.replay.load(FILE); see docs/recordings.md",
    )


def add_trace(sub) -> None:
    tr = sub.add_parser(
        "trace",
        help="send one request and print its path hop by hop",
        description="Start TOPOLOGY, send one request, print its path hop by hop, stop.",
    )
    lab_args(tr)
    traffic_args(tr)
    tr.add_argument("--json", action="store_true", help="print the path as JSON")


def add_compare(sub) -> None:
    cmp_ = sub.add_parser(
        "compare",
        help="the same load through none, sidecar, ambient and ambient+waypoint",
        description="Run the same load through every data plane in one run and print the "
        "comparison: hops, L7 steps, latency added, proxies, memory, CPU, mTLS.",
    )
    cmp_.add_argument("topology", help=TOPOLOGY_HELP)
    cmp_.add_argument(
        "--requests", "-n", type=positive_int, default=300, help="requests per mode (default 300)"
    )
    cmp_.add_argument("--concurrency", "-c", type=positive_int, default=4, help="connections (default 4)")
    cmp_.add_argument("--backend", default="loopback", choices=BACKENDS)
    cmp_.add_argument("--json", action="store_true", help="one JSON object keyed by mode")


def cmd_run(a) -> int:
    from ..lab import Lab

    requests = a.requests if (a.requests or a.duration) else 100
    from ..compare import run_report

    with Lab(
        a.topology, mode=a.mode, backend=a.backend, waypoints=a.waypoints, seed=a.seed, verbose=not a.json
    ) as lab:
        for f in a.apply:
            lab.apply(Path(f))
        res = lab.load(
            a.source,
            a.url,
            requests=requests,
            duration=a.duration,
            rate=a.rate,
            concurrency=a.concurrency,
            headers=a.header,
            progress=None if not a.json else False,
        )
        out = run_report(lab, res)
        if a.record:
            lab.record(a.record, what="meshlab " + " ".join(shlex.quote(x) for x in a.argv))
            print(f"recorded to {a.record}", file=sys.stderr)
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    r = out["requests"]
    lat = out["latency_ms"]
    print(f"\n{out['topology']} · mode {out['mode']} · backend {out['backend']} · {res.source} -> {res.url}")
    print(
        f"requests  sent {r['sent']}  ok {r['ok']}  failed {r['failed']}  "
        f"({100 * (r['success_rate'] or 0):.1f}% ok)   by status: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(r["by_status"].items()))
    )
    if r["partial"]:
        print(
            f"partial   {r['partial']} of the ok answers say "
            + ", ".join(f'"{text}" ({n})' for text, n in r["partial_failures"].items())
        )
    if lat["count"]:
        print(
            f"latency   p50 {lat['p50']:.2f} ms   p90 {lat['p90']:.2f} ms   p99 {lat['p99']:.2f} ms   "
            f"max {lat['max']:.2f} ms   ({out['throughput_rps']} req/s)"
        )
    print(f"paths     {out['paths_recorded']} of {r['sent']} recorded")
    for g in out["paths"]:
        print(f"  {g['count']:>6} x  " + " -> ".join(h["name"] for h in g["hops"]))
    width = max([28, *(len(p["name"]) for p in out["proxies"])])
    for p in out["proxies"]:
        print(
            f"proxy     {p['name']:<{width}} {p['role']:<9} USS {p['uss_mb']:6.1f} MB  RSS {p['rss_mb']:6.1f} MB  "
            f"CPU {p['cpu_s']:.3f} s during the load"
        )
    return 0


def cmd_trace(a) -> int:
    from ..lab import Lab

    with Lab(
        a.topology, mode=a.mode, backend=a.backend, waypoints=a.waypoints, seed=a.seed, verbose=not a.json
    ) as lab:
        for f in a.apply:
            lab.apply(Path(f))
        r = lab.request(a.source, a.url, headers=a.header)
    if a.json:
        print(
            json.dumps(
                {
                    "from": r.source,
                    "url": r.url,
                    "status": r.status,
                    "error": r.error,
                    "latency_ms": round(r.latency_ms, 3),
                    "trace_id": r.trace_id,
                    "hops": [h.to_dict() for h in r.path.hops] if r.path else [],
                },
                indent=2,
            )
        )
    else:
        print(r)
    return 0 if r.status is not None else 1


def cmd_compare(a) -> int:
    from ..compare import compare, format_table

    res = compare(a.topology, requests=a.requests, concurrency=a.concurrency, backend=a.backend)
    print(json.dumps(res, indent=2) if a.json else format_table(res))
    return 0
