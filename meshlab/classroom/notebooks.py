"""The reference notebooks (``notebooks/``, generated from ``tools/nbsrc/``) as the classroom reads
them: which tasks each holds and where, and the edits the two builds make.

A task occupies two code cells (``tools/nbsrc/common.py``'s ``task_cells``): the one that names it
(``task = TASKS['name']``, starts its lab, prints the goal) and the answer cell (``answer = ...``, then
``ex.task(task, lab, answer)``). Solutions sit in folded markdown blocks,
``<details><summary>Solution</summary> ... </details>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .roster import ClassroomError
from .solutions import REPO

TASK_CELL = re.compile(r"^task = TASKS\['([\w-]+)'\]", flags=re.M)
SOLUTION_BLOCK = re.compile(r"\s*<details><summary>Solution</summary>.*?</details>", flags=re.S)
ANSWER_LINE = re.compile(r"^answer = .*$", flags=re.M)


def notebooks_dir() -> Path:
    return REPO / "notebooks"


def reference_notebooks(folder: Path | None = None) -> dict[str, Path]:
    """NAME (file name without .ipynb) -> path, in order."""
    folder = folder or notebooks_dir()
    found = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    if not found:
        raise ClassroomError(
            f"{folder}: no notebooks (NN-name.ipynb) here; the classroom commands run from a "
            "clone of the meshlab repository"
        )
    return {p.stem: p for p in found}


def read_notebook(path: Path):
    """The notebook at ``path``, or a :class:`ClassroomError` saying why it is not one."""
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ClassroomError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ClassroomError(f"{path}: a folder, not a notebook (.ipynb)") from None
    except Exception as e:  # nbformat raises several kinds for a non-notebook
        raise ClassroomError(
            f"{path}: not a Jupyter notebook ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        ) from None


def task_positions(nb) -> dict[str, tuple[int, int]]:
    """task name -> (index of the cell that names it, index of its answer cell) in ``nb.cells``;
    a task whose answer cell is gone maps to (i, -1)."""
    out = {}
    for i, c in enumerate(nb.cells):
        m = TASK_CELL.search(c.source) if c.cell_type == "code" else None
        if m and m.group(1) not in out:
            j = next(
                (
                    k
                    for k in range(i + 1, len(nb.cells))
                    if nb.cells[k].cell_type == "code"
                    and ("ex.task(" in nb.cells[k].source or ANSWER_LINE.search(nb.cells[k].source))
                ),
                -1,
            )
            out[m.group(1)] = (i, j)
    return out


def tasks_of(nb) -> list[str]:
    return list(task_positions(nb))


def without_solutions(nb) -> int:
    """Remove every folded solution block from ``nb``'s markdown (and a cell left empty); returns how many."""
    n, keep = 0, []
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source, k = SOLUTION_BLOCK.subn("", c.source)
            n += k
            if k and not c.source.strip():
                continue
        keep.append(c)
    nb.cells = keep
    return n


def unanswered(nb) -> list[str]:
    """The tasks whose answer cell does not start as ``answer = None`` (the student build refuses those)."""
    pos = task_positions(nb)

    def blank(j):
        m = ANSWER_LINE.search(nb.cells[j].source) if j >= 0 else None
        return m is not None and m.group(0).startswith("answer = None")

    return [name for name, (_, j) in pos.items() if not blank(j)]


def put_answers(nb, codes: dict[str, str]) -> None:
    """Replace the ``answer = ...`` line of each named task's answer cell with ``codes[task]`` (what a
    learner does; what the instructor build does with the solutions)."""
    for name, (_, j) in task_positions(nb).items():
        if name in codes and j >= 0:
            nb.cells[j].source = ANSWER_LINE.sub(lambda m: codes[name], nb.cells[j].source, count=1)
