"""The ``meshlab`` command: thin — parses arguments, calls the lab, prints.

meshlab run bookinfo --requests 200 --json
meshlab run bookinfo --mode ambient --record run.json.gz && meshlab report run.json.gz -o run.html
meshlab trace bookinfo --from client --url http://productpage:9080/productpage
meshlab compare bookinfo
meshlab topologies
meshlab clean
meshlab bench startup
meshlab export bookinfo --mode ambient --waypoints reviews --apply reviews-50-v3.yaml -o out/
meshlab generate --services 20 --replicas 10 --nodes 4 -o big.yaml
meshlab bench startup --topology gen:services=20,replicas=10,nodes=4 --mode sidecar
meshlab classroom build|grade|report ...     (for instructors: see INSTRUCTOR.md)
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .errors import MeshlabError
from .modes import MODES


TOPOLOGY_HELP = (
    "a shipped topology name (see `meshlab topologies`), a path to a .yaml file, or a generated "
    "topology: gen:services=N,replicas=N,nodes=N (see `meshlab generate --help`)"
)


def _lab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("topology", help=TOPOLOGY_HELP)
    p.add_argument(
        "--mode",
        default=None,
        choices=list(MODES),
        help="mesh mode for every namespace (default: what the topology's namespace labels say)",
    )
    p.add_argument(
        "--backend",
        default="loopback",
        choices=["loopback", "mininet", "auto"],
        help="what runs the cluster (default: loopback; mininet needs root; auto: mininet where it can run)",
    )
    p.add_argument(
        "--waypoints",
        default=None,
        type=_waypoints,
        help="ambient only: 'namespace' (a waypoint per namespace) or service names, comma-separated",
    )
    p.add_argument(
        "--apply",
        action="append",
        default=[],
        metavar="FILE",
        help="Istio YAML to apply once the lab is up (repeatable; e.g. "
        "topologies/samples/bookinfo/virtual-service-reviews-50-v3.yaml)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make every random choice of the lab reproducible (kube-proxy's pick, load balancing, "
        "fault percentages, httpbin's random status, retry back-off): the same seed and the same "
        "requests sent one at a time give the same outcomes (default: random)",
    )


def _traffic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="workload or pod to send from (default: the topology's entry, `client`)",
    )
    p.add_argument("--url", default=None, help="URL to ask for (default: the topology's entry page)")
    p.add_argument(
        "-H",
        "--header",
        action="append",
        type=_header,
        default=[],
        help="extra header 'Name: value' (repeatable)",
    )


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {v}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0, got {v}")
    return v


def _int_in(name: str, lo: int, hi: int):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {lo} to {hi}, got {s!r}"
            ) from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is out of range; {name} takes {lo} to {hi}")
        return v

    return parse


def _header(s: str) -> tuple[str, str]:
    k, sep, v = s.partition(":")
    if not sep or not k.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {s!r}")
    return k.strip().lower(), v.strip()


def _waypoints(s: str):
    return s if s == "namespace" else [x.strip() for x in s.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="meshlab", description="A hands-on lab for Istio's sidecar and ambient data planes."
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="start a topology, send a load, print a summary",
        description="Start TOPOLOGY, send a load from a workload, print a summary and stop.",
    )
    _lab_args(run)
    run.add_argument(
        "--requests",
        "-n",
        type=_positive_int,
        default=None,
        help="how many requests (default 100 unless --duration)",
    )
    run.add_argument(
        "--duration", "-t", type=_positive_float, default=None, help="send for this many seconds"
    )
    run.add_argument(
        "--rate",
        "-q",
        type=_positive_float,
        default=None,
        help="requests per second (default: as fast as possible)",
    )
    run.add_argument(
        "--concurrency", "-c", type=_positive_int, default=1, help="concurrent connections (default 1)"
    )
    _traffic_args(run)
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    run.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="also write the run to FILE (.json, or .json.gz compressed) for replay with no lab: "
        "meshlab report FILE, meshlab.replay.load(FILE); see docs/recordings.md",
    )

    rp = sub.add_parser(
        "report",
        help="a recording as one self-contained HTML page (figures embedded)",
        description="Draw a recording (meshlab run --record FILE, or a shipped one by name) "
        "as one HTML page that needs no network and no lab.",
    )
    rp.add_argument("recording", help="a recording file, or the name of a shipped one (recordings/runs/)")
    rp.add_argument("-o", "--out", required=True, metavar="FILE", help="the HTML file to write")

    cmp_ = sub.add_parser(
        "compare",
        help="the same load through none, sidecar, ambient and ambient+waypoint",
        description="Run the same load through every data plane in one run and print the "
        "comparison: hops, L7 steps, latency added, proxies, memory, CPU, mTLS.",
    )
    cmp_.add_argument("topology", help=TOPOLOGY_HELP)
    cmp_.add_argument(
        "--requests", "-n", type=_positive_int, default=300, help="requests per mode (default 300)"
    )
    cmp_.add_argument("--concurrency", "-c", type=_positive_int, default=4, help="connections (default 4)")
    cmp_.add_argument("--backend", default="loopback", choices=["loopback", "mininet", "auto"])
    cmp_.add_argument("--json", action="store_true", help="one JSON object keyed by mode")

    tr = sub.add_parser(
        "trace",
        help="send one request and print its path hop by hop",
        description="Start TOPOLOGY, send one request, print its path hop by hop, stop.",
    )
    _lab_args(tr)
    _traffic_args(tr)
    tr.add_argument("--json", action="store_true", help="print the path as JSON")

    ex = sub.add_parser(
        "export",
        help="write Kubernetes + Istio YAML and a README to run the scenario on a real cluster",
        description="Write what a real cluster running Istio needs for the same scenario: "
        "Namespaces with the mesh labels, ServiceAccounts, Services, Deployments "
        "(Istio's published sample images), waypoint Gateways and the policies in "
        "force, plus a README with the commands (kind, istioctl install, kubectl "
        "apply, and the lab's traffic).",
    )
    ex.add_argument("topology", help=TOPOLOGY_HELP)
    ex.add_argument(
        "--mode",
        default=None,
        choices=list(MODES),
        help="mesh mode for every namespace (default: what the topology's namespace labels say)",
    )
    ex.add_argument(
        "--waypoints",
        default=None,
        type=_waypoints,
        help="ambient only: 'namespace' (a waypoint per namespace) or service names, comma-separated",
    )
    ex.add_argument(
        "--apply",
        action="append",
        default=[],
        metavar="FILE",
        help="Istio / Gateway API YAML in force (repeatable; multi-document files welcome)",
    )
    ex.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="DIR",
        help="directory to write into (created; files of an earlier export there are replaced)",
    )

    sub.add_parser(
        "topologies",
        help="list the shipped topology files",
        description="List the topology files in topologies/ with their descriptions.",
    )

    from .topology.generator import LIMITS

    gen = sub.add_parser(
        "generate",
        help="write a generated topology (services x replicas x nodes) as YAML",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a generated topology: SERVICES services with REPLICAS pods each, spread\n"
        "round-robin over NODES nodes, as Bookinfo shards (one namespace per four services:\n"
        "productpage -> details, reviews v1/v2/v3 -> ratings), plus a `client` workload as the\n"
        "entry. Every command that takes a topology takes the same one directly as\n"
        "gen:services=N,replicas=N,nodes=N (settings left out take their defaults).",
        epilog="examples:\n"
        "  meshlab generate --services 20 --replicas 10 --nodes 4 -o big.yaml\n"
        "  meshlab run big.yaml --mode ambient -n 100\n"
        "  meshlab bench startup --topology gen:services=20,replicas=10,nodes=4 --mode sidecar",
    )
    for name, default in (("services", 4), ("replicas", 1), ("nodes", 2)):
        lo, hi = LIMITS[name]
        gen.add_argument(
            f"--{name}",
            type=_int_in(name, lo, hi),
            default=default,
            metavar="N",
            help=f"{lo} to {hi} (default {default})",
        )
    gen.add_argument(
        "-o", "--out", default="-", metavar="FILE", help="where to write the YAML (default: standard output)"
    )

    cl = sub.add_parser(
        "clean",
        help="stop and remove what a crashed lab left behind (and only that)",
        description="Stop processes and remove state left by labs whose controlling process is gone.",
    )
    cl.add_argument("--force", action="store_true", help="also labs whose controlling process still runs")

    from .classroom.commands import add_parser as add_classroom

    add_classroom(sub)

    be = sub.add_parser(
        "bench",
        help="benchmarks (figures and ratios against a baseline from the same run)",
        description="Benchmarks. They print figures; they never pass or fail.",
    )
    be.add_argument(
        "what",
        choices=["startup", "hops", "panel", "fuzz"],
        help="startup: time to up-and-serving, and memory (PSS); hops: added latency and "
        "throughput per proxy role, against no proxy, nginx and a stunnel pair; panel: "
        "the notebook loop (apply a change, send 200 requests, redraw); fuzz: malformed "
        "inputs at every listener kind, bounded by --inputs and --seconds (meshlab.fuzzbench)",
    )
    be.add_argument("--topology", default="bookinfo", help=f"startup: {TOPOLOGY_HELP} (default bookinfo)")
    be.add_argument(
        "--backend",
        default="loopback",
        choices=["loopback", "mininet", "auto"],
        help="startup: the backend to measure (mininet needs root)",
    )
    be.add_argument(
        "--mode",
        default=None,
        choices=list(MODES),
        help="startup: mesh mode (default: the topology's namespace labels)",
    )
    be.add_argument(
        "--repeat",
        type=_positive_int,
        default=3,
        help="startup and panel: runs to take the median of; hops: rounds of the whole sequence "
        "(rows and ratios are medians over rounds, each ratio computed within its round)",
    )
    be.add_argument("--json", action="store_true")
    be.add_argument("--requests", type=_positive_int, default=1000, help="hops: requests at concurrency 1")
    be.add_argument("--out", default="bench-hops.json", help="hops: where to write the JSON figures")
    be.add_argument("--inputs", type=_positive_int, default=1_000_000, help="fuzz: at most this many inputs")
    be.add_argument("--seconds", type=_positive_int, default=2700, help="fuzz: and for at most this long")
    return ap


def cmd_run(a) -> int:
    from .lab import Lab

    requests = a.requests if (a.requests or a.duration) else 100
    from .compare import run_report

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


def cmd_compare(a) -> int:
    from .compare import compare, format_table

    res = compare(a.topology, requests=a.requests, concurrency=a.concurrency, backend=a.backend)
    print(json.dumps(res, indent=2) if a.json else format_table(res))
    return 0


def cmd_trace(a) -> int:
    from .lab import Lab

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


def _read_policy_files(paths) -> list[dict]:
    """The documents of the ``--apply`` files, in order, each checked by the policy loader
    (a bad one is a PolicyError naming file, document, line and field)."""
    from .policy.loader import load_policies

    return [o.doc for p in paths for o in load_policies(Path(p))]


def cmd_export(a) -> int:
    from .export import manifests, write

    policies = _read_policy_files(a.apply)
    m = manifests(a.topology, a.mode, policies, waypoints=a.waypoints)
    for path in write(m, a.out, command="meshlab " + " ".join(shlex.quote(x) for x in a.argv)):
        print(path)
    for w in m.warnings:
        print(f"meshlab: warning: {w}", file=sys.stderr)
    print(
        f"next: follow {Path(a.out) / 'README.md'} (kind cluster, istioctl install, kubectl apply -f {a.out})"
    )
    return 0


def cmd_topologies(a) -> int:
    from .topology import load_topology, topology_files

    for f in topology_files():
        try:
            t = load_topology(f)
            print(
                f"{f.stem:<12} {len(t.nodes)} nodes, {len(t.pods):>2} pods, "
                f"{len(t.services)} services   {t.description}"
            )
        except MeshlabError as e:
            print(f"{f.stem:<12} INVALID: {e}")
    print(
        "gen:services=N,replicas=N,nodes=N   a generated topology of Bookinfo shards (see `meshlab generate --help`)"
    )
    return 0


def cmd_generate(a) -> int:
    import yaml
    from .topology.generator import GenSpec
    from .topology.loader import load_spec

    spec = GenSpec(services=a.services, replicas=a.replicas, nodes=a.nodes)
    topo = load_spec(spec)  # validated, as any topology file is
    text = (
        f"# {spec}: generated by `meshlab "
        + " ".join(shlex.quote(x) for x in a.argv)
        + "`\n"
        + yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=None, width=120)
    )
    if a.out == "-":
        sys.stdout.write(text)
        return 0
    Path(a.out).write_text(text)
    print(
        f"{a.out}: {len(topo.pods)} pods ({spec.services} services x {spec.replicas} replicas + a client) on "
        f"{len(topo.nodes)} nodes, {len(topo.namespaces)} namespaces; next: meshlab run {a.out} --mode sidecar",
        file=sys.stderr,
    )
    return 0


def cmd_report(a) -> int:
    from .report import write_report

    n = write_report(a.recording, a.out)
    print(f"{a.out}: {n} figures (open it in any browser; it needs no network)")
    return 0


def cmd_clean(a) -> int:
    from .backends import clean

    print(clean(force=a.force))
    return 0


def cmd_bench(a) -> int:
    from .bench import bench_hops, bench_startup

    if a.what == "fuzz":
        from .fuzzbench import bench_fuzz

        return bench_fuzz(a.inputs, a.seconds, a.json)
    if a.what == "hops":
        return bench_hops(a.requests, 2 * a.requests, a.json, a.out, rounds=a.repeat)
    if a.what == "panel":
        from .bench_panel import bench_panel

        return bench_panel(a.repeat, 200, a.json)
    return bench_startup(a.topology, a.repeat, a.json, backend=a.backend, mode=a.mode)


def cmd_classroom(a) -> int:
    from .classroom.commands import run

    return run(a)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = build_parser().parse_args(argv)
    a.argv = list(argv)
    try:
        return {
            "run": cmd_run,
            "trace": cmd_trace,
            "topologies": cmd_topologies,
            "clean": cmd_clean,
            "bench": cmd_bench,
            "compare": cmd_compare,
            "export": cmd_export,
            "generate": cmd_generate,
            "report": cmd_report,
            "classroom": cmd_classroom,
        }[a.cmd](a)
    except MeshlabError as e:
        print(f"meshlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meshlab: interrupted; the lab was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
