"""What every L7 proxy role shares (Envoy's HTTP connection manager + router, in miniature):
serving HTTP/1.1 on a connection, routing each request to a service's endpoints with load
balancing and Istio's default retry policy, and the spans that show it.

A role subclasses :class:`L7Router` and says how to reach an endpoint (:meth:`upstream` and
:meth:`exchange`): the sidecar over mutual TLS or plaintext, the waypoint over HBONE.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from ..identity import spiffe_id
from ..net.cluster import ClusterNet, PodAddr
from ..net.http1 import Request, Response, linger
from ..trace import Span, TraceContext, new_request_id, new_span_id, now, span_dict
from .hbone_stream import Stream, StreamIO, TunnelError
from ..net.httpparse import HttpError, MessageReader, request_bytes, response_bytes
from ..policy.authz import Attributes, Decision, applies, authorize
from ..policy.circuit import OutlierDetector, PoolAccount
from ..policy.loader import PolicyObject
from ..policy.retries import Attempt, backoff, retriable
from ..policy.routing import (
    RequestInfo,
    RouteAction,
    RouteProxy,
    TrafficPolicy,
    compile_routes,
    destination_rule_for,
    fault_decision,
    pick_destination,
    select_route,
    subset_labels,
    traffic_policy,
    virtual_service_for,
    virtual_services_for,
)
from .l7 import Balancer
from .metrics import ProxyMetrics, peer_labels, service_labels
from .upstream import UpstreamFailure

CONNECT_TIMEOUT = 10.0  # Envoy's default connect_timeout, which the upstream pools apply

_READ = 64 * 1024
TRACE_HEADERS = ("traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled")
UF_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
UC_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"
RBAC_DENIED = b"RBAC: access denied"
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
DEFAULT_ROUTE = RouteAction("default route", ())
NO_POLICY = Decision(True, None, None, "no AuthorizationPolicy applies")  # what authorize() says then


@dataclass(frozen=True)
class Upstream:
    name: str  # endpoint pod (or ip:port outside the cluster)
    ip: str
    port: int
    transport: str  # "plaintext" | "mtls" | "hbone"
    identity: str | None  # the SPIFFE identity it must present (mtls, hbone)
    node: str | None = None


@dataclass(frozen=True)
class Plan:
    """A request's route: the Envoy-style cluster name, the service, the route action, the
    endpoints and the traffic policy — or a ``flag`` (``NR`` no route, ``NC`` no cluster)."""

    cluster: str
    service: str | None
    action: RouteAction | None
    upstreams: list
    policy: TrafficPolicy
    flag: str | None = None


def failure_flag(kind: str | None) -> str:
    """Envoy's response flag for an upstream failure (a reset's when there is no other)."""
    return UPSTREAM_FAILURES.get(kind, UPSTREAM_FAILURES["reset"])[1]


def failure_response(kind: str | None) -> Response:
    """Envoy's answer for an upstream that failed before responding (:data:`UPSTREAM_FAILURES`;
    a reset's when there is no other, as after a retry overflow)."""
    status, _, body = UPSTREAM_FAILURES.get(kind, UPSTREAM_FAILURES["reset"])
    return Response(status, [("content-type", "text/plain")], body)


class L7Router:
    role = "?"
    reporter = "source"  # Istio's metric label: sidecar outbound reports as the source
    pod: PodAddr  # the pod whose identity the proxy holds (set by each role)

    def __init__(self, name: str, identity: str, net: ClusterNet, rng: random.Random | None = None):
        self.name, self.identity, self.net = name, identity, net
        self.rng = rng or random.Random(random.getrandbits(64))  # from the process seed, if set
        self.lb = Balancer("LEAST_REQUEST", self.rng)
        self.spans: list = []  # Span objects, or the dicts emit() records (built into Spans when drained)
        self.metrics = ProxyMetrics(l7=True)
        self.policies: list[PolicyObject] = []
        self._pools: dict[str, PoolAccount] = {}
        self._outliers: dict[str, OutlierDetector] = {}
        self._lbs: dict[tuple, Balancer] = {}
        self._waiting: dict[int, list] = {}
        self._derived: dict[tuple, object] = {}
        self._metric_labels: dict[tuple, tuple] = {}

    # -- to implement --------------------------------------------------------------------------
    def upstream(self, pod: PodAddr, port: int, tp: TrafficPolicy) -> Upstream:
        raise NotImplementedError

    async def exchange(
        self,
        up: Upstream,
        data: bytes,
        cluster: str,
        ctx: TraceContext,
        span_id: str,
        head: bool = False,
        keep: bool = True,
        on_ready=None,
    ) -> tuple[Response, str | None, dict]:
        """Send one request's bytes to ``up``; (response, the identity it presented, attributes
        for the attempt's span — such as the HBONE stream that carried it). ``keep``: the
        connection may be kept alive for another request; ``on_ready()`` is called once a
        connection carries the request."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def update(self, net: ClusterNet) -> None:
        self.net = net
        self._derived.clear()  # endpoints, their transports and labels come from the net
        self._metric_labels.clear()

    def drain(self) -> list[Span]:
        out, self.spans = self.spans, []
        return [s if isinstance(s, Span) else Span(**s) for s in out]

    def drain_dicts(self) -> list[dict]:
        """:meth:`drain`, as ``Span.to_dict()`` dicts (what the control channel sends), without
        building the Span objects in between."""
        out, self.spans = self.spans, []
        return [s.to_dict() if isinstance(s, Span) else span_dict(s) for s in out]

    def set_policies(self, objects: list[PolicyObject]) -> None:
        """Istio config in force (the lab's istiod pushes it). Circuit-breaker and outlier state
        starts afresh, as Envoy's does when a cluster's configuration changes."""
        self.policies = list(objects)
        self._pools.clear()
        self._outliers.clear()
        self._derived.clear()
        self._metric_labels.clear()

    def derived(self, key: tuple, compute):
        """What the config in force says for ``key`` (a service's routes, a cluster's traffic
        policy ...), computed once per config push rather than per request."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = compute()
            return value

    def source_pod(self, server_fields: dict) -> PodAddr | None:
        """The workload that sent the request, when the role knows it (for ``sourceLabels``)."""
        return None

    def source_labels(self, server_fields: dict) -> dict[str, str]:
        """``source_*`` metric labels for a request this proxy routes (the role knows its client)."""
        return peer_labels(
            "source", self.source_pod(server_fields), server_fields.get("peer_identity"), peer=True
        )

    def pod_identity(self, pod: PodAddr) -> str:
        return spiffe_id(pod.namespace, pod.service_account)

    def rbac(
        self,
        req: Request,
        port: int,
        peer_id: str | None,
        peer,
        dst_ip: str,
        sni: str | None = None,
        **binding,
    ) -> Decision:
        """Envoy's HTTP RBAC filter: the AuthorizationPolicies bound to this proxy (``binding``:
        ``enforcement`` and, for a waypoint, ``waypoint`` and ``service``), for one request;
        ``sni`` is the server name the client's TLS asked for (``connection.sni``)."""
        key = ("authz-bound", *sorted(binding.items()))
        bound = self._derived.get(key)
        if bound is None:  # whether any policy is bound here: once per config push
            bound = self.derived(
                key,
                lambda: any(
                    o.kind == "AuthorizationPolicy"
                    and applies(
                        {"name": o.name, "namespace": o.namespace, "spec": o.spec},
                        namespace=self.pod.namespace,
                        labels=self.pod.labels,
                        **binding,
                    )
                    for o in self.policies
                ),
            )
        if not bound:
            return NO_POLICY
        return authorize(
            self.policies,
            Attributes(
                destination_port=port,
                source_principal=peer_id,
                source_ip=peer[0] if peer else None,
                destination_ip=dst_ip,
                host=req.header("host"),
                method=req.method,
                path=req.target,
                headers=req.header_map,
                sni=sni,
            ),
            namespace=self.pod.namespace,
            labels=self.pod.labels,
            **binding,
        )

    def rbac_denied(
        self, req: Request, ctx: TraceContext, span_id: str, start: float, decision: Decision, **fields
    ) -> Response:
        """The 403 of a denied request, and its server span marked ``deny`` with the reason."""
        self.emit(
            ctx,
            span_id,
            "server",
            start,
            403,
            target=f"{req.method} {req.target}",
            decision="deny",
            **{**fields, "attrs": {**fields.get("attrs", {}), "rbac": decision.reason}},
        )
        return Response(403, [("content-type", "text/plain")], RBAC_DENIED)

    def request_info(self, req: Request, server_fields: dict) -> RequestInfo:
        src = self.source_pod(server_fields)
        return RequestInfo(
            req.method,
            req.target,
            req.header_map,
            req.header("host") or "",
            src.labels if src else {},
            src.namespace if src else None,
        )

    def plan(self, req: Request, dst_ip: str, dst_port: int, server_fields: dict) -> "Plan":
        """Where a request goes (Envoy's route table + clusters): the VirtualService route that
        matches, the weighted destination, its subset's endpoints and traffic policy."""
        svc = self.net.service_at(dst_ip, dst_port)
        if svc is None:  # addressed to a pod (or outside the cluster)
            pod = self.net.pod_by_ip(dst_ip)
            if pod is not None:
                return Plan(
                    pod.name,
                    None,
                    DEFAULT_ROUTE,
                    [self.upstream(pod, dst_port, TrafficPolicy())],
                    TrafficPolicy(),
                )
            up = Upstream(f"{dst_ip}:{dst_port}", dst_ip, dst_port, "plaintext", None)
            return Plan(f"{dst_ip}:{dst_port}", None, DEFAULT_ROUTE, [up], TrafficPolicy())
        routes = self._derived.get(("routes", svc.fqdn))
        if routes is None:
            proxy = RouteProxy(self.pod.namespace, self.pod.labels, waypoint=self.role == "waypoint")
            routes = self.derived(
                ("routes", svc.fqdn),
                lambda: compile_routes(
                    virtual_services_for(self.policies, svc.fqdn, proxy)
                    if proxy.waypoint  # a waypoint merges them
                    else virtual_service_for(self.policies, svc.fqdn, proxy),
                    svc.fqdn,
                    proxy,
                ),
            )
        if routes and any(not block for block in routes[0][0]):
            action = routes[0][1]  # the first route matches every request
        else:
            action = select_route(routes, self.request_info(req, server_fields))
        if action is None:
            return Plan(svc.fqdn, svc.fqdn, None, [], TrafficPolicy(), flag="NR")
        dest = pick_destination(action.destinations, self.rng)
        dsvc = self.net.service_by_fqdn(dest.host, dest.port or (svc.port if dest.host == svc.fqdn else None))
        if dsvc is None:
            return Plan(dest.host, dest.host, action, [], TrafficPolicy(), flag="NC")
        key = ("cluster", dsvc.fqdn, dsvc.port, dest.subset)
        cluster = self._derived.get(key)
        if cluster is None:
            cluster = self.derived(key, lambda: self._cluster(dsvc, dest.subset))
        name, ups, tp, flag = cluster
        return Plan(name, dsvc.fqdn, action, ups, tp, flag=flag)

    def _cluster(self, dsvc, subset: str | None) -> tuple:
        """Envoy's cluster for a service (and subset), as the config in force and the net say:
        (name, endpoints as upstreams, traffic policy, ``NC`` when the subset is not defined)."""
        cluster = f"outbound|{dsvc.port}|{subset or ''}|{dsvc.fqdn}"
        dr = self.derived(
            ("dr", dsvc.fqdn), lambda: destination_rule_for(self.policies, dsvc.fqdn, self.pod.namespace)
        )
        pods = [self.net.pod(n) for n in dsvc.endpoints]
        if subset:
            labels = subset_labels(dr, subset)
            if labels is None:  # no DestinationRule defines the subset
                return cluster, [], TrafficPolicy(), "NC"
            pods = [p for p in pods if all(p.labels.get(k) == v for k, v in labels.items())]
        tp = self.derived(("tp", dsvc.fqdn, subset), lambda: traffic_policy(dr, subset))
        return cluster, [self.upstream(p, dsvc.target_port, tp) for p in pods], tp, None

    async def route(self, req: Request, dst_ip: str, dst_port: int, **server_fields) -> Response:
        """Route one request as the config in force says: match, fault, then attempts under the
        route's timeout and retry policy, the cluster's circuit breakers and outlier detection.

        The fault comes first, as Envoy's fault filter comes before its router: an injected delay
        elapses before the route's timeout starts, and an injected abort is answered here, never
        retried (the router never sees the request)."""
        start = now()
        ctx = self.context(req)
        server_id = new_span_id()
        plan = self.plan(req, dst_ip, dst_port, server_fields)
        flags, attrs, up, resp = [], {}, None, None
        if plan.flag:
            flags.append(plan.flag)  # NR: no route; NC: no such cluster/subset
            resp = Response(404 if plan.flag == "NR" else 503, [], b"")
        else:
            action = plan.action
            delay, abort = fault_decision(action, self.rng)
            if delay:
                attrs["fault_delay_ms"] = round(delay * 1000, 3)
                flags.append("DI")
                await asyncio.sleep(delay)
            if abort is not None:
                flags.append("FI")
                attrs["fault_abort"] = abort
                resp = Response(abort, [("content-type", "text/plain")], b"fault filter abort")
            else:
                try:
                    resp, up, more = await asyncio.wait_for(
                        self._attempts(req, ctx, server_id, plan), action.timeout
                    )
                    flags += more
                except asyncio.TimeoutError:
                    flags.append("UT")
                    resp = Response(504, [("content-type", "text/plain")], b"upstream request timeout")
        attrs.update(
            {
                "cluster": plan.cluster,
                "response_flags": ",".join(flags) or "-",
                "route": plan.action.rule if plan.action else "no route matched",
                **server_fields.get("attrs", {}),
            }
        )
        if plan.action and plan.action.timeout is not None:
            attrs["timeout_ms"] = round(plan.action.timeout * 1000, 3)
        self.metrics.request_values(
            self._labels(server_fields, resp.status, attrs["response_flags"], up, plan.service),
            (now() - start) * 1000,
            len(req.body),
            len(resp.body),
        )
        self.emit(
            ctx,
            server_id,
            "server",
            start,
            resp.status,
            target=f"{req.method} {req.target}",
            attrs=attrs,
            **{k: v for k, v in server_fields.items() if k != "attrs"},
        )
        return resp

    def _labels(
        self, server_fields: dict, status: int, flags: str, up: Upstream | None, service: str | None
    ) -> tuple:
        """The request's Istio metric labels (as :data:`~.metrics.HTTP_LABELS` values), built once
        per distinct source, destination, status and flags: label sets repeat, requests do."""
        key = (
            server_fields.get("peer_identity"),
            (server_fields.get("attrs") or {}).get("source_pod"),
            status,
            flags,
            up.name if up else None,
            service,
        )
        values = self._metric_labels.get(key)
        if values is None:
            values = self._metric_labels[key] = self.metrics.label_values(
                {
                    "reporter": self.reporter,
                    "request_protocol": "http",
                    "response_code": str(status),
                    "response_flags": flags,
                    "connection_security_policy": "unknown" if self.reporter == "source" else "mutual_tls",
                    **self.source_labels(server_fields),
                    **peer_labels("destination", self.net.pod_or_none(up.name) if up else None),
                    **service_labels(self.net, service),
                }
            )
        return values

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
        ``span_id``, the request id, and Envoy's attempt count."""
        hs = [(k, v) for k, v in req.headers if k not in TRACE_HEADERS and k != "x-envoy-attempt-count"]
        hs += TraceContext(ctx.trace_id, parent, ctx.request_id).child_headers(span_id).items()
        if attempt is not None:
            hs.append(("x-envoy-attempt-count", str(attempt)))
        if not any(k == "x-request-id" for k, _ in hs):
            hs.append(("x-request-id", ctx.request_id))
        return hs

    async def serve_stream(self, stream: Stream, handle) -> None:
        """Accept an HBONE CONNECT stream and serve HTTP/1.1 inside it, then end it."""
        await stream.accept()
        io = StreamIO(stream)
        try:
            await self.serve_http(io, io, b"", handle)
        except (TunnelError, ConnectionError):
            pass
        finally:
            try:
                await stream.end()
            except (TunnelError, ConnectionError):
                pass

    async def serve_http(self, reader, writer, initial: bytes, handle) -> None:
        """Serve HTTP/1.1 requests on one downstream connection (keep-alive as the client asks)."""
        rd = MessageReader("request")
        data = initial
        while True:
            bad = None
            try:
                reqs = rd.feed(data) if data else []
            except HttpError as e:
                reqs, bad = e.messages, e  # requests complete before the bad bytes are owed answers
            for i, req in enumerate(reqs):
                resp = await handle(req)
                close = not rd.keep_alive and bad is None and i == len(reqs) - 1
                writer.write(
                    response_bytes(
                        resp.status, resp.headers, resp.body, close=close, head_only=req.method == "HEAD"
                    )
                )
                await writer.drain()
                if close:
                    return
            if bad is not None:
                writer.write(
                    response_bytes(
                        bad.status,
                        [("content-type", "text/plain")],
                        f"{self.name}: {bad}\n".encode(),
                        close=True,
                    )
                )
                await writer.drain()
                if hasattr(writer, "can_write_eof"):  # a TCP connection: let the client read the answer
                    await linger(reader, writer)
                return
            data = await reader.read(_READ)
            if not data:
                return

    def context(self, req: Request) -> TraceContext:
        ctx = TraceContext.from_headers(req.header_map)
        return ctx if ctx.request_id else TraceContext(ctx.trace_id, ctx.parent_id, new_request_id())

    def emit(
        self,
        ctx: TraceContext,
        span_id: str,
        kind: str,
        start: float,
        status,
        *,
        parent: str | None = None,
        direction: str | None = None,
        **kw,
    ) -> None:
        attrs = dict(kw.pop("attrs", {}) or {})
        if direction:
            attrs["direction"] = direction
        # recorded as a dict: the frozen Span is built when the spans are drained, off the request path
        kw.update(
            trace_id=ctx.trace_id,
            span_id=span_id,
            parent_id=parent if kind == "client" else ctx.parent_id,
            name=self.name,
            role=self.role,
            kind=kind,
            layer="L7",
            start=start,
            end=now(),
            request_id=ctx.request_id,
            status=status,
            attrs=attrs,
        )
        self.spans.append(kw)
