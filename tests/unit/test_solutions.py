"""The tasks' solutions (``solutions/answers_*.py``, read by meshlab.classroom.solutions) fit every
learner's variant: for every task and every variant the solution and the wrong answer fill in
without an error and leave no blank, the YAML reads, the code compiles; and where a variant changes
what the answer must say, the answers differ. No lab: what each answer does to a running lab is
tested in tests/integration/test_tasks_*.py and tests/integration/test_exercise_tasks.py."""

import itertools
import json

import pytest
import yaml

from meshlab.classroom.roster import ClassroomError
from meshlab.classroom.solutions import answer_for, load_solutions, solution
from meshlab.exercises import BLANK
from meshlab.tasks import TASKS

ANSWERS = load_solutions()

#: parameters a task's answer does not depend on, and why: they change the lab the task starts from or
#: what its check measures, not what the learner writes
ANSWER_FREE = {
    "stop-the-retry-storm": {"codes", "fail"},  # the flaky endpoint's mix; max_tries sets attempts
    "page-deadline": {"delay"},  # the injected delay; the page's limit sets the timeout
    "eject-the-crashed-pod": {"fails"},  # one consecutive error ejects: within any budget
    "l7-on-a-budget": {"budget"},  # the same budget in every variant
    "enroll-under-load": {"max_failed"},  # the check's budget of failed pages
    "migrate-without-losing-the-route": {"version"},  # see ONE_ANSWER
    "l7-policy-to-the-waypoint": {"method"},  # GET is allowed, whatever method the check sends
    "let-the-waypoint-through": {
        "caller",
        "intruder",
    },  # account names the caller; the intruder is the check's
    "read-only-through-the-waypoint": {"caller", "caller_pod"},  # account names the caller
    "only-one-caller": {"caller"},  # account names the caller
    "only-one-caller-through-the-waypoint": {"caller"},
}

#: tasks whose variants differ only in what the answer does not say: every learner writes the same
#: answer, so a neighbour's passes. migrate-without-losing-the-route: the variant picks the version
#: the VirtualService in force routes to; the answer (waypoint, label, namespace) names no version
ONE_ANSWER = {"migrate-without-losing-the-route"}


def variants():
    return [
        pytest.param(name, i, params, id=f"{name}:{i}")
        for name, task in sorted(TASKS.items())
        for i, params in enumerate(task.variants)
    ]


def test_every_task_has_a_solution_and_every_solution_a_task():
    assert set(ANSWERS) == set(TASKS)


@pytest.mark.parametrize("name, i, params", variants())
def test_the_solution_fills_in_for_every_variant(name, i, params):
    """Both answers fill in (braces and functions of the parameters alike), for the parameters as a
    learner's session has them and as the grader passes them (through JSON: tuples become lists)."""
    task = TASKS[name]
    for p in (dict(params), json.loads(json.dumps(params))):
        for wrong in (False, True):
            given = answer_for(task, p, wrong=wrong, answers=ANSWERS)
            assert isinstance(given, str) and BLANK not in given, (name, p, given)
            assert not any(f"{{{k}}}" in given for k in p), (name, p, given)  # no parameter left unfilled
            if task.answer == "lab":
                compile(given, f"<{name} {'wrong' if wrong else 'solution'}>", "exec")
            else:
                list(yaml.safe_load_all(given))  # reads as YAML
        assert answer_for(task, p, answers=ANSWERS) != answer_for(task, p, wrong=True, answers=ANSWERS)


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if len(t.variants) > 1))
def test_variants_that_differ_get_different_answers(name):
    """Two variants whose parameters differ in one the answer depends on (every parameter but
    those ANSWER_FREE names, with the reason) get different solutions: a neighbour's answer is not
    this learner's. Every task with variants whose goal names a parameter is held to it."""
    task = TASKS[name]
    free = ANSWER_FREE.get(name, set())
    assert free <= set(task.variants[0]), (
        f"{name}: ANSWER_FREE names {free - set(task.variants[0])}, not a parameter"
    )
    if "{" in task.goal and name not in ONE_ANSWER:
        assert set(task.variants[0]) - free, (
            f"{name}: its goal names parameters, and its answer depends on none"
        )
    if name in ONE_ANSWER:  # still so? (when the task changes, take it off the list)
        assert len({answer_for(task, v, answers=ANSWERS) for v in task.variants}) == 1, name
    for a, b in itertools.combinations(task.variants, 2):
        if any(a[k] != b[k] for k in a if k not in free):
            assert answer_for(task, a, answers=ANSWERS) != answer_for(task, b, answers=ANSWERS), (name, a, b)


def test_a_parameter_the_variants_lack_is_an_error_naming_the_task():
    answers = {"t": (["{servce}"], [lambda p: p["missing"]])}
    with pytest.raises(
        ClassroomError, match=r"'t' names \{servce\}, which its variants do not have \(parameters: service\)"
    ):
        solution(answers, "t", {"service": "reviews"})
    answers = {"t": (["{service}"], [lambda p: p["missing"]])}
    with pytest.raises(ClassroomError, match=r"solution of 't' could not be computed .* KeyError: 'missing'"):
        solution(answers, "t", {"service": "reviews"})


def test_braces_that_name_no_parameter_are_yaml():
    """A flow mapping in a value (``{host: reviews}``) is not a parameter."""
    answers = {"t": (["x"], ["{host: reviews}, {service}"])}
    assert solution(answers, "t", {"service": "ratings"})[1] == ["{host: reviews}, ratings"]
