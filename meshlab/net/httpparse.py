"""HTTP/1.1 messages, sans-IO: parsed by httptools (llhttp, Node.js's parser).

The lab's one HTTP/1.1 message reader, for proxies (:mod:`meshlab.proxy.httpcodec` re-exports
it) and the message dataclasses of the apps (:mod:`.http1` re-exports them). A
:class:`MessageReader` is fed bytes and returns whole messages (bodies are buffered: the lab's
messages are small). Serializing is writing a start line and headers; the proxy rewrites
``content-length`` and drops hop-by-hop headers, as Envoy does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httptools


def find_header(headers: list[tuple[str, str]], name: str, default: str | None = None) -> str | None:
    """The first value of header ``name`` (any case), or ``default``."""
    name = name.lower()
    for k, v in headers:
        if k == name:
            return v
    return default


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]          # names lower-case, in order
    body: bytes = b""
    peer: tuple[str, int] | None = None
    local: tuple[str, int] | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return find_header(self.headers, name, default)

    @property
    def header_map(self) -> dict[str, str]:
        return {k: v for k, v in self.headers}

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        return find_header(self.headers, name, default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "upgrade", "trailer", "content-length"})
MAX_BODY = 8 * 1024 * 1024


class HttpError(Exception):
    """The peer sent something that is not HTTP/1.1 this proxy can handle (status to answer)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class _Partial:
    url: bytes = b""
    headers: list = field(default_factory=list)
    body: list = field(default_factory=list)
    size: int = 0


class MessageReader:
    """Feed bytes, get complete :class:`Request` (or :class:`Response`) objects."""

    def __init__(self, kind: str, head: bool = False):
        """``head``: the response answers a HEAD request — it ends with its headers, whatever its
        ``content-length`` says (the connection is then not reused)."""
        self.kind, self.head = kind, head
        self._parser = (httptools.HttpRequestParser if kind == "request" else httptools.HttpResponseParser)(self)
        self._cur: _Partial | None = None
        self._done: list = []
        self.keep_alive = True
        self.headers_complete = False

    # httptools callbacks ----------------------------------------------------------------------
    def on_message_begin(self):
        self._cur = _Partial()
        self.headers_complete = False

    def on_url(self, url: bytes):
        self._cur.url += url

    def on_header(self, name: bytes, value: bytes):
        self._cur.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self):
        self.headers_complete = True
        if self.head and self.kind == "response":
            self.on_message_complete()
            self.keep_alive = False

    def on_body(self, body: bytes):
        self._cur.size += len(body)
        if self._cur.size > MAX_BODY:
            raise HttpError(413, f"body larger than {MAX_BODY} bytes")
        self._cur.body.append(body)

    def on_message_complete(self):
        if self._cur is None:          # a HEAD response, already complete at its headers
            return
        p, c = self._parser, self._cur
        self.keep_alive = p.should_keep_alive()
        body = b"".join(c.body)
        if self.kind == "request":
            self._done.append(Request(p.get_method().decode("latin-1"), c.url.decode("latin-1"), c.headers, body))
        else:
            self._done.append(Response(p.get_status_code(), c.headers, body))
        self._cur = None

    # feeding ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise HttpError(501, "upgrade and CONNECT are not supported on this listener") from None
        except httptools.HttpParserError as e:
            raise HttpError(400, f"malformed HTTP/1.1: {e}") from None
        out, self._done = self._done, []
        return out

    def eof(self) -> list:
        """The peer closed: a response delimited by the close is complete now."""
        if self.kind == "response" and self._cur is not None and self.headers_complete:
            self.keep_alive = False
            self.on_message_complete()
        out, self._done = self._done, []
        return out


def _head(start: str, headers, body_len: int, extra=()) -> bytes:
    lines = [start]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append(f"content-length: {body_len}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request_bytes(method: str, target: str, headers, body: bytes = b"", close: bool = False) -> bytes:
    return _head(f"{method} {target} HTTP/1.1", headers, len(body),
                 [("connection", "close")] if close else ()) + body


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def response_bytes(status: int, headers, body: bytes = b"", close: bool = False, head_only: bool = False) -> bytes:
    head = _head(f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", headers, len(body),
                 [("connection", "close")] if close else ())
    return head if head_only else head + body
