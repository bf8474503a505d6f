"""``meshlab classroom build``: the student build and the instructor build, from the reference
notebooks.

    OUT/student/<learner>/NN-name.ipynb    solutions out, every task blank, the learner's variant seed in
    OUT/student/<learner>/meshlab-variant.json   each notebook's metadata and in this file (the kernel reads it)
    OUT/student/NN-name.ipynb              (no roster: one set; each learner's variant then follows their id)
    OUT/instructor/NN-name.ipynb           solutions kept, each task's answer filled in (first variant), the
                                           hidden check after it, and a note on the common wrong answer
    OUT/instructor/variants.csv            every learner's seed and parameters, task by task
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from ..exercises import VARIANT_FILE
from . import hidden
from .notebooks import put_answers, reference_notebooks, task_positions, unanswered, without_solutions
from .roster import DEFAULT_COURSE, ClassroomError, Roster, variant_seed
from .solutions import answer_code, load_solutions, solution


def _fresh(folder: Path, force: bool) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not force:
            raise ClassroomError(
                f"{folder} exists and is not empty; meshlab will not overwrite it. Choose another "
                "OUT, or pass --force to replace it"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def student_notebook(path: Path, course: str, learner: str | None):
    nb = nbformat.read(path, as_version=4)
    without_solutions(nb)
    blank = unanswered(nb)
    if blank:
        raise ClassroomError(
            f"{path}: the answer cell of {', '.join(blank)} does not start as `answer = None`; "
            "regenerate the notebooks (tools/make_notebooks.py)"
        )
    meta = {"course": course, "notebook": path.stem}
    if learner is not None:
        meta.update(learner=learner, variant_seed=variant_seed(course, path.stem, learner))
    nb.metadata["meshlab"] = meta
    return nb


def instructor_notebook(path: Path, answers: dict):
    """Solutions kept; after each task's answer cell (filled with the solution for the first variant),
    a note on the common wrong answer and the check the grader adds (shown here, hidden from learners)."""
    from ..tasks import TASKS

    nb = nbformat.read(path, as_version=4)
    pos = task_positions(nb)
    for name, (_, j) in sorted(pos.items(), key=lambda kv: -kv[1][1]):
        task = TASKS[name]
        wrong, right = solution(answers, name, task.variants[0])
        put_answers(nb, {name: answer_code(task, right)})
        wrong_text = wrong if task.answer == "lab" else ", ".join(map(str, wrong))
        nb.cells[j + 1 : j + 1] = [
            new_markdown_cell(
                f"**Instructor** — `{name}`, first variant {task.variants[0]} "
                f"({len(task.variants)} variant(s); see variants.csv for each learner's). A common "
                f"wrong answer: `{wrong_text}`; its check fails and says why. The cell below is what "
                "`meshlab classroom grade` runs after this answer cell, with each learner's parameters."
            ),
            new_code_cell(hidden.cell_source(name, task.variants[0])),
        ]
    nb.metadata["meshlab"] = {"build": "instructor", "notebook": path.stem}
    return nb


def build(
    out: str | Path,
    roster: Roster | None = None,
    course: str = DEFAULT_COURSE,
    force: bool = False,
    answers: dict | None = None,
) -> dict:
    """Write both builds under ``out``; returns {"student": [folders], "instructor": folder}."""
    from ..tasks import TASKS

    out = Path(out)
    refs = reference_notebooks()
    answers = load_solutions() if answers is None else answers
    student, instructor = out / "student", out / "instructor"
    for f in (student, instructor):
        _fresh(f, force)
    folders = []
    for learner in roster.learners if roster else (None,):
        folder = student / learner if learner else student
        folder.mkdir(exist_ok=True)
        for name, path in refs.items():
            nbformat.write(student_notebook(path, course, learner), folder / path.name)
        if learner:
            (folder / VARIANT_FILE).write_text(
                json.dumps(
                    {
                        "course": course,
                        "learner": learner,
                        "seeds": {name: variant_seed(course, name, learner) for name in refs},
                    },
                    indent=1,
                )
                + "\n"
            )
        folders.append(folder)
    for name, path in refs.items():
        nbformat.write(instructor_notebook(path, answers), instructor / path.name)
    with open(instructor / "variants.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["learner", "notebook", "task", "seed", "params"])
        for learner in roster.learners if roster else ():
            for name, path in refs.items():
                seed = variant_seed(course, name, learner)
                for task in task_positions(nbformat.read(path, as_version=4)):
                    w.writerow(
                        [
                            learner,
                            name,
                            task,
                            seed,
                            json.dumps(TASKS[task].params_for(learner, name, seed), sort_keys=True),
                        ]
                    )
    return {"student": folders, "instructor": instructor}
