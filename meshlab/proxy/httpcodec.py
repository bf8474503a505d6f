"""HTTP/1.1 messages for proxies: the lab's one httptools parser, :mod:`meshlab.net.httpparse`.

A :class:`MessageReader` is fed bytes and returns whole messages (proxies here buffer bodies:
the lab's messages are small). Serializing is writing a start line and headers; the proxy
rewrites ``content-length`` and drops hop-by-hop headers, as Envoy does. The apps parse with the
same reader (:mod:`meshlab.net.http1`); this module is the proxies' name for it.
"""

from __future__ import annotations

from ..net.httpmessage import HOP_BY_HOP, final_response
from ..net.httpparse import MAX_BODY, HttpError, MessageReader
from ..net.httpwrite import request_bytes, response_bytes

__all__ = [
    "HOP_BY_HOP",
    "MAX_BODY",
    "HttpError",
    "MessageReader",
    "final_response",
    "request_bytes",
    "response_bytes",
]
