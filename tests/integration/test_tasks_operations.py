"""Notebook 09's tasks on a running two-namespace Bookinfo (loopback), three ways: blank (fails,
nothing applied), a wrong answer (fails, naming what is wrong), the solution (passes); and another
learner's variant. Plus what they rest on: a load in a background thread while the lab changes,
Lab.restart, and Lab.identities. The answers and solutions are the ones in solutions/ (for each
variant)."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for
from meshlab.exercises import fill
from meshlab.tasks import TASKS
from meshlab.tasks.operations import holders, pids, under_load

pytestmark = pytest.mark.integration

ENROLL = TASKS["enroll-under-load"]
KEYS = TASKS["key-holders"]


def test_enroll_under_load_blank_wrong_solved_and_another_variant():
    with Lab("bookinfo-two-namespaces", mode="none", verbose=False) as lab:
        blank = ENROLL.check(lab, ENROLL.skeleton)
        assert blank.passed is False and "blanks" in blank.message and lab.policies() == []
        wrong = ENROLL.check(lab, answer_for(ENROLL, wrong=True))
        assert wrong.passed is False
        assert "5 of 5 pods of backend were recreated" in wrong.message
        assert lab.mesh["details-v1-0"] is None  # moved back, to try again from the start
        nothing = ENROLL.check(lab, fill(ENROLL.skeleton, "backend", "istio.io/dataplane-mode", "none"))
        assert nothing.passed is False and "crossed no proxy at all" in nothing.message
        right = ENROLL.check(lab, answer_for(ENROLL))
        assert right.passed is True, right.message
        # another learner's namespace: frontend, where the load's own client runs
        front = {"namespace": "frontend", "max_failed": 3}
        assert front in ENROLL.variants
        cut = ENROLL.check(lab, answer_for(ENROLL, front, wrong=True), front)
        assert cut.passed is False and "client-0" in cut.message and "the load itself was cut" in cut.message
        mine = ENROLL.check(lab, answer_for(ENROLL, front), front)
        assert mine.passed is True, mine.message


def test_key_holders_blank_wrong_solved_and_another_variant():
    with Lab("bookinfo-two-namespaces", mode="none", verbose=False) as lab:
        KEYS.setup(lab, KEYS.variants[0])
        assert lab.mesh["productpage-v1-0"] == "sidecar" and lab.mesh["reviews-v2-0"] == "ambient"
        assert KEYS.check(lab, None).passed is False
        assert "blank" in KEYS.check(lab, KEYS.skeleton).message
        wrong = KEYS.check(lab, answer_for(KEYS, wrong=True))
        assert wrong.passed is False and "ztunnel-node-1 holds it too" in wrong.message
        assert "reviews-v1-0" in wrong.message
        extra = KEYS.check(lab, ["ztunnel-node-1", "ztunnel-node-2", "productpage-v1-0/istio-proxy"])
        assert extra.passed is False and "productpage-v1-0/istio-proxy does not hold it" in extra.message
        unknown = KEYS.check(lab, "holders: [reviews-v2-0/istio-proxy]")
        assert unknown.passed is False and "no proxy named reviews-v2-0/istio-proxy" in unknown.message
        right = KEYS.check(lab, answer_for(KEYS))
        assert right.passed is True, right.message
        assert KEYS.check(lab, ["ztunnel-node-1", "ztunnel-node-2"]).passed is True  # a list is an answer too
        pp = {"workload": "productpage-v1-0"}
        assert KEYS.check(lab, answer_for(KEYS, pp, wrong=True), pp).passed is False  # its node's ztunnel
        for params in KEYS.variants[1:]:  # every other learner's workload: their own holders, not the first's
            assert KEYS.check(lab, answer_for(KEYS), params).passed is False, params
            mine = KEYS.check(lab, answer_for(KEYS, params), params)
            assert mine.passed is True, (params, mine.message)


def test_a_load_in_a_thread_while_the_lab_changes_and_restarts():
    """The mechanisms the notebook measures with: a change mid-load (the load goes on and
    reports every page), restarts of one sidecar and one ztunnel (new processes, telemetry kept),
    and the identities each proxy reports."""
    with Lab("bookinfo", mode="sidecar", verbose=False) as lab:
        assert lab.identities()["reviews-v2-0/istio-proxy"] == [
            "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
        ]
        assert holders(lab, "reviews-v1-0") == [f"reviews-{v}-0/istio-proxy" for v in ("v1", "v2", "v3")]
        old = lab.proxies["ratings-v1-0/istio-proxy"].pid
        d = under_load(lab, lambda: lab.restart("ratings-v1-0/istio-proxy"), seconds=2, rate=20, after=0.5)
        assert d.error is None and d.summary()["pages"] == 40 and d.restarted == []
        assert lab.proxies["ratings-v1-0/istio-proxy"].pid != old
        # leaving sidecar mode recreates every pod, the load's client among them: the load is cut, and says so
        moved = under_load(lab, lambda: lab.set_mode("ambient"), seconds=2, rate=20, after=0.5)
        assert moved.load is None and "client-0" in moved.error
        assert sorted(moved.restarted) == sorted(pids(lab))
        ids = lab.identities()
        assert sorted(ids) == ["ztunnel-node-1", "ztunnel-node-2"]
        assert "spiffe://cluster.local/ns/default/sa/curl" in ids["ztunnel-node-1"]
        assert "spiffe://cluster.local/ns/default/sa/curl" not in ids["ztunnel-node-2"]
        old = lab.proxies["ztunnel-node-2"].pid
        lab.restart("ztunnel-node-2")
        assert lab.proxies["ztunnel-node-2"].pid != old and lab.request("client").status == 200
