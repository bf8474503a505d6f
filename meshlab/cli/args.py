"""What several commands take: a lab's arguments (topology, mode, backend, waypoints, policies,
seed), where traffic comes from and goes, and argument types that refuse bad values with a message
argparse prints (``expected 1 or more, got 0``)."""

from __future__ import annotations

import argparse

from ..modes import BACKENDS, MODES


TOPOLOGY_HELP = (
    "a shipped topology name (see `meshlab topologies`), a path to a .yaml file, or a generated "
    "topology: gen:services=N,replicas=N,nodes=N (see `meshlab generate --help`)"
)


def lab_args(p: argparse.ArgumentParser) -> None:
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
        choices=BACKENDS,
        help="what runs the cluster (default: loopback; mininet needs root; auto: mininet where it can run)",
    )
    p.add_argument(
        "--waypoints",
        default=None,
        type=waypoints,
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


def traffic_args(p: argparse.ArgumentParser) -> None:
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
        type=header,
        default=[],
        help="extra header 'Name: value' (repeatable)",
    )


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {v}")
    return v


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0, got {v}")
    return v


def int_in(name: str, lo: int, hi: int):
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


def header(s: str) -> tuple[str, str]:
    k, sep, v = s.partition(":")
    if not sep or not k.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {s!r}")
    return k.strip().lower(), v.strip()


def waypoints(s: str):
    return s if s == "namespace" else [x.strip() for x in s.split(",") if x.strip()]
