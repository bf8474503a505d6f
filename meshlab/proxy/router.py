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
from ..net.http1 import Request, Response
from ..trace import Span, TraceContext, new_request_id, new_span_id, now
from .hbone import Stream, StreamIO, TunnelError
from .httpcodec import HttpError, MessageReader, request_bytes, response_bytes
from .l7 import DEFAULT_RETRY, Attempt, Balancer, backoff, should_retry
from .metrics import ProxyMetrics, peer_labels, service_labels
from .upstream import UpstreamFailure

_READ = 64 * 1024
TRACE_HEADERS = ("traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled")
UF_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
UC_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"


@dataclass(frozen=True)
class Upstream:
    name: str            # endpoint pod (or ip:port outside the cluster)
    ip: str
    port: int
    transport: str       # "plaintext" | "mtls" | "hbone"
    identity: str | None  # the SPIFFE identity it must present (mtls, hbone)
    node: str | None = None


class L7Router:
    role = "?"
    reporter = "source"      # Istio's metric label: sidecar outbound reports as the source

    def __init__(self, name: str, identity: str, net: ClusterNet, rng: random.Random | None = None):
        self.name, self.identity, self.net = name, identity, net
        self.rng = rng or random.Random()
        self.lb = Balancer("LEAST_REQUEST", self.rng)
        self.spans: list[Span] = []
        self.metrics = ProxyMetrics(l7=True)

    # -- to implement --------------------------------------------------------------------------
    def upstream(self, pod: PodAddr, port: int) -> Upstream:
        raise NotImplementedError

    async def exchange(self, up: Upstream, data: bytes, cluster: str, ctx: TraceContext,
                       span_id: str, head: bool = False) -> tuple[Response, str | None, dict]:
        """Send one request's bytes to ``up``; (response, the identity it presented, attributes
        for the attempt's span — such as the HBONE stream that carried it)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def update(self, net: ClusterNet) -> None:
        self.net = net

    def drain(self) -> list[Span]:
        out, self.spans = self.spans, []
        return out

    def upstreams(self, dst_ip: str, dst_port: int) -> tuple[str, list[Upstream]]:
        """The cluster (Envoy's word) behind an original destination, and its endpoints."""
        svc = self.net.service_at(dst_ip, dst_port)
        if svc is not None:
            return svc.fqdn, [self.upstream(self.net.pod(n), svc.target_port) for n in svc.endpoints]
        pod = self.net.pod_by_ip(dst_ip)
        if pod is not None:
            return pod.name, [self.upstream(pod, dst_port)]
        return f"{dst_ip}:{dst_port}", [Upstream(f"{dst_ip}:{dst_port}", dst_ip, dst_port, "plaintext", None)]

    def pod_identity(self, pod: PodAddr) -> str:
        return spiffe_id(pod.namespace, pod.service_account)

    def source_labels(self, server_fields: dict) -> dict[str, str]:
        """``source_*`` metric labels for a request this proxy routes (the role knows its client)."""
        return peer_labels("source", None, server_fields.get("peer_identity"))

    async def route(self, req: Request, dst_ip: str, dst_port: int, **server_fields) -> Response:
        """Route one request to the destination's endpoints, retrying as Istio's default policy says."""
        start = now()
        ctx = self.context(req)
        server_id = new_span_id()
        cluster, ups = self.upstreams(dst_ip, dst_port)
        by_name = {u.name: u for u in ups}
        policy = DEFAULT_RETRY
        tried: set[str] = set()
        resp, attempt, flags, up = None, 0, [], None
        while True:
            attempt += 1
            name = self.lb.pick(list(by_name), tried)
            if name is None:
                flags.append("UH")               # no healthy upstream
                break
            up = by_name[name]
            tried.add(name)
            resp, outcome = await self._attempt(req, ctx, server_id, up, attempt, cluster)
            if should_retry(policy, attempt, outcome):
                await asyncio.sleep(backoff(attempt, self.rng))
                continue
            if resp is None:                     # Envoy's flags: UF upstream connection failure,
                flags.append("UF" if outcome.failure == "connect-failure" else "UC")   # UC termination
                if attempt > 1 and attempt > policy.attempts:
                    flags.append("URX")          # and the retry limit was reached
            break
        if resp is None:
            resp = Response(503, [("content-type", "text/plain")], b"no healthy upstream" if "UH" in flags else
                            UF_BODY if "UF" in flags else UC_BODY)
        attrs = {"cluster": cluster, "response_flags": ",".join(flags) or "-", **server_fields.get("attrs", {})}
        labels = {"reporter": self.reporter, "request_protocol": "http", "response_code": str(resp.status),
                  "response_flags": attrs["response_flags"],
                  "connection_security_policy": "unknown" if self.reporter == "source" else "mutual_tls",
                  **self.source_labels(server_fields),
                  **peer_labels("destination", self.net.pod_or_none(up.name) if up else None),
                  **service_labels(self.net, cluster)}
        self.metrics.request(labels, (now() - start) * 1000, len(req.body), len(resp.body))
        self.emit(ctx, server_id, "server", start, resp.status, target=f"{req.method} {req.target}",
                  attrs=attrs, **{k: v for k, v in server_fields.items() if k != "attrs"})
        return resp

    async def _attempt(self, req: Request, ctx: TraceContext, parent: str, up: Upstream, attempt: int,
                       cluster: str) -> tuple[Response | None, Attempt]:
        span_id = new_span_id()
        data = request_bytes(req.method, req.target, self.forward_headers(req, ctx, parent, span_id, attempt), req.body)
        start = now()
        self.lb.started(up.name)
        resp, err, ident, extra = None, None, None, {}
        try:
            resp, ident, extra = await self.exchange(up, data, cluster, ctx, span_id, head=req.method == "HEAD")
            outcome = Attempt(status=resp.status)
        except UpstreamFailure as e:
            err = e.kind
            outcome = Attempt(failure=e.kind)
        finally:
            self.lb.finished(up.name)
        self.emit(ctx, span_id, "client", start, resp.status if resp else None, parent=parent, error=err,
                  attempt=attempt, peer=f"{up.ip}:{up.port}", target=f"{up.name}:{up.port}{req.target}",
                  mtls=up.transport != "plaintext", peer_identity=ident,
                  attrs={"endpoint": up.name, "transport": up.transport, "direction": "outbound", **extra})
        return resp, outcome

    def forward_headers(self, req: Request, ctx: TraceContext, parent: str, span_id: str, attempt: int | None = None):
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
            try:
                reqs = rd.feed(data) if data else []
            except HttpError as e:
                writer.write(response_bytes(e.status, [("content-type", "text/plain")],
                                            f"{self.name}: {e}\n".encode(), close=True))
                await writer.drain()
                return
            for req in reqs:
                resp = await handle(req)
                writer.write(response_bytes(resp.status, resp.headers, resp.body, close=not rd.keep_alive,
                                            head_only=req.method == "HEAD"))
                await writer.drain()
                if not rd.keep_alive:
                    return
            data = await reader.read(_READ)
            if not data:
                return

    def context(self, req: Request) -> TraceContext:
        ctx = TraceContext.from_headers(req.header_map)
        return ctx if ctx.request_id else TraceContext(ctx.trace_id, ctx.parent_id, new_request_id())

    def emit(self, ctx: TraceContext, span_id: str, kind: str, start: float, status, *, parent: str | None = None,
             direction: str | None = None, **kw) -> None:
        attrs = dict(kw.pop("attrs", {}) or {})
        if direction:
            attrs["direction"] = direction
        self.spans.append(Span(trace_id=ctx.trace_id, span_id=span_id,
                               parent_id=parent if kind == "client" else ctx.parent_id, name=self.name,
                               role=self.role, kind=kind, layer="L7", start=start, end=now(),
                               request_id=ctx.request_id, status=status, attrs=attrs, **kw))
