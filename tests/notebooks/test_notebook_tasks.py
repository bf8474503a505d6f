"""Every task in every notebook, run as the notebook runs it (issue 16): its cells in a kernel on
loopback — the cell that starts its lab and prints the goal, then the answer cell three times: the
skeleton as it ships (blank), a wrong answer, and the solution. The blank and the wrong one fail
with a message and the notebook does not crash; the solution passes. A notebook's tasks run one
after the other in one kernel, as a learner runs them (each task's cells start their own lab, and
its lab is stopped before the next task's cells run).

The answers are in ``solutions/answers_*.py`` at the repository's root (read with
meshlab.classroom.solutions, as the instructor build reads them), not in the notebooks or
meshlab.tasks: solutions are kept apart. Each task is tried with the parameters a learner with no id
gets (its first variant)."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from meshlab.classroom.solutions import load_solutions, solution

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

ANSWERS = load_solutions()


def tasks_of(path: Path) -> list[tuple[str, list[str]]]:
    """A notebook's tasks: (task name, the cells from the one that names the task to the answer cell)."""
    out = []
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    for i, c in enumerate(cells):
        m = re.search(r"^task = TASKS\['([\w-]+)'\]", c.source, flags=re.M)
        if m:
            j = next(k for k in range(i, len(cells)) if "ex.task(" in cells[k].source)
            out.append((m.group(1), [x.source for x in cells[i : j + 1]]))
    return out


TASKS_BY_NOTEBOOK = {path: tasks_of(path) for path in NOTEBOOKS}


def test_every_notebook_has_two_tasks_and_every_task_is_tested_here():
    per_notebook = {p.stem: [name for name, _ in tasks] for p, tasks in TASKS_BY_NOTEBOOK.items()}
    assert all(len(names) >= 2 for names in per_notebook.values()), per_notebook
    from meshlab.tasks import TASKS

    named = {name for names in per_notebook.values() for name in names}
    assert named == set(TASKS) == set(ANSWERS)


def _answer_cells(task, wrong, right) -> list[str]:
    from meshlab.classroom.solutions import answer_code

    blank = "answer = None" if task.answer == "lab" else f"answer = {task.skeleton!r}"
    return [blank] + [answer_code(task, values) for values in (wrong, right)]


def _said(cell) -> str:
    """The cell's value (what the lab printed on the way is not the verdict)."""
    return "".join(o["data"].get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebooks_tasks_blank_wrong_and_solved(path, tmp_path, monkeypatch):
    from meshlab.tasks import TASKS

    for var in ("MESHLAB_LEARNER", "JUPYTERHUB_USER", "MESHLAB_VARIANT_SEED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MESHLAB_PROGRESS", str(tmp_path / "progress.jsonl"))
    cells, tries, expected_records = [], {}, 0
    for name, task_cells in TASKS_BY_NOTEBOOK[path]:
        task = TASKS[name]
        wrong, right = solution(ANSWERS, name, task.variants[0])
        check = re.sub(r"^answer = .*$", "", task_cells[-1], flags=re.M).strip()
        tries[name] = [nbformat.v4.new_code_cell(a + "\n" + check) for a in _answer_cells(task, wrong, right)]
        cells += [nbformat.v4.new_code_cell(c) for c in task_cells[:-1]] + tries[name]
        cells.append(nbformat.v4.new_code_cell("lab.stop()"))
        expected_records += 2 if task.answer == "lab" else 3  # a lab task with no answer yet is not recorded
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [(o.ename, o.evalue) for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for name, (blank, bad, good) in tries.items():
        assert _said(blank).startswith(f"✘ {name}:"), _said(blank)
        assert _said(bad).startswith(f"✘ {name}:"), _said(bad)
        assert _said(good).startswith(f"✔ {name}:"), _said(good)
        assert "Traceback" not in "".join(str(o) for c in (blank, bad, good) for o in c.outputs)
    recorded = (tmp_path / "progress.jsonl").read_text().splitlines()
    assert len(recorded) == expected_records
