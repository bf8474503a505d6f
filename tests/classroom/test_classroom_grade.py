"""Grading for real (issue 18's "done when"): a roster of three built for a course, notebook 03 (the
quickest with two tasks) handed in by each — one learner's unmodified, one with their solutions
filled in, one with another learner's answers — graded in one run in fresh kernels on loopback;
then a submission that hangs and one that kills its kernel, each after starting a lab."""

import csv
import json
import shutil

import nbformat
import psutil
import pytest

from meshlab.classroom.build import build
from meshlab.classroom.grade import Submission, grade, grade_submission, left_running
from meshlab.classroom.notebooks import put_answers, tasks_of
from meshlab.classroom.roster import load_roster, variant_seed
from meshlab.classroom.solutions import answer_code, load_solutions, solution
from meshlab.tasks import TASKS

pytestmark = pytest.mark.integration
COURSE, NB = "mesh-2027", "03-mtls"


def params(learner: str) -> dict:
    return {
        t: TASKS[t].params_for(learner, NB, variant_seed(COURSE, NB, learner))
        for t in TASKS
        if t in ("only-one-caller", "permissive-to-strict")
    }


def solved(nb, learner: str):
    answers = load_solutions()
    put_answers(
        nb, {t: answer_code(TASKS[t], solution(answers, t, params(learner)[t])[1]) for t in tasks_of(nb)}
    )
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    (root / "roster.csv").write_text("learner\nada\ngrace\nlinus\n")
    roster = load_roster(root / "roster.csv")
    build(root / "out", roster, COURSE)
    # the course gives ada and grace one variant of only-one-caller and linus another (same STRICT one)
    assert (
        params("ada") == params("grace")
        and params("ada")["only-one-caller"] != params("linus")["only-one-caller"]
    )
    student = root / "out" / "student"
    subs = root / "handed-in"
    for lr in ("ada", "grace", "linus"):
        (subs / lr).mkdir(parents=True)
    shutil.copy(student / "ada" / f"{NB}.ipynb", subs / "ada")  # unmodified
    nbformat.write(
        solved(nbformat.read(student / "linus" / f"{NB}.ipynb", 4), "linus"), subs / "linus" / f"{NB}.ipynb"
    )
    nbformat.write(
        solved(nbformat.read(student / "grace" / f"{NB}.ipynb", 4), "linus"), subs / "grace" / f"{NB}.ipynb"
    )
    rows = grade(sorted(subs.glob(f"*/{NB}.ipynb")), root / "grades.csv", roster, COURSE, log=lambda m: None)
    return root, {(r["learner"], r["task"]): r for r in rows}


def test_an_unmodified_notebook_gets_0_for_every_task_with_its_message(graded):
    _, rows = graded
    for task in ("only-one-caller", "permissive-to-strict"):
        r = rows[("ada", task)]
        assert (r["points"], r["pass"]) == (0, False) and r["message"].startswith("not answered"), r


def test_the_solutions_for_the_learners_own_variant_get_full_marks(graded):
    _, rows = graded
    assert [rows[("linus", t)]["points"] for t in ("only-one-caller", "permissive-to-strict")] == [1, 1], rows


def test_another_learners_answers_fail_where_the_variant_differs(graded):
    _, rows = graded
    assert rows[("grace", "only-one-caller")]["points"] == 0  # linus's service, not grace's
    assert rows[("grace", "permissive-to-strict")]["points"] == 1  # the same variant for both
    assert params("grace")["only-one-caller"]["service"] in rows[("grace", "only-one-caller")]["message"]


def test_the_csvs_match_the_grades(graded):
    root, rows = graded
    long = list(csv.DictReader(open(root / "grades.csv")))
    assert {(r["learner"], r["task"]): int(r["points"]) for r in long} == {
        k: r["points"] for k, r in rows.items()
    }
    wide = {r["learner"]: r for r in csv.DictReader(open(root / "grades-wide.csv"))}
    assert (wide["linus"]["total"], wide["grace"]["total"], wide["ada"]["total"]) == ("2", "1", "0")
    assert wide["grace"][f"{NB}:only-one-caller"] == "0"


@pytest.mark.parametrize(
    "ending",
    ["import time\ntime.sleep(3600)", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"],
    ids=["hangs", "kills-its-kernel"],
)
def test_a_submission_that_hangs_or_kills_its_kernel_gets_0_and_leaves_nothing_running(ending, tmp_path):
    pids = tmp_path / "pids.json"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(c)
            for c in (
                "import json, psutil\nfrom meshlab import Lab\nlab = Lab('minimal', verbose=False).start()\n"
                f"json.dump([p.pid for p in psutil.Process().children(recursive=True)], open({str(pids)!r}, 'w'))",
                ending,
            )
        ]
    )
    (tmp_path / "ada").mkdir()
    nbformat.write(nb, tmp_path / "ada" / f"{NB}.ipynb")
    rows = grade_submission(
        Submission(tmp_path / "ada" / f"{NB}.ipynb", "ada", NB),
        COURSE,
        timeout=30,  # the first cell (a kernel, meshlab's import, a lab) must finish within it on a busy machine
        token="test-" + tmp_path.name,
    )
    assert [(r["task"], r["points"]) for r in rows] == [("only-one-caller", 0), ("permissive-to-strict", 0)]
    assert all(r["message"].startswith("not graded: the task's cells are missing") for r in rows)
    started = json.loads(pids.read_text())
    assert started, "the lab started no process"
    assert not [
        p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert left_running("test-" + tmp_path.name) == []
