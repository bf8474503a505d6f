"""The ``meshlab classroom`` command group: its parser (:func:`add_parser`) and :func:`run`."""

from __future__ import annotations

import argparse
import sys

from pathlib import Path

from .roster import DEFAULT_COURSE

EPILOG = """examples:
  meshlab classroom build class/ --roster roster.csv --course mesh-2027
  meshlab classroom grade handed-in/*/*.ipynb --roster roster.csv --course mesh-2027 -o grades.csv
  meshlab classroom report grades.csv -o class.png
See INSTRUCTOR.md."""


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {v:g}")
    return v


def add_parser(sub) -> None:
    cr = sub.add_parser(
        "classroom",
        help="for instructors: build student notebooks, grade them, see the class",
        description="For instructors: the student and instructor builds of the notebooks, "
        "grading of handed-in notebooks, and a class-wide view of the grades.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    csub = cr.add_subparsers(dest="classroom_cmd", required=True, metavar="COMMAND")
    roster_help = "CSV with a header row and a 'learner' column (ids: letters, digits, . _ - @)"
    course_help = (
        f"course name, part of every variant seed: a new name gives new variants (default {DEFAULT_COURSE}); "
        "grade with the name you built with"
    )

    b = csub.add_parser(
        "build",
        help="the student build (one folder per learner) and the instructor build",
        description="Write OUT/student (solutions out, every task blank; with --roster one folder "
        "per learner, each notebook carrying the learner's variant seed) and "
        "OUT/instructor (solutions in, answers filled, the hidden checks shown, "
        "variants.csv).",
    )
    b.add_argument(
        "out",
        metavar="OUT",
        help="folder to write into (OUT/student and OUT/instructor must not exist yet, unless --force)",
    )
    b.add_argument(
        "--roster",
        metavar="CSV",
        help=roster_help + "; without one, one student set whose variants "
        "follow each learner's JupyterHub user name",
    )
    b.add_argument("--course", default=DEFAULT_COURSE, help=course_help)
    b.add_argument(
        "--force", action="store_true", help="replace OUT/student and OUT/instructor if they exist"
    )

    g = csub.add_parser(
        "grade",
        help="run handed-in notebooks headless and grade every task",
        description="Run each submitted notebook headless on the loopback backend, one at a time, "
        "re-running every task's check with the learner's parameters as the grader "
        "derives them (nothing the notebook recorded is trusted); stop everything it "
        "started. Writes a long CSV (-o) and a wide one beside it (NAME-wide.csv).",
    )
    g.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="a learner's notebook, in a folder named after the learner (as the student build lays "
        "them out), named as the course's notebook (03-mtls.ipynb)",
    )
    g.add_argument("-o", "--out", required=True, metavar="CSV", help="the long grades CSV to write")
    g.add_argument("--roster", metavar="CSV", help=roster_help + " (the one the build used)")
    g.add_argument("--course", default=DEFAULT_COURSE, help=course_help)
    g.add_argument(
        "--timeout",
        type=_seconds,
        default=900,
        metavar="SECONDS",
        help="stop a notebook that runs longer than this; its unchecked tasks get 0 (default 900)",
    )
    g.add_argument("--force", action="store_true", help="overwrite the CSVs if they exist")

    r = csub.add_parser(
        "report",
        help="the class view: learners x tasks, pass rates, commonest failures",
        description="From a grades CSV: a PNG heatmap of learners x tasks with pass rates, an "
        "HTML page beside it (the tasks most failed, with their commonest messages), "
        "and NAME-tasks.csv (one row per task).",
    )
    r.add_argument("grades", metavar="GRADES_CSV", help="the long CSV `meshlab classroom grade` wrote")
    r.add_argument(
        "-o", "--out", required=True, metavar="PNG", help="the PNG to write (.html and -tasks.csv beside it)"
    )
    r.add_argument("--force", action="store_true", help="overwrite them if they exist")


def run(a) -> int:
    from .roster import load_roster

    roster = load_roster(a.roster) if getattr(a, "roster", None) else None
    if a.classroom_cmd == "build":
        from .build import build

        out = build(a.out, roster, a.course, a.force)
        where = out["student"][0].parent if roster else out["student"][0]
        print(f"student build: {len(out['student'])} folder(s) under {where}")
        print(f"instructor build: {out['instructor']} (solutions: never hand this folder to learners)")
        return 0
    if a.classroom_cmd == "grade":
        from .grade import grade, wide_path

        rows = grade(
            a.submissions,
            a.out,
            roster,
            a.course,
            a.timeout,
            a.force,
            log=lambda m: print(m, file=sys.stderr),
        )
        print(
            f"{sum(r['points'] for r in rows)} of {len(rows)} task(s) passed; "
            f"wrote {a.out} and {wide_path(Path(a.out))}"
        )
        return 0
    from .report import report

    for p in report(a.grades, a.out, a.force):
        print("wrote", p)
    return 0
