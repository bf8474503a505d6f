"""The tasks of notebook 06 (meshlab.tasks.circuit_breaking) on a running httpbin lab (sidecar mode,
loopback), three ways: blank (fails, nothing applied), a wrong answer (fails, naming what is
wrong), the solution (passes) — and another learner's variant, where the first variant's solution
fails and their own passes. The answers and solutions are the ones in solutions/ (for each
variant)."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for
from meshlab.exercises import fill
from meshlab.tasks import TASKS
from meshlab.tasks.circuit_breaking import crash

pytestmark = pytest.mark.integration

CAP = TASKS["cap-requests-in-flight"]
EJECT = TASKS["eject-the-crashed-pod"]


@pytest.fixture(scope="module")
def lab():
    with Lab("httpbin", mode="sidecar", verbose=False) as lab:
        yield lab


def test_cap_requests_in_flight(lab):
    """Istio's numbers (limit 1, 3 at a time): a limit as loose as the client's concurrency lets
    httpbin take all 3 and refuses nothing; http2MaxRequests: 1 passes. Limit 2 at 5 at a time:
    a limit of 1 refuses requests sent 2 at a time; 2 passes."""
    lab.delete(all=True)
    blank = CAP.check(lab, CAP.skeleton)
    assert blank.passed is False and "blanks" in blank.message and lab.policies() == []
    wrong = CAP.check(lab, answer_for(CAP, wrong=True))
    assert wrong.passed is False
    assert "httpbin had up to 3 of the client's requests at once; expected at most 1" in wrong.message
    assert "was refused by the circuit breaker (503, flag UO)" in wrong.message
    queue_only = CAP.check(lab, fill(CAP.skeleton, "http1MaxPendingRequests", "1"))  # connections unlimited
    assert queue_only.passed is False
    right = CAP.check(lab, answer_for(CAP))
    assert right.passed is True, right.message
    two = {"limit": 2, "concurrency": 5}
    assert two in CAP.variants
    too_tight = CAP.check(lab, answer_for(CAP), two)
    assert too_tight.passed is False and "a client sending 2 at a time got" in too_tight.message
    mine = CAP.check(lab, answer_for(CAP, two), two)
    assert mine.passed is True, mine.message
    lab.delete(all=True)


def test_eject_the_crashed_pod(lab):
    """httpbin-1 crashed (its sidecar answers 503). Istio's outlier detection without
    maxEjectionPercent (the default 10% of 2 endpoints ejects nothing) fails, naming the
    percentage; with 100 one request fails. A learner allowed 3 failures and 30 s: the first
    solution's 3m is too long, and 5 consecutive errors too many; their own (30s) passes."""
    lab.delete(all=True)
    assert crash(lab) is True and crash(lab) is False  # stopped once; the second finds it down
    assert EJECT.check(lab, None).passed is False
    wrong = EJECT.check(lab, answer_for(EJECT, wrong=True))
    assert wrong.passed is False and "of 100 requests failed; expected at most 1" in wrong.message
    assert "ejected it none: maxEjectionPercent" in wrong.message
    right = EJECT.check(lab, answer_for(EJECT))
    assert right.passed is True, right.message
    assert "httpbin-1" in right.message
    other = {"fails": 3, "within": 30}
    assert other in EJECT.variants
    slow = EJECT.check(lab, answer_for(EJECT), other)
    assert slow.passed is False and "baseEjectionTime is 180 s" in slow.message
    lax = EJECT.check(lab, fill(EJECT.skeleton, "5", "30s", "50"), other)
    assert lax.passed is False and "5 of 100 requests failed; expected at most 3" in lax.message
    mine = EJECT.check(lab, answer_for(EJECT, other), other)
    assert mine.passed is True, mine.message
    lab.reset()  # the learner restarted the pod: the check crashes it again
    assert all(p["alive"] for p in lab.pods())
    again = EJECT.check(lab, answer_for(EJECT))
    assert again.passed is True, again.message
    lab.reset()
    lab.delete(all=True)
