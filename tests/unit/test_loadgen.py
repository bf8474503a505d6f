"""Unit tests of meshlab/apps/loadgen.py: LoadPlan validation and run_load's accounting.

run_load takes its transport (``send``), clock and sleep as parameters, so everything here runs
on fake clocks and fake sends: no sockets, and no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, strategies as st

from meshlab.apps.loadgen import MAX_CONCURRENCY, MAX_DURATION, MAX_REQUESTS, LoadPlan, Outcome, run_load

# --------------------------------------------------------------------------------------------------
# Fakes
# --------------------------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when told to (by a fake send or a fake sleep)."""

    def __init__(self, start: float = 1000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t


class VirtualTime(FakeClock):
    """A fake clock plus a fake ``sleep`` that works with several concurrent sleepers.

    A sleeper registers its deadline, lets every other task run, and only when its deadline is the
    earliest pending one does it move the clock there and wake up. Sleepers therefore wake in
    deadline order and exactly at their deadline, as on an infinitely fast machine.
    """

    def __init__(self, start: float = 1000.0):
        super().__init__(start)
        self.pending: list[float] = []
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.t + seconds
        self.pending.append(deadline)
        try:
            while True:
                for _ in range(3):
                    await asyncio.sleep(0)
                if deadline <= min(self.pending):
                    break
        finally:
            self.pending.remove(deadline)
        self.t = max(self.t, deadline)


async def _no_real_sleep(seconds: float) -> None:  # pragma: no cover - must never be called
    raise AssertionError(f"run_load slept {seconds} s for a plan without a rate")


# --------------------------------------------------------------------------------------------------
# LoadPlan validation
# --------------------------------------------------------------------------------------------------


def test_plan_needs_requests_or_duration():
    """A plan with neither a request count nor a duration is refused, saying what to give."""
    with pytest.raises(ValueError, match=r"requests=N or duration=seconds"):
        LoadPlan()


@pytest.mark.parametrize("requests", [0, -1, MAX_REQUESTS + 1, 2.5, 10.0])
def test_plan_rejects_bad_request_counts(requests):
    """A request count that is not a whole number from 1 to MAX_REQUESTS is refused, and the
    message names the allowed range."""
    with pytest.raises(ValueError, match=rf"requests must be an integer from 1 to {MAX_REQUESTS}"):
        LoadPlan(requests=requests)


@pytest.mark.parametrize("duration", [0, 0.0, -1.0, MAX_DURATION + 0.001, math.inf, math.nan])
def test_plan_rejects_bad_durations(duration):
    """A duration that is not more than 0 and at most MAX_DURATION seconds (including infinity and
    NaN) is refused, and the message names the allowed range."""
    with pytest.raises(ValueError, match=rf"duration must be more than 0 and at most {MAX_DURATION:g} s"):
        LoadPlan(duration=duration)


@pytest.mark.parametrize("rate", [0, -5.0, 100_000.5, math.inf, math.nan])
def test_plan_rejects_bad_rates(rate):
    """A rate that is not more than 0 and at most 100000 requests/s is refused, and the message
    names the allowed range (and that None means as fast as possible)."""
    with pytest.raises(ValueError, match=r"rate must be more than 0 and at most 100000 requests/s"):
        LoadPlan(requests=10, rate=rate)


@pytest.mark.parametrize("concurrency", [0, -1, MAX_CONCURRENCY + 1, 1.5, None])
def test_plan_rejects_bad_concurrency(concurrency):
    """A connection count that is not a whole number from 1 to MAX_CONCURRENCY is refused, and the
    message names the allowed range."""
    with pytest.raises(ValueError, match=rf"concurrency must be an integer from 1 to {MAX_CONCURRENCY}"):
        LoadPlan(requests=10, concurrency=concurrency)


@pytest.mark.parametrize(
    "kw",
    [
        dict(requests=1),
        dict(requests=MAX_REQUESTS),
        dict(duration=MAX_DURATION),
        dict(duration=0.001),
        dict(requests=5, duration=1.0, rate=100_000, concurrency=MAX_CONCURRENCY),
        dict(requests=5, rate=0.01, concurrency=1),
    ],
)
def test_plan_accepts_edges_of_the_ranges(kw):
    """The ends of every allowed range are accepted."""
    LoadPlan(**kw)


@pytest.mark.parametrize("kw", [dict(duration="10s"), dict(requests=5, rate="5")])
def test_plan_rejects_non_numbers_with_value_error(kw):
    """A duration or rate given as text (say Istio-style "10s") is refused with a ValueError that
    names the allowed range, like every other bad value (not a TypeError from comparing a string
    with a number, which Lab.load would not turn into a LabError)."""
    with pytest.raises(ValueError, match=r"must be more than 0"):
        LoadPlan(**kw)


@pytest.mark.parametrize("kw", [dict(requests=True), dict(requests=5, concurrency=True)])
def test_plan_rejects_booleans_as_counts(kw):
    """A boolean is not a request or connection count (although isinstance(True, int) holds): it
    is refused with a ValueError."""
    with pytest.raises(ValueError, match=r"must be an integer from 1 to"):
        LoadPlan(**kw)


def test_send_time_and_expected():
    """send_time spaces requests 1/rate apart (0 without a rate); expected() is the request count,
    or duration*rate when that is smaller, or unknown for a duration-only plan."""
    assert LoadPlan(requests=3).send_time(7) == 0.0
    assert LoadPlan(requests=3, rate=4).send_time(2) == 0.5
    assert LoadPlan(requests=3).expected() == 3
    assert LoadPlan(duration=2.0).expected() is None
    assert LoadPlan(duration=2.0, rate=10).expected() == 20
    assert LoadPlan(requests=5, duration=2.0, rate=10).expected() == 5
    assert LoadPlan(requests=50, duration=0.25, rate=10).expected() == 3


# --------------------------------------------------------------------------------------------------
# run_load accounting
# --------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


@given(requests=st.integers(1, 300), concurrency=st.integers(1, 16), rnd=st.randoms(use_true_random=False))
def test_every_index_gets_exactly_one_outcome_in_order(requests, concurrency, rnd):
    """For any request count and connection count without a rate, with a transport that randomly
    answers, yields to the event loop, or raises: send is called exactly once per index 0..n-1,
    the result has one outcome per index in index order, an answer is kept as it was returned, and
    an exception becomes an outcome with no status and the exception's type and text as error."""
    plan = LoadPlan(requests=requests, concurrency=concurrency)
    clock = FakeClock()
    calls: list[tuple[int, int]] = []
    returned: dict[int, Outcome] = {}
    raised: dict[int, tuple[int, str]] = {}
    progress: list[int] = []

    async def send(i: int, conn_no: int) -> Outcome:
        calls.append((i, conn_no))
        clock.t += rnd.choice([0.0, 0.001, 0.5])
        how = rnd.choice(["ok", "yield-then-ok", "raise", "yield-then-raise", "oserror"])
        if how.startswith("yield"):
            for _ in range(rnd.randint(1, 3)):
                await asyncio.sleep(0)
        if how.endswith("raise"):
            raised[i] = (conn_no, f"Boom: request {i} failed")
            raise Boom(f"request {i} failed")
        if how == "oserror":
            raised[i] = (conn_no, "ConnectionResetError: reset by peer")
            raise ConnectionResetError("reset by peer")
        out = Outcome(i, clock(), clock(), rnd.choice([200, 404, 503]), connection=conn_no)
        returned[i] = out
        return out

    outs = asyncio.run(run_load(plan, send, clock, on_progress=progress.append, sleep=_no_real_sleep))

    assert sorted(i for i, _ in calls) == list(range(requests))
    assert all(0 <= c < concurrency for _, c in calls)
    assert [o.index for o in outs] == list(range(requests))
    assert set(returned) | set(raised) == set(range(requests)) and not set(returned) & set(raised)
    for o in outs:
        if o.index in returned:
            assert o is returned[o.index]
        else:
            conn_no, text = raised[o.index]
            assert o.status is None
            assert o.error == text
            assert o.connection == conn_no
            assert o.end >= o.start
    assert progress == list(range(1, requests + 1))


def test_exception_outcome_times_come_from_the_clock():
    """An exception becomes an outcome whose start is the clock before the send and whose end is
    the clock after it failed."""
    clock = FakeClock(50.0)

    async def send(i, conn_no):
        clock.t += 2.0
        raise ValueError("bad")

    [o] = asyncio.run(run_load(LoadPlan(requests=1), send, clock, sleep=_no_real_sleep))
    assert (o.index, o.start, o.end, o.status, o.error) == (0, 50.0, 52.0, None, "ValueError: bad")
    assert o.ms == pytest.approx(2000.0)


@pytest.mark.parametrize("concurrency", [1, 2, 3, 8])
def test_duration_bound_stops_taking_new_requests(concurrency):
    """With a 1 s duration, no request count, and a transport where each request takes 0.125 fake
    seconds: requests are taken at 0, 0.125, ... 0.875 s and none once 1 s has passed, whatever
    the number of connections; every request taken is answered."""
    clock = FakeClock(10.0)
    starts: list[float] = []

    async def send(i, conn_no):
        starts.append(clock())
        clock.t += 0.125
        await asyncio.sleep(0)
        return Outcome(i, starts[-1], clock(), 200, connection=conn_no)

    outs = asyncio.run(
        run_load(LoadPlan(duration=1.0, concurrency=concurrency), send, clock, sleep=_no_real_sleep)
    )
    assert [o.index for o in outs] == list(range(8))
    assert sorted(starts) == [10.0 + 0.125 * k for k in range(8)]
    assert all(s < 11.0 for s in starts)
    assert clock() >= 11.0


def test_duration_bound_lets_requests_in_flight_finish():
    """When the clock jumps past the duration during one request, that request still gets its
    outcome, and no further request is sent."""
    clock = FakeClock(0.0)

    async def send(i, conn_no):
        if i == 3:
            clock.t += 100.0
        return Outcome(i, 0.0, clock(), 200)

    outs = asyncio.run(run_load(LoadPlan(requests=1000, duration=5.0), send, clock, sleep=_no_real_sleep))
    assert [o.index for o in outs] == [0, 1, 2, 3]
    assert outs[3].end == 100.0


def test_request_count_bounds_a_plan_with_both_bounds():
    """With both a request count and a duration, the count stops the run when it comes first."""
    clock = FakeClock()

    async def send(i, conn_no):
        clock.t += 0.001
        return Outcome(i, 0.0, 0.0, 200)

    outs = asyncio.run(
        run_load(LoadPlan(requests=7, duration=60.0, concurrency=3), send, clock, sleep=_no_real_sleep)
    )
    assert len(outs) == 7


@given(
    requests=st.integers(1, 120),
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0, 33.0, 250.0, 1000.0]),
    concurrency=st.integers(1, 8),
)
def test_rate_spaces_sends_at_i_over_rate(requests, rate, concurrency):
    """With a rate, a fake clock and a fake sleep, the i-th send happens at start + i/rate (never
    before), whatever the number of connections."""
    vt = VirtualTime(500.0)
    at: dict[int, float] = {}

    async def send(i, conn_no):
        at[i] = vt()
        await asyncio.sleep(0)
        return Outcome(i, at[i], vt(), 200, connection=conn_no)

    outs = asyncio.run(
        run_load(LoadPlan(requests=requests, rate=rate, concurrency=concurrency), send, vt, sleep=vt.sleep)
    )
    assert [o.index for o in outs] == list(range(requests))
    for i in range(requests):
        assert at[i] == pytest.approx(500.0 + i / rate, rel=1e-12, abs=1e-9), i
    assert all(s > 0 for s in vt.sleeps)


@pytest.mark.parametrize("duration,rate", [(1.0, 10.0), (2.0, 0.5), (0.25, 10.0), (3.0, 7.0)])
def test_duration_and_rate_send_expected_count(duration, rate):
    """With a duration and a rate, the requests sent are those due strictly before the duration
    has passed, and that is the number expected() announced."""
    vt = VirtualTime(0.0)

    async def send(i, conn_no):
        return Outcome(i, vt(), vt(), 200)

    plan = LoadPlan(duration=duration, rate=rate, concurrency=2)
    outs = asyncio.run(run_load(plan, send, vt, sleep=vt.sleep))
    assert len(outs) == plan.expected()
    assert all(o.start < duration for o in outs)


def test_expected_matches_sent_count_despite_float_rounding():
    """A 1.1 s run at 100 requests/s sends the 110 requests due at 0, 0.01, ... 1.09 s, and
    expected() (the progress bar's total) says 110 too, although 1.1 * 100 is 110.00000000000001
    in floating point."""
    vt = VirtualTime(0.0)

    async def send(i, conn_no):
        return Outcome(i, vt(), vt(), 200)

    plan = LoadPlan(duration=1.1, rate=100.0)
    outs = asyncio.run(run_load(plan, send, vt, sleep=vt.sleep))
    assert len(outs) == 110
    assert plan.expected() == len(outs)


@given(
    duration=st.floats(min_value=0.01, max_value=5.0),
    rate=st.floats(min_value=0.1, max_value=200.0),
    requests=st.one_of(st.none(), st.integers(1, 1000)),
)
def test_expected_is_what_run_load_sends(duration, rate, requests):
    """For any duration and rate (and maybe a request count too), expected() is exactly the number
    of requests run_load sends on an infinitely fast machine (fake clock and fake sleep)."""
    vt = VirtualTime(0.0)

    async def send(i, conn_no):
        return Outcome(i, vt(), vt(), 200)

    plan = LoadPlan(requests=requests, duration=duration, rate=rate)
    outs = asyncio.run(run_load(plan, send, vt, sleep=vt.sleep))
    assert len(outs) == plan.expected()
