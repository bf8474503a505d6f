"""Spans and trace headers: what every hop (app or proxy) records about one request or connection.

This module sits at the bottom of the stack: apps and proxies emit :class:`Span` objects, the
telemetry layer reassembles them into paths. All times are ``time.monotonic()`` seconds, a clock
every process on one machine shares, so spans from different processes line up.

Trace context travels in W3C ``traceparent`` (and B3 multi-headers, mirrored), plus Envoy's
``x-request-id``. Apps copy them from the inbound request to their outbound calls, as Istio
requires of applications.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import MISSING, dataclass, field, fields
from typing import Mapping

#: Headers an app must copy from its inbound request to its outbound calls (Istio's list, plus the
#: ones Bookinfo's productpage forwards).
PROPAGATED_HEADERS = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "x-ot-span-context",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
    "end-user",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_trace_id() -> str:
    # random's generator, not os.urandom: ids need to be unique, not secret, and a getrandom(2)
    # call per connection is a measurable share of a proxy's time. The random module reseeds
    # its generator in every forked child, so forked pods never repeat each other's ids.
    return "%032x" % random.getrandbits(128)


def new_span_id() -> str:
    return "%016x" % random.getrandbits(64)


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class TraceContext:
    """Where a span sits in its trace: its trace id, and the span id of its parent (if any)."""

    trace_id: str
    parent_id: str | None
    request_id: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> "TraceContext":
        """Read ``traceparent`` (or B3) from a request; start a new trace if there is none."""
        tp = headers.get("traceparent", "")
        m = _TRACEPARENT.match(tp.strip().lower())
        rid = headers.get("x-request-id")
        if m and m.group(1) != "0" * 32 and m.group(2) != "0" * 16:  # all-zero ids are invalid (W3C)
            return cls(m.group(1), m.group(2), rid)
        b3t, b3s = headers.get("x-b3-traceid"), headers.get("x-b3-spanid")
        if (
            b3t
            and b3s
            and re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{32}", b3t)
            and re.fullmatch(r"[0-9a-f]{16}", b3s)
        ):
            return cls(b3t.rjust(32, "0"), b3s, rid)
        return cls(new_trace_id(), None, rid)

    def child_headers(self, span_id: str) -> dict[str, str]:
        """Headers that make ``span_id`` the parent of whatever handles the outbound request."""
        h = {
            "traceparent": f"00-{self.trace_id}-{span_id}-01",
            "x-b3-traceid": self.trace_id,
            "x-b3-spanid": span_id,
            "x-b3-sampled": "1",
        }
        if self.parent_id:
            h["x-b3-parentspanid"] = self.parent_id
        if self.request_id:
            h["x-request-id"] = self.request_id
        return h


@dataclass(frozen=True)
class Span:
    """One hop handling one request (L7) or one connection (L4).

    ``kind`` is ``server`` (the hop received the request) or ``client`` (the hop sent it, one span
    per attempt). ``role`` says what the hop is: ``client`` (the load client), ``app``, and later
    ``sidecar``, ``ztunnel``, ``waypoint``. ``attrs`` hold what is configured rather than measured
    (``service_time_ms``, an injected fault) under names that say so.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str  # the pod or proxy: "reviews-v2-0"
    role: str  # client | app | sidecar | ztunnel | waypoint
    kind: str  # server | client
    layer: str  # L7 | L4
    start: float  # monotonic seconds
    end: float
    request_id: str | None = None
    status: int | None = None  # HTTP status, None when there was no response
    error: str | None = None  # "timeout", "connection refused", ...
    attempt: int = 1
    peer: str | None = None  # address of the other side
    local: str | None = None  # this side's address (links an app's connection to an L4 proxy)
    target: str | None = None  # what a client span asked for: "reviews:9080/reviews/0"
    bytes_in: int = 0
    bytes_out: int = 0
    mtls: bool = False
    peer_identity: str | None = None
    decision: str | None = None
    attrs: Mapping[str, object] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000.0

    def to_dict(self) -> dict:
        # not dataclasses.asdict: its deep copies cost more than the request the span describes
        d = {name: getattr(self, name) for name in _SPAN_FIELDS}
        d["attrs"] = dict(self.attrs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Span":
        return cls(**d)


_SPAN_FIELDS = tuple(f.name for f in fields(Span))
#: Every field's default, for spans recorded as plain dicts (a proxy's hot path) and built later.
SPAN_DEFAULTS = {f.name: f.default for f in fields(Span) if f.default is not MISSING}


def span_dict(d: Mapping) -> dict:
    """What ``Span(**d).to_dict()`` would give, without building the frozen Span."""
    out = {**SPAN_DEFAULTS, **d}
    out["attrs"] = dict(d.get("attrs") or {})
    return out


def now() -> float:
    return time.monotonic()
