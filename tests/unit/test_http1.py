"""Unit tests of meshlab/net/http1.py over real loopback sockets (127.0.0.1, port chosen by the
kernel), each test inside its own asyncio.run."""

from __future__ import annotations

import asyncio

import pytest

from meshlab.net import http1
from meshlab.net.http1 import ClientConnection, Request, Response, json_response, serve, text_response

HANG_GUARD = 20.0  # seconds: only so that a broken server fails the test instead of hanging it


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
            return json_response(
                200,
                {
                    "method": req.method,
                    "body": req.body.decode(),
                    "x-test": req.header("X-Test"),
                    "query": req.query,
                },
            )
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


@pytest.mark.parametrize(
    "raw,problem",
    [
        (b"GARBAGE\r\n\r\n", "illegal request line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "illegal header line"),
        (b"GET / HTTP/1.1\r\n\r\n", "Host"),
    ],
)
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
            data = (
                b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
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
    """A handler that returns a status that cannot be sent as a final response (100) still
    produces an HTTP answer (a 500 naming the problem) instead of a silently dropped connection."""

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


def test_500_body_names_the_unsendable_status():
    async def main():
        async def informational(req):
            return Response(100, [], b"")

        server, port = await start(informational)
        try:
            c = await connect(port)
            r = await c.request("GET", "/", [("host", "x")])
            r2 = await c.request("GET", "/", [("host", "x")])
            c.close()
            return r, r2
        finally:
            await stop(server)

    r, r2 = run(main())
    assert r.status == 500 and "ValueError" in r.text and "100" in r.text
    assert r2.status == 500  # and the connection still served the next request


def test_body_over_the_limit_gets_413_and_server_keeps_serving(monkeypatch):
    """A body over MAX_BODY_BYTES is a 413 (declared up front, or found while reading a chunked
    body), with connection: close; a good request on a new connection is then served."""
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 1000)

    async def main():
        app = App()
        server, port = await start(app)
        try:
            declared = await raw_exchange(
                port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"
            )
            chunked = await raw_exchange(
                port,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"200\r\n"
                + b"a" * 512
                + b"\r\n"
                + b"200\r\n"
                + b"a" * 512
                + b"\r\n0\r\n\r\n",
            )
            c = await connect(port)
            good = await c.request("POST", "/", [("host", "x")], b"a" * 1000)
            c.close()
            return app, declared, chunked, good
        finally:
            await stop(server)

    app, declared, chunked, good = run(main())
    for raw in (declared, chunked):
        status, headers, body = split_response(raw)
        assert status == 413 and headers["connection"] == "close"
        assert body.decode().startswith("bad request: body larger than 1000 bytes")
    assert good.status == 200 and good.text == "hello\n"
    assert [len(r.body) for r in app.seen] == [1000]


def test_headers_over_the_limit_get_431():
    """A header section over MAX_HEADER_BYTES is refused with 431 naming the limit, whether the
    head is complete or never ends."""

    async def main():
        server, port = await start(App())
        try:
            big = b"x" * (http1.MAX_HEADER_BYTES + 10)
            complete = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n")
            endless = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big * 3)
            return complete, endless
        finally:
            await stop(server)

    for raw in run(main()):
        status, headers, body = split_response(raw)
        assert status == 431 and headers["connection"] == "close"
        assert body.decode().startswith("bad request: ") and str(http1.MAX_HEADER_BYTES) in body.decode()


def test_http_1_0_closes_unless_it_asks_to_keep_alive():
    """An HTTP/1.0 request is answered and the connection closed (connection: close); one with
    Connection: keep-alive keeps it open (and is told so), as HTTP/1.1 has it."""

    async def main():
        app = App()
        server, port = await start(app)
        try:
            plain = await raw_exchange(port, b"GET /a HTTP/1.0\r\n\r\n")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            first = await reader.readuntil(b"hello\n")
            writer.write(b"GET /c HTTP/1.0\r\n\r\n")
            second = await reader.read()  # answered, then closed
            writer.close()
            return app, plain, first, second
        finally:
            await stop(server)

    app, plain, first, second = run(main())
    assert split_response(plain)[:2] == (200, {**split_response(plain)[1], "connection": "close"})
    assert split_response(first)[1]["connection"] == "keep-alive"
    assert split_response(second)[0] == 200 and split_response(second)[1]["connection"] == "close"
    assert [r.path for r in app.seen] == ["/a", "/b", "/c"]
    assert app.seen[1].peer == app.seen[2].peer


def test_chunked_request_body_is_decoded():
    async def main():
        server, port = await start(App())
        try:
            return await raw_exchange(
                port,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
            )
        finally:
            await stop(server)

    status, _, body = split_response(run(main()))
    assert status == 200 and b'"body": "abcde"' in body


def test_a_good_pipelined_request_before_a_malformed_one_is_answered_first():
    async def main():
        app = App()
        server, port = await start(app)
        try:
            return app, await raw_exchange(port, b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
        finally:
            await stop(server)

    app, raw = run(main())
    first, _, second = raw.partition(b"hello\n")
    assert split_response(first)[0] == 200
    assert split_response(second)[0] == 400 and b"illegal request line" in second
    assert [r.path for r in app.seen] == ["/one"]


def test_a_request_cut_short_gets_400_and_nothing_after_connection_close_is_served():
    async def main():
        app = App()
        server, port = await start(app)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            writer.write_eof()
            cut = await reader.read()
            writer.close()
            closing = await raw_exchange(
                port,
                b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            return app, cut, closing
        finally:
            await stop(server)

    app, cut, closing = run(main())
    assert split_response(cut)[0] == 400 and b"middle of a request" in cut
    assert closing.count(b"HTTP/1.1 ") == 1 and split_response(closing)[1]["connection"] == "close"
    assert [r.path for r in app.seen] == ["/one"]


def test_an_upgrade_request_is_answered_as_a_plain_request():
    """An origin server that never switches protocols answers Upgrade as an ordinary request and
    reads the next request on the same connection (as with h11 before)."""

    async def main():
        app = App()
        server, port = await start(app)
        try:
            return app, await raw_exchange(
                port,
                b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        finally:
            await stop(server)

    app, raw = run(main())
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    assert [r.path for r in app.seen] == ["/up", "/next"]


def test_an_app_response_saying_connection_close_closes_the_connection():
    async def main():
        async def closing(req):
            return text_response(200, "bye\n", headers=[("connection", "close")])

        server, port = await start(closing)
        try:
            c = await connect(port)
            r = await c.request("GET", "/", [("host", "x")])
            reusable = c.reusable
            raw = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # returns: closed
            c.close()
            return r, reusable, raw
        finally:
            await stop(server)

    r, reusable, raw = run(main())
    assert r.status == 200 and not reusable
    assert raw.count(b"HTTP/1.1 200") == 1


def test_headers_arrive_lower_case_in_order_latin_1():
    async def main():
        app = App()
        server, port = await start(app)
        try:
            c = await connect(port)
            r = await c.request("GET", "/", [("Host", "x"), ("X-B", "2"), ("X-A", "caf\xe9"), ("x-b", "3")])
            c.close()
            return app, r
        finally:
            await stop(server)

    app, r = run(main())
    assert app.seen[0].headers == [("host", "x"), ("x-b", "2"), ("x-a", "caf\xe9"), ("x-b", "3")]
    assert r.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("x-served-by", "test"),
        ("content-length", "6"),
    ]


async def scripted_server(answer: bytes, close: bool = True):
    """A raw server: reads one request head, writes ``answer``, closes (or not)."""

    async def serve_one(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await reader.read()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    "answer,body,reusable",
    [
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            b"ok",
            True,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nread to the end", b"read to the end", False),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", b"ok", True),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok", b"ok", False),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", b"ok", False),
    ],
)
def test_client_reads_responses_and_knows_when_the_connection_is_reusable(answer, body, reusable):
    async def main():
        server, port = await scripted_server(answer, close=not reusable)
        try:
            c = await connect(port)
            r = await c.request("POST", "/", [("host", "x")], b"abc")
            state = (r.status, r.body, c.reusable, c.requests, c.bytes_in, c.bytes_out)
            c.close()
            return state
        finally:
            await stop(server)

    status, got, now_reusable, requests, bytes_in, bytes_out = run(main())
    assert (status, got, now_reusable, requests, bytes_in) == (200, body, reusable, 1, len(body))
    assert bytes_out == len(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")


@pytest.mark.parametrize(
    "answer,message",
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "in the middle of its response"),
        (b"HTTP/1.1 200 OK\r\ncontent-le", "in the middle of its response"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "in the middle of its response"),
        (b"", "before responding"),
        (
            b"SMTP ready\r\n\r\n",
            "upstream sent a malformed response: malformed HTTP/1.1: illegal status line",
        ),
        (
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            "upstream sent a malformed response: malformed HTTP/1.1: illegal header line",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            "upstream sent a malformed response: malformed HTTP/1.1: a protocol switch",
        ),
    ],
)
def test_client_reports_a_response_cut_short_or_malformed(answer, message):
    async def main():
        server, port = await scripted_server(answer)
        try:
            c = await connect(port)
            with pytest.raises(ConnectionResetError) as e:
                await c.request("GET", "/", [("host", "x")])
            reusable = c.reusable
            c.close()
            return str(e.value), reusable
        finally:
            await stop(server)

    text, reusable = run(main())
    assert message in text and not reusable


def test_client_refuses_a_request_that_cannot_be_sent():
    """No Host (HTTP/1.1 needs one), or a header that would inject another: ValueError, nothing sent."""

    async def main():
        server, port = await start(App())
        try:
            c = await connect(port)
            with pytest.raises(ValueError, match="Host"):
                await c.request("GET", "/", [])
            with pytest.raises(ValueError, match="illegal header value"):
                await c.request("GET", "/", [("host", "x"), ("x", "1\r\nEvil: yes")])
            c.close()
            return c.bytes_out
        finally:
            await stop(server)

    assert run(main()) == 0


def test_client_connection_close_request_is_not_reusable_after():
    async def main():
        server, port = await start(App())
        try:
            c = await connect(port)
            r = await c.request("GET", "/", [("host", "x"), ("connection", "close")])
            reusable = c.reusable
            with pytest.raises(ConnectionResetError, match="not reusable"):
                await c.request("GET", "/", [("host", "x")])
            c.close()
            return r, reusable
        finally:
            await stop(server)

    r, reusable = run(main())
    assert r.status == 200 and not reusable


_OUT_OF_DESCRIPTORS_SERVER = """
import asyncio, os, resource, sys, uvloop
from meshlab.net.http1 import serve, text_response

async def main():
    async def slow(req):
        await asyncio.sleep(0.3)
        return text_response(200, "ok\\n")
    server = await serve("127.0.0.1", 0, slow)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 15, hard))
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)    # until the test is done
uvloop.run(main())
"""


def test_a_server_out_of_descriptors_keeps_the_connections_waiting_and_says_so():
    """Issue 13, defect 2, for every listener of the lab (apps, proxies' admin ports, proxies):
    a server allowed 15 more descriptors gets 60 connections at once. It serves what it can; the
    rest wait in the kernel's backlog, as with Envoy, and are served as descriptors free up —
    none is reset (uvloop's own server accepted and closed them: libuv's "EMFILE trick") — and
    the server's log says it ran out and recovered."""
    import socket
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _OUT_OF_DESCRIPTORS_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(60)]
        for c in conns:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = []
        for c in conns:
            try:
                answers.append(c.recv(65536).split(b"\r\n", 1)[0])
            except OSError as e:
                answers.append(repr(e).encode())
            c.close()
    finally:
        proc.stdin.close()
        log = proc.stderr.read()
        proc.wait(10)
    assert answers == [b"HTTP/1.1 200 OK"] * 60, answers
    assert "out of file descriptors" in log and "accepts again" in log, log
