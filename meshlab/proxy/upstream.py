"""Upstream HTTP/1.1 connections for L7 proxies: kept alive and reused per (address, TLS), as
Envoy's connection pools do, leaving from the proxy's own source address.

:meth:`UpstreamPool.exchange` sends one request and returns the response, or raises
:class:`UpstreamFailure` whose ``kind`` is what Envoy's retry rules care about:
``connect-failure`` (refused, unreachable, TLS handshake or identity failure), ``reset`` (the
connection died before a response) or ``protocol-error`` (a response that cannot be read:
malformed, or over Envoy's header limits — the reader's defaults, 60 KiB and 100 headers).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from dataclasses import dataclass

from ..errors import DataPlaneError
from ..identity import peer_spiffe_id
from ..net.httpmessage import final_response
from ..net.httpparse import HttpError, MessageReader

_READ = 64 * 1024


class UpstreamFailure(DataPlaneError):
    """``kind`` is what Envoy's retry rules see; ``stale`` says a kept-alive connection was found
    dead before the request got any answer — the caller takes a fresh one (Envoy would have seen
    it close while idle), and the request itself has not failed."""

    def __init__(self, kind: str, detail: str, stale: bool = False):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.stale = kind, detail, stale


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_identity: str | None


@dataclass(frozen=True)
class Exchanged:
    response: object
    peer_identity: str | None
    reused: bool


def _unsolicited(reader: asyncio.StreamReader) -> bool:
    """An idle kept-alive connection holds bytes no request asked for (a second response to one
    request): the pool closes it rather than hand those bytes to the next request as its answer.
    (StreamReader has no public peek; ``_buffer`` is CPython's buffer of bytes read and not yet
    consumed.)"""
    return bool(getattr(reader, "_buffer", b""))


class UpstreamPool:
    def __init__(
        self, source_ip: str | None, tls: ssl.SSLContext | None = None, connect_timeout: float = 10.0
    ):
        self.source_ip, self.tls, self.connect_timeout = source_ip, tls, connect_timeout
        self._idle: dict[tuple, list[_Conn]] = defaultdict(list)

    async def _connect(self, ip: str, port: int, tls: bool, sni: str | None, expect: str | None) -> _Conn:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    ip,
                    port,
                    local_addr=(self.source_ip, 0) if self.source_ip else None,
                    ssl=self.tls if tls else None,
                    server_hostname=(sni or "") if tls else None,
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError:
            raise UpstreamFailure("connect-failure", f"connect timeout to {ip}:{port}") from None
        except ssl.SSLError as e:
            raise UpstreamFailure(
                "connect-failure", f"TLS handshake with {ip}:{port} failed: {e.reason}"
            ) from None
        except OSError as e:
            raise UpstreamFailure("connect-failure", f"{ip}:{port}: {e.strerror or e}") from None
        ident = peer_spiffe_id(writer.get_extra_info("ssl_object")) if tls else None
        if tls and expect is not None and ident != expect:
            writer.close()
            raise UpstreamFailure("connect-failure", f"{ip}:{port} presented {ident}, expected {expect}")
        return _Conn(reader, writer, ident)

    async def exchange(
        self,
        ip: str,
        port: int,
        data: bytes,
        *,
        tls: bool = False,
        sni: str | None = None,
        expect_identity: str | None = None,
        head: bool = False,
        keep: bool = True,
        on_ready=None,
    ) -> Exchanged:
        """One request. ``keep``: the connection may stay open for another (False:
        ``maxRequestsPerConnection: 1``); ``on_ready()`` is called once a connection is up."""
        key = (ip, port, tls, expect_identity, sni)  # a connection serves one SNI: Envoy pools per cluster
        idle = self._idle[key]
        while idle:
            c = idle.pop()
            if c.writer.is_closing() or c.reader.at_eof() or _unsolicited(c.reader):
                c.writer.close()  # closed, or it sent bytes no request asked for
                continue
            if on_ready:
                on_ready()
            try:
                return await self._send(c, key, data, reused=True, head=head, keep=keep)
            except UpstreamFailure as e:
                if not e.stale:
                    raise
        c = await self._connect(ip, port, tls, sni, expect_identity)
        if on_ready:
            on_ready()
        return await self._send(c, key, data, reused=False, head=head, keep=keep)

    async def _send(
        self, c: _Conn, key: tuple, data: bytes, reused: bool, head: bool = False, keep: bool = True
    ) -> Exchanged:
        ip, port = key[0], key[1]
        idle = self._idle[key]
        rd = MessageReader("response", head=head)
        try:
            c.writer.write(data)
            await c.writer.drain()
            while True:
                chunk = await c.reader.read(_READ)
                msgs = rd.feed(chunk) if chunk else rd.eof()
                resp = final_response(msgs)
                if resp is not None:
                    extra = msgs[msgs.index(resp) + 1 :] or rd.in_message
                    break
                if not chunk:
                    when = "in the middle of its response" if rd.headers_complete else "before responding"
                    raise UpstreamFailure(
                        "reset",
                        f"{ip}:{port} closed the connection {when}",
                        stale=reused and not rd.headers_complete,
                    )
        except (ConnectionError, OSError) as e:
            c.writer.close()
            raise UpstreamFailure(
                "reset", f"{ip}:{port}: {e}", stale=reused and not rd.headers_complete
            ) from None
        except HttpError as e:
            c.writer.close()
            raise UpstreamFailure(
                "protocol-error", f"{ip}:{port} sent a response this proxy cannot read: {e}"
            ) from None
        except BaseException:
            c.writer.close()  # cancelled (a timeout): this connection is spoiled
            raise
        if rd.keep_alive and keep and not extra:
            idle.append(c)
        else:
            c.writer.close()
        return Exchanged(resp, c.peer_identity, reused)

    def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.writer.close()
        self._idle.clear()
