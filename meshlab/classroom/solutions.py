"""The tasks' solutions, read from where they live: ``solutions/answers_*.py`` at the repository's
root, outside the meshlab package that learners import (``$MESHLAB_SOLUTIONS`` names another folder).

Each file has ``ANSWERS = {task: (wrong, right)}``: for a YAML or value task, the values of the
skeleton's blanks in order; for a task whose answer is the lab, code that sets the lab up. A value may
name a parameter of the task's variant in braces (``"{version}"``): :func:`solution` fills those in
for a learner's parameters. Values without braces are those of the task's first variant (Istio's own
numbers): right for a learner with no seed, and for every variant that shares them.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from .roster import ClassroomError

REPO = Path(__file__).resolve().parents[2]
_FIELD = re.compile(r"\{(\w+)\}")


def solutions_dir() -> Path:
    return Path(os.environ.get("MESHLAB_SOLUTIONS") or REPO / "solutions")


def load_solutions(folder: str | Path | None = None) -> dict:
    """Every ``answers_*.py`` in ``folder``: task -> (wrong, right), as written (braces unfilled)."""
    folder = Path(folder) if folder else solutions_dir()
    files = sorted(folder.glob("answers_*.py"))
    if not files:
        raise ClassroomError(f"{folder}: no answers_*.py here; the instructor build needs the solutions "
                             "(a clone of the meshlab repository has them in solutions/, or set MESHLAB_SOLUTIONS)")
    out: dict = {}
    for p in files:
        spec = importlib.util.spec_from_file_location(f"meshlab_solutions_{p.stem}", p)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        twice = out.keys() & mod.ANSWERS.keys()
        if twice:
            raise ClassroomError(f"{p}: answers {sorted(twice)} again")
        out.update(mod.ANSWERS)
    return out


def _fill(value, params: dict):
    if isinstance(value, str):
        return _FIELD.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), value)
    return [_fill(v, params) for v in value]


def solution(answers: dict, task: str, params: dict) -> tuple:
    """(wrong, right) for ``task`` with a learner's ``params`` filled into their braces."""
    wrong, right = answers[task]
    return _fill(wrong, params), _fill(right, params)


def answer_code(task, values) -> str:
    """The answer cell's code for ``values`` (what ``solution`` gives): the filled skeleton as a
    string, or for a task whose answer is the lab, the code and then ``answer = 'done'``."""
    from ..exercises import fill
    if task.answer == "lab":
        return f"{values}\nanswer = 'done'"
    return f"answer = {fill(task.skeleton, *values)!r}"


def values_of(task, values) -> list[str]:
    """The values a solution puts in a learner's notebook (for a lab task, its code as one value)."""
    return [values] if task.answer == "lab" else [str(v) for v in values]
