"""Sending requests from a pod, as curl or fortio inside it would: the root of every trace.

Every request starts a new trace (fresh ``x-request-id`` and ``traceparent``) and records a
``client`` span with role ``client``. Connections are kept alive per load connection, and
replaced after any failure.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from ..net.http1 import ClientConnection, Response
from ..trace import Span, TraceContext, new_request_id, new_span_id, new_trace_id, now
from .loadgen import LoadPlan, Outcome, run_load
from .runtime import AppRuntime, error_name

MAX_BODY_RETURNED = 1_000_000


class Client:
    def __init__(self, rt: AppRuntime):
        self.rt = rt
        self.conns: dict[int, ClientConnection] = {}
        self._dialed: dict[int, object] = {}

    async def _connection(self, key: int, host: str, port: int, timeout: float | None, keepalive: bool):
        c = self.conns.get(key) if keepalive else None
        if c is not None and c.reusable:
            return c, self._dialed[key]
        if c is not None:
            c.close()
        reader, writer, dialed = await self.rt.dialer.open(host, port, timeout=timeout)
        c = ClientConnection(reader, writer)
        if keepalive:
            self.conns[key], self._dialed[key] = c, dialed
        return c, dialed

    async def send(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes = b"",
                   timeout: float | None = 30.0, conn_no: int = -1, index: int = 0,
                   keepalive: bool = False) -> tuple[Outcome, Response | None]:
        u = urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"expected an http:// URL with a host; got {url!r}")
        host, port = u.hostname, u.port or 80
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        names = {k.lower() for k, _ in headers}
        rid = dict((k.lower(), v) for k, v in headers).get("x-request-id") or new_request_id()
        ctx = TraceContext(new_trace_id(), None, rid)
        span_id = new_span_id()
        hs = ([("host", f"{host}:{port}")] if "host" not in names else []) + [
            (k.lower(), v) for k, v in headers] + [("user-agent", "meshlab-client")] * ("user-agent" not in names)
        hs += [(k, v) for k, v in ctx.child_headers(span_id).items() if k not in names]
        if not keepalive:
            hs.append(("connection", "close"))
        start = now()
        resp, err, dialed, conn = None, None, None, None

        async def go():
            nonlocal dialed, conn
            conn, dialed = await self._connection(conn_no, host, port, timeout, keepalive)
            return await conn.request(method, target, hs, body)
        try:
            resp = await (asyncio.wait_for(go(), timeout) if timeout else go())
        except Exception as e:  # noqa: BLE001 - a failure is an outcome
            err = error_name(e)
            if conn is not None:
                conn.close()
                self.conns.pop(conn_no, None)
        end = now()
        if conn is not None and not keepalive:
            conn.close()
        self.rt.emit(Span(trace_id=ctx.trace_id, span_id=span_id, parent_id=None, name=self.rt.pod_name,
                          role="client", kind="client", layer="L7", start=start, end=end, request_id=rid,
                          status=resp.status if resp else None, error=err,
                          peer=f"{dialed.dst_ip}:{dialed.dst_port}" if dialed else None,
                          target=f"{method} {url}", bytes_out=len(body),
                          bytes_in=len(resp.body) if resp else 0,
                          attrs={"endpoint": dialed.endpoint, "service": dialed.service} if dialed else {}))
        return Outcome(index, start, end, resp.status if resp else None, err, ctx.trace_id, rid,
                       max(conn_no, 0)), resp

    async def request(self, method, url, headers, body=b"", timeout=30.0) -> dict:
        out, resp = await self.send(method, url, headers, body, timeout)
        d = out.to_dict()
        if resp is not None:
            d["headers"] = resp.headers
            d["body"] = resp.body[:MAX_BODY_RETURNED].decode("utf-8", "replace")
        return d

    async def load(self, plan: LoadPlan, method, url, headers, body=b"", timeout=30.0,
                   on_progress=None) -> list[Outcome]:
        async def send(i: int, conn_no: int) -> Outcome:
            out, _ = await self.send(method, url, headers, body, timeout, conn_no, i, keepalive=True)
            return out
        try:
            return await run_load(plan, send, now, on_progress)
        finally:
            for c in self.conns.values():
                c.close()
            self.conns.clear()
