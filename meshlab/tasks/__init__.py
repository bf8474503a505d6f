"""The notebooks' tasks (issue 16): each a goal, a skeleton and a ``verify`` that checks the running
lab — the objects in force and traffic it sends and measures — with a message that names what is
wrong. The mechanism (:class:`~meshlab.exercises.Task`, results, the progress file) is in
:mod:`meshlab.exercises`; the notebooks take a task by name from :data:`TASKS`.

One module per topic, each with its own ``TASKS``; this package gathers every module's:
:mod:`.enrollment`, :mod:`.routing`, :mod:`.canary`, :mod:`.security`, :mod:`.authorization`,
:mod:`.resilience`, :mod:`.circuit_breaking`, :mod:`.cost`, :mod:`.operations`, :mod:`.migration`,
:mod:`.observability`, :mod:`.capstone`. Every task is tested blank, wrong and solved
from its notebook's cells (``tests/notebooks/test_notebook_tasks.py``) and on a running lab
(``tests/integration/test_exercise_tasks.py``).
"""

from __future__ import annotations

import importlib
import pkgutil

from ..exercises import Task

__all__ = ["TASKS"]


def _gather() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        for name, task in importlib.import_module(f"{__name__}.{m.name}").TASKS.items():
            if name in tasks:
                raise RuntimeError(f"two tasks named {name!r} (meshlab.tasks.{m.name} and another module)")
            tasks[name] = task
    return tasks


TASKS: dict[str, Task] = _gather()
