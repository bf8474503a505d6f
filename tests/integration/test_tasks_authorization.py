"""The tasks of notebook 07 (meshlab.tasks.authorization) on a running Bookinfo (loopback), three
ways: blank (fails, nothing applied), a wrong answer (fails, naming what is wrong), the solution
(passes); and another learner's variant. The answers and solutions are the ones in solutions/ (for
each variant); other wrong answers are written here."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for
from meshlab.exercises import fill
from meshlab.tasks import TASKS
from meshlab.tasks.authorization import attempt

pytestmark = pytest.mark.integration

SA = "cluster.local/ns/default/sa/"
READ_ONLY = TASKS["read-only-through-the-waypoint"]
DENY_WINS = TASKS["deny-wins-over-allow"]


def read_only(service, account, method="GET"):
    return fill(READ_ONLY.skeleton, "Service", service, SA + account, method)


def test_read_only_through_the_waypoint_blank_wrong_solved():
    params = READ_ONLY.variants[0]
    assert params["service"] == "reviews" and params["method"] == "POST"
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        READ_ONLY.setup(lab, params)
        blank = READ_ONLY.check(lab, READ_ONLY.skeleton)
        assert blank.passed is False and "4 blanks" in blank.message and lab.policies() == []
        too_wide = READ_ONLY.check(lab, answer_for(READ_ONLY, wrong=True))
        assert too_wide.passed is False
        assert "a POST from productpage to reviews was answered 200" in too_wide.message
        assert "client" not in too_wide.message  # the client's GET was refused, as asked
        wrong_caller = READ_ONLY.check(lab, read_only("reviews", "curl"))
        assert (
            wrong_caller.passed is False and "the pages lost what reviews gives them" in wrong_caller.message
        )
        assert "a GET from the client pod (identity curl) to reviews was answered 200" in wrong_caller.message
        right = READ_ONLY.check(lab, answer_for(READ_ONLY))  # same name: replaces it
        assert right.passed is True, right.message
        assert "waypoint" in right.message


def test_read_only_bound_to_ztunnel_fails_and_says_who_refused():
    """The same rule by selector: ztunnel drops the rule with methods, and the ALLOW denies all."""
    params = READ_ONLY.variants[0]
    by_selector = answer_for(READ_ONLY).replace(
        '  targetRefs:\n  - {kind: Service, group: "", name: reviews}\n',
        "  selector:\n    matchLabels: {app: reviews}\n",
    )
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        READ_ONLY.setup(lab, params)
        res = READ_ONLY.check(lab, by_selector)
        assert res.passed is False
        assert "the pages lost what reviews gives them" in res.message
        assert "ztunnel" in res.message  # who refused, named


def test_read_only_another_learners_variant():
    ratings = next(v for v in READ_ONLY.variants if v["service"] == "ratings")
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        READ_ONLY.setup(lab, ratings)
        assert lab.waypoint_of and all(s == "ratings" for (_, s) in lab.waypoint_of)
        not_mine = READ_ONLY.check(lab, answer_for(READ_ONLY), ratings)
        assert not_mine.passed is False
        assert "a DELETE from reviews to ratings was answered 200" in not_mine.message
        mine = READ_ONLY.check(lab, answer_for(READ_ONLY, ratings), ratings)
        assert mine.passed is True, mine.message
        got, hop = attempt(lab, "reviews-v2", "ratings", "DELETE")
        assert got == 403 and hop.role == "waypoint"


def test_deny_wins_over_allow_blank_wrong_solved():
    params = DENY_WINS.variants[0]
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        DENY_WINS.setup(lab, params)
        assert [o.name for o in lab.policies() if o.kind == "AuthorizationPolicy"] == ["reviews-callers"]
        blank = DENY_WINS.check(lab, DENY_WINS.skeleton)
        assert blank.passed is False and "2 blanks" in blank.message
        allow = DENY_WINS.check(lab, answer_for(DENY_WINS, wrong=True))
        assert allow.passed is False
        assert "a POST from productpage to reviews was answered 200" in allow.message
        assert "only a DENY, evaluated before every ALLOW" in allow.message
        deny_get = DENY_WINS.check(lab, fill(DENY_WINS.skeleton, "DENY", "GET"))
        assert deny_get.passed is False and "the pages lost what reviews gives them" in deny_get.message
        assert "the client pod's GET to reviews got 403" in deny_get.message
        right = DENY_WINS.check(lab, answer_for(DENY_WINS))
        assert right.passed is True, right.message
        other = {"method": "DELETE"}  # another learner's method
        assert other in DENY_WINS.variants
        assert DENY_WINS.check(lab, answer_for(DENY_WINS), other).passed is False
        mine = DENY_WINS.check(lab, answer_for(DENY_WINS, other), other)
        assert mine.passed is True, mine.message


def test_deny_wins_refuses_a_changed_allow_policy():
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        DENY_WINS.setup(lab, DENY_WINS.variants[0])
        get_only = f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: reviews-callers}}
spec:
  targetRefs:
  - {{kind: Service, group: "", name: reviews}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [{SA}bookinfo-productpage, {SA}curl]
    to:
    - operation:
        methods: [GET]
"""
        res = DENY_WINS.check(lab, get_only)  # it refuses POST, but by rewriting the ALLOW
        assert res.passed is False and "reviews-callers was changed" in res.message


BOTH = TASKS["no-writes-in-both-modes"]


def test_no_writes_in_both_modes_blank_wrong_solved():
    with Lab("bookinfo", mode="ambient", waypoints=["reviews"], verbose=False) as lab:
        blank = BOTH.check(lab, BOTH.skeleton)
        assert blank.passed is False and "4 blanks" in blank.message
        waypoint_only = fill(BOTH.skeleton.split("---\n")[1], "targetRefs", "POST")
        res = BOTH.check(lab, waypoint_only)
        assert res.passed is False and "ambient" not in res.message  # the waypoint enforced it
        assert "in sidecar mode: a POST from productpage to reviews was answered 200" in res.message
        assert "sidecars read only policies bound by selector" in res.message
        assert lab.mode == "ambient" and [s for (_, s) in lab.waypoint_of] == ["reviews"]  # left as found
        lab.delete(all=True)
        wrong = BOTH.check(lab, answer_for(BOTH, wrong=True))
        assert wrong.passed is False
        assert (
            "in ambient mode (reviews has a waypoint): the pages lost what reviews gives them"
            in wrong.message
        )
        assert "sidecar mode" not in wrong.message  # the sidecars' policy was right
        right = BOTH.check(lab, answer_for(BOTH))
        assert right.passed is True, right.message
        put = {"method": "PUT"}  # another learner's method
        assert put in BOTH.variants
        assert BOTH.check(lab, answer_for(BOTH), put).passed is False
        mine = BOTH.check(lab, answer_for(BOTH, put), put)
        assert mine.passed is True, mine.message
