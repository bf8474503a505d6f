"""Bookinfo with no mesh (mode none): what Istio's tasks assume before any mesh is added."""

import pytest

from meshlab.apps.bookinfo import REVIEWS_ERROR

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"


def test_product_page_is_served_with_details_and_reviews(bookinfo):
    """The client asks for the product page and gets it, with the book's details and reviews."""
    r = bookinfo.request("client", PAGE)
    assert r.status == 200, r
    assert "Book Details" in r.body and "William Shakespeare" in r.body
    assert "Reviews served by:" in r.body


def test_path_goes_client_productpage_details_reviews(bookinfo):
    """One request's path: client -> productpage -> details and reviews (-> ratings for v2/v3),
    each hop with a measured time."""
    r = bookinfo.request("client", PAGE)
    names = r.path.names()
    assert names[:3] == ["client-0", "productpage-v1-0", "details-v1-0"]
    reviews = [h for h in r.path.hops if h.name.startswith("reviews-")]
    assert len(reviews) == 1 and reviews[0].depth == 2
    if reviews[0].name in ("reviews-v2-0", "reviews-v3-0"):
        assert names[-1] == "ratings-v1-0" and r.path.hops[-1].depth == 3
    else:
        assert "ratings-v1-0" not in names
    assert all(h.ms > 0 for h in r.path.hops)
    assert r.path.hops[0].ms >= r.path.hops[1].ms  # the client waited for the whole page


def test_reviews_versions_alternate_and_only_v2_v3_call_ratings(bookinfo):
    """Without routing rules, kube-proxy spreads productpage's calls over all three reviews
    versions; v2 and v3 call ratings, v1 never does."""
    res = bookinfo.load(requests=90, concurrency=3)
    seen = {}
    for g in res.path_groups():
        names = [h["name"] for h in g["hops"]]
        version = next(n for n in names if n.startswith("reviews-"))
        seen[version] = seen.get(version, 0) + g["count"]
        assert ("ratings-v1-0" in names) == (version != "reviews-v1-0"), names
    assert set(seen) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, seen


def test_star_colours_follow_the_reviews_version(bookinfo):
    """v2 shows black stars, v3 red stars, v1 none; the page says which pod served the reviews."""
    colours = {}
    for _ in range(40):
        body = bookinfo.request("client", PAGE).body
        pod = body.split("Reviews served by:</dt><dd><u>")[1].split("<")[0]
        colours[pod] = ('color="black"' in body, 'color="red"' in body)
        if len(colours) == 3:
            break
    assert colours.get("reviews-v1-0", (False, False)) == (False, False)
    assert colours.get("reviews-v2-0", (True, False)) == (True, False)
    assert colours.get("reviews-v3-0", (False, True)) == (False, True)


def test_every_request_of_a_load_has_one_outcome_and_a_path(bookinfo):
    """200 requests over 4 connections: 200 outcomes, all 200 OK, each with its path."""
    res = bookinfo.load(requests=200, concurrency=4)
    s = res.summary()
    assert s["requests"]["sent"] == 200 and s["requests"]["ok"] == 200
    assert sorted(o["index"] for o in res.outcomes) == list(range(200))
    assert s["paths_recorded"] == 200
    assert s["latency_ms"]["p50"] > 0 and s["latency_ms"]["p99"] >= s["latency_ms"]["p50"]
    assert sum(g["count"] for g in s["paths"]) == 200


def test_end_user_header_is_set_for_a_logged_in_user(bookinfo):
    """productpage sets end-user for the user in its session cookie, as Istio's routing task needs."""
    r = bookinfo.request("client", PAGE, headers={"cookie": "user=jason"})
    assert "Signed in as jason" in r.body


def test_request_id_and_trace_follow_the_request_everywhere(bookinfo):
    """Every app forwards x-request-id and the trace headers: all spans share the trace id and
    the request id the client chose."""
    r = bookinfo.request("client", PAGE, headers={"x-request-id": "learner-chosen-id"})
    spans = bookinfo.spans(r.trace_id)
    assert {s.name for s in spans} >= {"client-0", "productpage-v1-0", "details-v1-0"}
    assert {s.request_id for s in spans} == {"learner-chosen-id"}


def test_productpage_retries_reviews_once_in_its_own_code(bookinfo):
    """With every reviews pod gone, productpage tries reviews twice (3 s timeout + 1 retry in its
    code), then shows Bookinfo's error text; details still works."""
    victims = [n for n in bookinfo.workers if n.startswith("reviews-")]
    for n in victims:
        bookinfo.workers[n].proc.kill()
        bookinfo.workers[n].proc.wait()
    try:
        r = bookinfo.request("client", PAGE)
        assert r.status == 200
        assert "Error fetching product reviews!" in r.body and REVIEWS_ERROR in r.body
        assert "William Shakespeare" in r.body
        tries = [h for h in r.path.hops if h.role == "unreached"]
        assert [h.attempt for h in tries] == [1, 2]
        assert all(h.error == "connection refused" for h in tries)
    finally:
        bookinfo.reset()  # restarts the dead pods
    assert bookinfo.request("client", PAGE).status == 200
    assert all(row["alive"] for row in bookinfo.pods())
