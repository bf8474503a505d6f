"""Added latency: a difference of percentiles with a bootstrap interval, shown only where this run
can support it (the p99 difference once came out as -26 ms from 150 requests)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

from meshlab.telemetry.stats import added_latency, describe_added, min_samples, percentile

latencies = st.lists(st.floats(min_value=0.5, max_value=500, allow_nan=False), min_size=50, max_size=300)


def test_each_percentile_needs_five_requests_beyond_it():
    assert (min_samples(50), min_samples(90), min_samples(99)) == (10, 50, 500)


@given(latencies, st.floats(min_value=-50, max_value=50), st.sampled_from([50, 90]))
def test_the_interval_contains_the_shift_between_samples_of_the_same_shape(base, shift, q):
    """Every request slower by the same ``shift``: the estimate is the shift, inside its interval."""
    a = added_latency(base, [x + shift for x in base], q)
    assert a["estimate"] == pytest.approx(shift, abs=2e-3)
    assert a["low"] - 2e-3 <= shift <= a["high"] + 2e-3


@given(latencies, st.sampled_from([50, 90]))
def test_identical_samples_are_not_told_apart(base, q):
    a = added_latency(base, list(reversed(base)), q)
    assert a["low"] <= 0 <= a["high"] and a["verdict"] == "≈0"
    assert describe_added(a).startswith("≈0 ms (not distinguishable")


def test_a_negative_difference_from_noise_reads_as_zero_not_as_a_speed_up():
    """Two runs of the same distribution: the bare p90 difference is negative, the verdict ≈0."""
    r = random.Random(7)
    for _ in range(50):
        base = [10 + r.expovariate(0.2) for _ in range(150)]
        mesh = [10 + r.expovariate(0.2) for _ in range(150)]
        a = added_latency(base, mesh, 90)
        if a["difference"] < 0 and a["high"] >= 0:
            assert (
                a["verdict"] == "≈0"
                and "≈0" in describe_added(a)
                and "-" not in describe_added(a).split("(")[0]
            )
            return
    pytest.fail("no negative difference in 50 tries")


def test_a_real_added_latency_is_told_with_its_interval():
    r = random.Random(3)
    base = [10 + r.expovariate(1) for _ in range(200)]
    mesh = [15 + r.expovariate(1) for _ in range(200)]
    a = added_latency(base, mesh, 50)
    assert a["verdict"] == "added" and 4 < a["low"] <= a["estimate"] <= a["high"] < 6
    assert describe_added(a).startswith(f"{a['estimate']:+.2f} ms (95% CI ")


def test_p99_is_not_estimated_from_too_few_requests():
    base, mesh = [float(i) for i in range(150)], [float(i) - 26 for i in range(150)]
    a = added_latency(base, mesh, 99)
    assert a["estimate"] is None and a["verdict"] == "too few requests"
    assert a["difference"] == pytest.approx(percentile(mesh, 99) - percentile(base, 99))  # still recorded
    assert describe_added(a) == "not estimated (p99 needs ≥500 requests per mode, have 150)"
    assert describe_added(a, short=True) == "needs n≥500"


def test_the_same_samples_give_the_same_interval():
    r = random.Random(1)
    base, mesh = [r.random() for _ in range(100)], [r.random() + 0.1 for _ in range(100)]
    assert added_latency(base, mesh, 90) == added_latency(base, mesh, 90)
