"""A request's attempts, as Envoy's router makes them: the first try and its retries under the
route's retry policy, each under its per-try timeout and the DestinationRule's connect timeout,
through the cluster's circuit breaker (connection pool limits, pending queue) and outlier
detection, load balanced; and how Envoy answers when they fail (:data:`UPSTREAM_FAILURES`).

:class:`Attempts` is a part of :class:`~.router.L7Router`, which keeps its state (the pools,
outlier detectors and balancers per cluster) and sends each attempt (``exchange()``).
"""

from __future__ import annotations

import asyncio

from ..net.http1 import Request, Response
from ..net.httpwrite import request_bytes
from ..policy.circuit import OutlierDetector, PoolAccount
from ..policy.retries import Attempt, backoff, retriable
from ..policy.routing import TrafficPolicy
from ..trace import TraceContext, new_span_id, now
from .l7 import Balancer
from .router_plan import Plan, Upstream
from .upstream import UpstreamFailure

CONNECT_TIMEOUT = 10.0  # Envoy's default connect_timeout, which the upstream pools apply

TRACE_HEADERS = ("traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled")
UF_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
UC_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"
UO_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
UPE_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: protocol error"
#: How Envoy's router answers when the upstream failed before its response: status, response flag,
#: body, by :class:`~.upstream.UpstreamFailure` kind. A protocol error (a response it cannot
#: read: malformed, or over the header limits) is a 502, the others 503
#: (source/common/router/router.cc, ``Filter::onUpstreamReset``).
UPSTREAM_FAILURES = {
    "connect-failure": (503, "UF", UF_BODY),
    "reset": (503, "UC", UC_BODY),
    "protocol-error": (502, "UPE", UPE_BODY),
}


def failure_flag(kind: str | None) -> str:
    """Envoy's response flag for an upstream failure (a reset's when there is no other)."""
    return UPSTREAM_FAILURES.get(kind, UPSTREAM_FAILURES["reset"])[1]


def failure_response(kind: str | None) -> Response:
    """Envoy's answer for an upstream that failed before responding (:data:`UPSTREAM_FAILURES`;
    a reset's when there is no other, as after a retry overflow)."""
    status, _, body = UPSTREAM_FAILURES.get(kind, UPSTREAM_FAILURES["reset"])
    return Response(status, [("content-type", "text/plain")], body)


class Attempts:
    """Send a planned request to its cluster, retrying as the route says (see the module docstring)."""

    async def _attempts(self, req: Request, ctx: TraceContext, server_id: str, plan: "Plan"):
        """The first try and its retries. Returns (response or a 5xx made here, last upstream, flags)."""
        policy, tp = plan.action.retry, plan.policy
        by_name = {u.name: u for u in plan.upstreams}
        pool = self._pool(plan.cluster, tp)
        outlier = self._outlier(plan.cluster, tp)
        tried: set[str] = set()
        resp, outcome, attempt, flags, up, failure = None, None, 0, [], None, None
        while True:
            attempt += 1
            healthy = outlier.choosable(list(by_name), now()) if outlier else list(by_name)
            avoid = tried if policy.ignore_previous_hosts else ()  # Envoy's previous-hosts predicate
            name = self.lb_for(plan.cluster, tp).pick(healthy, avoid) if healthy else None
            if name is None:
                flags.append("UH")  # no healthy upstream
                break
            up = by_name[name]
            tried.add(name)
            admitted = await self._admit(pool, plan.cluster)
            if admitted is None:
                flags.append("UO")  # circuit breaker overflow
                resp = Response(503, [("content-type", "text/plain")], UO_BODY)
                break
            try:
                resp, outcome = await self._attempt(
                    req, ctx, server_id, up, attempt, plan, pool, connecting=admitted == "connect"
                )
            finally:
                if attempt > 1 and pool is not None:
                    pool.retries -= 1
            failure = outcome.failure
            if outlier is not None:
                outlier.record(up.name, resp.status if resp else None, now(), len(by_name))
            if retriable(policy, outcome) and policy.attempts > 0:  # Envoy's RetryStateImpl::shouldRetry
                if attempt > policy.attempts:
                    flags.append("URX")  # NoRetryLimitExceeded
                elif pool is not None and not pool.retry_allowed():
                    flags.append("UO")  # NoOverflow: maxRetries retries already in flight
                else:
                    if pool is not None:
                        pool.retries += 1
                    await asyncio.sleep(backoff(attempt, self.rng, plan.action.backoff_base))
                    continue
            if resp is None:  # Envoy's flags: UT timeout, or UF, UC, UPE
                flags.insert(0, "UT" if failure == "per-try-timeout" else failure_flag(failure))
            break
        if resp is None:
            if "UT" in flags:
                resp = Response(504, [("content-type", "text/plain")], b"upstream request timeout")
            elif "UH" in flags:
                resp = Response(503, [("content-type", "text/plain")], b"no healthy upstream")
            else:
                resp = failure_response(failure)
        return resp, up, flags

    def cluster_stats(self) -> dict:
        """Envoy-style circuit-breaker counters per cluster (``upstream_rq_pending_overflow`` ...)."""
        return {
            "clusters": {
                c: {
                    "upstream_rq_pending_overflow": a.overflows,
                    "upstream_rq_pending_total": a.pending_total,
                    "upstream_cx_active": a.connections,
                    "upstream_rq_active": a.busy,
                }
                for c, a in self._pools.items()
            },
            "outlier_ejected": {c: sorted(o.ejected(now())) for c, o in self._outliers.items()},
            "outlier_ejections_overflow": {c: o.overflows for c, o in self._outliers.items()},
        }

    def lb_for(self, cluster: str, tp: TrafficPolicy) -> Balancer:
        if tp.lb == self.lb.policy:
            return self.lb
        lb = self._lbs.get((cluster, tp.lb))
        if lb is None:
            lb = self._lbs[(cluster, tp.lb)] = Balancer(tp.lb, self.rng)
        return lb

    def _pool(self, cluster: str, tp: TrafficPolicy) -> PoolAccount | None:
        if not tp.limited:
            return None
        acct = self._pools.get(cluster)
        if acct is None or acct.policy != tp:
            acct = self._pools[cluster] = PoolAccount(tp)
        return acct

    def _outlier(self, cluster: str, tp: TrafficPolicy) -> OutlierDetector | None:
        if tp.outlier is None:
            return None
        od = self._outliers.get(cluster)
        if od is None or od.policy != tp.outlier:
            od = self._outliers[cluster] = OutlierDetector(tp.outlier, started=now())
        return od

    async def _admit(self, pool: PoolAccount | None, cluster: str) -> str | None:
        """Take a connection slot from the cluster's circuit breaker (waiting in its pending
        queue if there is room): how it was got (``reuse``, ``connect``, ``queue``), or None on
        overflow."""
        if pool is None:
            return "unlimited"
        got = pool.admit()
        if got == "overflow":
            return None
        if got == "queue":
            fut = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(id(pool), []).append(fut)
            try:
                got = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and fut.result() != "overflow":
                    if fut.result() == "connect":  # handed a slot, then cancelled: give it back
                        pool.connected()
                    self._release(pool, False)
                elif not fut.done():
                    fut.cancel()
                    pool.leave_queue()
                raise
        return None if got == "overflow" else got

    def _release(self, pool: PoolAccount | None, keep: bool) -> None:
        """A request is done with its connection: the first queued request gets it."""
        if pool is None:
            return
        pool.finished(keep)
        waiting = self._waiting.get(id(pool)) or []
        while waiting and pool.can_hand():
            fut = waiting.pop(0)
            if fut.done():
                continue
            fut.set_result(pool.hand())

    async def _attempt(
        self,
        req: Request,
        ctx: TraceContext,
        parent: str,
        up: Upstream,
        attempt: int,
        plan: "Plan",
        pool: PoolAccount | None = None,
        connecting: bool = False,
    ) -> tuple[Response | None, Attempt]:
        span_id = new_span_id()
        data = request_bytes(
            req.method, req.target, self.forward_headers(req, ctx, parent, span_id, attempt), req.body
        )
        start = now()
        lb = self.lb_for(plan.cluster, plan.policy)
        lb.started(up.name)
        resp, err, ident, extra, keep = None, None, None, {}, True
        connecting = [connecting]
        per_try = plan.action.retry.per_try_timeout
        # the pools bound connecting by Envoy's default connectTimeout (10 s); a DestinationRule's own is timed here
        connect_limit = (
            plan.policy.connect_timeout if plan.policy.connect_timeout != CONNECT_TIMEOUT else None
        )
        timers: dict = {}
        expired, task = [], None

        def ready():  # the connection is up: no longer pending
            if connecting[0] and pool is not None:
                pool.connected()
            connecting[0] = False
            if "connect" in timers:
                timers.pop("connect").cancel()
            if per_try and "per-try" not in timers and task is not None:
                # Envoy starts the per-try timer when the pool hands over a connection
                # (UpstreamRequest::onPoolReady): connecting is bounded by connectTimeout, not by it
                timers["per-try"] = asyncio.get_running_loop().call_later(per_try, expire, "per-try-timeout")

        def expire(kind):
            expired.append(kind)
            task.cancel()

        try:
            ex = self.exchange(
                up,
                data,
                plan.cluster,
                ctx,
                span_id,
                head=req.method == "HEAD",
                keep=plan.policy.max_requests_per_connection != 1,
                on_ready=ready,
            )
            if per_try or connect_limit:
                task = asyncio.ensure_future(ex)
                if connect_limit:
                    timers["connect"] = asyncio.get_running_loop().call_later(
                        connect_limit, expire, "connect-failure"
                    )
                try:
                    resp, ident, extra = await task
                except asyncio.CancelledError:
                    if not expired:
                        raise  # cancelled from outside: the route's timeout
                    if expired[0] == "connect-failure":  # Envoy: ConnectionTimeout, a connection failure (UF)
                        raise UpstreamFailure(
                            "connect-failure",
                            f"connect timeout ({connect_limit:g} s, the "
                            f"DestinationRule's connectTimeout) to {up.ip}:{up.port}",
                        ) from None
                    raise asyncio.TimeoutError from None
            else:
                resp, ident, extra = await ex
            outcome = Attempt(status=resp.status)
        except UpstreamFailure as e:
            err, keep = e.kind, False
            outcome = Attempt(failure=e.kind)
        except asyncio.TimeoutError:
            err, keep = "per-try-timeout", False
            outcome = Attempt(failure="per-try-timeout")
        except asyncio.CancelledError:  # the route's timeout struck mid-attempt
            err, keep = "timeout", False
            self._attempt_span(ctx, span_id, start, None, parent, err, attempt, up, req, ident, extra)
            raise
        finally:
            for t in timers.values():
                t.cancel()
            task = None  # no timer from the ready() below
            lb.finished(up.name)
            ready()
            self._release(pool, keep)
        self._attempt_span(ctx, span_id, start, resp, parent, err, attempt, up, req, ident, extra)
        return resp, outcome

    def _attempt_span(self, ctx, span_id, start, resp, parent, err, attempt, up, req, ident, extra) -> None:
        self.emit(
            ctx,
            span_id,
            "client",
            start,
            resp.status if resp else None,
            parent=parent,
            error=err,
            attempt=attempt,
            peer=f"{up.ip}:{up.port}",
            target=f"{up.name}:{up.port}{req.target}",
            mtls=up.transport != "plaintext",
            peer_identity=ident,
            attrs={"endpoint": up.name, "transport": up.transport, "direction": "outbound", **extra},
        )

    def forward_headers(
        self, req: Request, ctx: TraceContext, parent: str, span_id: str, attempt: int | None = None
    ):
        """The request's headers as this proxy forwards them: fresh trace headers naming
        ``span_id``, the request id, and — on an outbound route (``attempt``) — Envoy's attempt
        count, in place of any the request had; an inbound route sets none and passes the
        caller's on (Istio sets ``include_request_attempt_count`` on outbound routes only)."""
        hs = [
            (k, v)
            for k, v in req.headers
            if k not in TRACE_HEADERS and (attempt is None or k != "x-envoy-attempt-count")
        ]
        hs += TraceContext(ctx.trace_id, parent, ctx.request_id).child_headers(span_id).items()
        if attempt is not None:
            hs.append(("x-envoy-attempt-count", str(attempt)))
            if self.role == "sidecar" and not any(k == "x-forwarded-proto" for k, _ in hs):
                hs.append(("x-forwarded-proto", "http"))  # the app's connection to it: plaintext
        if not any(k == "x-request-id" for k, _ in hs):
            hs.append(("x-request-id", ctx.request_id))
        return hs
