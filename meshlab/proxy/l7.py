"""L7 load balancing, pure: Envoy's LEAST_REQUEST (power of two choices), ROUND_ROBIN, RANDOM.

Nothing here does I/O; the driver asks, then acts. Load balancing defaults to LEAST_REQUEST:
Envoy's power of two choices over active requests. The retry rules the router applies with it are
policy, in :mod:`meshlab.policy.retries` (re-exported here for older imports).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from ..policy.retries import (
    BACKOFF_BASE,
    DEFAULT_RETRY,
    NO_RETRY,
    RETRY_ON,
    RETRY_ON_MEANING,
    RETRY_TRIGGERS,
    Attempt,
    RetryPolicy,
    backoff,
    retriable,
    should_retry,
    triggers,
)

__all__ = [
    "LB_POLICIES",
    "Balancer",
    # the retry rules' home is meshlab.policy.retries
    "BACKOFF_BASE",
    "DEFAULT_RETRY",
    "NO_RETRY",
    "RETRY_ON",
    "RETRY_ON_MEANING",
    "RETRY_TRIGGERS",
    "Attempt",
    "RetryPolicy",
    "backoff",
    "retriable",
    "should_retry",
    "triggers",
]

LB_POLICIES = ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")


@dataclass
class Balancer:
    """Chooses an endpoint per request, tracking requests in flight per endpoint."""

    policy: str = "LEAST_REQUEST"
    rng: random.Random = field(default_factory=lambda: random.Random(random.getrandbits(64)))
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
        a, b = self.rng.sample(pool, 2)  # power of two choices, as Envoy's LEAST_REQUEST
        return a if self.active.get(a, 0) <= self.active.get(b, 0) else b

    def started(self, ep: str) -> None:
        self.active[ep] = self.active.get(ep, 0) + 1

    def finished(self, ep: str) -> None:
        self.active[ep] = max(0, self.active.get(ep, 0) - 1)
