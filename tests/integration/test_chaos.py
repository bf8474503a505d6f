"""Chaos (issue 13's reliability suite): a pod or a proxy killed in the middle of a load. Every
request still has exactly one outcome (the ones that crossed the dead process fail, with an
error, never hang or vanish), and ``lab.reset()`` restarts what died, which then serves again."""

import os
import signal
import threading

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

CASES = {
    "ztunnel": ("ambient", None),
    "sidecar": ("sidecar", None),
    "waypoint": ("ambient", "namespace"),
    "app": ("ambient", None),
}


@pytest.mark.parametrize("role", list(CASES))
def test_a_process_killed_mid_load_leaves_one_outcome_per_request_and_reset_restarts_it(role):
    mode, waypoints = CASES[role]
    with Lab("bookinfo", mode=mode, waypoints=waypoints, verbose=False) as lab:
        name, pid = next(
            (n, u.pid) for n, u in lab.usage().items() if u.role == role and not n.startswith("client")
        )
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            res = lab.load(requests=300, concurrency=4, timeout=10, progress=False)
        finally:
            killer.join()
        s = res.summary()["requests"]
        assert len(res.outcomes) == s["sent"] == 300
        assert s["ok"] + s["failed"] == 300 and s["failed"] > 0, s  # it did die mid-load
        assert all(o.get("error") or o.get("status") for o in res.outcomes)  # each failure says why
        lab.reset()
        assert lab.usage()[name].pid != pid  # restarted
        assert lab.request(timeout=10).status == 200
