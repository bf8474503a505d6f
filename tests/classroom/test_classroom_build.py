"""The classroom's build, roster, command line and report, on files only (no lab): a roster of
three built for a course; the student build free of the solutions; each learner's variant seed in
their notebooks' metadata and where the kernel reads it; bad input named; nothing overwritten
without --force; the report's PNG checked by its data."""

import csv
import json
import re

import nbformat
import pytest

from meshlab.classroom.notebooks import SOLUTION_BLOCK, reference_notebooks, task_positions
from meshlab.classroom.report import FAIL, PASS, report
from meshlab.classroom.roster import ClassroomError, load_roster, variant_seed
from meshlab.classroom.solutions import load_solutions, solution, values_of
from meshlab.cli import main
from meshlab.exercises import VARIANT_FILE, Session
from meshlab.tasks import TASKS

COURSE = "mesh-2027"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    (root / "roster.csv").write_text("learner,name\nada,Ada Lovelace\ngrace,Grace Hopper\nlinus,Linus T\n")
    assert (
        main(
            [
                "classroom",
                "build",
                str(root / "out"),
                "--roster",
                str(root / "roster.csv"),
                "--course",
                COURSE,
            ]
        )
        == 0
    )
    return root


def test_a_roster_of_three_gets_a_folder_each_with_every_notebook_and_its_own_seeds(built):
    refs = reference_notebooks()
    for learner in ("ada", "grace", "linus"):
        folder = built / "out" / "student" / learner
        assert sorted(p.stem for p in folder.glob("*.ipynb")) == sorted(refs)
        seeds = json.loads((folder / VARIANT_FILE).read_text())
        assert seeds["learner"] == learner and seeds["course"] == COURSE
        for name in refs:
            meta = nbformat.read(folder / f"{name}.ipynb", as_version=4).metadata["meshlab"]
            assert meta == {
                "course": COURSE,
                "notebook": name,
                "learner": learner,
                "variant_seed": variant_seed(COURSE, name, learner),
            }
            assert seeds["seeds"][name] == meta["variant_seed"]
    assert variant_seed(COURSE, "03-mtls", "ada") != variant_seed("mesh-2028", "03-mtls", "ada")


def test_a_learners_kernel_takes_the_seed_from_the_file_beside_the_notebook(built, monkeypatch):
    for var in ("MESHLAB_VARIANT_SEED", "MESHLAB_LEARNER", "JUPYTERHUB_USER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(built / "out" / "student" / "linus")
    s = Session("03-mtls", path=built / "progress.jsonl")
    assert (s.seed, s.progress.learner) == (variant_seed(COURSE, "03-mtls", "linus"), "linus")
    monkeypatch.setenv("MESHLAB_VARIANT_SEED", "the-graders")  # what the grader sets wins
    assert Session("03-mtls", path=built / "progress.jsonl").seed == "the-graders"


def test_the_student_build_holds_no_solution_and_every_task_is_blank(built):
    """Every value a learner's solution puts in (for that learner's parameters) that the skeleton,
    the goal and the notebook's own teaching do not already show is absent from their build."""
    answers = load_solutions()
    refs = reference_notebooks()
    for learner in ("ada", "grace", "linus"):
        for name, ref in refs.items():
            path = built / "out" / "student" / learner / f"{name}.ipynb"
            nb = nbformat.read(path, as_version=4)
            text = path.read_text()
            assert "<summary>Solution</summary>" not in text
            # what the notebook teaches outside its solution blocks may name a value; the blocks may not
            taught = SOLUTION_BLOCK.sub("", ref.read_text())
            for task, (_, j) in task_positions(nb).items():
                assert re.search(r"^answer = None", nb.cells[j].source, flags=re.M), (path, task)
                t = TASKS[task]
                params = t.params_for(learner, name, variant_seed(COURSE, name, learner))
                shown = t.skeleton + t.goal_for(params) + taught
                for v in values_of(t, solution(answers, task, params)[1]):
                    if v not in shown:
                        assert json.dumps(v)[1:-1] not in text, f"{path}: {task}'s solution value {v!r}"
    # the instructor build keeps them, and fills each answer in
    inst = (built / "out" / "instructor" / "03-mtls.ipynb").read_text()
    assert (
        "<summary>Solution</summary>" in inst and "bookinfo-productpage" in inst and "_meshlab_grade(" in inst
    )
    rows = list(csv.DictReader(open(built / "out" / "instructor" / "variants.csv")))
    assert {r["learner"] for r in rows} == {"ada", "grace", "linus"}


def test_nothing_is_overwritten_without_force_and_bad_input_is_named(built, capsys):
    out = built / "out"
    assert main(["classroom", "build", str(out), "--roster", str(built / "roster.csv")]) == 2
    assert "pass --force" in capsys.readouterr().err
    bad = built / "bad.csv"
    bad.write_text("learner\nada\nada\n")
    with pytest.raises(ClassroomError, match=r"bad.csv:3: learner: 'ada' is already on line 2"):
        load_roster(bad)
    bad.write_text("learner\nno/slash\n")
    with pytest.raises(ClassroomError, match=r"bad.csv:2: learner: 'no/slash' is not a learner id"):
        load_roster(bad)
    (built / "junk.ipynb").write_text("not json")
    assert (
        main(
            [
                "classroom",
                "grade",
                str(built / "junk.ipynb"),
                str(built / "gone.ipynb"),
                "-o",
                str(built / "g.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "junk.ipynb: not a Jupyter notebook" in err and "gone.ipynb: no such file" in err
    with pytest.raises(SystemExit):
        main(["classroom", "grade", "--help"])


def test_the_report_draws_the_grades_it_was_given(tmp_path):
    grades = tmp_path / "grades.csv"
    rows = [
        ("ada", "03-mtls", "only-one-caller", 1),
        ("ada", "03-mtls", "permissive-to-strict", 0),
        ("linus", "03-mtls", "only-one-caller", 0),
        ("linus", "03-mtls", "permissive-to-strict", 0),
        ("grace", "03-mtls", "only-one-caller", 1),
        ("grace", "03-mtls", "permissive-to-strict", 1),
    ]
    with open(grades, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["learner", "notebook", "task", "points", "max", "pass", "message"])
        for lr, nb, t, p in rows:
            w.writerow([lr, nb, t, p, 1, bool(p), "ok" if p else f"wrong {t}"])
    png, page, per_task = report(grades, tmp_path / "class.png")
    from PIL import Image

    im = Image.open(png)
    grid = json.loads(im.text["meshlab-grid"])
    assert grid["learners"] == ["ada", "linus", "grace"]
    assert grid["passed"] == [[1, 0], [0, 0], [1, 1]]
    colour = {
        1: tuple(int(PASS[i : i + 2], 16) for i in (1, 3, 5)),
        0: tuple(int(FAIL[i : i + 2], 16) for i in (1, 3, 5)),
    }
    rgb = im.convert("RGB")
    for i, row in enumerate(grid["pixels"]):
        for j, (x, y) in enumerate(row):  # beside the cell's mark, the cell's colour
            assert rgb.getpixel((x - 12, y)) == colour[grid["passed"][i][j]], (i, j)
    tasks = list(csv.DictReader(open(per_task)))
    assert [(t["task"], t["passed"], t["learners"]) for t in tasks] == [
        ("03-mtls:only-one-caller", "2", "3"),
        ("03-mtls:permissive-to-strict", "1", "3"),
    ]
    assert (
        "wrong permissive-to-strict" in page.read_text()
        and tasks[1]["most_common_failure"] == "wrong permissive-to-strict"
    )
    with pytest.raises(ClassroomError, match="pass --force"):
        report(grades, tmp_path / "class.png")
