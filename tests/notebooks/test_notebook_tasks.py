"""Every task in every notebook, run as the notebook runs it (issue 16): its cells alone in a fresh
kernel on loopback — the cell that starts its lab and prints the goal, then the answer cell three
times: the skeleton as it ships (blank), a wrong answer, and the solution. The blank and the wrong
one fail with a message and the notebook does not crash; the solution passes.

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


def notebook_tasks():
    """(notebook, task name, the cells from the one that names the task to the answer cell)."""
    out = []
    for path in NOTEBOOKS:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for i, c in enumerate(cells):
            m = re.search(r"^task = TASKS\['([\w-]+)'\]", c.source, flags=re.M)
            if m:
                j = next(k for k in range(i, len(cells)) if "ex.task(" in cells[k].source)
                out.append(pytest.param(path, m.group(1), [x.source for x in cells[i:j + 1]],
                                        id=f"{path.stem}:{m.group(1)}"))
    return out


TASK_CELLS = notebook_tasks()


def test_every_notebook_has_two_tasks_and_every_task_is_tested_here():
    per_notebook = {p: [name for (path, name, _) in (t.values for t in TASK_CELLS) if path == p] for p in NOTEBOOKS}
    assert all(len(names) >= 2 for names in per_notebook.values()), per_notebook
    from meshlab.tasks import TASKS
    named = {name for names in per_notebook.values() for name in names}
    assert named == set(TASKS) == set(ANSWERS)


def _answer_cells(task, wrong, right) -> list[str]:
    from meshlab.classroom.solutions import answer_code
    blank = "answer = None" if task.answer == "lab" else f"answer = {task.skeleton!r}"
    return [blank] + [answer_code(task, values) for values in (wrong, right)]


@pytest.mark.parametrize("path, name, cells", TASK_CELLS)
def test_a_notebook_task_blank_wrong_and_solved(path, name, cells, tmp_path, monkeypatch):
    from meshlab.tasks import TASKS
    for var in ("MESHLAB_LEARNER", "JUPYTERHUB_USER", "MESHLAB_VARIANT_SEED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MESHLAB_PROGRESS", str(tmp_path / "progress.jsonl"))
    task = TASKS[name]
    wrong, right = solution(ANSWERS, name, task.variants[0])
    check = re.sub(r"^answer = .*$", "", cells[-1], flags=re.M).strip()
    tries = [nbformat.v4.new_code_cell(a + "\n" + check) for a in _answer_cells(task, wrong, right)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells[:-1]] + tries
                                  + [nbformat.v4.new_code_cell("lab.stop()")])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(o.ename, o.evalue) for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors

    def said(cell) -> str:          # the cell's value (what the lab printed on the way is not the verdict)
        return "".join(o["data"].get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result")
    blank, bad, good = (said(c) for c in tries)
    assert blank.startswith(f"✘ {name}:"), blank
    assert bad.startswith(f"✘ {name}:"), bad
    assert good.startswith(f"✔ {name}:"), good
    assert "Traceback" not in "".join(str(o) for c in tries for o in c.outputs)
    recorded = (tmp_path / "progress.jsonl").read_text().splitlines()
    assert len(recorded) == (2 if task.answer == "lab" else 3)     # a lab task with no answer yet is not recorded
