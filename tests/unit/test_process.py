"""The lab's side of its processes (meshlab/backends/process.py): enough file descriptors for a
large lab."""

import resource

import pytest

from meshlab.backends import process
from meshlab.errors import LabError


@pytest.fixture
def limits(monkeypatch):
    state = {"limits": (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: state["limits"])
    monkeypatch.setattr(resource, "setrlimit", lambda which, lim: state.update(limits=lim))
    return state


def test_a_large_lab_raises_the_soft_limit_to_what_it_needs(limits):
    process.ensure_fds(100)  # 456 fit under 1024: nothing changes
    assert limits["limits"] == (1024, 4096)
    process.ensure_fds(402)  # a 200-pod sidecar lab
    assert limits["limits"] == (2 * 402 + process.FD_HEADROOM, 4096)


def test_beyond_the_hard_limit_it_says_what_to_do(limits):
    with pytest.raises(
        LabError, match=r"3000 processes need about 6256 open files .* limit here is 4096 \(ulimit -Hn\)"
    ):
        process.ensure_fds(3000)


# A worker that answers each call after the delay it asks for, concurrently (as meshlab.net.control
# does): a slow call from one thread must not hold up another thread's quick one.
ECHO = r'''
import json, sys, threading, time
out_lock = threading.Lock()
def answer(msg):
    for i in range(msg.get("progress", 0)):
        with out_lock:
            print(json.dumps({"id": msg["id"], "progress": i + 1}), flush=True)
    time.sleep(msg.get("delay", 0))
    with out_lock:
        if msg.get("fail"):
            print(json.dumps({"id": msg["id"], "error": "asked to fail"}), flush=True)
        else:
            print(json.dumps({"id": msg["id"], "result": {"op": msg["op"]}}), flush=True)
sys.stdin.readline()
print(json.dumps({"event": "ready"}), flush=True)
for line in sys.stdin:
    threading.Thread(target=answer, args=(json.loads(line),), daemon=True).start()
'''


@pytest.fixture
def echo():
    import subprocess
    import sys
    import time

    w = process.WorkerProcess(
        "echo", subprocess.Popen([sys.executable, "-c", ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    )
    w.start({})
    w.wait_ready(time.monotonic() + 10)
    yield w
    w.stop()


def test_two_threads_call_one_process_at_once(echo):
    import threading
    import time

    got, seen = {}, []
    slow = threading.Thread(
        target=lambda: got.update(
            slow=echo.call("slow", {"delay": 1.0, "progress": 2}, on_progress=seen.append)
        )
    )
    slow.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert echo.call("quick") == {"op": "quick"}  # answered while the slow call waits
    assert time.monotonic() - t0 < 0.9
    slow.join(5)
    assert got["slow"] == {"op": "slow"} and seen == [1, 2]  # its own progress, its own answer


def test_an_error_answers_its_own_call_and_a_dead_process_every_waiting_one(echo):
    import threading
    from meshlab.errors import WorkerError

    with pytest.raises(WorkerError, match="asked to fail"):
        echo.call("bad", {"fail": True})
    errors = []

    def wait():
        try:
            echo.call("never", {"delay": 30})
        except WorkerError as e:
            errors.append(str(e))

    waiting = [threading.Thread(target=wait) for _ in range(2)]
    for t in waiting:
        t.start()
    import time

    time.sleep(0.2)
    echo.proc.kill()
    for t in waiting:
        t.join(10)
    assert len(errors) == 2 and all("exited" in e for e in errors)
