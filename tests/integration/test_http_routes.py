"""Gateway API HTTPRoute on a running Bookinfo, in sidecar mode (the client's sidecar applies it)
and in ambient mode with a waypoint for reviews (the waypoint applies it): weights split the
traffic between version Services, a header match routes one user, and notebook 02's
``jason-to-reviews-v2`` task takes an HTTPRoute answer as well as its VirtualService skeleton.

HTTPRoute backends are Services, so the lab here is the shipped ``bookinfo-versions``: Bookinfo with
one Service per reviews version, as Istio's ambient getting-started adds them
(``samples/bookinfo/platform/kube/bookinfo-versions.yaml``)."""

import pytest
import yaml

from meshlab import Lab
from meshlab.exercises import fill
from meshlab.policy.builder import http_route
from meshlab.tasks import TASKS

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
JASON = TASKS["jason-to-reviews-v2"]


@pytest.fixture(
    scope="module", params=[("sidecar", None), ("ambient", ["reviews"])], ids=["sidecar", "waypoint"]
)
def lab(request):
    mode, waypoints = request.param
    with Lab("bookinfo-versions", mode=mode, waypoints=waypoints, verbose=False) as lab:
        yield lab


@pytest.fixture
def clean(lab):
    lab.delete(all=True)
    yield lab
    lab.delete(all=True)


def reviews_served(lab, n: int, headers=None) -> list[str]:
    """The reviews pod that served each of ``n`` pages."""
    res = lab.load("client", PAGE, requests=n, concurrency=2, progress=False, headers=headers or {})
    assert res.by_status() == {"200": n}
    return [
        h.name
        for p in res.paths.values()
        for h in p.hops
        if h.role == "app" and h.name.startswith("reviews-")
    ]


def test_weights_split_the_traffic_between_version_services(clean):
    """reviews-v1 and reviews-v3 weight 1 each, reviews-v2 weight 0: half and half, never v2
    (20 pages: both sides see traffic unless a 1-in-500,000 draw)."""
    clean.apply(http_route("reviews", 9080, [(None, {"reviews-v1": 1, "reviews-v2": 0, "reviews-v3": 1})]))
    assert clean.warnings == [], clean.warnings
    served = reviews_served(clean, 20)
    assert set(served) == {"reviews-v1-0", "reviews-v3-0"}, served
    route = {
        s.attrs.get("route")
        for s in clean.spans()
        if (s.attrs or {}).get("route", "").startswith("HTTPRoute")
    }
    assert route == {"HTTPRoute default/reviews rules[0]"}


def test_a_header_match_routes_one_user_and_the_task_takes_either_kind(clean):
    """The request-routing task's HTTPRoute (Gateway API tab) answers notebook 02's task; swapped
    backends fail it; the VirtualService answer (the skeleton, filled) passes on the same lab."""
    answer = http_route(
        "reviews", 9080, [({"end-user": "jason"}, {"reviews-v2": 1}), (None, {"reviews-v1": 1})]
    )
    res = JASON.check(clean, yaml.safe_dump(answer, sort_keys=False))
    assert res.passed is True, res.message
    clean.delete(all=True)
    wrong = http_route(
        "reviews", 9080, [({"end-user": "jason"}, {"reviews-v1": 1}), (None, {"reviews-v2": 1})]
    )
    res = JASON.check(clean, yaml.safe_dump(wrong, sort_keys=False))
    assert res.passed is False and "reviews-v2 served 0 of 20 pages for jason" in res.message
    clean.delete(all=True)
    res = JASON.check(clean, fill(JASON.skeleton, "end-user", "jason", "v2", "v1"))
    assert res.passed is True, res.message


def test_a_route_for_a_service_with_no_waypoint_gets_the_virtual_service_warning(clean):
    """In ambient mode ratings has no waypoint here: the route is taken, and nothing applies it."""
    clean.apply(http_route("ratings", 9080, [(None, {"ratings": 1})]))
    if clean.mode == "ambient":
        assert any(
            "ratings is in ambient mode with no waypoint, so no proxy applies its L7 rules" in w
            for w in clean.warnings
        ), clean.warnings
    else:
        assert clean.warnings == [], clean.warnings
