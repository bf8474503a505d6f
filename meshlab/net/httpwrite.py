"""HTTP/1.1 written, in two flavours (no I/O):

- :func:`encode_request` / :func:`encode_response` — an endpoint's messages (the apps): the
  headers are sent as given, checked the way h11 checks them (a header that would break the
  framing is refused with ``ValueError``), ``content-length`` added when missing.
- :func:`request_bytes` / :func:`response_bytes` — a proxy's messages: hop-by-hop headers dropped
  and ``content-length`` rewritten, as Envoy does.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from .httpmessage import HOP_BY_HOP, Response, find_header, header_tokens

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but tab
_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]+")


def check_header(name: str, value: str) -> None:
    """ValueError for a header that cannot be sent: a name that is not a token, a control character in the value."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"illegal header name {name!r}")
    if _BAD_VALUE.search(value):
        raise ValueError(f"illegal header value {value!r} (header {name})")


def _chunked(body: bytes) -> bytes:
    return (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"


def _chunked_only(value: str) -> bool:
    """A ``transfer-encoding`` an endpoint may send: chunked, nothing else."""
    if value.strip().lower() != "chunked":
        raise ValueError(f"only transfer-encoding: chunked can be sent, not {value!r}")
    return True


def _framed_body(
    lines: list[str],
    body: bytes,
    length: str | None,
    chunked: bool | None,
    *,
    declare: bool = True,
    head_only: bool = False,
) -> bytes:
    """The body as the framing headers the endpoint gave say to send it — chunked, or as
    declared by ``content-length`` (``length``), which must then be the body's; with neither,
    ``content-length`` is added to ``lines`` when ``declare``. ``head_only``: an answer to HEAD,
    whose body is not sent, so its declared length is not checked against it."""
    if chunked:
        if length is not None:
            raise ValueError("both content-length and transfer-encoding given")
        return body if head_only else _chunked(body)
    if length is None:
        if declare:
            lines.append(f"content-length: {len(body)}")
    elif length != str(len(body)) and not head_only:
        raise ValueError(f"content-length {length} is not the body's length ({len(body)} bytes)")
    return body


def encode_request(
    method: str, target: str, headers, body: bytes = b"", declare_length: bool = False
) -> tuple[bytes, bool]:
    """An HTTP/1.1 request from an endpoint, and whether it asks to close the connection after.

    Host goes first; ``content-length`` is added when there is a body (or ``declare_length``)
    unless the headers declare the same length already or ask for ``transfer-encoding: chunked``
    (then the body is sent as one chunk). ValueError for what cannot be sent: no Host, two
    Hosts, a header name that is not a token, a control character in a value, a
    ``content-length`` that is not the body's."""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"illegal method {method!r}")
    if not _TARGET.fullmatch(target):
        raise ValueError(f"illegal request target {target!r}")
    first, lines = [f"{method} {target} HTTP/1.1"], []
    length = chunked = None
    close = False
    for k, v in headers:
        check_header(k, v)
        lk = k.lower()
        if lk == "host":
            if len(first) > 1:
                raise ValueError("more than one Host header")
            first.append(f"{k}: {v}")
            continue
        if lk == "content-length":
            if length is not None and length != v.strip():
                raise ValueError(f"conflicting content-length headers ({length}, {v})")
            if length is not None:
                continue
            length = v.strip()
        elif lk == "transfer-encoding":
            chunked = _chunked_only(v)
        elif lk == "connection":
            close = close or "close" in header_tokens(v)
        lines.append(f"{k}: {v}")
    if len(first) == 1:
        raise ValueError("missing Host header (an HTTP/1.1 request must have one)")
    body = _framed_body(lines, body, length, chunked, declare=bool(body) or declare_length)
    first += lines
    first.append("\r\n")
    return "\r\n".join(first).encode("latin-1") + body, close


def encode_response(
    resp: Response, head_only: bool = False, close: bool = False, keep_alive: bool = False
) -> tuple[bytes, bool]:
    """An origin server's response, and whether the connection must close after it.

    The app's headers are sent as given, checked as :func:`encode_request` does;
    ``content-length`` is added when neither it nor ``transfer-encoding: chunked`` is there.
    ``close``: the connection closes after this response, so it says ``connection: close``;
    ``keep_alive``: it stays open for a client that asked with ``Connection: keep-alive`` (HTTP/1.0),
    so it says so. ``head_only``: the answer to a HEAD — the same headers, no body. A response the
    app itself marks ``connection: close`` closes the connection too. ValueError for what cannot be
    sent as a final response (a status outside 200-999, a length that is not the body's, ...)."""
    status, body = resp.status, resp.body
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 999:
        raise ValueError(f"status {status!r} cannot be sent as a final response (200-999)")
    status = int(status)
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    length = chunked = None
    closes, has_connection = close, False
    for k, v in resp.headers:
        check_header(k, v)
        lk = k.lower()
        if lk == "content-length":
            length = v.strip()
        elif lk == "transfer-encoding":
            chunked = _chunked_only(v)
        elif lk == "connection":
            if close:
                continue  # replaced by connection: close below
            has_connection = True
            if "close" in header_tokens(v):
                closes = True
        lines.append(f"{k}: {v}")
    body = _framed_body(lines, body, length, chunked, head_only=head_only)
    if body and status in (204, 304) and not head_only:
        raise ValueError(f"a {status} response has no body (got {len(resp.body)} bytes)")
    if close:
        lines.append("connection: close")
    elif keep_alive and not has_connection:
        lines.append("connection: keep-alive")
    lines.append("\r\n")
    head = "\r\n".join(lines).encode("latin-1")
    return (head if head_only else head + body), closes


def _head(start: str, headers, body_len: int, extra=()) -> bytes:
    lines = [start]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append(f"content-length: {body_len}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request_bytes(method: str, target: str, headers, body: bytes = b"", close: bool = False) -> bytes:
    """A proxy's request: hop-by-hop headers dropped, ``content-length`` rewritten."""
    return (
        _head(f"{method} {target} HTTP/1.1", headers, len(body), [("connection", "close")] if close else ())
        + body
    )


def response_bytes(
    status: int, headers, body: bytes = b"", close: bool = False, head_only: bool = False
) -> bytes:
    """A proxy's response: hop-by-hop headers dropped, ``content-length`` rewritten — except for
    a response to HEAD (``head_only``), which keeps the length the upstream declared, as Envoy does."""
    length = len(body)
    if head_only:
        declared = find_header(headers, "content-length", "")
        length = int(declared) if declared.isdigit() else length
    head = _head(
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        headers,
        length,
        [("connection", "close")] if close else (),
    )
    return head if head_only else head + body
