"""Envoy's circuit breakers and outlier detection as a DestinationRule sets them, pure.

**Connection pool** (one :class:`PoolAccount` per upstream cluster, per proxy). HTTP/1.1 carries
one request at a time per connection, so a request either gets a connection or waits for one:

- a free kept-alive connection -> use it;
- fewer than ``maxConnections`` open -> open one; the request counts as *pending* until the
  connection is up (Envoy's accounting, and why the circuit-breaking task sees 503s even at
  concurrency 2: a second request arriving while the first one's connection is being made finds
  the pending queue full);
- otherwise wait in the pending queue if it has room (``http1MaxPendingRequests``), else
  **overflow**: 503 at once, flag ``UO``.

``http2MaxRequests`` (Envoy's ``max_requests``) bounds the requests in flight to the cluster, over
HTTP/1.1 as over HTTP/2: Envoy checks it when a request is given a connection
(``ConnPoolImplBase::attachStreamToClient``, ``source/common/conn_pool/conn_pool_base.cc``) and
answers an overflow as above (503, ``UO``, counted in ``upstream_rq_pending_overflow``; the
router never retries an overflow). The lab checks it when a request is given a free connection,
is handed one from the queue, or is about to open one — Envoy checks that last case once the
connection is up, which differs only when a request finishes in between.

``maxRequestsPerConnection: 1`` closes each connection after its request. ``maxRetries`` caps
retries in flight across the cluster (a retry beyond it is not made: flag ``UO``, Envoy's
retry overflow).

**Outlier detection** (:class:`OutlierDetector`), Envoy's ``DetectorImpl``
(``source/extensions/clusters/common/outlier_detection_impl.cc`` in recent Envoy) as Istio's
``applyOutlierDetection`` configures it:

- an endpoint that answers ``consecutive5xxErrors`` 5xx in a row (connection failures count:
  Envoy's locally originated errors, not split) — or ``consecutiveGatewayErrors`` 502/503/504 —
  is an outlier, and its count starts again;
- it is ejected only if the endpoints out, *counting it*, stay within ``maxEjectionPercent``:
  ``100 × (ejected + 1) / endpoints <= maxEjectionPercent`` (``DetectorImpl::ejectHost`` since
  Envoy PR #27909, Envoy 1.28). With the default 10%, a cluster of fewer than 10 endpoints ejects
  nothing; before that change Envoy always ejected one. (Envoy's ``always_eject_one_host``
  brings that back; Istio does not expose it.) ``maxEjectionPercent: 0`` is Istio's "unset":
  Envoy's 10% applies;
- it stays out for ``baseEjectionTime`` × a back-off that grows by one per ejection (up to
  Envoy's ``max_ejection_time``, 300 s, which Istio leaves at its default) and shrinks by one at
  each ``interval`` sweep the endpoint spends in service; it returns at the first sweep after its
  time is up (``DetectorImpl::checkHostForUneject``), its counts reset;
- ``minHealthPercent`` is Envoy's panic threshold (Istio's default 0: never): when fewer than that
  share of the endpoints are in service, the load balancer uses them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import floor

from .destinationrule import Outlier, TrafficPolicy


@dataclass
class PoolAccount:
    policy: TrafficPolicy
    connections: int = 0  # open (or opening) upstream connections of the cluster
    busy: int = 0  # of which carrying a request now
    pending: int = 0  # requests waiting: queued, or their new connection not up yet
    queued: int = 0  # of which waiting in the queue for a connection
    retries: int = 0  # retries in flight
    overflows: int = 0
    pending_total: int = 0

    def admit(self) -> str:
        """For a new request: ``"reuse"`` a free connection, ``"connect"`` a new one (the request
        is pending until :meth:`connected`), ``"queue"`` (pending until a finishing request hands
        it a connection: :meth:`hand`), or ``"overflow"``."""
        if self.connections > self.busy:
            if self.requests_full():
                return self._overflow()
            self.busy += 1
            return "reuse"
        if self.pending >= self.policy.max_pending:
            return self._overflow()
        if self.connections < self.policy.max_connections:
            if self.requests_full():
                return self._overflow()
            self.pending += 1
            self.pending_total += 1
            self.connections += 1
            self.busy += 1
            return "connect"
        self.pending += 1
        self.pending_total += 1
        self.queued += 1
        return "queue"

    def requests_full(self) -> bool:
        """``http2MaxRequests`` requests are in flight (each holds a connection: HTTP/1.1)."""
        return self.busy >= self.policy.max_requests

    def _overflow(self) -> str:
        self.overflows += 1
        return "overflow"

    def connected(self) -> None:
        """The connection opened for a pending request is up."""
        self.pending -= 1

    def finished(self, keep_connection: bool) -> None:
        """A request is done with its connection, which stays open for the next one unless it
        failed or ``maxRequestsPerConnection: 1`` closes it."""
        if not (keep_connection and self.policy.max_requests_per_connection != 1):
            self.connections -= 1
        self.busy -= 1

    def can_hand(self) -> bool:
        """Is a queued request waiting, and a connection free (or room to open one)?"""
        return self.queued > 0 and (
            self.connections > self.busy or self.connections < self.policy.max_connections
        )

    def hand(self) -> str:
        """Give the first queued request a connection: a free one (``"reuse"``), or a new one
        (``"connect"``: the request stays pending until it is up, as in Envoy) — or
        ``"overflow"`` when ``http2MaxRequests`` are in flight."""
        self.queued -= 1
        if self.requests_full():
            self.pending -= 1
            return self._overflow()
        self.busy += 1
        if self.connections < self.busy:
            self.connections += 1
            return "connect"
        self.pending -= 1
        return "reuse"

    def leave_queue(self) -> None:
        """A queued request gave up (its route timed out)."""
        self.queued -= 1
        self.pending -= 1

    def retry_allowed(self) -> bool:
        return self.retries < self.policy.max_retries


MAX_EJECTION_TIME = 300.0  # Envoy's max_ejection_time default; Istio does not set it


def may_eject(ejected: int, endpoints: int, max_ejection_percent: int) -> bool:
    """Envoy's ``DetectorImpl::ejectHost`` test: may one more of ``endpoints`` be ejected when
    ``ejected`` are out? The share out *after* the ejection must stay within the limit."""
    return 100 * (ejected + 1) <= max_ejection_percent * endpoints


@dataclass
class OutlierDetector:
    policy: Outlier
    started: float = 0.0  # when the interval timer was armed
    consecutive_5xx: dict[str, int] = field(default_factory=dict)
    consecutive_gw: dict[str, int] = field(default_factory=dict)
    backoff: dict[str, int] = field(default_factory=dict)  # Envoy's ejectTimeBackoff
    ejected_at: dict[str, float] = field(default_factory=dict)
    overflows: int = 0  # outliers the percentage kept in
    _sweeps: int = 0  # interval sweeps done

    @property
    def ejected_until(self) -> dict[str, float]:
        """When each ejected endpoint's time is up (it returns at the first sweep after)."""
        return {e: t + self.ejection_time(e) for e, t in self.ejected_at.items()}

    def ejection_time(self, endpoint: str) -> float:
        return min(self.policy.base_ejection * self.backoff.get(endpoint, 0), MAX_EJECTION_TIME)

    def sweep(self, now: float) -> None:
        """Run the ``interval`` sweeps due by ``now`` (Envoy runs them on a timer)."""
        due = floor((now - self.started) / self.policy.interval) if self.policy.interval > 0 else 0
        if due > self._sweeps and not self.ejected_at and not any(self.backoff.values()):
            self._sweeps = due  # nothing for them to do
        while self._sweeps < due:
            self._sweeps += 1
            t = self.started + self._sweeps * self.policy.interval
            for ep in list(self.backoff):
                if ep not in self.ejected_at:
                    self.backoff[ep] = max(0, self.backoff[ep] - 1)
                elif self.ejection_time(ep) <= t - self.ejected_at[ep]:
                    del self.ejected_at[ep]  # back in service, counts reset
                    self.consecutive_5xx[ep] = self.consecutive_gw[ep] = 0

    def ejected(self, now: float) -> set[str]:
        self.sweep(now)
        return set(self.ejected_at)

    def choosable(self, endpoints: list[str], now: float) -> list[str]:
        """The endpoints the load balancer may pick: those in service — or all of them in panic
        mode, when fewer than ``minHealthPercent`` of them are in service."""
        out = self.ejected(now)
        healthy = [e for e in endpoints if e not in out]
        if endpoints and 100 * len(healthy) < self.policy.min_health_percent * len(endpoints):
            return list(endpoints)
        return healthy

    def record(self, endpoint: str, status: int | None, now: float, endpoints: int) -> bool:
        """Count one response (``status`` None: the connection failed or reset). Returns True
        when this ejected ``endpoint``."""
        out = self.ejected(now)
        is_5xx = status is None or status >= 500
        is_gw = status is None or status in (502, 503, 504)
        self.consecutive_5xx[endpoint] = self.consecutive_5xx.get(endpoint, 0) + 1 if is_5xx else 0
        self.consecutive_gw[endpoint] = self.consecutive_gw.get(endpoint, 0) + 1 if is_gw else 0
        p = self.policy
        trip_5xx = p.consecutive_5xx > 0 and self.consecutive_5xx[endpoint] >= p.consecutive_5xx
        trip_gw = p.consecutive_gateway > 0 and self.consecutive_gw[endpoint] >= p.consecutive_gateway
        if not (trip_5xx or trip_gw) or endpoint in out:
            return False
        if trip_5xx:  # the count that tripped starts again
            self.consecutive_5xx[endpoint] = 0
        else:
            self.consecutive_gw[endpoint] = 0
        if not may_eject(len(out), endpoints, p.max_ejection_percent):
            self.overflows += 1  # Envoy's ejections_overflow
            return False
        self.ejected_at[endpoint] = now
        b = self.backoff.get(endpoint, 0)
        if b * p.base_ejection < MAX_EJECTION_TIME + p.base_ejection:
            self.backoff[endpoint] = b + 1
        return True
