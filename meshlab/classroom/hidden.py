"""What the grader's hidden cells run in a submission's kernel, right after a task's answer cell:
the task's check (its answer applied again, then its ``verify`` on the running lab) with the
parameters the *grader* derived, printed as one marked JSON line that the grader reads back.

The learner's own session, the progress file and the outputs the notebook recorded play no part.
"""

from __future__ import annotations

import json

MARK = "meshlab-grade:"


def cell_source(task: str, params: dict) -> str:
    """The hidden cell the grader adds after ``task``'s answer cell."""
    return (
        "from meshlab.classroom.hidden import grade as _meshlab_grade\n"
        f"_meshlab_grade({task!r}, {json.dumps(params, sort_keys=True)!r}, globals())"
    )


def grade(task: str, params_json: str, ns: dict) -> None:
    from ..exercises import Result
    from ..tasks import TASKS

    t, params = TASKS[task], json.loads(params_json)
    lab, answer = ns.get("lab"), ns.get("answer")
    try:
        if lab is None:
            res = Result(task, False, "no lab: the task's first cell did not start one")
        else:
            res = t.check(lab, answer, params)
    except Exception as e:  # whatever the learner's code left behind, a grade
        res = Result(task, False, f"the check could not run: {type(e).__name__}: {e}")
    print(MARK + json.dumps({"task": task, "passed": bool(res.passed), "message": res.message}))
