"""Envoy's retry rules as Istio configures them, pure: the retry policy, which outcomes retry, backoff.

A VirtualService's ``retries`` (or Istio's default when it has none) becomes a :class:`RetryPolicy`
(:mod:`meshlab.policy.routing`); the proxies' router (:mod:`meshlab.proxy.router`) asks
:func:`retriable` and :func:`backoff` after each attempt. Nothing here does I/O. The rules are
Envoy's router-filter rules as Istio configures them (ISTIO-FACTS §4.1):

- With no VirtualService retries, Istio's mesh default applies: 2 retries on
  ``connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`` with no
  retriable status codes (503 stopped being retried by default in Istio 1.24). A sidecar's route
  to its own app is an inbound route, with the inbound default: 2 retries on
  ``reset-before-request``, to any host (:data:`DEFAULT_INBOUND_RETRY`). A waypoint's default
  route for a service with no VirtualService has the mesh default, as an outbound route does.
- Which ``retryOn`` policies retry which outcome of an attempt is one table,
  :data:`RETRY_TRIGGERS`, read off Envoy's ``RetryStateImpl`` (see there).
- Backoff is fully jittered exponential: retry *n* waits uniformly in [0, (2^n − 1) · 25 ms),
  capped at 10 × base (250 ms).
- A retry goes to another host when there is one (``retryIgnorePreviousHosts``, the default:
  Istio's ``retry.ConvertPolicy`` adds Envoy's previous-hosts predicate unless it is false).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Envoy retry_on values this lab understands (gRPC ones never match plain HTTP responses).
RETRY_ON = (
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
)
#: What each ``retryOn`` value retries, in a line (Envoy's ``x-envoy-retry-on`` and
#: ``x-envoy-retry-grpc-on`` documentation, router filter): for the control panel's help.
RETRY_ON_MEANING = {
    "5xx": "any 5xx answer, or no answer at all (reset, disconnect; includes connect-failure and refused-stream)",
    "gateway-error": "a 502, 503 or 504 answer (or no answer)",
    "reset": "no answer: the upstream disconnected, reset or timed out",
    "reset-before-request": "a reset before the request was sent upstream (safe to retry any request)",
    "connect-failure": "the connection to the upstream could not be made (refused, timed out)",
    "retriable-4xx": "a 409 answer",
    "refused-stream": "the upstream refused the stream (HTTP/2 REFUSED_STREAM)",
    "retriable-status-codes": "the status codes listed in retryOn as numbers (e.g. 503)",
    "cancelled": "gRPC: a response whose grpc-status is CANCELLED (never plain HTTP)",
    "deadline-exceeded": "gRPC: grpc-status DEADLINE_EXCEEDED (never plain HTTP)",
    "internal": "gRPC: grpc-status INTERNAL (never plain HTTP)",
    "resource-exhausted": "gRPC: grpc-status RESOURCE_EXHAUSTED (never plain HTTP)",
    "unavailable": "gRPC: grpc-status UNAVAILABLE (never plain HTTP)",
}
assert set(RETRY_ON_MEANING) == set(RETRY_ON)
BACKOFF_BASE = 0.025

#: Envoy's retry triggers, as one table: for each way an attempt can end, the ``retryOn``
#: policies under which Envoy tries again. Read off ``source/common/router/retry_state_impl.cc``:
#:
#: - an attempt that got no response goes through ``RetryStateImpl::wouldRetryFromReset`` with
#:   the stream's reset reason. ``Overflow`` (a circuit breaker said no) is never retried. A
#:   connection that could not be made (``LocalConnectionFailure``, ``RemoteConnectionFailure``,
#:   ``ConnectionTimeout``) is retried under ``connect-failure``; then, for every reason,
#:   ``reset-before-request`` retries when no byte of the request went out, and ``reset``, ``5xx``
#:   and ``gateway-error`` retry any reset ("we count an upstream reset as a 5xx");
#:   ``refused-stream`` only an HTTP/2 REFUSED_STREAM, which the lab's HTTP/1.1 never sees.
#: - a per-try timeout is a reset too: ``Filter::onPerTryTimeoutCommon`` (router.cc) resets the
#:   stream and asks ``maybeRetryReset(LocalReset, ...)``, after the request went out (the
#:   per-try timer starts when the connection pool hands over a connection,
#:   ``UpstreamRequest::onPoolReady``). So ``reset`` retries it as well as ``5xx`` and
#:   ``gateway-error``. (An older comment in ``shouldHedgeRetryPerTryTimeout`` names only 5xx and
#:   gateway-error: it predates ``reset``.)
#: - an attempt that got a response goes through ``RetryStateImpl::wouldRetryFromHeaders``:
#:   ``5xx`` any 5xx, ``gateway-error`` 502/503/504, ``retriable-4xx`` 409; and
#:   ``retriable-status-codes`` the codes the policy lists (:func:`triggers` adds that one).
#:   The gRPC policies look at ``grpc-status``, which the lab's HTTP/1.1 apps never send.
RETRY_TRIGGERS: dict[str, frozenset[str]] = {
    "connect-failure": frozenset(
        {"connect-failure", "reset-before-request", "reset", "5xx", "gateway-error"}
    ),
    "reset": frozenset({"reset", "5xx", "gateway-error"}),
    # a response the proxy cannot read (Envoy's ProtocolError reset reason: flag UPE) is a reset too
    "protocol-error": frozenset({"reset", "5xx", "gateway-error"}),
    "per-try-timeout": frozenset({"reset", "5xx", "gateway-error"}),
    "overflow": frozenset(),
    "status 502, 503, 504": frozenset({"5xx", "gateway-error"}),
    "status 500, 501, 505-599": frozenset({"5xx"}),
    "status 409": frozenset({"retriable-4xx"}),
    "other status": frozenset(),
}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 2  # retries after the first try
    retry_on: frozenset[str] = frozenset(
        {"connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"}
    )
    retriable_status_codes: frozenset[int] = frozenset()
    per_try_timeout: float | None = None
    source: str = "Istio default retry policy"
    ignore_previous_hosts: bool = True  # retryIgnorePreviousHosts

    def __post_init__(self):
        bad = sorted(set(self.retry_on) - set(RETRY_ON))
        if bad:
            raise ValueError(f"unknown retryOn value {bad[0]!r}; allowed: {', '.join(RETRY_ON)}")


DEFAULT_RETRY = RetryPolicy()
#: An inbound route's default since Istio 1.24 (``retry.ConvertInboundPolicy`` with no mesh-wide
#: ``defaultInboundHttpRetryPolicy``; ``releasenotes/notes/52055.yaml``): 2 retries on
#: ``reset-before-request`` only ("a request reset before it reached the application was never
#: processed"), no previous-hosts predicate: a sidecar's route to its own app
#: (``buildSidecarInboundHTTPRouteConfig`` -> ``BuildDefaultHTTPInboundRoute``). Not a waypoint's
#: default route: since Istio 1.31 (istio#60682, ``releasenotes/notes/60682.yaml``) it is built
#: like an outbound route (``BuildDefaultHTTPOutboundRoute``), with :data:`DEFAULT_RETRY`; from
#: 1.24 to 1.30 it had this inbound default.
DEFAULT_INBOUND_RETRY = RetryPolicy(
    retry_on=frozenset({"reset-before-request"}),
    source="Istio default inbound retry policy",
    ignore_previous_hosts=False,
)
NO_RETRY = RetryPolicy(attempts=0, retry_on=frozenset(), source="retries off")


@dataclass(frozen=True)
class Attempt:
    """How one upstream attempt ended: a status, or one of ``connect-failure``, ``reset``,
    ``protocol-error``, ``per-try-timeout``, ``overflow`` (Envoy's stream-reset reasons, as
    :data:`RETRY_TRIGGERS` names them)."""

    status: int | None = None
    failure: str | None = None

    @property
    def outcome(self) -> str:
        """The row of :data:`RETRY_TRIGGERS` this attempt falls in."""
        if self.failure is not None:
            if self.failure not in RETRY_TRIGGERS:
                raise ValueError(
                    f"unknown attempt failure {self.failure!r}; allowed: connect-failure, reset, "
                    "protocol-error, per-try-timeout, overflow"
                )
            return self.failure
        s = self.status
        if s in (502, 503, 504):
            return "status 502, 503, 504"
        if s is not None and 500 <= s <= 599:
            return "status 500, 501, 505-599"
        if s == 409:
            return "status 409"
        return "other status"


def triggers(policy: RetryPolicy, a: Attempt) -> frozenset[str]:
    """The policy's ``retryOn`` entries that would retry after ``a``."""
    hit = RETRY_TRIGGERS[a.outcome]
    if a.status is not None and a.status in policy.retriable_status_codes:
        hit = hit | {"retriable-status-codes"}
    return policy.retry_on & hit


def retriable(policy: RetryPolicy, a: Attempt) -> bool:
    """Would Envoy retry after this attempt, under this policy (ignoring the attempt budget)?"""
    return bool(triggers(policy, a))


def should_retry(policy: RetryPolicy, attempt_number: int, a: Attempt) -> bool:
    """After attempt ``attempt_number`` (1 = the first try), try again?"""
    return attempt_number <= policy.attempts and retriable(policy, a)


def backoff(retry_number: int, rng: random.Random, base: float = BACKOFF_BASE) -> float:
    """Seconds to wait before retry ``retry_number`` (1 = the first retry): fully jittered."""
    upper = min((2**retry_number - 1) * base, 10 * base)
    return rng.uniform(0, upper)
