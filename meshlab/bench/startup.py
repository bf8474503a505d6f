"""``meshlab bench startup`` — how long a topology takes from ``Lab.start()`` to its entry URL
answering 200 ("up and serving"), and what the lab's processes hold in memory (PSS, summed, so
shared pages are counted once) — every process the lab started, pods and helpers — with a
breakdown by role (app, sidecar, ztunnel, waypoint, fork server). A large generated topology
(``--topology gen:services=20,replicas=10,nodes=4``) shows how both grow with the cluster.
Baseline: the same number of bare Python interpreters started in parallel, each waiting on a
pipe, measured the same way on the same machine in the same run.
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
    return total / 2**20


def _by_role(procs: list[dict]) -> dict[str, dict]:
    """Per role (app, sidecar, ztunnel, waypoint, fork-server, ...): how many processes, their
    PSS summed, and the median process's USS (what it holds alone) — where the memory goes."""
    rows: dict[str, list] = {}
    for p in procs:
        try:
            m = psutil.Process(p["pid"]).memory_full_info()
        except psutil.Error:
            continue
        rows.setdefault(p["role"], []).append((m.pss, m.uss))
    return {
        role: {
            "processes": len(xs),
            "pss_mb": round(sum(x[0] for x in xs) / 2**20, 1),
            "uss_mb_median": round(statistics.median(x[1] for x in xs) / 2**20, 2),
        }
        for role, xs in sorted(rows.items())
    }


def _baseline(n: int) -> tuple[float, float]:
    """Start ``n`` bare interpreters in parallel; (seconds until all said ready, PSS MB summed)."""
    t0 = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-c", BASELINE_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(n)
    ]
    for p in procs:
        p.stdout.readline()
    dt = time.monotonic() - t0
    pss = _pss_mb(p.pid for p in procs)
    for p in procs:
        p.stdin.close()
        p.wait()
    return dt, pss


def bench_startup(
    topology: str = "bookinfo",
    repeat: int = 3,
    as_json: bool = False,
    backend: str = "loopback",
    mode: str | None = None,
) -> int:
    from ..lab import Lab

    rows = []
    for i in range(repeat):
        if not as_json:
            print(f"run {i + 1}/{repeat} ...", file=sys.stderr)
        t0 = time.monotonic()
        with Lab(topology, mode=mode, backend=backend, verbose=False) as lab:
            started = time.monotonic() - t0
            while True:
                r = lab.request(timeout=5)
                if r.status == 200:
                    break
                if time.monotonic() - t0 > 30:
                    raise RuntimeError(f"{topology} did not serve within 30 s: {r.status or r.error}")
            serving = time.monotonic() - t0
            lab.load(requests=50, concurrency=2, progress=False)  # warm: memory after real work
            procs = lab.state.processes()  # pods, and helpers such as the fork server
            pss = _pss_mb(p["pid"] for p in procs)
            roles = _by_role(procs)
            used = lab.backend.name
            n = len(lab.workers) + len(lab.proxies)
            helpers = len(procs) - n
        base_t, base_pss = _baseline(n)
        rows.append(
            {
                "start_s": started,
                "serving_s": serving,
                "pss_mb": pss,
                "processes": n,
                "helper_processes": helpers,
                "baseline_start_s": base_t,
                "baseline_pss_mb": base_pss,
                "by_role": roles,
            }
        )
    me = psutil.Process().memory_full_info().pss / 2**20
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "by_role"}
    out = {
        "benchmark": "startup",
        "topology": topology,
        "backend": used,
        "mode": mode or "topology's",
        "repeat": repeat,
        "cpus": psutil.cpu_count(),
        "median": {k: round(v, 3) for k, v in med.items()},
        "ratio_serving_vs_baseline": round(med["serving_s"] / med["baseline_start_s"], 2),
        "ratio_pss_vs_baseline": round(med["pss_mb"] / med["baseline_pss_mb"], 2),
        "by_role": rows[[r["pss_mb"] for r in rows].index(_median_pss(rows))]["by_role"],
        "controller_pss_mb": round(me, 1),
        "runs": rows,
    }
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    m = out["median"]
    print(
        f"\nstartup benchmark · {topology} on {used} · mode {out['mode']} · "
        f"{m['processes']:.0f} pod and proxy processes · "
        f"{out['cpus']} CPUs · median of {repeat}"
    )
    print(
        f"  up and serving      {m['serving_s'] * 1000:8.0f} ms   (start() returned after {m['start_s'] * 1000:.0f} ms)"
    )
    print(
        f"  baseline            {m['baseline_start_s'] * 1000:8.0f} ms   "
        f"({m['processes']:.0f} bare Pythons started in parallel)"
        f"   ratio {out['ratio_serving_vs_baseline']}x"
    )
    print(
        f"  lab processes PSS   {m['pss_mb']:8.1f} MB   ({m['processes']:.0f} pod and proxy processes + "
        f"{m['helper_processes']:.0f} "
        f"helpers (fork server; mininet: a shell per namespace), summed; after 50 requests)"
    )
    print(
        f"  baseline PSS        {m['baseline_pss_mb']:8.1f} MB   ({m['processes']:.0f} bare Pythons)"
        f"   ratio {out['ratio_pss_vs_baseline']}x"
    )
    print(f"  controller PSS      {me:8.1f} MB   (this process: the lab facade, not counted above)")
    print(
        "  by role (the median run):"
        + "".join(
            f"\n    {role:<12} {r['processes']:4} process{'es' if r['processes'] != 1 else '  '}  "
            f"PSS {r['pss_mb']:8.1f} MB   USS {r['uss_mb_median']:5.2f} MB each (median)"
            for role, r in out["by_role"].items()
        )
    )
    return 0


def _median_pss(rows: list[dict]) -> float:
    """The PSS of the run whose PSS is the median (the lower middle one for an even count)."""
    return sorted(r["pss_mb"] for r in rows)[(len(rows) - 1) // 2]
