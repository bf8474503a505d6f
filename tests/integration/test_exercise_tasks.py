"""Every task of meshlab.exercises, on a running Bookinfo (loopback), three ways: blank (fails with
its message, nothing applied), a wrong answer (fails, naming what is wrong), the solution (passes)
(issue 16)."""

import pytest

from meshlab import Lab
from meshlab.exercises import BLANK, TASKS

pytestmark = pytest.mark.integration

JASON = TASKS["jason-to-reviews-v2"]
ONLY_PP = TASKS["only-productpage-reaches-reviews"]


def fill(skeleton: str, *values: str) -> str:
    out = skeleton
    for v in values:
        out = out.replace(BLANK, v, 1)
    assert BLANK not in out
    return out


JASON_SOLUTION = fill(JASON.skeleton, "end-user", "jason", "v2", "v1")
JASON_WRONG = fill(JASON.skeleton, "end-user", "jason", "v1", "v2")          # the subsets swapped
PP_SOLUTION = fill(ONLY_PP.skeleton, "ALLOW", "cluster.local/ns/default/sa/bookinfo-productpage")
PP_WRONG = fill(ONLY_PP.skeleton, "ALLOW", "cluster.local/ns/default/sa/curl")     # the client, not productpage


@pytest.mark.parametrize("mode, waypoints", [("sidecar", None), ("ambient", ["reviews"])],
                         ids=["sidecar", "ambient+waypoint"])
def test_routing_jason_to_reviews_v2(mode, waypoints):
    with Lab("bookinfo", mode=mode, waypoints=waypoints, verbose=False) as lab:
        blank = JASON.check(lab, JASON.skeleton)
        assert blank.passed is False and "blanks" in blank.message and lab.policies() == []
        wrong = JASON.check(lab, JASON_WRONG)
        assert wrong.passed is False and "reviews-v2 served 0 of 20 pages for jason" in wrong.message
        right = JASON.check(lab, JASON_SOLUTION)
        assert right.passed is True, right.message
        if mode == "sidecar":                       # another learner's variant: their user, their version
            ada = {"user": "ada", "version": "v3"}
            assert JASON.check(lab, JASON_SOLUTION, ada).passed is False
            mine = JASON.check(lab, fill(JASON.skeleton, "end-user", "ada", "v3", "v1"), ada)
            assert mine.passed is True, mine.message


def test_routing_jason_without_a_waypoint_fails_and_says_why():
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        res = JASON.check(lab, JASON_SOLUTION)
        assert res.passed is False and "waypoint" in res.message


@pytest.mark.parametrize("mode", ["sidecar", "ambient"])
def test_only_productpage_reaches_reviews(mode):
    with Lab("bookinfo", mode=mode, verbose=False) as lab:
        assert ONLY_PP.check(lab, None).passed is False
        wrong = ONLY_PP.check(lab, PP_WRONG)
        assert wrong.passed is False and "lost their reviews" in wrong.message and "reached reviews directly" in wrong.message
        right = ONLY_PP.check(lab, PP_SOLUTION)          # same name: the wrong policy is replaced
        assert right.passed is True, right.message


def test_only_productpage_behind_a_waypoint_fails_and_names_the_waypoints_identity():
    with Lab("bookinfo", mode="ambient", waypoints=["reviews"], verbose=False) as lab:
        res = ONLY_PP.check(lab, PP_SOLUTION)
        assert res.passed is False and "waypoint's" in res.message
