"""The tasks' solutions, read from where they live: ``solutions/answers_*.py`` at the repository's
root, outside the meshlab package that learners import (``$MESHLAB_SOLUTIONS`` names another folder).

Each file has ``ANSWERS = {task: (wrong, right)}``: for a YAML or value task, the values of the
skeleton's blanks in order; for a task whose answer is the lab, code that sets the lab up. One
solution fits every variant of its task (``Task.variants``; each learner gets one, ``Task.params_for``):

- a value may name a parameter of the variant in braces (``"{version}"``, ``"{service}-callers"``):
  :func:`solution` fills those in with a learner's parameters; a name the variant does not have is an
  error naming the task and the parameters it has (a typo never reaches a notebook);
- a value that is computed from the parameters in a way braces cannot say (``attempts`` one less than
  the tries allowed, a table lookup, code that depends on which faults were seeded) is a function of
  the parameters: ``lambda p: p["max_tries"] - 1``; it may be the whole answer (a lab task's code) or
  one value of the list;
- a value with neither is the same for every variant.

The tests on running labs (``tests/integration/test_tasks_*.py``) and the instructor's build and
grading all read the solutions from here: :func:`answer_for` gives the answer a learner with given
parameters hands in, :func:`run_lab_answer` runs a lab task's code as the answer cell does.
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
        raise ClassroomError(
            f"{folder}: no answers_*.py here; the instructor build needs the solutions "
            "(a clone of the meshlab repository has them in solutions/, or set MESHLAB_SOLUTIONS)"
        )
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


def _fill(value, params: dict, task: str):
    if callable(value):
        try:
            return value(params)
        except (KeyError, TypeError, ValueError) as e:
            raise ClassroomError(
                f"{solutions_dir()}: the solution of {task!r} could not be computed for the "
                f"parameters {params}: {type(e).__name__}: {e}"
            ) from None
    if isinstance(value, str):

        def field(m):
            if m.group(1) not in params:
                raise ClassroomError(
                    f"{solutions_dir()}: the solution of {task!r} names {{{m.group(1)}}}, which its "
                    f"variants do not have (parameters: {', '.join(sorted(params)) or 'none'})"
                )
            return str(params[m.group(1)])

        return _FIELD.sub(field, value)
    return [_fill(v, params, task) for v in value]


def solution(answers: dict, task: str, params: dict) -> tuple:
    """(wrong, right) for ``task`` with a learner's ``params`` filled in (braces, and functions of
    the parameters called)."""
    wrong, right = answers[task]
    return _fill(wrong, params, task), _fill(right, params, task)


def answer_for(task, params: dict | None = None, *, wrong: bool = False, answers: dict | None = None) -> str:
    """What a learner with ``params`` (default: the task's first variant) hands in for ``task`` (a
    :class:`~meshlab.exercises.Task`): the skeleton filled with the solution (or with the wrong
    answer), as ``Task.check`` takes it; for a lab task, its code (run it with :func:`run_lab_answer`)."""
    from ..exercises import fill

    answers = load_solutions() if answers is None else answers
    values = solution(answers, task.name, dict(task.variants[0]) if params is None else params)[
        0 if wrong else 1
    ]
    return values if task.answer == "lab" else fill(task.skeleton, *values)


class _Begin:
    """What a lab task's code calls as ``ex.begin(task, lab)`` (a notebook's session,
    :meth:`meshlab.exercises.Session.begin`), for the variant ``params`` rather than a learner's."""

    def __init__(self, params: dict):
        self.params = params

    def begin(self, task, lab) -> str:
        if task.setup is not None:
            task.setup(lab, self.params)
        return task.goal_for(self.params)


def run_lab_answer(code: str, task, lab, params: dict | None = None) -> dict:
    """Run a lab task's answer ``code`` (:func:`answer_for`) as its notebook's answer cell would, with
    ``lab``, ``task``, ``Lab`` and ``ex`` (whose ``begin`` sets the task up for ``params``, default its
    first variant). Returns the names the code left: ``["lab"]`` is the lab to check (code may stop
    the lab and start another — the caller stops that one)."""
    from ..lab import Lab

    ns = {
        "lab": lab,
        "task": task,
        "Lab": Lab,
        "ex": _Begin(dict(task.variants[0]) if params is None else params),
    }
    exec(code, ns)
    return ns


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
