"""Benchmarks: figures, and ratios against a baseline measured in the same run. Never pass/fail.

``meshlab bench startup`` — how long a topology takes from ``Lab.start()`` to its entry URL
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
    from .lab import Lab

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


# ------------------------------------------------------------------------------------------------
# meshlab bench hops
# ------------------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream app {{ server {upstream}; keepalive 64; }}
  server {{
    listen {listen};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""

STUNNEL_CONF = """
foreground = yes
pid =
debug = 3
[{name}]
{mode}
accept = {accept}
connect = {connect}
cert = {cert}
key = {key}
CAfile = {ca}
verify = 2
"""


#: A plaintext sidecar hop: Istio's auto mTLS turned off for the server by a DestinationRule.
PLAINTEXT_DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server-plaintext, namespace: default}
spec:
  host: server.default.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
"""


#: A request that asks for a new connection every time (the client and server close it after the
#: answer), as Bookinfo's productpage opens one per call: what a ztunnel pays for per connection.
NEW_CONNECTION = [("connection", "close")]


def _cpu_by_role(lab, extra_pids: dict[str, list[int]] | None = None) -> dict[str, float]:
    """CPU seconds so far, summed per proxy role (and per named group of other processes)."""
    from .compare import proxy_cpu_by_role

    out = proxy_cpu_by_role(lab)
    for name, pids in (extra_pids or {}).items():
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                out[name] = out.get(name, 0.0) + t.user + t.system
            except psutil.Error:
                pass
    return out


def _measure(
    lab, url: str, n1: int, n32: int, headers=None, pids: dict[str, list[int]] | None = None
) -> dict:
    """p50/p99 at concurrency 1, requests per second at 32, and each proxy role's CPU per request
    over the concurrency-32 run (µs; with :data:`NEW_CONNECTION`, a request is a connection)."""
    lab.load(url=url, requests=min(100, n1), concurrency=1, headers=headers, progress=False)  # warm
    one = lab.load(url=url, requests=n1, concurrency=1, headers=headers, progress=False).summary()
    before = _cpu_by_role(lab, pids)
    many = lab.load(url=url, requests=n32, concurrency=32, headers=headers, progress=False)
    after = _cpu_by_role(lab, pids)
    ok = one["requests"]["ok"] == n1 and many.summary()["requests"]["ok"] == n32
    cpu = {role: round((after[role] - before.get(role, 0.0)) / n32 * 1e6, 1) for role in after}
    return {
        "p50_ms": one["latency_ms"]["p50"],
        "p99_ms": one["latency_ms"]["p99"],
        "rps_c32": round(n32 / many.wall_s, 1),
        "all_ok": ok,
        "cpu_us_per_request": cpu,
    }


def _references(lab, n1: int, n32: int, workdir) -> dict:
    """nginx as an L7 hop and a stunnel pair as an L4 mTLS pipe, in front of the same server."""
    import shutil
    import tempfile
    from pathlib import Path
    from .identity import LabCA

    out = {}
    server = lab.net.pod("server-0")
    s = server.ip.split(".")[1]
    work = Path(tempfile.mkdtemp(dir=workdir))
    if shutil.which("nginx"):
        listen = f"127.{s}.1.200:18080"
        (work / "nginx.conf").write_text(
            NGINX_CONF.format(dir=work, upstream=f"{server.ip}:8080", listen=listen)
        )
        p = subprocess.Popen(
            ["nginx", "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            out["nginx L7 hop"] = _measure(lab, f"http://{listen}/get", n1, n32)
        finally:
            p.terminate()
            p.wait(5)
    else:
        out["nginx L7 hop"] = {"skipped": "nginx is not installed (Debian: apt-get install nginx-light)"}
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if stunnel:
        ca = LabCA.create(work / "ca")
        a, b = ca.issue("default", "stunnel-client"), ca.issue("default", "stunnel-server")
        front, back = f"127.{s}.1.201:18443", f"127.{s}.2.201:18444"
        confs = [("client", "client = yes", front, back, a), ("server", "", back, f"{server.ip}:8080", b)]
        procs = []
        for name, mode, acc, conn, c in confs:
            path = work / f"stunnel-{name}.conf"
            path.write_text(
                STUNNEL_CONF.format(
                    name=name,
                    mode=mode,
                    accept=acc,
                    connect=conn,
                    cert=c.cert_path,
                    key=c.key_path,
                    ca=ca.root_path,
                )
            )
            procs.append(
                subprocess.Popen([stunnel, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        try:
            time.sleep(0.5)
            pids = {"stunnel": [p.pid for p in procs]}
            out["stunnel pair (L4 mTLS)"] = _measure(lab, f"http://{front}/get", n1, n32, pids=pids)
            out["stunnel pair (L4 mTLS), new connection per request"] = _measure(
                lab, f"http://{front}/get", n1, n32, NEW_CONNECTION, pids=pids
            )
        finally:
            for p in procs:
                p.terminate()
                p.wait(5)
    else:
        out["stunnel pair (L4 mTLS)"] = {
            "skipped": "stunnel is not installed (Debian: apt-get install stunnel4)"
        }
        out["stunnel pair (L4 mTLS), new connection per request"] = out["stunnel pair (L4 mTLS)"]
    shutil.rmtree(work, ignore_errors=True)
    return out


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
        "HBONE (mTLS) on both sides, as in Istio.",
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
    from .proxy import h2engine

    return h2engine.describe()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


#: Rows measured a second time with a new connection for every request.
NEW_CONNECTION_ROWS = ("no proxy", "sidecar pair (mTLS)", "ztunnel pair (HBONE mTLS)")


def _hops_round(requests: int, requests_c32: int, index: int = 0, rounds: int = 1) -> tuple[dict, dict]:
    """One round of :func:`bench_hops`: every row measured once, and the ratios within it."""
    from .lab import Lab

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
            rows[label] = {**_measure(lab, url, requests, requests_c32), "proxies_in_path": hops}
            if label in NEW_CONNECTION_ROWS:  # the same hop, a new connection for every request
                rows[f"{label}, new connection per request"] = {
                    **_measure(lab, url, requests, requests_c32, NEW_CONNECTION),
                    "proxies_in_path": hops,
                }
            if mode == "none":
                print(f"bench hops: references (nginx, stunnel){tag} ...", file=sys.stderr)
                refs = _references(lab, requests, requests_c32, lab.state.dir)
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
    return rows, ratios
