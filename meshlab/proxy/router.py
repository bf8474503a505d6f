"""What every L7 proxy role shares (Envoy's HTTP connection manager + router, in miniature):
serving HTTP/1.1 on a connection, routing each request to a service's endpoints with load
balancing and Istio's default retry policy, and the spans that show it.

A role subclasses :class:`L7Router` and says how to reach an endpoint (:meth:`upstream` and
:meth:`exchange`): the sidecar over mutual TLS or plaintext, the waypoint over HBONE.

:class:`L7Router` holds the state and serves requests (:meth:`~L7Router.serve_http`,
:meth:`~L7Router.route`, the spans); what it decides for a request before sending it (route,
cluster, authorization) is :class:`~.router_plan.RoutePlanner`, and how it sends it (attempts,
retries, timeouts, circuit breakers, outlier detection) is :class:`~.router_attempts.Attempts`:
two parts of the one class, each in its own module.
"""

from __future__ import annotations

import asyncio
import random

from ..net.cluster import ClusterNet, PodAddr
from ..net.http1 import Request, Response, linger
from ..net.httpparse import HttpError, MessageReader
from ..net.httpwrite import response_bytes
from ..policy.circuit import OutlierDetector, PoolAccount
from ..policy.loader import PolicyObject
from ..policy.routing import TrafficPolicy, fault_decision
from ..trace import Span, TraceContext, new_request_id, new_span_id, now, span_dict
from .hbone_stream import Stream, StreamIO, TunnelError
from .l7 import Balancer
from .metrics import ProxyMetrics, peer_labels, service_labels
from .router_attempts import Attempts
from .router_plan import RoutePlanner, Upstream

_READ = 64 * 1024


class L7Router(RoutePlanner, Attempts):
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
        self.count_request(
            self._labels(server_fields, resp.status, attrs["response_flags"], up, plan.service),
            start,
            req,
            resp,
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

    def count_request(self, labels: tuple, start: float, req: Request, resp: Response) -> None:
        """Istio's request metrics (``istio_requests_total``, duration, sizes) for one answered
        request, under ``labels`` (:data:`~.metrics.HTTP_LABELS` values), timed from ``start``."""
        self.metrics.request_values(labels, (now() - start) * 1000, len(req.body), len(resp.body))

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
