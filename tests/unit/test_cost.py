"""What a process cost: CPU from the scheduler's nanosecond count, not 10 ms clock ticks."""

import subprocess
import sys
import time

from meshlab.telemetry.cost import ran_s, usage

BUSY_THEN_IDLE = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass\ntime.sleep(30)"
)


def test_a_single_threaded_process_is_charged_what_the_scheduler_counted():
    child = subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE])
    try:
        last = None
        for _ in range(200):  # until its busy part is done: it only sleeps then
            time.sleep(0.05)
            ran = ran_s(child.pid)
            if ran is not None and ran == last and ran > 0.05:
                break
            last = ran
        u = usage("child", "app", child.pid)
        assert u is not None and ran is not None
        assert abs(u.cpu_s - ran_s(child.pid)) < 1e-3  # asleep: the same count, read twice
        ticks = round(u.cpu_s * 100)
        assert abs(u.cpu_s * 100 - ticks) > 1e-6  # finer than clock ticks (10 ms)
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_costs_nothing_and_raises_nothing():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert usage("gone", "app", child.pid) is None and ran_s(child.pid) is None


def test_peak_memory_counts_a_process_and_what_it_holds():
    from meshlab.telemetry.cost import PeakMemory

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "x = bytearray(60 * 2**20); x[::4096] = b'1' * len(x[::4096]); import time; time.sleep(30)",
        ]
    )
    try:
        mem = PeakMemory([child.pid], every=0.05)
        mem.start()
        for _ in range(200):  # until the child has touched its 60 MB
            time.sleep(0.05)
            if mem.peak_mb > 60:
                break
        assert mem.stop() > 60
        gone = PeakMemory([child.pid + 10**7], every=0.01)  # no such process: nothing, no error
        gone.start()
        time.sleep(0.05)
        assert gone.stop() == 0.0
    finally:
        child.kill()
        child.wait()
