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

One module per command group, each with an ``add_NAME(sub)`` per command (its parser) and a
``cmd_NAME(args)`` (what it does); :func:`build_parser` and :func:`main` here put them together:

- :mod:`.args` — what several commands take (a lab's arguments, traffic's) and argument types.
- :mod:`.lab_commands` — ``run``, ``trace``, ``compare``: start a lab, send traffic, stop it.
- :mod:`.files` — ``topologies``, ``generate``, ``export``, ``report``, ``clean``: no lab started.
- :mod:`.benchmarks` — ``bench startup|hops|panel|fuzz``.
- ``classroom`` is :mod:`meshlab.classroom.commands`, for instructors.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MeshlabError
from . import benchmarks, files, lab_commands


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="meshlab", description="A hands-on lab for Istio's sidecar and ambient data planes."
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    lab_commands.add_run(sub)
    files.add_report(sub)
    lab_commands.add_compare(sub)
    lab_commands.add_trace(sub)
    files.add_export(sub)
    files.add_topologies(sub)
    files.add_generate(sub)
    files.add_clean(sub)

    from ..classroom.commands import add_parser as add_classroom

    add_classroom(sub)
    benchmarks.add_bench(sub)
    return ap


def cmd_classroom(a) -> int:
    from ..classroom.commands import run

    return run(a)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = build_parser().parse_args(argv)
    a.argv = list(argv)
    try:
        return {
            "run": lab_commands.cmd_run,
            "trace": lab_commands.cmd_trace,
            "topologies": files.cmd_topologies,
            "clean": files.cmd_clean,
            "bench": benchmarks.cmd_bench,
            "compare": lab_commands.cmd_compare,
            "export": files.cmd_export,
            "generate": files.cmd_generate,
            "report": files.cmd_report,
            "classroom": cmd_classroom,
        }[a.cmd](a)
    except MeshlabError as e:
        print(f"meshlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meshlab: interrupted; the lab was stopped", file=sys.stderr)
        return 130
