"""HTTP/1.1 messages as data: a :class:`Request`, a :class:`Response`, header look-ups, the hop-by-hop
headers a proxy drops. Read by :mod:`.httpparse`, written by :mod:`.httpwrite`; no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "trailer",
        "content-length",
    }
)


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
    headers: list[tuple[str, str]]  # names lower-case, in order
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


def header_tokens(value: str) -> set[str]:
    """The comma-separated tokens of a header value, lower-case (``Connection: Keep-Alive, x``)."""
    return {t.strip().lower() for t in value.split(",")}


def final_response(msgs: list) -> "Response | None":
    """The first final response among ``msgs``: 1xx ones (100 Continue, 103 Early Hints) come
    before it and are not the answer. (No side of the lab switches protocols, so a 101 is not
    an answer either.)"""
    for m in msgs:
        if m.status >= 200:
            return m
    return None
