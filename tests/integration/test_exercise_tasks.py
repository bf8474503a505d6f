"""Every task of meshlab.tasks, on a running Bookinfo (loopback), three ways: blank (fails with
its message, nothing applied), a wrong answer (fails, naming what is wrong), the solution (passes)
(issue 16). The answers and solutions are the ones in solutions/ (for each variant), read with
meshlab.classroom.solutions; other wrong answers are written here."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for, run_lab_answer
from meshlab.exercises import Session, fill
from meshlab.probes import tries
from meshlab.tasks import TASKS

pytestmark = pytest.mark.integration

JASON = TASKS["jason-to-reviews-v2"]
ONLY_PP = TASKS["only-one-caller"]


JASON_SOLUTION = answer_for(JASON)
JASON_WRONG = answer_for(JASON, wrong=True)  # the subsets swapped
PP_SOLUTION = answer_for(ONLY_PP)
PP_WRONG = answer_for(ONLY_PP, wrong=True)  # the client, not productpage


@pytest.mark.parametrize(
    "mode, waypoints", [("sidecar", None), ("ambient", ["reviews"])], ids=["sidecar", "ambient+waypoint"]
)
def test_routing_jason_to_reviews_v2(mode, waypoints):
    with Lab("bookinfo", mode=mode, waypoints=waypoints, verbose=False) as lab:
        blank = JASON.check(lab, JASON.skeleton)
        assert blank.passed is False and "blanks" in blank.message and lab.policies() == []
        wrong = JASON.check(lab, JASON_WRONG)
        assert wrong.passed is False and "reviews-v2 served 0 of 20 pages for jason" in wrong.message
        right = JASON.check(lab, JASON_SOLUTION)
        assert right.passed is True, right.message
        if mode == "sidecar":  # another learner's variant: their user, their version
            ada = {"user": "ada", "version": "v3"}
            assert ada in JASON.variants
            assert JASON.check(lab, JASON_SOLUTION, ada).passed is False
            mine = JASON.check(lab, answer_for(JASON, ada), ada)
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
        assert wrong.passed is False and "lost what reviews gives them" in wrong.message
        assert "reached reviews directly" in wrong.message
        right = ONLY_PP.check(lab, PP_SOLUTION)  # same name: the wrong policy is replaced
        assert right.passed is True, right.message
        ratings = {"service": "ratings", "caller": "reviews", "account": "bookinfo-reviews"}
        assert ratings in ONLY_PP.variants
        assert ONLY_PP.check(lab, PP_SOLUTION, ratings).passed is False  # another learner's service
        mine = ONLY_PP.check(lab, answer_for(ONLY_PP, ratings), ratings)
        assert mine.passed is True, mine.message


def test_only_productpage_behind_a_waypoint_fails_and_names_the_waypoints_identity():
    with Lab("bookinfo", mode="ambient", waypoints=["reviews"], verbose=False) as lab:
        res = ONLY_PP.check(lab, PP_SOLUTION)
        assert res.passed is False and "waypoint's" in res.message


# -- 00 start here -----------------------------------------------------------------------------------

ONE_VERSION = TASKS["reviews-to-one-version"]
NO_RESTARTS = TASKS["mesh-without-restarts"]


def test_reviews_to_one_version_needs_a_proxy_that_parses_http():
    with Lab("bookinfo", verbose=False) as lab:
        assert ONE_VERSION.check(lab, ONE_VERSION.skeleton).passed is False
        no_mesh = ONE_VERSION.check(
            lab, fill(ONE_VERSION.skeleton, "app", "bookinfo", "v3")
        )  # a label, but no mesh
        assert no_mesh.passed is False and "no proxy reads your VirtualService" in no_mesh.message
        ambient = ONE_VERSION.check(lab, answer_for(ONE_VERSION, wrong=True))
        assert ambient.passed is False and "waypoint" in ambient.message
        right = ONE_VERSION.check(lab, answer_for(ONE_VERSION))
        assert right.passed is True, right.message
        v2 = ONE_VERSION.check(lab, answer_for(ONE_VERSION), {"version": "v2"})
        assert v2.passed is False and "reviews-v2 served 0 of 20" in v2.message


def test_the_mesh_without_restarts_is_ambient():
    with Lab("bookinfo", verbose=False) as lab:
        assert NO_RESTARTS.check(lab, NO_RESTARTS.skeleton).passed is False
        sidecars = NO_RESTARTS.check(lab, fill(NO_RESTARTS.skeleton, "istio-injection", "enabled"))
        assert sidecars.passed is False and "pods restarted" in sidecars.message
        then_ambient = NO_RESTARTS.check(lab, answer_for(NO_RESTARTS))
        assert (
            then_ambient.passed is False
            and "a sidecar goes only when its pod is recreated" in then_ambient.message
        )
    with Lab("bookinfo", verbose=False) as lab:
        nothing = NO_RESTARTS.check(lab, answer_for(NO_RESTARTS, wrong=True))
        assert nothing.passed is False and "crossed no proxy" in nothing.message
        right = NO_RESTARTS.check(lab, answer_for(NO_RESTARTS))
        assert right.passed is True, right.message


# -- 01 sidecar vs ambient ---------------------------------------------------------------------------

PANEL = TASKS["panel-data-plane"]
WAYPOINT_FOR = TASKS["waypoint-for-one-service"]


def test_the_panel_task_reads_the_data_plane_the_lab_is_in(tmp_path):
    """Each variant's solution (what the panel's clicks do, as code) puts the lab in its data plane."""
    session = Session("01-sidecar-vs-ambient", learner="x", path=tmp_path / "p.jsonl")
    ambient, waypoint, sidecar = ({"hops": 2, "l7": 0}, {"hops": 3, "l7": 1}, {"hops": 2, "l7": 2})
    assert {**PANEL.variants[0]} == waypoint and all(v in PANEL.variants for v in (ambient, sidecar))
    with Lab("bookinfo", verbose=False) as lab:
        none = PANEL.check(lab, 'done', waypoint)
        assert none.passed is False and "0 proxies" in none.message
        run_lab_answer(answer_for(PANEL, ambient), PANEL, lab, ambient)
        assert PANEL.check(lab, 'done', ambient).passed is True
        assert PANEL.check(lab, 'done', waypoint).passed is False
        run_lab_answer(answer_for(PANEL, waypoint), PANEL, lab, waypoint)
        res = PANEL.check(lab, 'done', waypoint)
        assert res.passed is True and "waypoint" in res.message, res.message
        run_lab_answer(answer_for(PANEL, sidecar), PANEL, lab, sidecar)
        assert PANEL.check(lab, 'done', sidecar).passed is True
        session.task(PANEL, lab, 'done')
    [rec] = session.progress.records()
    assert rec["answer"] == {"mode": "sidecar", "waypoints": []}


def test_a_waypoint_for_one_service_in_yaml():
    task, sol = WAYPOINT_FOR, lambda svc: answer_for(WAYPOINT_FOR, {"service": svc})
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        assert task.check(lab, task.skeleton).passed is False
        wrong_class = task.check(lab, answer_for(task, wrong=True))
        assert wrong_class.passed is False and "refused" in wrong_class.message
        wrong_service = task.check(lab, sol("details"))
        assert (
            wrong_service.passed is False and "calls to reviews crossed no waypoint" in wrong_service.message
        )
        assert "details crossed the waypoint too" in wrong_service.message
        still = task.check(lab, sol("reviews"))  # details keeps the label applied before
        assert still.passed is False and "lab.delete(kind='Service', name='details')" in still.message
        lab.delete(kind="Service", name="details")
        right = task.check(lab, sol("reviews"))
        assert right.passed is True, right.message
        lab.delete(sol("reviews"))
        ratings = task.check(lab, sol("ratings"), {"service": "ratings"})
        assert ratings.passed is True, ratings.message


# -- 02 waypoints ------------------------------------------------------------------------------------

AT_WAYPOINT = TASKS["only-one-caller-through-the-waypoint"]


def test_only_productpage_through_the_waypoint_binds_the_policy_to_it():
    with Lab("bookinfo", mode="ambient", verbose=False) as lab:
        AT_WAYPOINT.setup(lab, AT_WAYPOINT.variants[0])
        assert lab.waypoint_of and {s for _, s in lab.waypoint_of} == {"reviews"}
        assert AT_WAYPOINT.check(lab, AT_WAYPOINT.skeleton).passed is False
        at_ztunnel = AT_WAYPOINT.check(lab, PP_SOLUTION)  # the selector: enforced by reviews' ztunnel
        assert at_ztunnel.passed is False and "waypoint's" in at_ztunnel.message
        lab.delete(PP_SOLUTION)
        right = AT_WAYPOINT.check(lab, answer_for(AT_WAYPOINT))
        assert right.passed is True, right.message


# -- 03 mTLS -----------------------------------------------------------------------------------------

STRICT = TASKS["permissive-to-strict"]


def test_a_strict_mesh_with_one_namespace_left_permissive():
    with Lab("mtls-migration", verbose=False) as lab:
        assert STRICT.check(lab, STRICT.skeleton).passed is False
        only_mesh = STRICT.check(lab, answer_for(STRICT, wrong=True))
        assert only_mesh.passed is False and "refused by httpbin.bar" in only_mesh.message
        lab.delete(all=True)
        only_ns = STRICT.check(lab, fill(STRICT.skeleton, "foo", "STRICT", "bar", "PERMISSIVE"))
        assert only_ns.passed is False and "no mesh-wide STRICT policy" in only_ns.message
        assert "still reached" not in only_ns.message  # foo is STRICT: legacy was refused there
        lab.delete(all=True)
        right = STRICT.check(lab, answer_for(STRICT))
        assert right.passed is True, right.message
        assert STRICT.check(lab, answer_for(STRICT), {"strict": "bar", "permissive": "foo"}).passed is False


# -- 04 retries and timeouts -------------------------------------------------------------------------

STORM = TASKS["stop-the-retry-storm"]
DEADLINE = TASKS["page-deadline"]


def test_stopping_the_retry_storm():
    params = STORM.variants[0]  # 25% of 503s, at most 2 tries in an outage
    with Lab("httpbin", mode="sidecar", seed=1, verbose=False) as lab:
        STORM.setup(lab, params)
        storm = lab.load("client", "http://httpbin:8000/status/503", requests=2, progress=False)
        assert tries(storm) == [11, 11]  # what the goal says of the starting policy
        assert STORM.check(lab, STORM.skeleton, params).passed is False
        none = STORM.check(lab, fill(STORM.skeleton, "0", "5xx"), params)
        assert none.passed is False and "requests to the flaky endpoint succeeded" in none.message
        too_many = STORM.check(lab, answer_for(STORM, params, wrong=True), params)
        assert too_many.passed is False and "up to 3 times" in too_many.message
        right = STORM.check(lab, answer_for(STORM, params), params)
        assert right.passed is True, right.message


def test_a_page_deadline_counts_productpages_own_retry():
    params = DEADLINE.variants[0]  # ratings delayed 2 s, pages within 1.5 s
    with Lab("bookinfo", mode="sidecar", verbose=False) as lab:
        DEADLINE.setup(lab, params)
        assert DEADLINE.check(lab, DEADLINE.skeleton, params).passed is False
        too_long = DEADLINE.check(lab, answer_for(DEADLINE, params, wrong=True), params)
        assert too_long.passed is False and "productpage's own code retries" in too_long.message
        right = DEADLINE.check(lab, answer_for(DEADLINE, params), params)
        assert right.passed is True, right.message
        around = DEADLINE.check(lab, answer_for(DEADLINE, params).replace("subset: v2", "subset: v1"), params)
        assert around.passed is False and "keep it on v2" in around.message
