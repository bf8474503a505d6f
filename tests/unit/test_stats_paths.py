"""Unit tests of meshlab/telemetry: percentile (stats.py), paths from span trees (paths.py) and the
load summary (results.py). Spans are built by hand; nothing is started."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import example, given, strategies as st

from meshlab.telemetry.paths import RequestPath, build_paths, format_path, path_of
from meshlab.telemetry.results import LoadResult, RequestResult
from meshlab.telemetry.stats import latency_summary, percentile
from meshlab.trace import Span

# --------------------------------------------------------------------------------------------------
# percentile
# --------------------------------------------------------------------------------------------------


def reference_percentile(values, q):
    """numpy's default ("linear") method, written out: the value at fractional rank
    (n - 1) * q / 100 of the sorted values, interpolated between its two neighbours."""
    xs = sorted(values)
    rank = (len(xs) - 1) * q / 100
    below = int(math.floor(rank))
    if below + 1 >= len(xs):
        return xs[-1]
    frac = rank - below
    return xs[below] + frac * (xs[below + 1] - xs[below])


LATENCIES = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=60)
QS = st.floats(min_value=0, max_value=100)


@given(LATENCIES, QS)
@example([1.0, 2.0, 3.0, 4.0], 50.0)
@example([10.0], 37.0)
@example([3.0, 1.0, 2.0], 100.0)
def test_percentile_matches_linear_reference(values, q):
    """For any non-empty list of numbers and any q in [0, 100], percentile equals the linear
    interpolation between closest ranks (numpy's default), to floating-point precision."""
    got = percentile(values, q)
    want = reference_percentile(values, q)
    scale = max(1.0, max(abs(v) for v in values))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9 * scale)


@given(LATENCIES, QS)
def test_percentile_matches_numpy(values, q):
    """When numpy is available, percentile agrees with numpy.percentile's default method."""
    np = pytest.importorskip("numpy")
    scale = max(1.0, max(abs(v) for v in values))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-9 * scale)


@given(LATENCIES, QS, QS)
def test_percentile_is_monotone_in_q(values, q1, q2):
    """A higher q never gives a lower percentile."""
    lo, hi = sorted((q1, q2))
    assert percentile(values, lo) <= percentile(values, hi)


@given(LATENCIES)
def test_percentile_ends_are_min_and_max(values):
    """The 0th percentile is the smallest value and the 100th the largest, exactly."""
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


@given(LATENCIES, QS)
def test_percentile_ignores_input_order(values, q):
    """Shuffling the values does not change any percentile."""
    shuffled = list(values)
    random.Random(0).shuffle(shuffled)
    assert percentile(shuffled, q) == percentile(values, q)


def test_percentile_known_values():
    """Hand-checked values: the median of 1..4 is 2.5; p90 of 0..10 is 9; p25 of [0, 10] is 2.5."""
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(list(range(11)), 90) == 9
    assert percentile([0.0, 10.0], 25) == 2.5


def test_percentile_empty_and_bad_q():
    """No values give None; q outside 0-100 is a ValueError naming the range."""
    assert percentile([], 50) is None
    for q in (-0.001, 100.5, math.nan):
        with pytest.raises(ValueError, match="q must be within 0 and 100"):
            percentile([1.0], q)


def test_latency_summary():
    """The summary of a few latencies has count, min, mean, p50/p90/p99 and max; empty gives Nones."""
    s = latency_summary([1.0, 2.0, 3.0, 4.0])
    assert s == {
        "count": 4,
        "min": 1.0,
        "mean": 2.5,
        "p50": 2.5,
        "p90": pytest.approx(3.7),
        "p99": pytest.approx(3.97),
        "max": 4.0,
    }
    assert latency_summary([]) == {
        "count": 0,
        "min": None,
        "mean": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
    }


# --------------------------------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------------------------------

TID = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(
    span_id,
    parent_id,
    name,
    kind,
    start,
    end,
    *,
    role="app",
    status=200,
    error=None,
    attempt=1,
    target=None,
    trace_id=TID,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        role=role,
        kind=kind,
        layer="L7",
        start=start,
        end=end,
        status=status,
        error=error,
        attempt=attempt,
        target=target,
    )


def bookinfo_trace(trace_id=TID, reviews_pod="reviews-v2-0") -> list[Span]:
    """client -> productpage -> (details, then reviews -> ratings), every call answered."""
    return [
        span(
            "root",
            None,
            "client-0",
            "client",
            0.0,
            1.0,
            role="client",
            target="GET http://productpage:9080/productpage",
            trace_id=trace_id,
        ),
        span("pp", "root", "productpage-v1-0", "server", 0.1, 0.9, trace_id=trace_id),
        span(
            "c-det",
            "pp",
            "productpage-v1-0",
            "client",
            0.2,
            0.3,
            target="details:9080/details/0",
            trace_id=trace_id,
        ),
        span("det", "c-det", "details-v1-0", "server", 0.21, 0.29, trace_id=trace_id),
        span(
            "c-rev",
            "pp",
            "productpage-v1-0",
            "client",
            0.4,
            0.8,
            target="reviews:9080/reviews/0",
            trace_id=trace_id,
        ),
        span("rev", "c-rev", reviews_pod, "server", 0.41, 0.79, trace_id=trace_id),
        span(
            "c-rat",
            "rev",
            reviews_pod,
            "client",
            0.5,
            0.6,
            target="ratings:9080/ratings/0",
            trace_id=trace_id,
        ),
        span("rat", "c-rat", "ratings-v1-0", "server", 0.51, 0.59, trace_id=trace_id),
    ]


def test_path_of_full_bookinfo_tree():
    """The spans of one Bookinfo request, given in any order, flatten depth-first in time order:
    the client at depth 0, productpage at 1, details then reviews at 2, ratings under reviews at 3;
    each server hop carries the duration of the client span that called it."""
    spans = bookinfo_trace()
    random.Random(7).shuffle(spans)
    p = path_of(TID, spans)
    assert p is not None and p.trace_id == TID
    assert p.signature == (
        (0, "client-0", "client"),
        (1, "productpage-v1-0", "app"),
        (2, "details-v1-0", "app"),
        (2, "reviews-v2-0", "app"),
        (3, "ratings-v1-0", "app"),
    )
    assert p.names() == ["client-0", "productpage-v1-0", "details-v1-0", "reviews-v2-0", "ratings-v1-0"]
    det = p.hops[2]
    assert det.call_ms == pytest.approx(100.0)
    assert det.ms == pytest.approx(80.0)
    assert det.target == "details:9080/details/0"
    assert all(h.attempt == 1 for h in p.hops)
    assert p.hops[0].call_ms is None


def test_retry_after_unreached_attempt_shows_both_attempts():
    """productpage calls reviews twice: the first attempt reached nobody (connection refused, no
    server span), the second reached reviews-v1-0. The path shows an ``unreached`` hop named after
    the target, attempt 1, then reviews-v1-0 with attempt 2, both at depth 2."""
    spans = [s for s in bookinfo_trace() if s.span_id not in ("c-rev", "rev", "c-rat", "rat")] + [
        span(
            "c-rev1",
            "pp",
            "productpage-v1-0",
            "client",
            0.40,
            0.41,
            status=None,
            error="connection refused",
            attempt=1,
            target="reviews:9080/reviews/0",
        ),
        span(
            "c-rev2",
            "pp",
            "productpage-v1-0",
            "client",
            0.42,
            0.60,
            attempt=2,
            target="reviews:9080/reviews/0",
        ),
        span("rev", "c-rev2", "reviews-v1-0", "server", 0.43, 0.59),
    ]
    p = path_of(TID, spans)
    assert [(h.depth, h.name, h.role, h.attempt) for h in p.hops] == [
        (0, "client-0", "client", 1),
        (1, "productpage-v1-0", "app", 1),
        (2, "details-v1-0", "app", 1),
        (2, "reviews:9080", "unreached", 1),
        (2, "reviews-v1-0", "app", 2),
    ]
    unreached = p.hops[3]
    assert unreached.error == "connection refused" and unreached.status is None
    text = format_path(p)
    assert "reviews:9080 (unreached)" in text
    assert "reviews-v1-0 (app, attempt 2)" in text
    assert "connection refused" in text


def test_retry_after_503_shows_both_servers():
    """A first attempt answered 503 by reviews-v1-0 and a second answered 200 by reviews-v3-0 give
    two reviews hops, attempts 1 and 2, with their statuses."""
    spans = [s for s in bookinfo_trace() if s.span_id not in ("c-rev", "rev", "c-rat", "rat")] + [
        span(
            "c-rev1",
            "pp",
            "productpage-v1-0",
            "client",
            0.40,
            0.41,
            status=503,
            attempt=1,
            target="reviews:9080/reviews/0",
        ),
        span("rev1", "c-rev1", "reviews-v1-0", "server", 0.401, 0.409, status=503),
        span(
            "c-rev2",
            "pp",
            "productpage-v1-0",
            "client",
            0.42,
            0.60,
            attempt=2,
            target="reviews:9080/reviews/0",
        ),
        span("rev2", "c-rev2", "reviews-v3-0", "server", 0.43, 0.59),
    ]
    hops = path_of(TID, spans).hops
    assert [(h.name, h.status, h.attempt) for h in hops[3:]] == [
        ("reviews-v1-0", 503, 1),
        ("reviews-v3-0", 200, 2),
    ]


def test_no_root_client_span_means_no_path():
    """A trace whose root client span is missing (only server and inner client spans, or a root
    that is a server span) has no path, and build_paths leaves it out."""
    orphan = [s for s in bookinfo_trace("a" * 32) if s.span_id != "root"]
    server_root = [span("srv", None, "productpage-v1-0", "server", 0.0, 1.0, trace_id="b" * 32)]
    assert path_of("a" * 32, orphan) is None
    assert path_of("b" * 32, server_root) is None
    assert path_of("c" * 32, []) is None
    full = bookinfo_trace("d" * 32)
    paths = build_paths(orphan + server_root + full)
    assert list(paths) == ["d" * 32]
    assert isinstance(paths["d" * 32], RequestPath)


def test_build_paths_separates_traces():
    """Spans of two traces mixed together give two paths, each with only its own hops."""
    t1, t2 = "1" * 32, "2" * 32
    spans = bookinfo_trace(t1, "reviews-v2-0") + bookinfo_trace(t2, "reviews-v3-0")
    random.Random(3).shuffle(spans)
    paths = build_paths(spans)
    assert set(paths) == {t1, t2}
    assert "reviews-v2-0" in paths[t1].names() and "reviews-v3-0" not in paths[t1].names()
    assert "reviews-v3-0" in paths[t2].names()
    assert len(paths[t1].hops) == len(paths[t2].hops) == 5


def test_earliest_root_client_span_is_the_root():
    """When a trace has two parentless client spans, the earlier one is the root."""
    spans = bookinfo_trace() + [span("late", None, "other-0", "client", 5.0, 6.0, role="client")]
    assert path_of(TID, spans).hops[0].name == "client-0"


def test_format_path_names_every_hop():
    """The formatted path has one line per hop and names every hop, indented by depth."""
    p = path_of(TID, bookinfo_trace())
    text = format_path(p)
    lines = text.splitlines()
    assert len(lines) == len(p.hops)
    for line, h in zip(lines, p.hops):
        assert h.name in line
        assert line.startswith("   " * h.depth)
    assert str(p) == text


def test_root_request_that_reached_nobody_names_its_target():
    """A request from the client that reached nobody (productpage down) gives the client hop and
    an ``unreached`` hop named after the host and port asked for, productpage:9080."""
    root = span(
        "root",
        None,
        "client-0",
        "client",
        0.0,
        0.01,
        role="client",
        status=None,
        error="connection refused",
        target="GET http://productpage:9080/productpage",
    )
    p = path_of(TID, [root])
    assert [(h.depth, h.role) for h in p.hops] == [(0, "client"), (1, "unreached")]
    assert p.hops[1].name == "productpage:9080"


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


def outcome(i, status, error=None, trace_id=None, ms=10.0):
    return {
        "index": i,
        "start": 100.0,
        "end": 100.0 + ms / 1000,
        "status": status,
        "error": error,
        "trace_id": trace_id,
        "request_id": None,
        "connection": 0,
    }


def test_load_result_summary_counts_statuses_errors_and_paths():
    """A load with 200s, a 302, a 503, two refused connections and an error-less failure: the
    summary counts sent/ok/failed, keys by_status by the status code as text or else by the
    error's text, and groups the recorded paths by their hop sequence, most common first."""
    t = [f"{k:032x}" for k in range(1, 5)]
    paths = {
        t[0]: path_of(t[0], bookinfo_trace(t[0], "reviews-v2-0")),
        t[1]: path_of(t[1], bookinfo_trace(t[1], "reviews-v3-0")),
        t[2]: path_of(t[2], bookinfo_trace(t[2], "reviews-v2-0")),
    }
    outs = [
        outcome(0, 200, trace_id=t[0], ms=10),
        outcome(1, 200, trace_id=t[1], ms=20),
        outcome(2, 200, trace_id=t[2], ms=30),
        outcome(3, 302, ms=40),
        outcome(4, 503, ms=50),
        outcome(5, None, "connection refused", ms=1),
        outcome(6, None, "connection refused", ms=2),
        outcome(7, None, None, trace_id=t[3], ms=3),
    ]
    r = LoadResult("client-0", "http://productpage:9080/productpage", outs, paths, wall_s=2.0)
    s = r.summary()
    assert len(r) == 8
    assert s["requests"] == {
        "sent": 8,
        "ok": 4,
        "failed": 4,
        "success_rate": 0.5,
        "by_status": {"200": 3, "302": 1, "503": 1, "connection refused": 2, "error": 1},
        "partial": 0,
        "partial_failures": {},
    }
    assert s["latency_ms"]["count"] == 8
    assert s["latency_ms"]["max"] == pytest.approx(50.0)
    assert s["throughput_rps"] == 4.0
    assert s["paths_recorded"] == 3
    groups = s["paths"]
    assert [g["count"] for g in groups] == [2, 1]
    assert [h["name"] for h in groups[0]["hops"]] == [
        "client-0",
        "productpage-v1-0",
        "details-v1-0",
        "reviews-v2-0",
        "ratings-v1-0",
    ]
    assert "reviews-v3-0" in [h["name"] for h in groups[1]["hops"]]
    assert r.latencies_ms(ok_only=True) == pytest.approx([10, 20, 30, 40])


def test_an_ok_answer_with_an_apps_error_text_is_counted_as_partial_too():
    """Issue 13: a Bookinfo page that says "reviews unavailable" is a 200, and stays an HTTP
    success, but the summary also counts it as a partial failure, by the app's own error text."""
    from meshlab.apps.bookinfo import RATINGS_ERROR, REVIEWS_ERROR

    outs = [
        outcome(0, 200),
        {**outcome(1, 200), "partial": [REVIEWS_ERROR]},
        {**outcome(2, 200), "partial": [REVIEWS_ERROR]},
        {**outcome(3, 200), "partial": [RATINGS_ERROR]},
        {**outcome(4, 503), "partial": [REVIEWS_ERROR]},
    ]  # a failure is a failure, not a partial one
    s = LoadResult("client-0", "http://productpage:9080/productpage", outs).summary()["requests"]
    assert (s["sent"], s["ok"], s["failed"], s["partial"]) == (5, 4, 1, 3)
    assert s["partial_failures"] == {REVIEWS_ERROR: 2, RATINGS_ERROR: 1}


def test_empty_load_result_summary():
    """A load with no outcomes summarises to zeros and Nones without dividing by zero."""
    s = LoadResult("client-0", "http://x:80/", []).summary()
    assert s["requests"] == {
        "sent": 0,
        "ok": 0,
        "failed": 0,
        "success_rate": None,
        "by_status": {},
        "partial": 0,
        "partial_failures": {},
    }
    assert s["latency_ms"]["count"] == 0 and s["latency_ms"]["p50"] is None
    assert s["throughput_rps"] is None and s["paths"] == [] and s["paths_recorded"] == 0


def test_request_result_ok_and_text():
    """A request result is ok for 2xx/3xx only, and prints its path (or says none was recorded)."""
    p = path_of(TID, bookinfo_trace())
    ok = RequestResult("client-0", "http://productpage:9080/productpage", 200, None, 12.5, p)
    assert ok.ok and "productpage-v1-0" in str(ok)
    bad = RequestResult("client-0", "http://x:80/", None, "connection refused", 1.0, None)
    assert not bad.ok and "connection refused" in str(bad) and "(no path recorded)" in str(bad)
    assert not RequestResult("c", "u", 503, None, 1.0, None).ok


def test_a_results_gist_is_its_body_in_one_line_cut_with_an_ellipsis():
    """What 10's prints show beside a status: a JSON body on one line, an error text cut where it
    no longer fits, marked as cut (a bare slice cut "reset reason" to "reset reaso")."""

    def gist(body, width=70):
        return RequestResult("client", "http://ratings:9080/", 200, None, 1.0, None, body).gist(width)

    assert (
        gist('{\n  "id": 0,\n  "ratings": {\n    "Reviewer1": 5\n  }\n}\n')
        == '{ "id": 0, "ratings": { "Reviewer1": 5 } }'
    )
    cut = gist("upstream connect error or disconnect/reset before headers. reset reason: connection failure")
    assert cut.endswith("…") and len(cut) <= 70 and cut.startswith("upstream connect error")
    assert gist("RBAC: access denied\n") == "RBAC: access denied"
    assert gist("line one\nline two") == "line one…"
    assert gist("") == ""
