"""Benchmarks: figures, and ratios against a baseline measured in the same run. Never pass/fail.

``meshlab bench startup`` — how long a topology takes from ``Lab.start()`` to its entry URL
answering 200 ("up and serving"), and what the lab's processes hold in memory (PSS, summed, so
shared pages are counted once) — every process the lab started, pods and helpers. Baseline: the same number of bare Python interpreters started
in parallel, each waiting on a pipe, measured the same way on the same machine in the same run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import psutil

BASELINE_CODE = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"


def _pss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except psutil.Error:
            pass
    return total / 2 ** 20


def _baseline(n: int) -> tuple[float, float]:
    """Start ``n`` bare interpreters in parallel; (seconds until all said ready, PSS MB summed)."""
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", BASELINE_CODE], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE) for _ in range(n)]
    for p in procs:
        p.stdout.readline()
    dt = time.monotonic() - t0
    pss = _pss_mb(p.pid for p in procs)
    for p in procs:
        p.stdin.close()
        p.wait()
    return dt, pss


def bench_startup(topology: str = "bookinfo", repeat: int = 3, as_json: bool = False) -> int:
    from .lab import Lab
    rows = []
    for i in range(repeat):
        if not as_json:
            print(f"run {i + 1}/{repeat} ...", file=sys.stderr)
        t0 = time.monotonic()
        with Lab(topology, verbose=False) as lab:
            started = time.monotonic() - t0
            while True:
                r = lab.request(timeout=5)
                if r.status == 200:
                    break
                if time.monotonic() - t0 > 30:
                    raise RuntimeError(f"{topology} did not serve within 30 s: {r.status or r.error}")
            serving = time.monotonic() - t0
            lab.load(requests=50, concurrency=2, progress=False)      # warm: memory after real work
            procs = lab.state.processes()          # pods, and helpers such as the fork server
            pss = _pss_mb(p["pid"] for p in procs)
            backend = lab.backend.name
            n = len(lab.workers)
            helpers = len(procs) - n
        base_t, base_pss = _baseline(n)
        rows.append({"start_s": started, "serving_s": serving, "pss_mb": pss, "processes": n,
                     "helper_processes": helpers,
                     "baseline_start_s": base_t, "baseline_pss_mb": base_pss})
    me = psutil.Process().memory_full_info().pss / 2 ** 20
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    out = {"benchmark": "startup", "topology": topology, "backend": backend, "repeat": repeat,
           "cpus": psutil.cpu_count(), "median": {k: round(v, 3) for k, v in med.items()},
           "ratio_serving_vs_baseline": round(med["serving_s"] / med["baseline_start_s"], 2),
           "ratio_pss_vs_baseline": round(med["pss_mb"] / med["baseline_pss_mb"], 2),
           "controller_pss_mb": round(me, 1), "runs": rows}
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    m = out["median"]
    print(f"\nstartup benchmark · {topology} on {backend} · {m['processes']:.0f} pod processes · "
          f"{out['cpus']} CPUs · median of {repeat}")
    print(f"  up and serving      {m['serving_s'] * 1000:8.0f} ms   (start() returned after {m['start_s'] * 1000:.0f} ms)")
    print(f"  baseline            {m['baseline_start_s'] * 1000:8.0f} ms   ({m['processes']:.0f} bare Pythons started in parallel)"
          f"   ratio {out['ratio_serving_vs_baseline']}x")
    print(f"  lab processes PSS   {m['pss_mb']:8.1f} MB   ({m['processes']:.0f} pods + {m['helper_processes']:.0f} "
          f"helper (fork server), summed; after 50 requests)")
    print(f"  baseline PSS        {m['baseline_pss_mb']:8.1f} MB   ({m['processes']:.0f} bare Pythons)"
          f"   ratio {out['ratio_pss_vs_baseline']}x")
    print(f"  controller PSS      {me:8.1f} MB   (this process: the lab facade, not counted above)")
    return 0
