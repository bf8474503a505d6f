"""Sending requests from a pod, as curl or fortio inside it would: the root of every trace.

Every request starts a new trace (fresh ``x-request-id`` and ``traceparent``) and records a
``client`` span with role ``client``. Connections are kept alive per load connection, and
replaced after any failure. Each answer's body is looked at for the apps' own error texts
(``Outcome.partial``): a page can be a 200 and still say that a service behind it failed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..net.http1 import ClientConnection, Response
from ..trace import TraceContext, new_request_id, new_trace_id, now
from .bookinfo import PARTIAL_FAILURES
from .loadgen import LoadPlan, Outcome, run_load
from .runtime import AppRuntime

MAX_BODY_RETURNED = 1_000_000
_PARTIAL = tuple(t.encode() for t in PARTIAL_FAILURES)  # looked for in every answer's body


class Client:
    def __init__(self, rt: AppRuntime):
        self.rt = rt
        self.conns: dict[int, ClientConnection] = {}
        self._dialed: dict[int, object] = {}

    async def _connection(self, key: int, host: str, port: int, timeout: float | None):
        """Connection ``key``'s kept-alive connection, or a new one if it is gone or broken."""
        c = self.conns.get(key)
        if c is not None and c.reusable:
            return c, self._dialed[key]
        if c is not None:
            c.close()
        reader, writer, dialed = await self.rt.dialer.open(host, port, timeout=timeout)
        c = ClientConnection(reader, writer)
        self.conns[key], self._dialed[key] = c, dialed
        return c, dialed

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        timeout: float | None = 30.0,
        conn_no: int = -1,
        index: int = 0,
        keepalive: bool = False,
    ) -> tuple[Outcome, Response | None]:
        """One request as the root of a new trace (the request id is the caller's, if given)."""
        u = urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"expected an http:// URL with a host; got {url!r}")
        given = {k.lower(): v for k, v in headers}
        rid = given.get("x-request-id") or new_request_id()
        ctx = TraceContext(new_trace_id(), None, rid)
        hs = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
        if "user-agent" not in given:
            hs.append(("user-agent", "meshlab-client"))

        async def connect(host: str, port: int, t: float | None):
            return await self._connection(conn_no, host, port, t)

        resp, err, span = await self.rt.attempt(
            method, url, hs, body, ctx, None, timeout, role="client", connect=connect if keepalive else None
        )
        partial = tuple(t for t in _PARTIAL if t in resp.body) if resp is not None else ()
        return Outcome(
            index,
            span.start,
            span.end,
            span.status,
            err,
            ctx.trace_id,
            rid,
            max(conn_no, 0),
            tuple(t.decode() for t in partial),
        ), resp

    async def request(self, method, url, headers, body=b"", timeout=30.0) -> dict:
        out, resp = await self.send(method, url, headers, body, timeout)
        d = out.to_dict()
        if resp is not None:
            d["headers"] = resp.headers
            d["body"] = resp.body[:MAX_BODY_RETURNED].decode("utf-8", "replace")
        return d

    async def load(
        self, plan: LoadPlan, method, url, headers, body=b"", timeout=30.0, on_progress=None
    ) -> list[Outcome]:
        async def send(i: int, conn_no: int) -> Outcome:
            out, _ = await self.send(method, url, headers, body, timeout, conn_no, i, keepalive=True)
            return out

        try:
            return await run_load(plan, send, now, on_progress)
        finally:
            for c in self.conns.values():
                c.close()
            self.conns.clear()
