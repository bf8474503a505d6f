"""``meshlab bench startup|hops|panel|fuzz``: the benchmarks, which print figures and never pass or
fail (:mod:`meshlab.bench`, :mod:`meshlab.bench_panel`, :mod:`meshlab.fuzzbench`)."""

from __future__ import annotations

from ..modes import BACKENDS, MODES
from .args import TOPOLOGY_HELP, positive_int


def add_bench(sub) -> None:
    be = sub.add_parser(
        "bench",
        help="benchmarks (figures and ratios against a baseline from the same run)",
        description="Benchmarks. They print figures; they never pass or fail.",
    )
    be.add_argument(
        "what",
        choices=["startup", "hops", "panel", "fuzz"],
        help="startup: time to up-and-serving, and memory (PSS); hops: added latency and "
        "throughput per proxy role, against no proxy, nginx, a stunnel pair and a pair of plain "
        "Python relays (the floor); panel: "
        "the notebook loop (apply a change, send 200 requests, redraw); fuzz: malformed "
        "inputs at every listener kind, bounded by --inputs and --seconds (meshlab.fuzzbench)",
    )
    be.add_argument("--topology", default="bookinfo", help=f"startup: {TOPOLOGY_HELP} (default bookinfo)")
    be.add_argument(
        "--backend",
        default="loopback",
        choices=BACKENDS,
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
        type=positive_int,
        default=3,
        help="startup and panel: runs to take the median of; hops: rounds of the whole sequence "
        "(rows and ratios are medians over rounds, each ratio computed within its round)",
    )
    be.add_argument("--json", action="store_true")
    be.add_argument("--requests", type=positive_int, default=1000, help="hops: requests at concurrency 1")
    be.add_argument("--out", default="bench-hops.json", help="hops: where to write the JSON figures")
    be.add_argument("--inputs", type=positive_int, default=1_000_000, help="fuzz: at most this many inputs")
    be.add_argument("--seconds", type=positive_int, default=2700, help="fuzz: and for at most this long")


def cmd_bench(a) -> int:
    from ..bench.hops import bench_hops
    from ..bench.startup import bench_startup

    if a.what == "fuzz":
        from ..fuzzbench import bench_fuzz

        return bench_fuzz(a.inputs, a.seconds, a.json)
    if a.what == "hops":
        return bench_hops(a.requests, 2 * a.requests, a.json, a.out, rounds=a.repeat)
    if a.what == "panel":
        from ..bench_panel import bench_panel

        return bench_panel(a.repeat, 200, a.json)
    return bench_startup(a.topology, a.repeat, a.json, backend=a.backend, mode=a.mode)
