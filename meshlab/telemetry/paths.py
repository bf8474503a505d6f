"""Reassemble each request's path from the spans every hop emitted.

A trace is a tree: the load client's root ``client`` span; under a client span, the ``server``
span of whoever received that attempt; under a server span, the client spans of the calls it
made (one per attempt). A :class:`RequestPath` flattens that tree depth-first, in time order, into
:class:`Hop`\\ s. An attempt that reached nobody (refused, or timed out before the server span
arrived) becomes a hop with role ``unreached`` so retries stay visible.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import partial
from typing import Iterable

from ..trace import Span


@dataclass(frozen=True)
class Hop:
    name: str  # pod or proxy: "reviews-v2-0"
    role: str  # client | app | sidecar | ztunnel | waypoint | unreached
    layer: str
    depth: int
    start: float
    end: float
    status: int | None
    error: str | None = None
    attempt: int = 1
    target: str | None = None
    call_ms: float | None = None  # the caller's view of this hop: its client span's duration
    mtls: bool = False  # did the request reach this hop over mutual TLS?
    identity: str | None = None  # the peer SPIFFE identity this hop saw (None: no mTLS)
    direction: str | None = None  # a proxy's outbound or inbound side
    per: str = "request"  # "connection" for L4 hops: their times are the connection's
    decision: str | None = None  # "deny" where a policy stopped the request (403 or reset)
    call_start: float | None = None  # L4 hops: the call this connection carried (its client span),
    call_end: float | None = None  # so that what the hop did for *this* request can be told apart

    @classmethod
    def of(
        cls, s: Span, depth: int, via: Span | None, per: str = "request", call: Span | None = None
    ) -> "Hop":
        """The hop of server span ``s``, reached through client span ``via``; ``call`` is the client
        span of the request an L4 hop's connection carried."""
        return cls(
            s.name,
            s.role,
            s.layer,
            depth,
            s.start,
            s.end,
            s.status,
            s.error,
            via.attempt if via else s.attempt,
            via.target if via else s.target,
            via.ms if via else None,
            s.mtls,
            s.peer_identity,
            s.attrs.get("direction"),
            per,
            s.decision,
            call.start if call else None,
            call.end if call else None,
        )

    @property
    def ms(self) -> float:
        """How long the hop's span lasted: for an L4 hop, its whole connection (see :attr:`request_ms`)."""
        return (self.end - self.start) * 1000.0

    @property
    def for_request(self) -> tuple[float, float]:
        """When this hop worked on this request: an L4 hop's connection clipped to the call it
        carried (a kept-alive or pooled connection opens before the request and outlives it);
        any other hop's own start and end."""
        if self.call_start is None or self.call_end is None:
            return self.start, self.end
        start = min(max(self.start, self.call_start), self.call_end)
        return start, max(start, min(self.end, self.call_end))

    @property
    def request_ms(self) -> float:
        """:attr:`for_request` in ms: what this hop spent on this request."""
        start, end = self.for_request
        return (end - start) * 1000.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "role": self.role,
            "layer": self.layer,
            "depth": self.depth,
            "ms": round(self.ms, 3),
            "status": self.status,
            "error": self.error,
            "attempt": self.attempt,
            "target": self.target,
            "call_ms": round(self.call_ms, 3) if self.call_ms is not None else None,
            "mtls": self.mtls,
            "identity": self.identity,
            "direction": self.direction,
            "per": self.per,
        }


@dataclass(frozen=True)
class RequestPath:
    trace_id: str
    hops: tuple[Hop, ...]

    @property
    def signature(self) -> tuple:
        """What makes two paths "the same": the hops' names, roles and depths, in order."""
        return tuple((h.depth, h.name, h.role) for h in self.hops)

    def names(self) -> list[str]:
        return [h.name for h in self.hops]

    def to_record(self) -> dict:
        """Everything, for saving a run and replaying its plots without a lab."""
        return {"trace_id": self.trace_id, "hops": [asdict(h) for h in self.hops]}

    @classmethod
    def from_record(cls, d: dict) -> "RequestPath":
        return cls(d["trace_id"], tuple(Hop(**h) for h in d["hops"]))

    def __str__(self) -> str:
        return format_path(self)

    def _repr_html_(self) -> str:
        """How Jupyter shows a path: a table that never splits a name or a number."""
        return path_html(self)


class L4Index:
    """Connection spans (layer L4: ztunnel), found from the app connection they carried.

    An L4 proxy never sees HTTP, so its spans carry no request's trace id. They are chained by
    connection instead: the outbound half's ``peer`` is the app's own socket address (its client
    span's ``local``); the inbound half hangs under the outbound one (the CONNECT's traceparent).
    """

    def __init__(self, spans: Iterable[Span] = ()):
        self.by_peer: dict[str, list[Span]] = defaultdict(list)
        self.children: dict[str, list[Span]] = defaultdict(list)
        for s in spans:
            if s.layer != "L4":
                continue
            if s.parent_id is None and s.peer:
                self.by_peer[s.peer].append(s)
            elif s.parent_id is not None:
                self.children[s.parent_id].append(s)

    def chain(self, client: Span) -> list[Span]:
        """The L4 hops the connection of ``client`` (an app's client span) went through, in order."""
        if not client.local:
            return []
        first = [
            s for s in self.by_peer.get(client.local, ()) if s.start <= client.end and s.end >= client.start
        ]
        if not first:
            return []
        out = [min(first, key=lambda s: abs(s.start - client.start))]
        while nxt := self.children.get(out[-1].span_id):
            out.append(min(nxt, key=lambda s: s.start))
        return out


def build_paths(spans: Iterable[Span]) -> dict[str, RequestPath]:
    """All paths in ``spans``, keyed by trace id (only traces whose root span is present)."""
    spans = list(spans)
    l4 = L4Index(spans)
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        if s.layer != "L4":
            by_trace[s.trace_id].append(s)
    out = {}
    for tid, ss in by_trace.items():
        p = path_of(tid, ss, l4)
        if p is not None:
            out[tid] = p
    return out


def path_of(trace_id: str, spans: list[Span], l4: L4Index | None = None) -> RequestPath | None:
    children: dict[str | None, list[Span]] = defaultdict(list)
    for s in spans:
        children[s.parent_id].append(s)
    roots = [s for s in children.get(None, []) if s.kind == "client"]
    if not roots:
        return None
    root = min(roots, key=lambda s: s.start)
    hops: list[Hop] = [Hop.of(root, 0, None)]

    def walk_client(cspan: Span, depth: int):
        if l4 is not None and cspan.layer == "L7":
            for hop in l4.chain(cspan):  # ztunnels between the app and whoever answers
                hops.append(
                    Hop.of(hop, depth, cspan if hop.parent_id is None else None, per="connection", call=cspan)
                )
                depth += 1
        servers = sorted(
            (s for s in children.get(cspan.span_id, []) if s.kind == "server"), key=lambda s: s.start
        )
        through = [s for s in servers if s.layer == "L4"]  # an L4 hop the attempt went through:
        if not through and l4 is not None and cspan.attrs.get("hbone_stream"):  # a waypoint's HBONE
            through = [
                s
                for s in l4.children.get(cspan.attrs["hbone_stream"], ())  # stream, opened by
                if s.start <= cspan.end and s.end >= cspan.start
            ][:1]  # an earlier request
        for hop in through:
            hops.append(Hop.of(hop, depth, None, per="connection", call=cspan))
            depth += 1
        servers = [s for s in servers if s.layer != "L4"]
        if not servers and depth > 0:
            hops.append(
                Hop(
                    _host_port(cspan.target),
                    "unreached",
                    cspan.layer,
                    depth,
                    cspan.start,
                    cspan.end,
                    cspan.status,
                    cspan.error,
                    cspan.attempt,
                    cspan.target,
                    cspan.ms,
                )
            )
        for srv in servers:
            hops.append(Hop.of(srv, depth, cspan))
            for c in sorted(
                (s for s in children.get(srv.span_id, []) if s.kind == "client"), key=lambda s: s.start
            ):
                walk_client(c, depth + 1)

    walk_client(root, 1)
    return RequestPath(trace_id, tuple(hops))


def _host_port(target: str | None) -> str:
    """``"GET http://productpage:9080/p"`` or ``"reviews:9080/reviews/0"`` -> ``"productpage:9080"``."""
    if not target:
        return "?"
    t = target.split(" ", 1)[-1]
    t = t.split("://", 1)[-1]
    return t.split("/", 1)[0] or "?"


def _about(h: Hop) -> list[str]:
    """What a hop is, item by item: role, side, attempt, mTLS and its peer's identity."""
    return (
        [h.role]
        + ([h.direction] if h.direction else [])
        + ([f"attempt {h.attempt}"] if h.attempt > 1 else [])
        + ([f"mTLS from {h.identity.removeprefix('spiffe://')}" if h.identity else "mTLS"] if h.mtls else [])
    )


def _outcome(h: Hop) -> str:
    if h.role == "unreached":
        return h.error or "no answer"
    return str(h.status) if h.status is not None else (h.error or "-")


def _rows(path: RequestPath) -> list[tuple[Hop, str, str]]:
    """Each hop with what it is (role, side, attempt, mTLS) and how it ended."""
    return [(h, ", ".join(_about(h)), _outcome(h)) for h in path.hops]


def format_path(path: RequestPath) -> str:
    """A path as an indented tree with times, for the terminal."""
    rows = [
        ("   " * h.depth + ("└─ " if h.depth else "") + f"{h.name} ({about})", h.ms, outcome)
        for h, about, outcome in _rows(path)
    ]
    width = max((len(label) for label, _, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {ms:9.2f} ms  {outcome}" for label, ms, outcome in rows)


def path_html(path: RequestPath) -> str:
    """A path as an HTML table, for notebooks: no cell breaks inside a name or a number, however
    narrow the window (a text tree wraps, and a time can break in two); what a hop is wraps between
    its items, and the outcome wraps."""
    esc = partial(html.escape, quote=False)
    cells = "white-space:nowrap;padding:1px 8px;text-align:left"
    wraps = "padding:1px 8px;text-align:left"
    out = [
        f"<table style='border-collapse:collapse;font-family:monospace'><thead><tr>"
        f"<th style='{cells}'>hop</th><th style='{cells}'>what</th>"
        f"<th style='{cells};text-align:right'>time</th><th style='{cells}'>outcome</th></tr></thead><tbody>"
    ]
    for h, _, outcome in _rows(path):
        # what it is: a line may break between items, never inside one; a peer's identity is shown
        # without its trust domain (cluster.local/), whole on hover
        about = ", ".join(
            f"<span title='{esc(h.identity)}'>{_nobreak(esc(item.replace('cluster.local/', '', 1)))}</span>"
            if item.startswith("mTLS from ") and h.identity
            else _nobreak(esc(item))
            for item in _about(h)
        )
        pad = f"padding-left:{8 + 18 * h.depth}px"
        tree = "└─ " if h.depth else ""
        per = " <small>(connection)</small>" if h.per == "connection" else ""
        out.append(
            f"<tr><td style='{cells};{pad}'>{tree}{esc(h.name)}</td><td style='{wraps}'>{about}</td>"
            f"<td style='{cells};text-align:right'>{h.ms:.2f}&nbsp;ms{per}</td>"
            f"<td style='padding:1px 8px;text-align:left'>{esc(outcome)}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _nobreak(text: str) -> str:
    return text.replace(" ", "&nbsp;")
