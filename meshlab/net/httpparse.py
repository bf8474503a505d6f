"""HTTP/1.1 read, sans-IO: parsed by httptools (llhttp, Node.js's parser), with Envoy's limits.

The one HTTP/1.1 parser of the lab, shared by the apps (:mod:`.http1`, an origin server and its
client) and the proxies (:mod:`meshlab.proxy.router`, the upstream pools). A :class:`MessageReader`
is fed bytes and returns whole :class:`~.httpmessage.Request` (or
:class:`~.httpmessage.Response`) objects — bodies are buffered, the lab's messages are small. It
never does I/O, so tests can feed it any split of a byte stream. The messages are
:mod:`.httpmessage`'s; writing them is :mod:`.httpwrite`'s.
"""

from __future__ import annotations

import httptools

from ..errors import DataPlaneError
from .httpmessage import Request, Response

MAX_BODY = 8 * 1024 * 1024
#: Envoy's limits on a header section, which the proxies' reader has by default: 60 KiB of request
#: target, header names and values (``max_request_headers_kb: 60``; answered 431) and 100 headers
#: (``max_headers_count``), the same for an upstream's response (source/common/http/http1/codec_impl.cc:
#: ``checkMaxHeadersSize``, ``completeCurrentHeader``; http/protocol.proto: "the default max request
#: headers allowed is 60 KiB").
MAX_HEAD = 60 * 1024
MAX_HEADERS = 100
#: A line still arriving counts with its raw bytes, which hold what Envoy does not count (the method,
#: the version, colons, spaces): this much room keeps a head of exactly the limit from being refused
#: while its last line is on its way.
LINE_SLACK = 256


def _chunked_coding(headers: list[tuple[str, str]]) -> bool:
    """The body is chunked (the last transfer coding)."""
    return any(
        k == "transfer-encoding" and v.rsplit(",", 1)[-1].strip().lower() == "chunked" for k, v in headers
    )


def _framed(headers: list[tuple[str, str]]) -> bool:
    """The message says where its body ends (a length, or chunked as the last coding)."""
    return any(k == "content-length" for k, _ in headers) or _chunked_coding(headers)


class HttpError(DataPlaneError):
    """The peer sent something that is not HTTP/1.1 this side can handle (``status`` to answer).

    ``messages``: the messages that were complete in the same bytes before the problem (a
    pipelined request before a malformed one is still owed its answer)."""

    def __init__(self, status: int, message: str, messages: list | None = None):
        super().__init__(message)
        self.status = status
        self.messages = messages or []


# llhttp's error reasons, sorted into the part of the message they are about (the wording of h11,
# which the apps used before: "illegal request line", "illegal header line")
_START_LINE_WORDS = (
    "method",
    "url",
    "version",
    "http/",
    "start line",
    "response line",
    "status",
    "expected space",
    "expected dot",
    "invalid word",
)
_HEADER_WORDS = ("header", "content-length", "transfer-encoding")


def _malformed(kind: str, exc: Exception, headers_complete: bool) -> str:
    reason = str(exc)
    low = reason.lower()
    if "pri/upgrade" in low or "http/2" in low:
        where = "an HTTP/2 connection preface (this side speaks HTTP/1.1 only)"
    elif "connect/upgrade" in low and kind == "response":
        where = "a protocol switch (101) that was never asked for"
    elif headers_complete or "chunk" in low:
        where = "invalid body"
    elif isinstance(
        exc,
        (
            httptools.HttpParserInvalidMethodError,
            httptools.HttpParserInvalidURLError,
            httptools.HttpParserInvalidStatusError,
        ),
    ) or any(w in low for w in _START_LINE_WORDS):
        where = "illegal request line" if kind == "request" else "illegal status line"
    elif any(w in low for w in _HEADER_WORDS):
        where = "illegal header line"
    else:
        where = "unparseable message"
    return f"malformed HTTP/1.1: {where}: {reason}"


class _Partial:
    __slots__ = ("url", "headers", "body", "size", "head", "count", "url_counted")

    def __init__(self):
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.size = 0  # body bytes so far
        self.head = 0  # Envoy's measure of the header (then trailer) section so far
        self.count = 0  # header (then trailer) fields so far
        self.url_counted = False  # the request target is in ``head`` (once its line has ended)


class MessageReader:
    """Feed bytes, get complete :class:`Request` (or :class:`Response`) objects.

    ``keep_alive``: after the last complete message, this reader can go on with the next one on
    the same connection (llhttp's ``should_keep_alive``: HTTP/1.1 without ``Connection: close``,
    HTTP/1.0 with ``Connection: keep-alive``, not a close-delimited response). A message that ends
    the connection is the last one :meth:`feed` returns; what follows it is dropped.

    ``head``: the response answers a HEAD request — it ends with its headers, whatever its
    ``content-length`` says, and the reader is spent (``keep_alive`` is False; ``peer_keep_alive``
    says whether the response itself allowed reuse).

    Limits (None: none): ``max_head`` bytes of request target, header names and values, as Envoy
    counts them (431), and ``max_headers`` header fields (431) — Envoy's defaults
    (:data:`MAX_HEAD`, :data:`MAX_HEADERS`), trailers counted apart; ``max_body`` bytes of body
    (413). Parsing takes time linear in the bytes fed, however they are cut (see :meth:`feed`).
    ``require_host``: an HTTP/1.1 request without exactly one Host is a 400, as h11
    and RFC 9112 have it (llhttp does not check). ``plain_upgrades``: an Upgrade or CONNECT request
    is an ordinary request that the reader reads on after (an origin server that never switches
    protocols); otherwise it is a 501.
    """

    def __init__(
        self,
        kind: str,
        head: bool = False,
        *,
        max_head: int | None = MAX_HEAD,
        max_headers: int | None = MAX_HEADERS,
        max_body: int | None = MAX_BODY,
        require_host: bool = False,
        plain_upgrades: bool = False,
    ):
        if kind not in ("request", "response"):
            raise ValueError(f"kind must be 'request' or 'response', not {kind!r}")
        self.kind, self.head = kind, head
        self.max_head, self.max_headers, self.max_body = max_head, max_headers, max_body
        self.require_host, self.plain_upgrades = require_host, plain_upgrades
        self._parser = self._new_parser()
        self._cur: _Partial | None = None
        self._done: list = []
        self._stopped = False
        self._raised: HttpError | None = None  # what a callback raised (see feed)
        self.keep_alive = True
        self.peer_keep_alive = True
        self.headers_complete = False
        self._mid_line = False  # the parser holds the start of a line it joins piece by piece
        self._piece = 0  # ... that many bytes of it (when surely this message's)
        self._held = bytearray()  # the rest of that line so far, kept until it ends
        self._framing = False  # past the head, the parser is in a chunk-size or trailer line

    def _new_parser(self):
        return (httptools.HttpRequestParser if self.kind == "request" else httptools.HttpResponseParser)(self)

    @property
    def in_message(self) -> bool:
        """A message has begun and is not complete yet."""
        return self._cur is not None and not self._stopped

    # httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self):
        self._cur = _Partial()
        self.headers_complete = False

    def on_url(self, url: bytes):
        self._cur.url += url  # at most two pieces (see feed)

    def on_header(self, name: bytes, value: bytes):
        c = self._cur
        value = value.rstrip(b" \t")
        c.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))
        c.count += 1
        if self.max_headers is not None and c.count > self.max_headers:
            part = "trailers" if self.headers_complete else "headers"
            raise self._fail(HttpError(431, f"{self.kind} has more than {self.max_headers} {part}"))
        if self.max_head is not None:
            c.head += len(name) + len(value)
            self._count_url(c)
            self._check_head(c)

    def _count_url(self, c: _Partial):
        """The request target counts once its line has ended (a header or the end of the head
        came after it): until then its bytes count as a line still arriving."""
        if not c.url_counted:
            c.url_counted = True
            c.head += len(c.url)

    def _fail(self, err: "HttpError") -> "HttpError":
        self._raised = err
        return err

    def _too_large(self) -> "HttpError":
        part = "trailer section" if self.headers_complete else "header section"
        return HttpError(431, f"{self.kind} {part} larger than {self.max_head} bytes")

    def _check_head(self, c: _Partial):
        if c.head > self.max_head:
            raise self._fail(self._too_large())

    def _check_line(self):
        """What is counted so far and the line still arriving, against the limit."""
        c = self._cur
        if (
            self.max_head is not None
            and c is not None
            and c.head + self._piece + len(self._held) > self.max_head + LINE_SLACK
        ):
            raise self._too_large()

    def on_chunk_header(self):
        self._framing = True  # data follows (on_body), or trailers: the last chunk

    def on_chunk_complete(self):
        self._framing = True  # the next chunk-size line

    def on_headers_complete(self):
        c = self._cur
        if self.max_head is not None:
            self._count_url(c)
            self._check_head(c)
        self.headers_complete = True
        c.head = c.count = 0  # trailers have limits of their own, as in Envoy
        self._framing = _chunked_coding(c.headers)  # a chunk-size line comes first
        if self.require_host or self.max_body is not None:
            hosts, length = 0, None
            for k, v in c.headers:
                if k == "host":
                    hosts += 1
                elif k == "content-length":
                    length = v
            if self.require_host and self.kind == "request" and hosts != 1:
                if hosts > 1:
                    raise self._fail(HttpError(400, "more than one Host header"))
                if self._parser.get_http_version() == "1.1":
                    raise self._fail(
                        HttpError(400, "missing Host header (an HTTP/1.1 request must have one)")
                    )
            if (
                length is not None
                and self.max_body is not None
                and length.isdigit()
                and int(length) > self.max_body
            ):
                raise self._fail(
                    HttpError(413, f"body larger than {self.max_body} bytes (content-length: {length})")
                )
        if self.head and self.kind == "response":
            self.on_message_complete()
            self.keep_alive = False

    def on_body(self, body: bytes):
        c = self._cur
        if c is None:  # a HEAD response's body a server sent anyway: not part of it
            return
        c.size += len(body)
        self._framing = False
        if self.max_body is not None and c.size > self.max_body:
            raise self._fail(HttpError(413, f"body larger than {self.max_body} bytes"))
        c.body.append(body)

    def on_message_complete(self):
        if self._cur is None:  # a HEAD response, already complete at its headers
            return
        p, c = self._parser, self._cur
        self.keep_alive = self.peer_keep_alive = p.should_keep_alive()
        body = b"".join(c.body)
        if self.kind == "request":
            self._done.append(
                Request(p.get_method().decode("latin-1"), c.url.decode("latin-1"), c.headers, body)
            )
        else:
            self._done.append(Response(p.get_status_code(), c.headers, body))
        self._cur = None

    # feeding ----------------------------------------------------------------------------------
    def _take(self) -> list:
        out, self._done = self._done, []
        return out

    def feed(self, data: bytes) -> list:
        """The messages ``data`` completes, in order. HttpError if the bytes are not HTTP/1.1
        this reader accepts (its ``messages`` are those complete before the problem).

        httptools joins the pieces of a header field (and this reader those of a request target)
        with ``bytes +=``, each join copying all before it: fed piece by piece, a long line costs
        time with the square of its length. So once the parser holds the start of such a line,
        the rest waits here until the line ends and goes in as one piece."""
        if self._stopped:
            return []
        if self._mid_line:
            if b"\n" not in data:
                self._held += data
                try:
                    self._check_line()
                except HttpError as err:
                    err.messages = self._take()
                    raise
                return []
            if self._held:
                data = bytes(self._held) + data
                self._held = bytearray()
            self._mid_line, self._piece = False, 0
        return self._feed(data)

    def _feed(self, data: bytes) -> list:
        c = self._cur if not self.headers_complete else None
        idle = self._cur is None
        upgraded = None
        self._raised = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            if not self.plain_upgrades:
                # the upgrade request is the last one the parser completed: it is the refused one,
                # not a request owed an answer before the 501 (a proxy that forwarded it would
                # get its answer and then the 501 on one connection, and pool that connection)
                raise HttpError(
                    501, "upgrade and CONNECT are not supported on this listener", self._take()[:-1]
                ) from None
            upgraded = e.args[0]
        except httptools.HttpParserError as e:
            # (a callback's HttpError is recorded, not read from e.__context__: Python replaces
            # that with whatever exception the caller is handling when it calls feed)
            if self._raised is not None:  # raised by a callback above: a limit
                err, self._raised = self._raised, None
            elif isinstance(e, httptools.HttpParserCallbackError):  # a bug in a callback: not the peer's
                raise (e.__context__ or e)
            elif self._cur is None and not self.peer_keep_alive:
                self._stopped = True  # bytes after the last message: dropped
                return self._take()
            else:
                err = HttpError(400, _malformed(self.kind, e, self.headers_complete))
            err.messages = self._take()
            raise err from None
        if upgraded is not None:
            return self._read_on_after_upgrade(data[upgraded:])
        cur = self._cur
        framing = self.headers_complete and self._framing
        if cur is not None and data and not data.endswith(b"\n") and (not self.headers_complete or framing):
            # the parser stopped inside a line of the head, or of the body's framing (a trailer
            # after the last chunk, a chunk-size line): the next bytes wait for its end. The bytes
            # fed of it count against the limit when they surely are this message's: the head
            # began before ``data``, or in it with no message before it; a framing line is.
            self._mid_line = True
            mine = cur is c or (idle and not self._done) or framing
            self._piece = len(data) - 1 - data.rfind(b"\n") if mine else 0
            try:
                self._check_line()
            except HttpError as err:
                err.messages = self._take()
                raise
        return self._take()

    def _read_on_after_upgrade(self, rest: bytes) -> list:
        """llhttp stopped after an Upgrade/CONNECT request as if the protocol switched; it did not
        (the answer is an ordinary response), so the bytes after it are the next request."""
        upgrade = self._done[-1]
        if any(
            k in ("content-length", "transfer-encoding") and v.strip() not in ("", "0")
            for k, v in upgrade.headers
        ):
            # httptools skips the body of an upgrade request: it cannot be read as HTTP/1.1 here
            raise HttpError(
                501, "an Upgrade or CONNECT request with a body is not supported", self._done[:-1]
            )
        self._parser = self._new_parser()
        done = self._take()
        try:
            more = self.feed(rest) if rest else []
        except HttpError as e:
            e.messages = done + e.messages
            raise
        return done + more

    def eof(self) -> list:
        """The peer closed: a response delimited by the close is complete now. A message cut
        short stays incomplete (:attr:`in_message` says so)."""
        c = self._cur
        if (
            self.kind == "response"
            and c is not None
            and self.headers_complete
            and not self._stopped
            and not _framed(c.headers)
        ):
            self.on_message_complete()
            self.keep_alive = self.peer_keep_alive = False
        return self._take()
