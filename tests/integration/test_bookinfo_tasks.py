"""Istio's Bookinfo traffic-management tasks (ISTIO-FACTS §6.1), with the tasks' configuration,
in sidecar mode and in ambient mode with a waypoint — checking the outcomes the task pages
document."""

import pytest

from meshlab import Lab
from meshlab.apps.bookinfo import RATINGS_ERROR, REVIEWS_ERROR
from meshlab.errors import PolicyError

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
SAMPLES = "topologies/samples/bookinfo/"
JASON = {"cookie": "user=jason"}


@pytest.fixture(
    scope="module", params=[("sidecar", None), ("ambient", "namespace")], ids=["sidecar", "ambient+waypoint"]
)
def lab(request, module_backend):
    mode, waypoints = request.param
    with Lab("bookinfo", mode=mode, waypoints=waypoints, backend=module_backend, verbose=False) as lab:
        yield lab


@pytest.fixture
def bookinfo(lab):
    """The lab with Bookinfo's DestinationRules (subsets v1/v2/v3), and nothing else applied."""
    lab.delete(all=True)
    lab.apply(SAMPLES + "destination-rule-all.yaml")
    yield lab
    lab.delete(all=True)


def page(lab, headers=None):
    return lab.request("client", PAGE, headers=headers)


def stars(body: str) -> str:
    return "black" if 'color="black"' in body else "red" if 'color="red"' in body else "none"


def test_request_routing_all_v1_then_jason_to_v2(bookinfo):
    bookinfo.apply(SAMPLES + "virtual-service-all-v1.yaml")
    assert {stars(page(bookinfo).body) for _ in range(6)} == {"none"}
    bookinfo.apply(SAMPLES + "virtual-service-reviews-test-v2.yaml")
    assert [stars(page(bookinfo, JASON).body) for _ in range(5)] == ["black"] * 5
    assert {stars(page(bookinfo).body) for _ in range(5)} == {"none"}


def test_fault_delay_makes_productpage_give_up_after_about_6s(bookinfo):
    """reviews v2 waits 10 s for ratings, but productpage gives reviews 3 s and one retry."""
    bookinfo.apply(
        [
            SAMPLES + "virtual-service-all-v1.yaml",
            SAMPLES + "virtual-service-reviews-test-v2.yaml",
            SAMPLES + "virtual-service-ratings-test-delay.yaml",
        ]
    )
    r = page(bookinfo, JASON)
    assert r.status == 200 and REVIEWS_ERROR in r.body
    assert 5500 < r.latency_ms < 8000
    fast = page(bookinfo)  # not jason: reviews v1, no ratings call, no delay
    assert REVIEWS_ERROR not in fast.body and fast.latency_ms < 3000


def test_fault_abort_shows_ratings_unavailable_at_once(bookinfo):
    bookinfo.apply(
        [
            SAMPLES + "virtual-service-all-v1.yaml",
            SAMPLES + "virtual-service-reviews-test-v2.yaml",
            SAMPLES + "virtual-service-ratings-test-abort.yaml",
        ]
    )
    r = page(bookinfo, JASON)
    assert r.status == 200 and RATINGS_ERROR in r.body and r.latency_ms < 3000
    aborted = [s for s in bookinfo.spans(r.trace_id) if "FI" in (s.attrs or {}).get("response_flags", "")]
    assert aborted and all(s.status == 500 for s in aborted)  # the fault, made by a proxy
    assert RATINGS_ERROR not in page(bookinfo).body


def test_traffic_shifting_50_50_then_all_v3(bookinfo):
    bookinfo.apply(SAMPLES + "virtual-service-reviews-50-v3.yaml")
    res = bookinfo.load("client", PAGE, requests=100, concurrency=2, progress=False)
    served = [
        next(h.name for h in p.hops if h.role == "app" and h.name.startswith("reviews-"))
        for p in res.paths.values()
    ]
    assert len(served) == 100 and set(served) == {"reviews-v1-0", "reviews-v3-0"}
    assert 30 <= served.count("reviews-v3-0") <= 70  # binomial(100, 0.5): 4 sigma either side
    bookinfo.apply(SAMPLES + "virtual-service-reviews-v3.yaml")
    assert {stars(page(bookinfo).body) for _ in range(5)} == {"red"}


def test_request_timeout_returns_the_page_in_about_1s(bookinfo):
    """reviews v2 -> ratings delayed 2 s; a 0.5 s timeout on reviews; productpage tries twice."""
    bookinfo.apply(SAMPLES + "virtual-service-all-v1.yaml")
    bookinfo.apply(SAMPLES + "request-timeouts.yaml")
    r = page(bookinfo)
    assert r.status == 200 and REVIEWS_ERROR in r.body
    assert 900 < r.latency_ms < 2500
    timed_out = [s for s in bookinfo.spans(r.trace_id) if "UT" in (s.attrs or {}).get("response_flags", "")]
    assert len(timed_out) == 2 and all(s.status == 504 for s in timed_out)


def test_a_rejected_apply_changes_nothing(bookinfo):
    bookinfo.apply(SAMPLES + "virtual-service-reviews-v3.yaml")
    before = [o.doc for o in bookinfo.policies()]
    bad = (
        open(SAMPLES + "virtual-service-reviews-50-v3.yaml").read()
        + "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n"
        "spec: {hosts: [ratings], http: [{route: [{destination: {host: ratings}}], mirror: {host: ratings}}]}\n"
    )
    with pytest.raises(
        PolicyError, match=r"document 2 .*line 17: spec.http\[0\].mirror: 'mirror' is part of the real API"
    ):
        bookinfo.apply(bad)
    assert [o.doc for o in bookinfo.policies()] == before
    assert {stars(page(bookinfo).body) for _ in range(4)} == {"red"}  # still all v3
