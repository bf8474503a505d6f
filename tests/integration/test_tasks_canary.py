"""The tasks of notebook 05 (meshlab.tasks.canary), on a running Bookinfo (loopback), three ways:
blank (fails, nothing applied), a wrong answer (fails, naming what is wrong), the solution (passes);
and another learner's variant, whose numbers the first variant's solution does not meet. The
answers and solutions are the ones in solutions/ (for each variant); other wrong answers are written
here."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for
from meshlab.exercises import fill
from meshlab.tasks import TASKS
from meshlab.tasks.canary import configured_split, spread

pytestmark = pytest.mark.integration

CANARY = TASKS["canary-step"]
SPLIT = TASKS["tester-and-canary-through-the-waypoint"]


def test_the_binomial_spread():
    assert spread(100, 0.1) == pytest.approx(3.0)
    assert spread(400, 0.5) == pytest.approx(10.0)
    assert spread(50, 0.0) == 0


def test_canary_step_blank_wrong_solved_and_another_variant():
    with Lab("bookinfo", mode="sidecar", verbose=False) as lab:
        CANARY.setup(lab, CANARY.variants[0])
        assert configured_split(lab) == {"v1": 1.0}  # virtual-service-all-v1.yaml is in force
        kept = [o.key for o in lab.policies()]
        blank = CANARY.check(lab, CANARY.skeleton)
        assert blank.passed is False and "4 blanks" in blank.message
        assert [o.key for o in lab.policies()] == kept  # a blank applies nothing
        wrong = CANARY.check(lab, answer_for(CANARY, wrong=True))
        assert wrong.passed is False
        assert "came from reviews-v2; expected only reviews-v1 and reviews-v3" in wrong.message
        assert "reviews-v3 served 0 of 400 pages" in wrong.message
        right = CANARY.check(lab, answer_for(CANARY))
        assert right.passed is True, right.message
        assert configured_split(lab) == {"v1": 0.5, "v3": 0.5}
        twenty = {"weight": 20}
        assert twenty in CANARY.variants
        near = CANARY.check(
            lab, fill(CANARY.skeleton, "v1", 75, "v3", 25), twenty
        )  # within chance, not as set
        assert near.passed is False and "the weights in force send v1 75%, v3 25%" in near.message
        mine = CANARY.check(lab, answer_for(CANARY, twenty), twenty)
        assert mine.passed is True, mine.message


def test_canary_step_rollback_is_a_wrong_answer():
    with Lab("bookinfo", mode="sidecar", verbose=False) as lab:
        CANARY.setup(lab, CANARY.variants[0])
        res = CANARY.check(lab, fill(CANARY.skeleton, "v1", 100, "v3", 0))
        assert res.passed is False and "reviews-v3 served 0 of 400 pages" in res.message


def test_tester_and_canary_blank_wrong_solved_and_another_variant():
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        SPLIT.setup(lab, SPLIT.variants[0])
        assert not lab.waypoint_of  # deployed, used by no service yet
        blank = SPLIT.check(lab, SPLIT.skeleton)
        assert blank.passed is False and "8 blanks" in blank.message
        wrong = SPLIT.check(lab, answer_for(SPLIT, wrong=True))
        assert (
            wrong.passed is False
            and "reviews-v3 served" in wrong.message
            and "for everyone else" in wrong.message
        )
        assert "no waypoint" not in wrong.message  # it has one: the weights are wrong
        right = SPLIT.check(lab, answer_for(SPLIT))
        assert right.passed is True, right.message
        ada = {"user": "ada", "stable": 70, "canary": 30}
        assert ada in SPLIT.variants
        other = SPLIT.check(lab, answer_for(SPLIT), ada)
        assert other.passed is False and "reviews-v2 served 0 of 20 pages for ada" in other.message
        mine = SPLIT.check(lab, answer_for(SPLIT, ada), ada)
        assert mine.passed is True, mine.message


def test_tester_and_canary_without_the_waypoint_fails_and_says_why():
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        SPLIT.setup(lab, SPLIT.variants[0])
        res = SPLIT.check(
            lab, answer_for(SPLIT).replace("istio.io/use-waypoint: waypoint", "istio.io/use-waypoint: none")
        )
        assert res.passed is False
        assert (
            res.message.startswith("no waypoint carries reviews' traffic")
            and "ztunnel never parses HTTP" in res.message
        )
