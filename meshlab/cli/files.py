"""The commands that start no lab: files in, files out. ``meshlab topologies`` (the shipped ones),
``meshlab generate`` (a generated topology as YAML), ``meshlab export`` (the scenario as Kubernetes +
Istio YAML and a README), ``meshlab report`` (a recording as one HTML page) and ``meshlab clean``
(what a crashed lab left behind)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..errors import MeshlabError
from ..modes import MODES
from .args import TOPOLOGY_HELP, int_in, waypoints


def add_topologies(sub) -> None:
    sub.add_parser(
        "topologies",
        help="list the shipped topology files",
        description="List the topology files in topologies/ with their descriptions.",
    )


def add_generate(sub) -> None:
    from ..topology.generator import LIMITS

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
            type=int_in(name, lo, hi),
            default=default,
            metavar="N",
            help=f"{lo} to {hi} (default {default})",
        )
    gen.add_argument(
        "-o", "--out", default="-", metavar="FILE", help="where to write the YAML (default: standard output)"
    )


def add_export(sub) -> None:
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
        type=waypoints,
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


def add_report(sub) -> None:
    rp = sub.add_parser(
        "report",
        help="a recording as one self-contained HTML page (figures embedded)",
        description="Draw a recording (meshlab run --record FILE, or a shipped one by name) "
        "as one HTML page that needs no network and no lab.",
    )
    rp.add_argument("recording", help="a recording file, or the name of a shipped one (recordings/runs/)")
    rp.add_argument("-o", "--out", required=True, metavar="FILE", help="the HTML file to write")


def add_clean(sub) -> None:
    cl = sub.add_parser(
        "clean",
        help="stop and remove what a crashed lab left behind (and only that)",
        description="Stop processes and remove state left by labs whose controlling process is gone.",
    )
    cl.add_argument("--force", action="store_true", help="also labs whose controlling process still runs")


def cmd_topologies(a) -> int:
    from ..topology import load_topology, topology_files

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
    from ..topology.generator import GenSpec
    from ..topology.loader import load_spec

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


def read_policy_files(paths) -> list[dict]:
    """The documents of the ``--apply`` files, in order, each checked by the policy loader
    (a bad one is a PolicyError naming file, document, line and field)."""
    from ..policy.loader import load_policies

    return [o.doc for p in paths for o in load_policies(Path(p))]


def cmd_export(a) -> int:
    from ..export import manifests, write

    policies = read_policy_files(a.apply)
    m = manifests(a.topology, a.mode, policies, waypoints=a.waypoints)
    for path in write(m, a.out, command="meshlab " + " ".join(shlex.quote(x) for x in a.argv)):
        print(path)
    for w in m.warnings:
        print(f"meshlab: warning: {w}", file=sys.stderr)
    print(
        f"next: follow {Path(a.out) / 'README.md'} (kind cluster, istioctl install, kubectl apply -f {a.out})"
    )
    return 0


def cmd_report(a) -> int:
    from ..report import write_report

    n = write_report(a.recording, a.out)
    print(f"{a.out}: {n} figures (open it in any browser; it needs no network)")
    return 0


def cmd_clean(a) -> int:
    from ..backends import clean

    print(clean(force=a.force))
    return 0
