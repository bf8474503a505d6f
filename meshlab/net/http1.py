"""HTTP/1.1 over asyncio streams, parsed by httptools (llhttp) through :mod:`.httpparse`.

Server: :func:`serve` runs ``handler(Request) -> Response`` per request on keep-alive
connections; a malformed request is answered ``400`` naming what the parser found wrong (``413``
for a body over :data:`MAX_BODY_BYTES`, ``431`` for headers over :data:`MAX_HEADER_BYTES`), and
the server keeps serving others. Client: :class:`ClientConnection` sends requests on one
connection and reads the responses. The parsing and writing are sans-IO, in :mod:`.httpparse`
(the proxies parse with the same reader); this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

from .httpmessage import Request, Response, final_response, find_header, header_tokens
from .httpparse import HttpError, MessageReader
from .httpwrite import encode_request, encode_response
from .tcp import Listener, serve as tcp_serve

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "ClientConnection",
    "Handler",
    "Request",
    "Response",
    "find_header",
    "handle_connection",
    "json_response",
    "serve",
    "text_response",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
_READ = 64 * 1024
LINGER_S = 1.0


def text_response(
    status: int,
    text: str,
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    return Response(status, [("content-type", content_type)] + list(headers or []), text.encode())


def json_response(status: int, obj, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        status,
        [("content-type", "application/json")] + list(headers or []),
        (json.dumps(obj, indent=2) + "\n").encode(),
    )


Handler = Callable[[Request], Awaitable[Response]]


def _request_reader() -> MessageReader:
    return MessageReader(
        "request",
        max_head=MAX_HEADER_BYTES,
        max_headers=None,
        max_body=MAX_BODY_BYTES,
        require_host=True,
        plain_upgrades=True,
    )


async def handle_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Serve requests on one connection until the client closes it or asks to."""
    rd = _request_reader()
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    peer = peer[:2] if peer else None
    local = local[:2] if local else None
    try:
        while True:
            data = await reader.read(_READ)
            bad = None
            try:
                reqs = rd.feed(data) if data else rd.eof()
            except HttpError as e:
                reqs, bad = e.messages, e
            last = len(reqs) - 1
            for i, req in enumerate(reqs):
                req.peer, req.local = peer, local
                # only the last message of a batch can end the connection (the reader drops what follows)
                keep = rd.keep_alive or i < last
                echo = keep and "keep-alive" in header_tokens(req.header("connection", ""))
                head_only = req.method == "HEAD"
                try:
                    resp = await handler(req)
                    out, closes = encode_response(resp, head_only, not keep, echo)
                except Exception as e:  # the app failed, or gave something unsendable: 500, keep serving
                    resp = text_response(500, f"internal error in the app: {type(e).__name__}: {e}\n")
                    out, closes = encode_response(resp, head_only, not keep, echo)
                writer.write(out)
                await writer.drain()
                if closes:
                    return
            if bad is None and not data and rd.in_message:
                bad = HttpError(400, "the connection closed in the middle of a request")
            if bad is not None:
                resp = text_response(bad.status, f"bad request: {bad}\n", headers=[("connection", "close")])
                writer.write(encode_response(resp, close=True)[0])
                await writer.drain()
                if data:
                    await linger(reader, writer)
                return
            if not data:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close after an error answer and drop what the client is still sending (for at most
    :data:`LINGER_S`): closing with unread bytes would reset the connection, and the client would
    lose the answer before reading it."""

    async def drop():
        while await reader.read(_READ):
            pass

    try:
        if writer.can_write_eof():
            writer.write_eof()
        await asyncio.wait_for(drop(), LINGER_S)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass


async def serve(host: str, port: int, handler: Handler, *, name: str = "") -> Listener:
    """Serve ``handler`` on ``host:port`` (an IP address), accepting as :func:`meshlab.net.tcp.serve`
    does (through running out of descriptors and back; ``name`` says who in the log)."""
    return await tcp_serve(host, port, lambda r, w: handle_connection(r, w, handler), name=name)


class ClientConnection:
    """One client-side HTTP/1.1 connection (keep-alive when both sides allow it).

    ``requests`` counts the requests sent, ``bytes_out`` the bytes written (heads and bodies),
    ``bytes_in`` the response body bytes received."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.requests = 0
        self.bytes_out = 0
        self.bytes_in = 0
        self._idle = True  # no exchange under way or broken, and both sides allow another

    @property
    def reusable(self) -> bool:
        return self._idle and not self.writer.is_closing()

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> Response:
        if self.requests and not self.reusable:
            raise ConnectionResetError("connection is not reusable")
        data, close = encode_request(
            method,
            target,
            headers,
            body,  # ValueError: nothing sent
            declare_length=method in ("POST", "PUT", "PATCH"),
        )
        self.requests += 1
        self._idle = False
        self.writer.write(data)
        self.bytes_out += len(data)
        await self.writer.drain()
        rd = MessageReader(
            "response",
            head=method == "HEAD",
            max_head=MAX_HEADER_BYTES,
            max_headers=None,
            max_body=MAX_BODY_BYTES,
        )
        informational = False
        try:
            while True:
                chunk = await self.reader.read(_READ)
                msgs = rd.feed(chunk) if chunk else rd.eof()
                resp = final_response(msgs)
                if resp is not None:
                    extra = resp is not msgs[-1]
                    break
                informational = informational or bool(msgs)  # 1xx only: the answer is still to come
                if not chunk:
                    if rd.in_message or informational:
                        raise ConnectionResetError(
                            "upstream closed the connection in the middle of its response"
                        )
                    raise ConnectionResetError("upstream closed the connection before responding")
        except HttpError as e:
            raise ConnectionResetError(f"upstream sent a malformed response: {e}") from None
        self.bytes_in += len(resp.body)
        self._idle = rd.peer_keep_alive and not close and not extra and not rd.in_message
        return resp

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
