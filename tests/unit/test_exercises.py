"""meshlab.exercises without a lab: predictions that stand once checked, the progress file, and
what a task says about a blank or refused answer (issue 16)."""

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshlab import exercises
from meshlab.errors import PolicyError
from meshlab.exercises import Result, Session, Task
from meshlab.tasks import TASKS


@pytest.fixture
def sess(tmp_path):
    return Session("02-waypoints", learner="ada", path=tmp_path / "progress.jsonl")


def test_an_unanswered_prediction_reveals_nothing_and_records_nothing(sess):
    res = sess.check("q1", None, 3, "why")
    assert res.passed is None and "not answered" in res.message
    assert sess.progress.records() == []
    assert sess.check("q1", 2, 3, "why").passed is False  # the first answer is still free


def test_the_first_answered_prediction_stands_and_a_changed_one_is_refused(sess):
    assert sess.check("q1", 2, 3, "three hops").passed is False
    again = sess.check("q1", 3, 3, "three hops")  # typed after seeing the measurement
    assert again.passed is False and "refused" in again.message and "you said 2" in again.message
    kinds = [r["kind"] for r in sess.progress.records()]
    assert kinds == ["prediction", "prediction-changed", "prediction"]
    assert sess.check("q1", 2, 3, "three hops").passed is False  # the same answer: checked, no refusal
    assert sess.check("q2", 3, 3, "x").passed is True  # another question is its own


def test_a_prediction_stands_across_a_kernel_restart(tmp_path):
    path = tmp_path / "p.jsonl"
    Session("01", learner="ada", path=path).check("q1", "ambient", "sidecar", "why")
    restarted = Session("01", learner="ada", path=path)
    assert restarted.check("q1", "sidecar", "sidecar", "why").passed is False
    other_learner = Session("01", learner="bob", path=path)
    assert other_learner.check("q1", "sidecar", "sidecar", "why").passed is True


def test_a_set_or_tuple_answer_is_the_same_answer_after_a_restart(tmp_path):
    path = tmp_path / "p.jsonl"
    answer = {("sleep-legacy", "foo"), ("sleep-legacy", "bar")}
    Session("03", learner="ada", path=path).check("q3", answer, answer, "why")
    again = Session("03", learner="ada", path=path).check("q3", set(reversed(sorted(answer))), answer, "why")
    assert again.passed is True and "refused" not in again.message


def test_a_changed_answer_is_checked_as_the_first_one_was_given(sess):
    first = {("sleep-legacy", "foo")}
    assert sess.check("q3", first, first, "why", ok=lambda a: set(a) == first).passed is True
    again = sess.check("q3", {("sleep-foo", "bar")}, first, "why", ok=lambda a: set(a) == first)
    assert again.passed is True and "refused" in again.message


def test_each_record_says_who_what_and_how_it_went(sess):
    sess.check("q1", 2, 3, "why")
    [rec] = [json.loads(line) for line in sess.progress.path.read_text().splitlines()]
    assert rec["notebook"] == "02-waypoints" and rec["learner"] == "ada" and rec["item"] == "q1"
    assert rec["answer"] == 2 and rec["measured"] == 3 and rec["passed"] is False and rec["time"]


def test_a_line_cut_by_a_crash_is_skipped_and_the_rest_read(sess):
    sess.check("q1", 1, 1, "why")
    with open(sess.progress.path, "a") as f:
        f.write('{"notebook": "02-waypoints", "learn')
    assert len(Session("02-waypoints", learner="ada", path=sess.progress.path).progress.records()) == 1


def test_a_comparison_that_cannot_be_made_is_a_failure_that_says_so(sess):
    res = sess.check("q1", "three", 3, "why", ok=lambda a: a > 2)
    assert res.passed is False and "cannot compare" in res.message


@given(st.one_of(st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3), st.none()))
def test_any_answer_is_recorded_or_reported_never_raised(tmp_path_factory, answer):
    s = Session("n", learner="x", path=tmp_path_factory.mktemp("p") / "p.jsonl")
    res = s.check("q", answer, 3, "why")
    assert isinstance(res, Result)


class FakeLab:
    def __init__(self, running=True, refuse=None):
        self.running, self.refuse, self.applied = running, refuse, []

    def apply(self, text):
        if self.refuse:
            raise PolicyError(self.refuse, file="<answer>", line=3, field="spec.action")
        self.applied.append(text)


def _task(verdict=True):
    return Task(
        "t", "goal", "action: ___", verify=lambda lab, params, before: Result("t", verdict, "verified")
    )


@pytest.mark.parametrize(
    "answer, said",
    [(None, "not answered"), ("  ", "not answered"), ("action: ___\nprincipals: [___]", "2 blanks")],
)
def test_a_blank_answer_fails_and_says_what_is_missing(answer, said):
    lab = FakeLab()
    res = _task().check(lab, answer)
    assert res.passed is False and said in res.message and lab.applied == []


def test_yaml_the_lab_refuses_is_a_failure_naming_line_and_field():
    res = _task().check(FakeLab(refuse="action must be ALLOW, DENY, AUDIT or CUSTOM"), "action: ALOW")
    assert res.passed is False and "line 3" in res.message and "spec.action" in res.message


def test_an_answer_that_is_not_yaml_text_is_a_failure_not_a_traceback():
    class Picky(FakeLab):
        def apply(self, text):
            raise TypeError(f"cannot read policies from {type(text).__name__}")

    res = _task().check(Picky(), 42)
    assert res.passed is False and "cannot read policies from int" in res.message


def test_a_stopped_lab_is_a_failure_not_a_traceback():
    res = _task().check(FakeLab(running=False), "action: ALLOW")
    assert res.passed is False and "not running" in res.message


def test_the_verdict_is_verify_s(tmp_path):
    assert _task(True).check(FakeLab(), "action: ALLOW").passed is True
    assert _task(False).check(FakeLab(), "action: ALLOW").passed is False
    s = Session("n", learner="x", path=tmp_path / "p.jsonl")
    s.task(_task(True), FakeLab(), "action: ALLOW")
    [rec] = s.progress.records()
    assert rec["kind"] == "task" and rec["passed"] is True and rec["answer"] == "action: ALLOW"


def test_every_task_skeleton_has_blanks_and_is_refused_as_it_ships():
    for task in TASKS.values():
        if task.answer == "yaml":
            assert exercises.BLANK in task.skeleton
            assert task.check(FakeLab(), task.skeleton).passed is False


def test_what_must_not_change_is_taken_before_the_answer_is_applied():
    order = []
    lab = FakeLab()
    lab.apply = lambda answer: order.append("apply")
    task = Task(
        "t",
        "goal",
        "x: ___",
        before=lambda lab: order.append("before") or "pids",
        verify=lambda lab, params, before: Result("t", before == "pids", str(order)),
    )
    assert task.check(lab, "x: 1").passed is True and order == ["before", "apply"]


def test_a_task_done_with_the_panel_checks_the_lab_as_it_stands_and_records_it(tmp_path):
    lab = FakeLab()
    lab.mode, lab.waypoint_of = "ambient", {("default", "reviews"): "waypoint"}
    lab.apply = lambda answer: pytest.fail("nothing is applied for a task whose answer is the lab")
    task = Task(
        "t",
        "goal",
        "(the panel)",
        answer="lab",
        verify=lambda lab, params, before: Result("t", lab.mode == "ambient", "verified"),
    )
    s = Session("nb", learner="x", path=tmp_path / "p.jsonl")
    assert s.task(task, lab).passed is False  # not said to be done: not checked
    assert s.progress.records() == []
    assert s.task(task, lab, 'done').passed is True
    [rec] = s.progress.records()
    assert rec["answer"] == {"mode": "ambient", "waypoints": ["reviews"]}
    assert task.check(FakeLab(running=False), 'done').passed is False


def test_a_value_answer_is_read_not_applied_and_verify_gets_it(tmp_path):
    lab = FakeLab()
    lab.apply = lambda answer: pytest.fail("nothing is applied for a task whose answer is a value")
    task = Task(
        "t",
        "goal",
        "holders: [___]\n",
        answer="value",
        verify=lambda lab, params, value: Result(
            "t", value in ({"holders": ["a", "b"]}, ["a", "b"]), repr(value)
        ),
    )
    assert "blank" in task.check(lab, task.skeleton).message
    assert task.check(lab, None).passed is False
    assert task.check(lab, "holders: [a, b]\n").passed is True  # the skeleton filled in: YAML
    assert task.check(lab, ["a", "b"]).passed is True  # or the Python value itself
    res = task.check(lab, "holders: [a, b")
    assert res.passed is False and "does not read as YAML" in res.message
    s = Session("nb", learner="x", path=tmp_path / "p.jsonl")
    s.task(task, lab, ["a", "b"])
    [rec] = s.progress.records()
    assert rec["answer"] == ["a", "b"] and rec["passed"] is True


def test_begin_puts_the_lab_in_the_tasks_starting_state_with_the_learners_parameters(tmp_path):
    applied = []
    task = Task(
        "t",
        "delay {d}",
        "x: ___",
        verify=lambda lab, params, before: Result("t", True, ""),
        variants=({"d": 1}, {"d": 2}, {"d": 3}),
        setup=lambda lab, params: applied.append(params["d"]),
    )
    s = Session("nb", learner="ada", path=tmp_path / "p.jsonl")
    goal = s.begin(task, FakeLab())
    assert applied == [s.params(task)["d"]] and f"delay {applied[0]}" in goal


def test_each_learner_gets_parameters_of_their_own_the_same_every_time():
    task = TASKS["jason-to-reviews-v2"]
    assert task.params_for(None) == {"user": "jason", "version": "v2"}  # Istio's own task
    many = {
        name: task.params_for(name, "02-waypoints") for name in ("ada", "bob", "chen", "dana", "eve", "fu")
    }
    assert many == {name: task.params_for(name, "02-waypoints") for name in many}  # stable
    assert len({tuple(sorted(p.items())) for p in many.values()}) > 1  # not all the same
    assert all(p in task.variants for p in many.values())
    p = task.params_for("ada", "02-waypoints")
    assert p["user"] in task.goal_for(p) and p["version"] in task.goal_for(p)
    goal = Session("02-waypoints", learner="ada", path=os.devnull).goal(task).split("\n\n")[0]
    assert all(len(line) <= 96 for line in goal.splitlines())  # a notebook would break a word


def test_a_task_is_verified_with_the_learners_parameters_and_they_are_recorded(tmp_path):
    seen = []
    task = Task(
        "t",
        "route {user}",
        "x: ___",
        verify=lambda lab, params, before: seen.append(params) or Result("t", True, "ok"),
        variants=({"user": "jason"}, {"user": "ada"}, {"user": "grace"}),
    )
    s = Session("nb", learner="learner-7", path=tmp_path / "p.jsonl")
    s.task(task, FakeLab(), "x: 1")
    assert seen == [task.params_for("learner-7", "nb")]
    assert s.progress.records()[0]["params"] == seen[0]
    assert s.goal(task).startswith("route " + seen[0]["user"])


def test_a_variant_seed_picks_the_parameters_the_same_seed_the_same_ones(tmp_path, monkeypatch):
    task = TASKS["jason-to-reviews-v2"]
    by_seed = {seed: task.params_for("ada", "02-waypoints", seed) for seed in map(str, range(12))}
    assert by_seed == {
        seed: task.params_for(None, "", seed) for seed in by_seed
    }  # the seed decides, not the learner
    assert len({tuple(sorted(p.items())) for p in by_seed.values()}) > 1  # different seeds, different tasks
    monkeypatch.setenv("MESHLAB_VARIANT_SEED", "7")
    s = Session("02-waypoints", learner="ada", path=tmp_path / "p.jsonl")
    assert s.seed == "7" and s.params(task) == task.params_for(None, "", "7")
    s.task(_task(True), FakeLab(), "action: ALLOW")
    [rec] = s.progress.records()
    assert rec["seed"] == "7"  # what the instructor's grading needs to re-derive the parameters


def test_fill_puts_values_in_the_blanks_in_order_and_refuses_a_blank_left():
    assert exercises.fill("a: ___\nb: ___\n", "x", 3) == "a: x\nb: 3\n"
    with pytest.raises(ValueError, match="1 blank"):
        exercises.fill("a: ___\nb: ___\n", "x")
