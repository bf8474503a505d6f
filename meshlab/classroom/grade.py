"""``meshlab classroom grade``: every submission run headless on loopback, one at a time, in a fresh
kernel, with a hidden cell after each task's answer cell that re-runs the task's check with the
parameters the grader derives from the roster (course, notebook, learner) — never the seed, the
progress file or the outputs the submission carries.

A submission that runs past its deadline or kills its kernel is stopped; whatever it started — its
labs' pods and proxies (by the lab state it kept in a folder of its own) and any other process that
inherited its marker — is stopped too; its tasks not yet checked get 0, with the reason.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from nbformat.v4 import new_code_cell

from . import hidden
from .notebooks import read_notebook, reference_notebooks, task_positions
from .roster import DEFAULT_COURSE, ClassroomError, Roster, variant_seed

COLUMNS = ["learner", "notebook", "task", "points", "max", "pass", "message"]
MARKER = "MESHLAB_GRADING"  # in the kernel's environment, so everything it starts can be found


@dataclass(frozen=True)
class Submission:
    path: Path
    learner: str
    notebook: str
    built_for: str | None = None  # the course its metadata names (a hint for the instructor; never trusted)


def find_submissions(paths, roster: Roster | None = None) -> list[Submission]:
    """Each path as a submission: whose (the folder it is in, as the student build lays it out, else
    the learner its metadata names; on the roster when there is one) and which notebook (its file
    name). Every problem is found before anything runs: one error lists them all."""
    refs, subs, problems, seen = reference_notebooks(), [], [], {}
    for p in map(Path, paths):
        try:
            nb = read_notebook(p)
        except ClassroomError as e:
            problems.append(str(e))
            continue
        if p.stem not in refs:
            problems.append(
                f"{p}: not one of the course's notebooks (its file name must be one of: "
                f"{', '.join(f'{n}.ipynb' for n in refs)})"
            )
            continue
        meta = nb.metadata.get("meshlab", {}).get("learner")
        candidates = [p.resolve().parent.name, meta]
        learner = next((c for c in candidates if c and (roster is None or c in roster)), None)
        if learner is None:
            problems.append(
                f"{p}: whose is it? neither its folder ({candidates[0]!r}) nor its metadata "
                f"({meta!r}) names a learner on the roster {roster.path}"
                if roster
                else f"{p}: whose is it? put it in a folder named after the learner"
            )
            continue
        key = (learner, p.stem)
        if key in seen:
            problems.append(f"{p}: a second submission of {p.stem} by {learner} (the first: {seen[key]})")
            continue
        seen[key] = p
        subs.append(Submission(p, learner, p.stem, nb.metadata.get("meshlab", {}).get("course")))
    if problems:
        raise ClassroomError("cannot grade these submissions:\n  " + "\n  ".join(problems))
    return subs


def _sweep(token: str, state: Path) -> list[int]:
    """Stop what a submission left running: its labs (``meshlab clean`` on its own state folder),
    then every process still carrying its marker. Returns the pids killed by the marker."""
    from ..backends.state import clean

    try:
        clean(force=True, root=state)
    except Exception:  # a lab state half written by a killed kernel: the sweep follows
        pass
    killed = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARKER) == token:
                proc.send_signal(signal.SIGKILL)
                killed.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    psutil.wait_procs([psutil.Process(p) for p in killed if psutil.pid_exists(p)], timeout=5)
    return killed


def left_running(token: str) -> list[int]:
    """Processes that still carry a grading run's marker (none, once it is graded)."""
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == token:
                out.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out


def grade_submission(
    sub: Submission,
    course: str = DEFAULT_COURSE,
    seeded: bool = True,
    timeout: float = 900,
    token: str | None = None,
) -> list[dict]:
    """One submission's rows (one per task of its notebook, in the reference notebook's order)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from ..tasks import TASKS

    expected = list(task_positions(read_notebook(reference_notebooks()[sub.notebook])))
    seed = variant_seed(course, sub.notebook, sub.learner) if seeded else None
    params = {t: TASKS[t].params_for(sub.learner, sub.notebook, seed) for t in expected}
    nb = read_notebook(sub.path)
    for c in nb.cells:  # what it recorded plays no part
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    found = task_positions(nb)
    for name, (_, j) in sorted(
        ((n, found[n]) for n in expected if n in found and found[n][1] >= 0), key=lambda kv: -kv[1][1]
    ):
        cell = new_code_cell(hidden.cell_source(name, params[name]))
        cell.metadata["meshlab_hidden"] = name
        nb.cells.insert(j + 1, cell)
    token = token or uuid.uuid4().hex
    work = Path(tempfile.mkdtemp(prefix="meshlab-grade-"))
    state = work / "state"
    state.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("MESHLAB_VARIANT_SEED", "JUPYTERHUB_USER")}
    env.update(
        {
            MARKER: token,
            "MESHLAB_STATE_DIR": str(state),
            "MESHLAB_PROGRESS": str(work / "progress.jsonl"),
            "MESHLAB_LEARNER": sub.learner,
            "MPLBACKEND": "Agg",
        }
    )
    if seed is not None:
        env["MESHLAB_VARIANT_SEED"] = seed
    deadline = time.monotonic() + timeout
    failure = None
    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        shutdown_kernel="immediate",
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        resources={"metadata": {"path": str(work)}},
    )
    try:
        client.execute(env=env)
    except CellTimeoutError:
        failure = f"not graded: the notebook ran past its {timeout:g} s and was stopped (a cell that hangs?)"
    except DeadKernelError:
        failure = "not graded: the notebook's kernel died while it ran (a crash, or out of memory?)"
    except Exception as e:  # the kernel would not start, or nbclient failed
        failure = f"not graded: the notebook could not run ({type(e).__name__}: {e})"
    finally:
        _sweep(token, state)
        shutil.rmtree(work, ignore_errors=True)
    got = {}
    for c in nb.cells:
        name = c.get("metadata", {}).get("meshlab_hidden")
        for o in c.get("outputs", []) if name else ():
            for line in (o.get("text", "") if o.get("output_type") == "stream" else "").splitlines():
                if line.startswith(hidden.MARK):
                    got[name] = json.loads(line[len(hidden.MARK) :])
    rows = []
    for name in expected:
        r = got.get(name)
        if r is not None:
            passed, message = r["passed"], r["message"]
        elif name not in found or found[name][1] < 0:
            passed, message = False, "not graded: the task's cells are missing from the submission"
        else:
            passed, message = False, failure or "not graded: its check did not run (an error before it?)"
        rows.append(
            {
                "learner": sub.learner,
                "notebook": sub.notebook,
                "task": name,
                "points": int(passed),
                "max": 1,
                "pass": passed,
                "message": message,
            }
        )
    return rows


def wide_path(out: Path) -> Path:
    return out.with_name(out.stem + "-wide" + out.suffix)


def write_grades(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """The long CSV (one row per learner x task) at ``out`` and the wide one (a row per learner, a
    column per notebook:task, then total, max and percent) beside it."""
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    cols = list(dict.fromkeys(f"{r['notebook']}:{r['task']}" for r in rows))
    by: dict[str, dict] = {}
    for r in rows:
        by.setdefault(r["learner"], {})[f"{r['notebook']}:{r['task']}"] = r["points"]
    wide = wide_path(out)
    with open(wide, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["learner", *cols, "total", "max", "percent"])
        for learner, pts in by.items():
            total = sum(pts.values())
            w.writerow(
                [
                    learner,
                    *(pts.get(c, "") for c in cols),
                    total,
                    len(pts),
                    round(100 * total / len(pts), 1) if pts else 0,
                ]
            )
    return out, wide


def grade(
    paths,
    out: str | Path,
    roster: Roster | None = None,
    course: str = DEFAULT_COURSE,
    timeout: float = 900,
    force: bool = False,
    log=print,
) -> list[dict]:
    out = Path(out)
    for f in (out, wide_path(out)):
        if f.exists() and not force:
            raise ClassroomError(
                f"{f} exists; meshlab will not overwrite it. Choose another -o, or pass --force"
            )
    subs = find_submissions(paths, roster)
    other = sorted({s.built_for for s in subs if s.built_for and s.built_for != course})
    if roster is not None and other:
        log(
            f"warning: some notebooks were built for course {', '.join(other)}, not {course}: grading with "
            f"--course {course} gives other variants than those learners had (pass the build's --course)"
        )
    rows = []
    for i, sub in enumerate(subs, 1):
        got = grade_submission(sub, course, seeded=roster is not None, timeout=timeout)
        log(f"[{i}/{len(subs)}] {sub.learner} {sub.notebook}: {sum(r['points'] for r in got)}/{len(got)}")
        rows += got
    write_grades(rows, out)
    return rows
