"""Notebook 08's tasks on a running lab: blank, wrong (naming what is wrong), solved, and another
learner's variant. The answers and solutions are the ones in solutions/ (for each variant)."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for, run_lab_answer
from meshlab.exercises import fill
from meshlab.tasks import TASKS

pytestmark = pytest.mark.integration

BUDGET = TASKS["l7-on-a-budget"]
BY_NODES = TASKS["proxies-by-nodes"]
PER_CONNECTION = TASKS["connections-not-requests"]


def test_l7_on_a_budget_is_ambient_with_a_waypoint_for_one_service():
    with Lab("bookinfo", verbose=False) as lab:
        BUDGET.setup(lab, BUDGET.variants[0])
        assert BUDGET.check(lab, BUDGET.skeleton).passed is False
        no_l7 = BUDGET.check(
            lab, fill(BUDGET.skeleton, "istio.io/dataplane-mode", "ambient", "details", "waypoint")
        )
        assert no_l7.passed is False and "calls to reviews crossed no proxy that parses HTTP" in no_l7.message
        right = BUDGET.check(lab, answer_for(BUDGET))
        assert right.passed is True, right.message
    with Lab("bookinfo", verbose=False) as lab:
        BUDGET.setup(lab, BUDGET.variants[0])
        sidecars = BUDGET.check(lab, answer_for(BUDGET, wrong=True))
        assert (
            sidecars.passed is False
            and "proxy processes" in sidecars.message
            and "the budget is 3" in sidecars.message
        )


def test_proxies_by_nodes_counts_ztunnels_not_sidecars():
    """The answer is the lab the learner's code starts: the wrong answer's (sidecar mode), then the
    solution's, which stops it and starts its own (as the notebook's answer cell runs them)."""
    labs = []
    try:
        lab = run_lab_answer(answer_for(BY_NODES, wrong=True), BY_NODES, None)["lab"]
        labs.append(lab)
        wrong = BY_NODES.check(lab, "done")
        assert wrong.passed is False and "13 proxy processes" in wrong.message
        lab = run_lab_answer(answer_for(BY_NODES), BY_NODES, lab)["lab"]
        labs.append(lab)
        assert labs[0].running is False and lab.running is True
        assert BY_NODES.check(lab, None).passed is False
        right = BY_NODES.check(lab, "done")
        assert right.passed is True, right.message
        assert BY_NODES.check(lab, "done", {"pods": 16, "proxies": 4}).passed is False
    finally:
        for lab in labs:
            lab.stop()


def test_connections_not_requests_needs_kept_alive_connections():
    with Lab("minimal", mode="ambient", verbose=False) as lab:
        assert PER_CONNECTION.check(lab, PER_CONNECTION.skeleton).passed is False
        bad = PER_CONNECTION.check(lab, "concurrency: 2\nkeep_alive: maybe\n")
        assert bad.passed is False and "keep_alive must be true or false" in bad.message
        per_request = PER_CONNECTION.check(lab, answer_for(PER_CONNECTION, wrong=True))
        assert (
            per_request.passed is False and "opened 400 connections for 400 requests" in per_request.message
        )
        right = PER_CONNECTION.check(lab, answer_for(PER_CONNECTION))
        assert right.passed is True, right.message
        two = {"connections": 2}
        assert PER_CONNECTION.check(lab, answer_for(PER_CONNECTION), two).passed is False
        mine = PER_CONNECTION.check(lab, answer_for(PER_CONNECTION, two), two)
        assert mine.passed is True, mine.message
