"""What every app process shares: its pod, its dialer, its span buffer, and instrumented HTTP.

Instrumentation is at the runtime level, like OpenTelemetry auto-instrumentation: every inbound
request gets a ``server`` span; every outbound attempt gets a ``client`` span and carries trace
headers so the next hop's server span hangs under it. The app code only decides *what* to call
(with the timeout and retries written in its own code, see :meth:`AppRuntime.call`).
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from ..net.cluster import ClusterNet
from ..net.dialer import Dialer, DnsError
from ..net.http1 import ClientConnection, Request, Response, text_response
from ..topology.model import AppSpec, Call
from ..trace import PROPAGATED_HEADERS, Span, TraceContext, new_request_id, new_span_id, now

MAX_SPANS = 200_000
#: Trace headers an attempt always writes afresh (x-request-id is kept: it names the request).
_TRACE_HEADERS = frozenset(h for h in PROPAGATED_HEADERS if h.startswith(("traceparent", "x-b3-", "b3")))
Connect = Callable[[str, int, "float | None"], Awaitable[tuple]]


@dataclass
class CallResult:
    """The outcome of one logical call (after the app's own retries)."""

    response: Response | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.status == 200


def error_name(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, DnsError):
        return "dns: " + str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError):
        return f"connect error: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


class AppRuntime:
    def __init__(self, pod_name: str, app: AppSpec, net: ClusterNet, role: str = "app"):
        self.pod_name = pod_name
        self.app = app
        self.role = role
        self.dialer = Dialer(net, pod_name)
        self.spans: collections.deque[Span] = collections.deque(maxlen=MAX_SPANS)

    @property
    def pod(self):
        return self.dialer.pod

    def emit(self, span: Span) -> None:
        self.spans.append(span)

    def drain(self) -> list[dict]:
        out = [s.to_dict() for s in self.spans]
        self.spans.clear()
        return out

    # -- inbound -------------------------------------------------------------------------------
    def instrument(self, handler: Callable[[Request, TraceContext, str], Awaitable[Response]]):
        """Wrap ``handler(request, ctx, span_id)`` so each request yields a server span."""

        async def wrapped(req: Request) -> Response:
            start = now()
            ctx = TraceContext.from_headers(req.header_map)
            span_id = new_span_id()
            # a request arriving with no x-request-id gets one, as Envoy would give it
            if ctx.request_id is None:
                ctx = TraceContext(ctx.trace_id, ctx.parent_id, new_request_id())
            error = None
            try:
                if self.app.service_time:
                    await asyncio.sleep(self.app.service_time)
                resp = await handler(req, ctx, span_id)
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                resp = text_response(500, f"internal error in {self.pod_name}: {error}\n")
            self.emit(
                Span(
                    trace_id=ctx.trace_id,
                    span_id=span_id,
                    parent_id=ctx.parent_id,
                    name=self.pod_name,
                    role=self.role,
                    kind="server",
                    layer="L7",
                    start=start,
                    end=now(),
                    request_id=ctx.request_id,
                    status=resp.status,
                    error=error,
                    peer=f"{req.peer[0]}:{req.peer[1]}" if req.peer else None,
                    target=f"{req.method} {req.target}",
                    bytes_in=len(req.body),
                    bytes_out=len(resp.body),
                    attrs={"service_time_ms": self.app.service_time * 1000},
                )
            )
            return resp

        return wrapped

    # -- outbound ------------------------------------------------------------------------------
    def forward_headers(self, inbound: Request | None) -> list[tuple[str, str]]:
        """The headers an app copies from its inbound request (Istio's tracing requirement)."""
        if inbound is None:
            return []
        return [(k, v) for k, v in inbound.headers if k in PROPAGATED_HEADERS and k not in _TRACE_HEADERS]

    async def attempt(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        ctx: TraceContext,
        parent_span: str | None,
        timeout: float | None,
        attempt: int = 1,
        role: str | None = None,
        connect: Connect | None = None,
    ) -> tuple[Response | None, str | None, Span]:
        """One HTTP attempt with a ``client`` span, never raising for network errors.

        The attempt becomes the parent of whatever handles it (fresh trace headers from ``ctx``
        and the new span id replace any the caller passed). ``connect(host, port, timeout)``
        supplies a kept-alive connection; without it the attempt opens a new connection and sends
        ``connection: close``, as Bookinfo's apps do.
        """
        u = urlsplit(url)
        host, port = u.hostname or "", u.port or 80
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        span_id = new_span_id()
        hs = [(k.lower(), v) for k, v in headers if k.lower() not in _TRACE_HEADERS]
        if not any(k == "host" for k, _ in hs):
            hs.insert(0, ("host", f"{host}:{port}"))
        hs += TraceContext(ctx.trace_id, parent_span, ctx.request_id).child_headers(span_id).items()
        if connect is None:
            hs.append(("connection", "close"))
        start = now()
        resp, err, dialed, conn, local = None, None, None, None, None

        async def go():
            nonlocal dialed, conn, local
            if connect is not None:
                conn, dialed = await connect(host, port, timeout)
            else:
                reader, writer, dialed = await self.dialer.open(host, port, timeout=timeout)
                conn = ClientConnection(reader, writer)
            sock = conn.writer.get_extra_info("sockname")
            local = f"{sock[0]}:{sock[1]}" if sock else None
            return await conn.request(method, target, hs, body)

        try:
            resp = await (asyncio.wait_for(go(), timeout) if timeout else go())
        except Exception as e:  # noqa: BLE001 - every failure becomes an outcome
            err = error_name(e)
        if conn is not None and (connect is None or err is not None):
            conn.close()
        span = Span(
            trace_id=ctx.trace_id,
            span_id=span_id,
            parent_id=parent_span,
            name=self.pod_name,
            role=role or self.role,
            kind="client",
            layer="L7",
            start=start,
            end=now(),
            request_id=ctx.request_id,
            status=resp.status if resp else None,
            error=err,
            attempt=attempt,
            peer=f"{dialed.dst_ip}:{dialed.dst_port}" if dialed else None,
            local=local,
            target=f"{host}:{port}{target}",
            bytes_in=len(resp.body) if resp else 0,
            bytes_out=len(body),
            attrs={"endpoint": dialed.endpoint, "service": dialed.service} if dialed else {},
        )
        self.emit(span)
        return resp, err, span

    async def call(
        self,
        call: Call,
        inbound: Request,
        ctx: TraceContext,
        span_id: str,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> CallResult:
        """A call as the app's own code makes it: up to ``1 + call.retries`` attempts, each with
        ``call.timeout``, retrying on any error or non-200 answer (as Bookinfo's productpage does)."""
        headers = self.forward_headers(inbound) + list(extra_headers)
        resp, err = None, None
        attempts = 0
        for attempts in range(1, call.retries + 2):
            resp, err, _ = await self.attempt(
                "GET", call.url(), headers, b"", ctx, span_id, call.timeout, attempt=attempts
            )
            if resp is not None and resp.status == 200:
                break
        return CallResult(resp, err, attempts)
