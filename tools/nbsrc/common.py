"""What every notebook's source shares: the navigation line, the setup of ``check``, a task's cells.

A notebook's source is one module here, ``nNN_name.py``, with ``NAME`` (the notebook's file name
without ``.ipynb``), ``TITLE`` (as the navigation line shows it) and ``cells()``;
``tools/make_notebooks.py`` finds them all and writes ``notebooks/NAME.ipynb``.
"""

import re
from pathlib import Path

from nbformat.v4 import new_code_cell

from meshlab.tasks import TASKS

HERE = Path(__file__).resolve().parent


def sources() -> list[Path]:
    """The notebooks' source modules, in notebook order."""
    return sorted(HERE.glob("n[0-9][0-9]_*.py"))


def titles() -> list[tuple[str, str]]:
    """(NAME, TITLE) of every notebook, read from the sources' text (no import: a source may use this)."""
    out = []
    for p in sources():
        text = p.read_text()
        name = re.search(r'^NAME = "([^"]+)"', text, flags=re.M)
        title = re.search(r'^TITLE = "([^"]+)"', text, flags=re.M)
        if not (name and title):
            raise SystemExit(f"{p}: a notebook source needs NAME = \"...\" and TITLE = \"...\" lines")
        out.append((name.group(1), title.group(1)))
    return out


def next_link(current: str, about: str = "") -> str:
    """The last line of a notebook: a link to the next one (and what it is about), or back to the start."""
    names = titles()
    i = [n for n, _ in names].index(current)
    if i + 1 < len(names):
        name, title = names[i + 1]
        return f"Next: [{title}]({name}.ipynb)" + (f" — {about}." if about else ".")
    name, title = names[0]
    return f"Back to the start: [{title}]({name}.ipynb)."


def nav(current: str) -> str:
    """The navigation line: this notebook in bold, the others as links."""
    return "Navigation: " + " · ".join(
        f"**{title}**" if name == current else f"[{title}]({name}.ipynb)" for name, title in titles()
    )


def check_setup(notebook: str) -> str:
    """The setup cell's lines that give a notebook its ``check`` (meshlab.exercises): a prediction
    left at None is "not answered yet" (so the notebook runs headless); a question's first answered
    check stands, and the progress file records it."""
    return (
        "from meshlab.exercises import session\n"
        f"check = session('{notebook}').show   # check('q1', my_q1, measured, why): ✔ or ✘, then why\n"
    )


def task_cells(notebook: str, task: str, start_lab: str) -> list:
    """A task's two code cells: its lab and goal (with the learner's own parameters; the cell runs
    alone after a restart), then the answer and the check against the running lab (meshlab.exercises)."""
    return [
        new_code_cell(
            "from meshlab import Lab\n"
            "from meshlab.exercises import session\n"
            "from meshlab.tasks import TASKS\n"
            f"ex = session({notebook!r})\n"
            f"task = TASKS[{task!r}]\n"
            + start_lab
            + "print(ex.begin(task, lab))   # the lab as the task starts, and your goal"
        ),
        new_code_cell(f"answer = None   # {ANSWER_HINTS[TASKS[task].answer]}\nex.task(task, lab, answer)"),
    ]


#: what the answer cell's comment asks for, by the kind of answer a task takes (meshlab.exercises.Task)
ANSWER_HINTS = {
    "yaml": "the skeleton as a '''...''' string, every ___ filled in",
    "lab": "'done' once the lab is set up as the goal says",
    "value": "the value the goal asks for (the skeleton's blanks filled in)",
}
