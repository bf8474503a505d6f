"""Exercises that can fail (issue 16): predictions that stand once checked, tasks verified against
the running lab, and a progress file an instructor can grade from.

A check returns a :class:`Result`, which a notebook shows as the cell's value (✔, ✘ or …, then
why).

- :func:`check` compares a prediction with what the lab measured. The first answered check of a
  question *reveals* it: from then on that first prediction stands, and a changed one is refused
  (typing the measured value after seeing it does not make a prediction right).
- A :class:`Task` states a goal and gives a skeleton (Istio YAML with ``___`` blanks); its
  :meth:`Task.check` applies the learner's answer to the running lab and ``verify``-s the lab:
  the objects in force and traffic it sends and measures (which pods served, who was refused).
  It returns a :class:`Result` that names what is wrong — never a traceback — and a blank or
  wrong answer fails.
- Every check is appended to a JSON-lines progress file (``meshlab-progress.jsonl`` beside the
  notebook, or ``$MESHLAB_PROGRESS``): question or task, answer, pass/fail, message, time,
  notebook, learner (``$MESHLAB_LEARNER``, else JupyterHub's ``$JUPYTERHUB_USER``).

What a task's ``verify`` measures on the lab (pages, which version served, a path's calls) is
:mod:`meshlab.probes`'s.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BLANK = "___"
PROGRESS_FILE = "meshlab-progress.jsonl"


@dataclass(frozen=True)
class Result:
    """One check's outcome. ``passed`` is None when nothing was answered yet."""

    item: str
    passed: bool | None
    message: str

    def __str__(self) -> str:
        mark = {True: "✔", False: "✘", None: "…"}[self.passed]
        return f"{mark} {self.item}: {self.message}"

    __repr__ = __str__

    def __bool__(self) -> bool:
        return bool(self.passed)


class Progress:
    """The JSON-lines record of one learner's checks in one notebook (appended, never rewritten:
    a crash loses at most the line being written)."""

    def __init__(
        self, path: str | os.PathLike | None = None, *, notebook: str = "notebook", learner: str | None = None
    ):
        self.path = Path(path or os.environ.get("MESHLAB_PROGRESS") or PROGRESS_FILE)
        self.notebook = notebook
        self.learner = (
            learner
            if learner is not None
            else (os.environ.get("MESHLAB_LEARNER") or os.environ.get("JUPYTERHUB_USER"))
        )

    def record(self, kind: str, result: Result, answer=None, **extra) -> dict:
        rec = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "notebook": self.notebook,
            "learner": self.learner,
            "kind": kind,
            "item": result.item,
            "answer": _jsonable(answer),
            "passed": result.passed,
            "message": result.message,
            **extra,
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return rec

    def records(self) -> list[dict]:
        """This learner's records for this notebook, oldest first (lines that do not parse — a
        line cut by a crash — are skipped)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(rec, dict)
                and rec.get("notebook") == self.notebook
                and rec.get("learner") == self.learner
            ):
                out.append(rec)
        return out


def _jsonable(x):
    """``x`` as it reads back from the progress file, so that an answer compares equal to itself
    after a kernel restart: tuples become lists, a set a sorted list, anything else its repr."""

    def default(o):
        if isinstance(o, (set, frozenset)):
            return sorted((_jsonable(i) for i in o), key=repr)
        return repr(o)

    try:
        return json.loads(json.dumps(x, default=default))
    except (TypeError, ValueError):  # a float nan, a circular structure
        return repr(x)


#: what ``meshlab classroom build`` writes into each learner's folder, beside the notebooks: course,
#: learner and each notebook's variant seed (a kernel cannot read its notebook's metadata, so the seed
#: reaches it through this file; editing it changes only the learner's own variant, which grading ignores)
VARIANT_FILE = "meshlab-variant.json"


def classroom_variant(notebook: str) -> dict:
    """``{"learner", "seed"}`` for ``notebook`` from :data:`VARIANT_FILE` in the working directory (a
    notebook's kernel runs in the notebook's folder), or ``{}`` when there is none or it does not read."""
    try:
        data = json.loads(Path(VARIANT_FILE).read_text(encoding="utf-8"))
        seed = data["seeds"].get(notebook)
        return {"learner": str(data["learner"]), "seed": None if seed is None else str(seed)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


class Session:
    """One learner's exercises in one notebook: the predictions that stand, and the record."""

    def __init__(
        self,
        notebook: str = "notebook",
        *,
        learner: str | None = None,
        path: str | os.PathLike | None = None,
        seed: str | None = None,
    ):
        build = classroom_variant(notebook)
        if learner is None and not (os.environ.get("MESHLAB_LEARNER") or os.environ.get("JUPYTERHUB_USER")):
            learner = build.get("learner")
        self.progress = Progress(path, notebook=notebook, learner=learner)
        #: the variant seed that picks the tasks' parameters (else the learner id does): ``seed=``, else
        #: ``$MESHLAB_VARIANT_SEED`` (what the grader sets), else the one a classroom build wrote beside
        #: the notebook (:data:`VARIANT_FILE`)
        self.seed = seed if seed is not None else os.environ.get("MESHLAB_VARIANT_SEED") or build.get("seed")
        # a question's first answered check stands, across kernel restarts: read back from the file
        self.standing: dict[str, object] = {}  # as recorded (JSON): what a changed answer is compared with
        self._first: dict[str, object] = {}  # as given, in this kernel: what a changed answer is checked as
        for rec in self.progress.records():
            if rec["kind"] == "prediction" and rec["passed"] is not None:
                self.standing.setdefault(rec["item"], rec["answer"])

    def check(self, question: str, answer, measured, why: str, ok: Callable | None = None) -> Result:
        """Your prediction ``answer`` for ``question`` against what the lab ``measured``: ✔ or ✘, then
        ``why``. ``ok(answer)`` decides when equality is not the test. A None answer is "not answered
        yet" (and reveals nothing); once answered, that first answer stands."""
        if answer is None:
            return Result(
                question,
                None,
                "not answered yet: put your prediction in the cell above the run, run it, then this cell",
            )
        refused = ""
        if question in self.standing and _jsonable(answer) != self.standing[question]:
            first = self._first.get(question, self.standing[question])
            refused = (
                f"refused: you changed your prediction ({answer!r}) after seeing the measurement; your "
                f"first prediction stands. "
            )
            self.progress.record("prediction-changed", Result(question, False, refused.strip()), answer)
            answer = first
        try:
            right = bool(ok(answer)) if ok else _jsonable(answer) == _jsonable(measured)
        except (TypeError, ValueError, KeyError, AttributeError):
            res = Result(
                question,
                False,
                refused + f"cannot compare {answer!r} with what was measured "
                f"({measured!r}): see the kind of answer asked for",
            )
        else:
            res = Result(
                question,
                right,
                refused
                + ("right" if right else "not quite")
                + f" (you said {answer!r}; measured: {measured!r})\n{why}",
            )
        self.standing.setdefault(question, _jsonable(answer))
        self._first.setdefault(question, answer)
        self.progress.record("prediction", res, answer, measured=_jsonable(measured))
        return res

    def show(self, question: str, answer, measured, why: str, ok: Callable | None = None) -> None:
        """:meth:`check`, shown in the notebook wherever it is called in a cell (a notebook binds
        ``check = session(...).show``)."""
        res = self.check(question, answer, measured, why, ok)
        try:
            from IPython.display import display
        except ImportError:
            print(res)
        else:
            display(res)

    def params(self, task: "Task") -> dict:
        """This learner's parameters for ``task`` (see :meth:`Task.params_for`)."""
        return task.params_for(self.progress.learner, self.progress.notebook, self.seed)

    def goal(self, task: "Task") -> str:
        """``task``'s goal with this learner's parameters (in lines that a notebook's output does not
        break inside a word), then its skeleton — unless the skeleton is a bare blank (a value
        answered in a cell of its own), which would print as a stray ``___``."""
        import textwrap

        goal = textwrap.fill(task.goal_for(self.params(task)), 96)
        return goal if task.skeleton.strip() == BLANK else goal + "\n\n" + task.skeleton

    def begin(self, task: "Task", lab) -> str:
        """Put ``lab`` in ``task``'s starting state (with this learner's parameters) and return its
        goal and skeleton, as :meth:`goal`."""
        if task.setup is not None:
            task.setup(lab, self.params(task))
        return self.goal(task)

    def task(self, task: "Task", lab, answer=None) -> Result:
        """:meth:`Task.check` with this learner's parameters, recorded (an attempt with no answer
        yet is not)."""
        params = self.params(task)
        res = task.check(lab, answer, params)
        if task.answer == "lab" and answer is not None:  # the answer is the lab as the learner left it
            answer = {
                "mode": getattr(lab, "mode", None),
                "waypoints": sorted(s for _, s in getattr(lab, "waypoint_of", {})),
            }
        if answer is not None:
            self.progress.record("task", res, answer, params=params, seed=self.seed)
        return res


_session: Session | None = None


def session(notebook: str | None = None, **kw) -> Session:
    """The notebook's session: ``session('02-waypoints')`` at the top of a notebook names it (and
    ``learner=``, ``path=`` may be given); ``session()`` returns the current one."""
    global _session
    if notebook is not None or kw or _session is None:
        from .viz import show_figures_in_jupyter

        show_figures_in_jupyter()  # the notebook's Figures (meshlab's and its own) draw as PNG
        _session = Session(notebook or os.environ.get("MESHLAB_NOTEBOOK", "notebook"), **kw)
    return _session


def check(question: str, answer, measured, why: str, ok: Callable | None = None) -> Result:
    """:meth:`Session.check` on the current :func:`session`."""
    return session().check(question, answer, measured, why, ok)


# -- tasks -----------------------------------------------------------------------------------------


def fill(skeleton: str, *values) -> str:
    """``skeleton`` with its blanks (``___``) filled by ``values``, in order (each as ``str``): what a
    learner does to a task's skeleton, and what a test does to try a solution. Every blank must be
    filled."""
    out = skeleton
    for v in values:
        out = out.replace(BLANK, str(v), 1)
    if BLANK in out:
        raise ValueError(f"{out.count(BLANK)} blank(s) left unfilled")
    return out


@dataclass(frozen=True)
class Task:
    """A goal, a skeleton to complete, and ``verify(lab, params, before)`` → :class:`Result` on the
    running lab. A task with ``variants`` gives each learner parameters of their own
    (:meth:`params_for`: the same learner always gets the same ones; with no learner and no seed,
    ``variants[0]``, Istio's own numbers); ``goal`` is formatted with them.

    ``answer`` says what the learner's answer is: ``"yaml"`` (Istio YAML, applied to the lab before
    the verification) or ``"lab"`` (the running lab as the learner left it — a task done with the
    control panel — nothing to apply; the learner says ``answer = 'done'`` when it is set up) or
    ``"value"`` (a value, not Istio config: the skeleton's YAML with its blanks filled, or a Python
    value; nothing is applied, and ``verify`` gets the value in place of ``before``).
    ``before(lab)``, when given, is taken just before the answer is applied and passed to
    ``verify`` (what the answer must not change: the pods' processes, say).
    ``setup(lab, params)`` puts the lab in the task's starting state (:meth:`Session.begin`)."""

    name: str
    goal: str
    skeleton: str
    verify: Callable[[object, dict, object], Result] = field(repr=False)
    variants: tuple[dict, ...] = ({},)
    answer: str = "yaml"
    before: Callable[[object], object] | None = field(default=None, repr=False)
    setup: Callable[[object, dict], object] | None = field(default=None, repr=False)

    def params_for(self, learner: str | None = None, notebook: str = "", seed: str | None = None) -> dict:
        """This learner's parameters: picked by a hash of (notebook, task, learner), so they do not
        change from one run, kernel or machine to the next. A variant ``seed`` (an instructor's
        build gives each learner's notebook one, from course, notebook and learner) picks instead:
        the same seed, the same parameters; another seed, as likely others."""
        if (learner is None and seed is None) or len(self.variants) == 1:
            return dict(self.variants[0])
        import hashlib

        key = f"seed:{seed}/{self.name}" if seed is not None else f"{notebook}/{self.name}/{learner}"
        h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return dict(self.variants[h % len(self.variants)])

    def goal_for(self, params: dict | None = None) -> str:
        return self.goal.format(**(params if params is not None else self.variants[0]))

    def check(self, lab, answer: str | None, params: dict | None = None) -> Result:
        """Apply ``answer`` (Istio YAML) to ``lab`` and verify the lab. Never raises for the
        learner's mistakes: a blank, YAML the lab refuses, or a lab that does the wrong thing is a
        failed Result saying what is wrong."""
        from .errors import MeshlabError

        if self.answer == "lab":
            if answer is None or not str(answer).strip():
                return Result(
                    self.name,
                    False,
                    "not checked yet: set the lab up as the goal says, then set answer "
                    "= 'done' and run this cell again",
                )
            return self._verify(lab, params, None)
        if answer is None or not str(answer).strip():
            return Result(
                self.name,
                False,
                "not answered: complete the skeleton, put it in `answer`, and run this cell again",
            )
        if BLANK in str(answer):
            n = str(answer).count(BLANK)
            return Result(self.name, False, f"{n} blank{'s' if n > 1 else ''} ({BLANK}) still to fill in")
        if self.answer == "value":
            if isinstance(answer, str):
                import yaml

                try:
                    answer = yaml.safe_load(answer)
                except yaml.YAMLError as e:
                    return Result(self.name, False, f"your answer does not read as YAML: {e}")
            return self._verify(lab, params, answer)
        if not getattr(lab, "running", False):
            return Result(
                self.name,
                False,
                "the lab is not running: start it (run the cell that starts it), then check again",
            )
        try:
            before = self.before(lab) if self.before else None
            lab.apply(answer)
        except (MeshlabError, TypeError, ValueError) as e:  # ValueError: PolicyError, or not YAML
            return Result(self.name, False, f"the lab refused your YAML: {e}")
        return self._verify(lab, params, before)

    def _verify(self, lab, params: dict | None, before) -> Result:
        from .errors import MeshlabError

        if not getattr(lab, "running", False):
            return Result(
                self.name,
                False,
                "the lab is not running: start it (run the cell that starts it), then check again",
            )
        try:
            return self.verify(lab, dict(self.variants[0]) if params is None else params, before)
        except MeshlabError as e:
            return Result(self.name, False, f"the lab could not run the check: {e}")


# -- a task's verdict -------------------------------------------------------------------------------


def fails(item: str, problems: list[str], passed_message: str) -> Result:
    """The verdict of a task's verify: passed when nothing is wrong, else every problem named."""
    return Result(item, not problems, "; ".join(problems) if problems else passed_message)
