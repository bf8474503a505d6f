"""Envoy's retry and load-balancing rules, as Istio configures them, without sockets."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshlab.policy.retries import (
    DEFAULT_RETRY,
    RETRY_ON,
    RETRY_TRIGGERS,
    Attempt,
    RetryPolicy,
    backoff,
    retriable,
    should_retry,
)
from meshlab.proxy.l7 import Balancer


def test_istio_default_retries_connect_failures_twice():
    assert should_retry(DEFAULT_RETRY, 1, Attempt(failure="connect-failure"))
    assert should_retry(DEFAULT_RETRY, 2, Attempt(failure="connect-failure"))
    assert not should_retry(DEFAULT_RETRY, 3, Attempt(failure="connect-failure"))


def test_since_istio_1_24_a_503_is_not_retried_by_default():
    assert not retriable(DEFAULT_RETRY, Attempt(status=503))


def test_5xx_covers_statuses_resets_and_connect_failures():
    p = RetryPolicy(attempts=3, retry_on=frozenset({"5xx"}))
    assert all(retriable(p, Attempt(status=s)) for s in (500, 502, 503, 504))
    assert retriable(p, Attempt(failure="reset")) and retriable(p, Attempt(failure="connect-failure"))
    assert not retriable(p, Attempt(status=404))


def test_a_reset_or_protocol_error_is_retried_under_reset_5xx_and_gateway_error():
    """Envoy's RetryStateImpl::wouldRetryFromReset: any reset but an overflow, a protocol error
    included, is retried under reset, 5xx or gateway-error — not under Istio's default policy."""
    for failure in ("reset", "protocol-error"):
        for on in ("reset", "5xx", "gateway-error"):
            assert retriable(RetryPolicy(retry_on=frozenset({on})), Attempt(failure=failure))
        assert not retriable(DEFAULT_RETRY, Attempt(failure=failure))


def test_gateway_error_is_502_503_504_only():
    p = RetryPolicy(retry_on=frozenset({"gateway-error"}))
    assert [s for s in range(500, 600) if retriable(p, Attempt(status=s))] == [502, 503, 504]


def test_retriable_4xx_is_409_and_status_codes_are_listed_ones():
    assert retriable(RetryPolicy(retry_on=frozenset({"retriable-4xx"})), Attempt(status=409))
    p = RetryPolicy(retry_on=frozenset({"retriable-status-codes"}), retriable_status_codes=frozenset({418}))
    assert retriable(p, Attempt(status=418)) and not retriable(p, Attempt(status=503))


# Envoy's retry triggers, cell by cell. Written out here from Envoy's code, apart from meshlab's
# table: RetryStateImpl::wouldRetryFromReset (a connection failure under connect-failure; any reset
# but an overflow under reset, 5xx and gateway-error; reset-before-request when no byte went out),
# Filter::onPerTryTimeoutCommon (a per-try timeout is a LocalReset after the request went out), and
# RetryStateImpl::wouldRetryFromHeaders (5xx, 502/503/504, 409, the listed codes).
LISTED = 418  # in the policy's retriable status codes below
ENVOY_RETRIES = {
    "connect-failure": (
        Attempt(failure="connect-failure"),
        {"connect-failure", "reset-before-request", "reset", "5xx", "gateway-error"},
    ),
    "reset": (Attempt(failure="reset"), {"reset", "5xx", "gateway-error"}),
    # a response that cannot be read: Envoy resets the stream with reason ProtocolError (flag UPE)
    "protocol-error": (Attempt(failure="protocol-error"), {"reset", "5xx", "gateway-error"}),
    "per-try-timeout": (Attempt(failure="per-try-timeout"), {"reset", "5xx", "gateway-error"}),
    "overflow": (Attempt(failure="overflow"), set()),
    **{f"status {s}": (Attempt(status=s), {"5xx", "gateway-error"}) for s in (502, 503, 504)},
    **{f"status {s}": (Attempt(status=s), {"5xx"}) for s in (500, 501, 505, 599)},
    "status 409": (Attempt(status=409), {"retriable-4xx"}),
    f"status {LISTED}": (Attempt(status=LISTED), {"retriable-status-codes"}),
    **{f"status {s}": (Attempt(status=s), set()) for s in (200, 404, 429)},
}
CELLS = [
    pytest.param(a, on, on in want, id=f"{row} x {on}")
    for row, (a, want) in ENVOY_RETRIES.items()
    for on in RETRY_ON
]


@pytest.mark.parametrize("attempt, retry_on, retried", CELLS)
def test_retry_trigger_table_cell(attempt, retry_on, retried):
    """One cell of Envoy's retry-trigger table: after this attempt, does this retryOn value retry?"""
    p = RetryPolicy(retry_on=frozenset({retry_on}), retriable_status_codes=frozenset({LISTED}))
    assert retriable(p, attempt) is retried


def test_the_table_has_a_row_for_every_outcome_and_knows_no_other_policy():
    assert {a.outcome for a, _ in ENVOY_RETRIES.values()} == set(RETRY_TRIGGERS)
    assert set().union(*RETRY_TRIGGERS.values()) <= set(RETRY_ON)
    with pytest.raises(ValueError, match="unknown attempt failure 'timeout'; allowed: connect-failure"):
        Attempt(failure="timeout").outcome


@given(st.sets(st.sampled_from(RETRY_ON)), st.sampled_from(sorted(ENVOY_RETRIES)))
def test_a_retry_on_list_retries_what_any_of_its_entries_retries(on, row):
    attempt, _ = ENVOY_RETRIES[row]
    p = RetryPolicy(retry_on=frozenset(on), retriable_status_codes=frozenset({LISTED}))
    assert retriable(p, attempt) == any(
        retriable(RetryPolicy(retry_on=frozenset({x}), retriable_status_codes=frozenset({LISTED})), attempt)
        for x in on
    )


def test_unknown_retry_on_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown retryOn value '5xxx'"):
        RetryPolicy(retry_on=frozenset({"5xxx"}))


@given(st.integers(1, 20), st.integers(0, 2**32))
def test_backoff_is_jittered_within_envoys_bounds(n, seed):
    b = backoff(n, random.Random(seed))
    assert 0 <= b <= min((2**n - 1) * 0.025, 0.25)


@given(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True),
    st.integers(0, 2**32),
    st.sampled_from(["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"]),
)
def test_a_retry_avoids_hosts_already_tried_when_it_can(eps, seed, policy):
    lb = Balancer(policy, random.Random(seed))
    tried = set(eps[:-1])
    assert lb.pick(eps, exclude=tried) == eps[-1]


def test_least_request_prefers_the_idle_endpoint():
    lb = Balancer("LEAST_REQUEST", random.Random(1))
    for _ in range(5):
        lb.started("busy")
    assert {lb.pick(["busy", "idle"]) for _ in range(50)} == {"idle"}


def test_unknown_balancer_is_refused():
    with pytest.raises(ValueError, match="allowed: LEAST_REQUEST, ROUND_ROBIN, RANDOM"):
        Balancer("FASTEST")
