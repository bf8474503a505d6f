"""Unit tests of meshlab/trace.py: reading trace context from request headers and writing it onto
outbound calls (W3C traceparent, B3 multi-headers, x-request-id)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from meshlab.trace import Span, TraceContext, new_request_id, new_span_id, new_trace_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_traceparent_is_parsed():
    """A valid traceparent gives its trace id and parent span id; x-request-id is kept."""
    ctx = TraceContext.from_headers({"traceparent": f"00-{TRACE}-{PARENT}-01", "x-request-id": "rid-1"})
    assert ctx == TraceContext(TRACE, PARENT, "rid-1")


def test_traceparent_in_upper_case_with_spaces_is_parsed_lower_case():
    """A traceparent in upper-case hex, with surrounding blanks, is read and normalised."""
    ctx = TraceContext.from_headers({"traceparent": f"  00-{TRACE.upper()}-{PARENT.upper()}-00 "})
    assert (ctx.trace_id, ctx.parent_id, ctx.request_id) == (TRACE, PARENT, None)


def test_traceparent_wins_over_b3():
    """When both traceparent and B3 headers are present, traceparent is used."""
    ctx = TraceContext.from_headers(
        {"traceparent": f"00-{TRACE}-{PARENT}-01", "x-b3-traceid": "a" * 32, "x-b3-spanid": "b" * 16}
    )
    assert (ctx.trace_id, ctx.parent_id) == (TRACE, PARENT)


def test_b3_fallback_128_bit():
    """Without traceparent, B3 x-b3-traceid (128-bit) and x-b3-spanid are used."""
    ctx = TraceContext.from_headers({"x-b3-traceid": TRACE, "x-b3-spanid": PARENT, "x-request-id": "r"})
    assert ctx == TraceContext(TRACE, PARENT, "r")


def test_b3_fallback_64_bit_trace_id_is_left_padded():
    """A 64-bit B3 trace id is left-padded with zeros to 32 hex digits."""
    ctx = TraceContext.from_headers({"x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": PARENT})
    assert ctx.trace_id == "0000000000000000463ac35c9f6413ad"
    assert ctx.parent_id == PARENT


def test_garbage_traceparent_falls_back_to_b3():
    """A malformed traceparent is ignored in favour of valid B3 headers."""
    ctx = TraceContext.from_headers({"traceparent": "nonsense", "x-b3-traceid": TRACE, "x-b3-spanid": PARENT})
    assert (ctx.trace_id, ctx.parent_id) == (TRACE, PARENT)


@pytest.mark.parametrize(
    "tp",
    [
        "garbage",
        "",
        "00-xyz-abc-01",
        f"00-{TRACE}-{PARENT}",
        f"00-{TRACE[:-1]}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}0-01",
        f"ff-{TRACE}-{PARENT}-01",
        f"00_{TRACE}_{PARENT}_01",
        f"00-{TRACE}-{PARENT}-1",
    ],
)
def test_garbage_traceparent_starts_a_new_trace(tp):
    """A malformed traceparent (and no B3) starts a new trace: a fresh 32-hex trace id, no parent;
    x-request-id is still kept."""
    ctx = TraceContext.from_headers({"traceparent": tp, "x-request-id": "keep-me"})
    assert HEX32.match(ctx.trace_id) and ctx.trace_id != TRACE
    assert ctx.parent_id is None
    assert ctx.request_id == "keep-me"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-b3-traceid": TRACE},
        {"x-b3-spanid": PARENT},
        {"x-b3-traceid": "xyz", "x-b3-spanid": PARENT},
        {"x-b3-traceid": TRACE, "x-b3-spanid": "short"},
        {"x-b3-traceid": "a" * 20, "x-b3-spanid": PARENT},
    ],
)
def test_no_usable_context_starts_a_new_trace(headers):
    """No trace headers, or incomplete/malformed B3 ones, start a new trace with no parent and no
    request id."""
    ctx = TraceContext.from_headers(headers)
    assert HEX32.match(ctx.trace_id) and ctx.parent_id is None and ctx.request_id is None


def test_new_traces_are_distinct():
    """Two requests without trace headers get different trace ids."""
    assert TraceContext.from_headers({}).trace_id != TraceContext.from_headers({}).trace_id


@pytest.mark.parametrize("tp", [f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01"])
def test_all_zero_ids_in_traceparent_start_a_new_trace(tp):
    """A traceparent whose trace id or parent id is all zeros is invalid (W3C) and starts a new trace."""
    ctx = TraceContext.from_headers({"traceparent": tp})
    assert ctx.trace_id not in (TRACE, "0" * 32)
    assert ctx.parent_id is None


def test_child_headers_make_the_span_the_parent():
    """child_headers carries the trace id, a traceparent whose parent is the given span id, the
    matching B3 headers (with the context's parent as x-b3-parentspanid) and x-request-id."""
    h = TraceContext(TRACE, PARENT, "rid-7").child_headers("1111222233334444")
    assert h["traceparent"] == f"00-{TRACE}-1111222233334444-01"
    assert h["x-b3-traceid"] == TRACE and h["x-b3-spanid"] == "1111222233334444"
    assert h["x-b3-parentspanid"] == PARENT and h["x-b3-sampled"] == "1"
    assert h["x-request-id"] == "rid-7"
    back = TraceContext.from_headers(h)
    assert back == TraceContext(TRACE, "1111222233334444", "rid-7")


def test_child_headers_of_a_root_context():
    """A context with no parent and no request id writes neither x-b3-parentspanid nor x-request-id."""
    h = TraceContext(TRACE, None, None).child_headers(PARENT)
    assert "x-b3-parentspanid" not in h and "x-request-id" not in h
    assert h["traceparent"] == f"00-{TRACE}-{PARENT}-01"


@given(
    st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8), st.text(min_size=1, max_size=40)
)
def test_child_headers_round_trip(trace, span, rid):
    """For any ids, reading back the headers written for a child span gives the same trace id, the
    span as parent, and the same request id."""
    ctx = TraceContext(trace.hex(), None, rid)
    back = TraceContext.from_headers(ctx.child_headers(span.hex()))
    if trace != bytes(16) and span != bytes(8):  # all-zero ids are invalid (W3C): a new trace
        assert back == TraceContext(trace.hex(), span.hex(), rid)


def test_id_generators():
    """Generated ids have the right shapes: 32 and 16 lower-case hex digits, and a UUID."""
    assert HEX32.match(new_trace_id())
    assert re.fullmatch(r"[0-9a-f]{16}", new_span_id())
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", new_request_id()
    )


def test_span_dict_round_trip():
    """A span survives to_dict/from_dict (the form spans travel in between processes)."""
    s = Span(
        TRACE,
        PARENT,
        None,
        "client-0",
        "client",
        "client",
        "L7",
        1.0,
        1.25,
        status=200,
        attrs={"endpoint": "reviews-v1-0"},
    )
    d = s.to_dict()
    assert d["attrs"] == {"endpoint": "reviews-v1-0"}
    assert Span.from_dict(d) == s
    assert s.ms == 250.0
