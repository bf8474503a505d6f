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
retries in flight across the cluster (retries beyond it are not made: flag ``URX``).

**Outlier detection** (:class:`OutlierDetector`): an endpoint that answers
``consecutive5xxErrors`` 5xx in a row (connection failures count: Envoy's locally originated
errors, not split) — or ``consecutiveGatewayErrors`` 502/503/504 — is ejected for
``baseEjectionTime`` × the number of times it has been ejected, as long as no more than
``maxEjectionPercent`` of the endpoints are out (Envoy always allows ejecting one). Simplified:
an ejected endpoint comes back the moment its time is up, not at the next ``interval`` sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .routing import Outlier, TrafficPolicy


@dataclass
class PoolAccount:
    policy: TrafficPolicy
    connections: int = 0         # open (or opening) upstream connections of the cluster
    busy: int = 0                # of which carrying a request now
    pending: int = 0             # requests waiting: queued, or their new connection not up yet
    queued: int = 0              # of which waiting in the queue for a connection
    retries: int = 0             # retries in flight
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
        return self.queued > 0 and (self.connections > self.busy or self.connections < self.policy.max_connections)

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


@dataclass
class OutlierDetector:
    policy: Outlier
    consecutive_5xx: dict[str, int] = field(default_factory=dict)
    consecutive_gw: dict[str, int] = field(default_factory=dict)
    ejections: dict[str, int] = field(default_factory=dict)     # times ejected
    ejected_until: dict[str, float] = field(default_factory=dict)

    def ejected(self, now: float) -> set[str]:
        for ep in [e for e, t in self.ejected_until.items() if t <= now]:
            del self.ejected_until[ep]
        return set(self.ejected_until)

    def record(self, endpoint: str, status: int | None, now: float, endpoints: int) -> bool:
        """Count one response (``status`` None: the connection failed or reset). Returns True
        when this ejected ``endpoint``."""
        is_5xx = status is None or status >= 500
        is_gw = status is None or status in (502, 503, 504)
        self.consecutive_5xx[endpoint] = self.consecutive_5xx.get(endpoint, 0) + 1 if is_5xx else 0
        self.consecutive_gw[endpoint] = self.consecutive_gw.get(endpoint, 0) + 1 if is_gw else 0
        p = self.policy
        trip = (p.consecutive_5xx > 0 and self.consecutive_5xx[endpoint] >= p.consecutive_5xx) or \
               (p.consecutive_gateway > 0 and self.consecutive_gw[endpoint] >= p.consecutive_gateway)
        if not trip or endpoint in self.ejected(now):
            return False
        out = len(self.ejected_until)
        if out > 0 and (out + 1) * 100 > p.max_ejection_percent * endpoints:
            return False                 # too many out already (Envoy always allows one)
        n = self.ejections[endpoint] = self.ejections.get(endpoint, 0) + 1
        self.ejected_until[endpoint] = now + p.base_ejection * n
        self.consecutive_5xx[endpoint] = self.consecutive_gw[endpoint] = 0
        return True
