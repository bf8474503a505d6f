"""L7 decisions, pure: load balancing, Istio's default retry policy, Envoy's retry rules and backoff.

Nothing here does I/O; the driver asks, then acts. The rules are Envoy's router-filter rules as
Istio configures them (ISTIO-FACTS §4.1):

- With no VirtualService retries, Istio's mesh default applies: 2 retries on
  ``connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`` with no
  retriable status codes (503 stopped being retried by default in Istio 1.24).
- Backoff is fully jittered exponential: retry *n* waits uniformly in [0, (2^n − 1) · 25 ms),
  capped at 10 × base (250 ms).
- A retry goes to another host when there is one (``retryIgnorePreviousHosts``, the default).
- Load balancing defaults to LEAST_REQUEST: Envoy's power of two choices over active requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

#: Envoy retry_on values this lab understands (gRPC ones never match plain HTTP responses).
RETRY_ON = ("5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream",
            "retriable-status-codes", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
            "unavailable")
LB_POLICIES = ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
BACKOFF_BASE = 0.025


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 2                                   # retries after the first try
    retry_on: frozenset[str] = frozenset({"connect-failure", "refused-stream", "unavailable", "cancelled",
                                          "retriable-status-codes"})
    retriable_status_codes: frozenset[int] = frozenset()
    per_try_timeout: float | None = None
    source: str = "Istio default retry policy"

    def __post_init__(self):
        bad = sorted(set(self.retry_on) - set(RETRY_ON))
        if bad:
            raise ValueError(f"unknown retryOn value {bad[0]!r}; allowed: {', '.join(RETRY_ON)}")


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=0, retry_on=frozenset(), source="retries off")


@dataclass(frozen=True)
class Attempt:
    """How one upstream attempt ended: a status, or one of ``connect-failure``, ``reset``,
    ``protocol-error``, ``per-try-timeout``."""
    status: int | None = None
    failure: str | None = None


def retriable(policy: RetryPolicy, a: Attempt) -> bool:
    """Would Envoy retry after this attempt, under this policy (ignoring the attempt budget)?"""
    on = policy.retry_on
    if a.failure == "connect-failure":
        return bool(on & {"connect-failure", "5xx", "gateway-error"})
    if a.failure in ("reset", "protocol-error"):        # Envoy counts a reset as a 5xx, and a gateway error
        return bool(on & {"reset", "5xx", "gateway-error"})
    if a.failure == "per-try-timeout":
        return bool(on & {"5xx", "gateway-error", "reset"})
    s = a.status
    if s is None:
        return False
    if "5xx" in on and 500 <= s <= 599:
        return True
    if "gateway-error" in on and s in (502, 503, 504):
        return True
    if "retriable-4xx" in on and s == 409:
        return True
    if "retriable-status-codes" in on and s in policy.retriable_status_codes:
        return True
    return False


def should_retry(policy: RetryPolicy, attempt_number: int, a: Attempt) -> bool:
    """After attempt ``attempt_number`` (1 = the first try), try again?"""
    return attempt_number <= policy.attempts and retriable(policy, a)


def backoff(retry_number: int, rng: random.Random, base: float = BACKOFF_BASE) -> float:
    """Seconds to wait before retry ``retry_number`` (1 = the first retry): fully jittered."""
    upper = min((2 ** retry_number - 1) * base, 10 * base)
    return rng.uniform(0, upper)


@dataclass
class Balancer:
    """Chooses an endpoint per request, tracking requests in flight per endpoint."""
    policy: str = "LEAST_REQUEST"
    rng: random.Random = field(default_factory=random.Random)
    active: dict[str, int] = field(default_factory=dict)
    _rr: int = 0

    def __post_init__(self):
        if self.policy not in LB_POLICIES:
            raise ValueError(f"unknown load balancer {self.policy!r}; allowed: {', '.join(LB_POLICIES)}")

    def pick(self, endpoints: Sequence[str], exclude: set[str] | frozenset = frozenset()) -> str | None:
        """One of ``endpoints``, avoiding ``exclude`` (hosts already tried) when others exist."""
        if not endpoints:
            return None
        pool = [e for e in endpoints if e not in exclude] or list(endpoints)
        if self.policy == "RANDOM" or len(pool) == 1:
            return self.rng.choice(pool)
        if self.policy == "ROUND_ROBIN":
            self._rr += 1
            return pool[self._rr % len(pool)]
        a, b = self.rng.sample(pool, 2)          # power of two choices, as Envoy's LEAST_REQUEST
        return a if self.active.get(a, 0) <= self.active.get(b, 0) else b

    def started(self, ep: str) -> None:
        self.active[ep] = self.active.get(ep, 0) + 1

    def finished(self, ep: str) -> None:
        self.active[ep] = max(0, self.active.get(ep, 0) - 1)
