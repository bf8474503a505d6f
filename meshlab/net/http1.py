"""HTTP/1.1 over asyncio streams, with h11 doing all the parsing (no hand-written parser).

Server: :func:`serve` runs ``handler(Request) -> Response`` per request on keep-alive
connections; a malformed request is answered ``400`` naming what h11 found wrong, and the server
keeps serving others. Client: :class:`ClientConnection` sends requests on one connection and
reads the responses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

import h11

from .httpparse import Request, Response, find_header

__all__ = ["MAX_BODY_BYTES", "MAX_HEADER_BYTES", "ClientConnection", "Handler", "Request", "Response",
           "find_header", "handle_connection", "json_response", "serve", "text_response"]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
_READ = 64 * 1024


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8",
                  headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [("content-type", content_type)] + list(headers or []), text.encode())


def json_response(status: int, obj, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [("content-type", "application/json")] + list(headers or []),
                    (json.dumps(obj, indent=2) + "\n").encode())


def _decode_headers(hs) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in hs]


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader):
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            data = await reader.read(_READ)
            conn.receive_data(data)        # b"" means EOF
            continue
        return ev


async def _read_body(conn: h11.Connection, reader: asyncio.StreamReader) -> bytes:
    chunks, size = [], 0
    while True:
        ev = await _next_event(conn, reader)
        if isinstance(ev, h11.Data):
            size += len(ev.data)
            if size > MAX_BODY_BYTES:
                raise h11.RemoteProtocolError(f"body larger than {MAX_BODY_BYTES} bytes", 413)
            chunks.append(bytes(ev.data))
        elif isinstance(ev, h11.EndOfMessage):
            return b"".join(chunks)
        elif isinstance(ev, h11.ConnectionClosed):
            raise ConnectionResetError("connection closed in the middle of a message body")
        else:
            raise h11.RemoteProtocolError(f"unexpected {type(ev).__name__} in a message body")


def _response_bytes(conn: h11.Connection, resp: Response, head_only: bool = False) -> bytes:
    names = {k.lower() for k, _ in resp.headers}
    headers = list(resp.headers)
    if "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("content-length", str(len(resp.body))))
    out = conn.send(h11.Response(status_code=resp.status, headers=headers))
    if resp.body and not head_only:
        out += conn.send(h11.Data(data=resp.body))
    out += conn.send(h11.EndOfMessage())
    return out


Handler = Callable[[Request], Awaitable[Response]]


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            handler: Handler) -> None:
    """Serve requests on one connection until the client closes it or asks to."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    try:
        while True:
            try:
                ev = await _next_event(conn, reader)
                if isinstance(ev, (h11.ConnectionClosed,)) or ev is h11.PAUSED:
                    break
                if not isinstance(ev, h11.Request):
                    raise h11.RemoteProtocolError(f"expected a request, got {type(ev).__name__}")
                req = Request(ev.method.decode("latin-1"), ev.target.decode("latin-1"),
                              _decode_headers(ev.headers), peer=peer[:2] if peer else None,
                              local=local[:2] if local else None)
                req.body = await _read_body(conn, reader)
            except h11.RemoteProtocolError as e:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = e.error_status_hint or 400
                    bad = text_response(status, f"bad request: {e}\n", headers=[("connection", "close")])
                    try:
                        writer.write(_response_bytes(conn, bad))
                        await writer.drain()
                    except (h11.LocalProtocolError, ConnectionError):
                        pass
                break
            try:
                resp = await handler(req)
                out = _response_bytes(conn, resp, head_only=req.method == "HEAD")
            except Exception as e:  # the app failed, or gave h11 something unsendable: 500, keep serving
                if conn.our_state is not h11.SEND_RESPONSE:
                    break
                resp = text_response(500, f"internal error in the app: {type(e).__name__}: {e}\n")
                out = _response_bytes(conn, resp, head_only=req.method == "HEAD")
            writer.write(out)
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                break
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, handler: Handler, **kw) -> asyncio.AbstractServer:
    return await asyncio.start_server(lambda r, w: handle_connection(r, w, handler), host, port,
                                      reuse_address=True, **kw)


class ClientConnection:
    """One client-side HTTP/1.1 connection (keep-alive when both sides allow it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.requests = 0
        self.bytes_out = 0
        self.bytes_in = 0

    @property
    def reusable(self) -> bool:
        return self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE and not self.writer.is_closing()

    async def request(self, method: str, target: str, headers: list[tuple[str, str]],
                      body: bytes = b"") -> Response:
        if self.requests and not self.reusable:
            raise ConnectionResetError("connection is not reusable")
        self.requests += 1
        hs = list(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            hs.append(("content-length", str(len(body))))
        data = self.conn.send(h11.Request(method=method, target=target, headers=hs))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        self.writer.write(data)
        self.bytes_out += len(data)
        await self.writer.drain()
        try:
            while True:
                ev = await _next_event(self.conn, self.reader)
                if isinstance(ev, h11.InformationalResponse):
                    continue
                if isinstance(ev, h11.ConnectionClosed):
                    raise ConnectionResetError("upstream closed the connection before responding")
                if not isinstance(ev, h11.Response):
                    raise h11.RemoteProtocolError(f"expected a response, got {type(ev).__name__}")
                break
            body_in = await _read_body(self.conn, self.reader)
        except h11.RemoteProtocolError as e:
            raise ConnectionResetError(f"upstream sent a malformed response: {e}") from None
        self.bytes_in += len(body_in)
        resp = Response(ev.status_code, _decode_headers(ev.headers), body_in)
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                pass
        return resp

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
