"""Sending HTTP/1.1 requests to pods over HBONE, for the L7 proxies that do (the waypoint, and a
sidecar calling an ambient pod): one pooled HTTP/2 connection per (destination identity, pod address),
and kept-alive CONNECT streams per destination pod, reused as Envoy reuses upstream connections.
"""

from __future__ import annotations

import asyncio
import ssl

from ..net.cluster import HBONE_PORT, PodAddr
from ..net.http1 import Response
from .hbone import TunnelPool
from .hbone_stream import Stream, TunnelError, header, unique
from ..net.httpmessage import final_response
from ..net.httpparse import HttpError, MessageReader
from .router_plan import Upstream
from .upstream import UpstreamFailure


class HboneUpstream:
    def __init__(self, source: PodAddr, client_tls: ssl.SSLContext):
        self.source, self.client_tls = source, client_tls
        self.pool = TunnelPool()
        self._idle: dict[tuple, list[tuple[Stream, str | None, str]]] = {}  # kept-alive streams per pod:port

    def close(self) -> None:
        self.pool.close()

    async def exchange(
        self,
        up: Upstream,
        data: bytes,
        trace_id: str,
        span_id: str,
        head: bool = False,
        keep: bool = True,
        on_ready=None,
    ) -> tuple[Response, str | None, dict]:
        """Send one request to ``up`` over a kept-alive stream when one is idle, else a new CONNECT."""
        idle = self._idle.setdefault((up.ip, up.port), [])
        while idle:
            stream, ident, opened_by = idle.pop()
            if not stream.usable or stream.pending:  # closed, or it sent bytes no request asked for
                if stream.usable:
                    await _end(stream)
                continue
            if on_ready:
                on_ready()
            try:
                return await self._over(stream, ident, up, data, opened_by, reused=True, head=head, keep=keep)
            except UpstreamFailure as e:
                if not e.stale:
                    raise  # a stream closed while idle: take a fresh one
        try:
            tunnel = await self.pool.get(
                (up.identity, up.ip), up.ip, HBONE_PORT, self.client_tls, up.identity
            )
            stream = await tunnel.open(
                f"{up.ip}:{up.port}",
                [
                    unique("traceparent", f"00-{trace_id}-{span_id}-01"),
                    header("forwarded", f'for="{self.source.ip}:0"'),
                    header(
                        "baggage",
                        f"k8s.namespace.name={self.source.namespace},k8s.pod.name={self.source.name}",
                    ),
                ],
            )
        except (TunnelError, OSError, ssl.SSLError, asyncio.TimeoutError) as e:
            raise UpstreamFailure("connect-failure", f"HBONE to {up.ip}:{HBONE_PORT}: {e}") from None
        if on_ready:
            on_ready()
        return await self._over(stream, tunnel.peer_identity, up, data, span_id, head=head, keep=keep)

    async def _over(
        self,
        stream: Stream,
        ident: str | None,
        up: Upstream,
        data: bytes,
        opened_by: str,
        reused: bool = False,
        head: bool = False,
        keep: bool = True,
    ) -> tuple[Response, str | None, dict]:
        """One request on ``stream``; ``opened_by`` is the span whose CONNECT opened it (the
        destination's connection span hangs under it: that is how paths find it)."""
        keep_ok, keep = keep, False
        try:
            await stream.write(data)
            rd = MessageReader("response", head=head)
            while True:
                chunk = await stream.read()
                msgs = rd.feed(chunk) if chunk else rd.eof()
                resp = final_response(msgs)
                if resp is not None:
                    # never kept after a second response to one request (as upstream.UpstreamPool)
                    keep = rd.keep_alive and keep_ok and not (msgs[msgs.index(resp) + 1 :] or rd.in_message)
                    return resp, ident, {"hbone_stream": opened_by}
                if not chunk:
                    when = "in the middle of its response" if rd.headers_complete else "before responding"
                    raise UpstreamFailure(
                        "reset",
                        f"{up.name} closed the stream {when}",
                        stale=reused and not rd.headers_complete,
                    )
        except TunnelError as e:
            raise UpstreamFailure("reset", f"{up.name}: {e}", stale=reused) from None
        except HttpError as e:  # an answer, but not one HTTP/1.1 can read: Envoy's 502 UPE
            raise UpstreamFailure(
                "protocol-error", f"{up.name} sent a response this proxy cannot read: {e}"
            ) from None
        finally:
            if keep and stream.usable:
                self._idle.setdefault((up.ip, up.port), []).append((stream, ident, opened_by))
            else:
                await _end(stream)


async def _end(stream: Stream) -> None:
    try:
        await stream.end()
    except (TunnelError, ConnectionError):
        pass
