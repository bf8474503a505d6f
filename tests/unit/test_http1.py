"""Unit tests of meshlab/net/http1.py over real loopback sockets (127.0.0.1, port chosen by the
kernel), each test inside its own asyncio.run."""

from __future__ import annotations

import asyncio

import pytest

from meshlab.net.http1 import (ClientConnection, Request, Response, json_response, serve,
                               text_response)

HANG_GUARD = 20.0     # seconds: only so that a broken server fails the test instead of hanging it


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, HANG_GUARD))


class App:
    """A handler that records what it saw: /echo echoes method, body and a header; /boom raises;
    anything else answers 200 "hello"."""

    def __init__(self):
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        if req.path == "/boom":
            raise RuntimeError("the app fell over")
        if req.path == "/echo":
            return json_response(200, {"method": req.method, "body": req.body.decode(),
                                       "x-test": req.header("X-Test"), "query": req.query})
        return text_response(200, "hello\n", headers=[("x-served-by", "test")])


async def start(app):
    server = await serve("127.0.0.1", 0, app)
    return server, server.sockets[0].getsockname()[1]


async def stop(server):
    server.close()
    await server.wait_closed()


async def connect(port) -> ClientConnection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return ClientConnection(reader, writer)


async def raw_exchange(port, data: bytes) -> bytes:
    """Write ``data`` on a fresh connection, then read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await reader.read()
    writer.close()
    return out


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


def test_two_keep_alive_requests_on_one_connection():
    """A client connection sends two requests one after the other; both are answered on the same
    TCP connection (the server sees the same client port), and the connection stays reusable."""
    async def main():
        app = App()
        server, port = await start(app)
        try:
            c = await connect(port)
            r1 = await c.request("GET", "/first", [("host", "test")])
            assert c.reusable
            r2 = await c.request("POST", "/echo?a=1", [("host", "test"), ("x-test", "yes")], b"payload")
            c.close()
            return app, r1, r2, c
        finally:
            await stop(server)

    app, r1, r2, c = run(main())
    assert (r1.status, r1.text, r1.header("X-Served-By")) == (200, "hello\n", "test")
    assert r2.status == 200
    assert r2.json() == {"method": "POST", "body": "payload", "x-test": "yes", "query": {"a": ["1"]}}
    assert c.requests == 2
    assert len(app.seen) == 2 and app.seen[0].peer == app.seen[1].peer
    assert app.seen[0].peer[0] == "127.0.0.1" and app.seen[0].local[0] == "127.0.0.1"
    assert app.seen[1].headers[0] == ("host", "test")


@pytest.mark.parametrize("raw,problem", [
    (b"GARBAGE\r\n\r\n", "illegal request line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\n\r\n", "Host"),
])
def test_malformed_request_gets_400_naming_the_problem_and_server_keeps_serving(raw, problem):
    """A malformed request written on a raw socket (a bad request line, a header line without a
    colon, an HTTP/1.1 request without Host) is answered 400 with a body naming the problem, the
    connection is closed, the handler never sees it, and a good request on a new connection is
    then served."""
    async def main():
        app = App()
        server, port = await start(app)
        try:
            bad = await raw_exchange(port, raw)
            c = await connect(port)
            good = await c.request("GET", "/", [("host", "x")])
            c.close()
            return app, bad, good
        finally:
            await stop(server)

    app, bad, good = run(main())
    status, headers, body = split_response(bad)
    assert status == 400
    assert headers.get("connection", "").lower() == "close"
    assert body.decode().startswith("bad request: ")
    assert problem.lower() in body.decode().lower()
    assert good.status == 200 and good.text == "hello\n"
    assert [r.path for r in app.seen] == ["/"]


def test_handler_exception_gives_500_and_server_keeps_going():
    """A handler that raises gets a 500 naming the exception; the same keep-alive connection then
    serves the next request, and so does a new connection."""
    async def main():
        server, port = await start(App())
        try:
            c = await connect(port)
            r1 = await c.request("GET", "/boom", [("host", "x")])
            r2 = await c.request("GET", "/", [("host", "x")])
            c.close()
            c2 = await connect(port)
            r3 = await c2.request("GET", "/boom", [("host", "x")])
            r4 = await c2.request("GET", "/", [("host", "x")])
            c2.close()
            return r1, r2, r3, r4
        finally:
            await stop(server)

    r1, r2, r3, r4 = run(main())
    assert r1.status == 500 and r3.status == 500
    assert "RuntimeError: the app fell over" in r1.text
    assert r2.status == 200 and r4.status == 200


def test_head_gets_headers_but_no_body():
    """A HEAD request gets the status and headers (with the length a GET would have) but no body
    bytes on the wire; a GET on the same connection afterwards gets the body."""
    async def main():
        server, port = await start(App())
        try:
            raw = await raw_exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            c = await connect(port)
            head = await c.request("HEAD", "/", [("host", "x")])
            get = await c.request("GET", "/", [("host", "x")])
            c.close()
            return raw, head, get
        finally:
            await stop(server)

    raw, head, get = run(main())
    status, headers, body = split_response(raw)
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(b"hello\n"))
    assert head.status == 200 and head.body == b""
    assert get.status == 200 and get.body == b"hello\n"


def test_server_closes_when_client_asks():
    """A request with ``connection: close`` is answered and then the server closes the connection."""
    async def main():
        server, port = await start(App())
        try:
            return await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        finally:
            await stop(server)

    status, headers, body = split_response(run(main()))
    assert status == 200 and body == b"hello\n"


def test_pipelined_requests_are_answered_in_order():
    """Two requests written back to back before reading are both answered, in order."""
    async def main():
        app = App()
        server, port = await start(app)
        try:
            data = (b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return app, await raw_exchange(port, data)
        finally:
            await stop(server)

    app, raw = run(main())
    assert raw.count(b"HTTP/1.1 200") == 2
    assert [r.path for r in app.seen] == ["/one", "/two"]


def test_client_reports_a_server_that_closes_without_answering():
    """A server that accepts and closes without a response makes the client request raise
    ConnectionResetError (not hang, not return)."""
    async def main():
        async def slam(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.close()
        server = await asyncio.start_server(slam, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            c = await connect(port)
            with pytest.raises(ConnectionResetError):
                await c.request("GET", "/", [("host", "x")])
            c.close()
        finally:
            await stop(server)

    run(main())


def test_request_helpers():
    """Request.header is case-insensitive with a default; path and query come from the target."""
    r = Request("GET", "/a/b?x=1&x=2&y=", [("host", "h"), ("x-one", "1")])
    assert r.header("X-ONE") == "1" and r.header("missing", "d") == "d"
    assert r.path == "/a/b" and r.query == {"x": ["1", "2"]}
    assert r.header_map == {"host": "h", "x-one": "1"}


def test_handler_returning_an_informational_status_still_gets_an_answer():
    """A handler that returns a status h11 cannot send as a final response (100) still produces an
    HTTP answer (a 500 naming the problem) instead of a silently dropped connection."""
    async def main():
        async def informational(req):
            return Response(100, [], b"")
        server, port = await start(informational)
        try:
            return await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        finally:
            await stop(server)

    raw = run(main())
    assert raw.startswith(b"HTTP/1.1 ")
    assert split_response(raw)[0] == 500
