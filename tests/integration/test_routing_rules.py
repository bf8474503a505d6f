"""VirtualService rules as istiod builds them for each proxy, on Bookinfo in sidecar mode and in
ambient mode with a waypoint: source matches, and how short host names are read."""

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
SAMPLES = "topologies/samples/bookinfo/"
REVIEWS_ERROR = "Error fetching product reviews"


@pytest.fixture(
    scope="module", params=[("sidecar", None), ("ambient", "namespace")], ids=["sidecar", "waypoint"]
)
def lab(request):
    mode, waypoints = request.param
    with Lab("bookinfo", mode=mode, waypoints=waypoints, verbose=False) as lab:
        yield lab


@pytest.fixture
def bookinfo(lab):
    """The lab with Bookinfo's DestinationRules (subsets v1/v2/v3), and nothing else applied."""
    lab.delete(all=True)
    lab.apply(SAMPLES + "destination-rule-all.yaml")
    yield lab
    lab.delete(all=True)


def reviews_vs(http: str, hosts: str = "[reviews]") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
        f"spec:\n  hosts: {hosts}\n  http:\n{http}"
    )


def reviews_served(lab, n: int = 8) -> set:
    """Which reviews pods served ``n`` pages."""
    res = lab.load("client", PAGE, requests=n, concurrency=2, progress=False)
    assert res.by_status() == {"200": n}
    return {
        h.name
        for p in res.paths.values()
        for h in p.hops
        if h.role == "app" and h.name.startswith("reviews-")
    }


def test_source_labels_match_at_the_client_sidecar_but_not_at_a_waypoint(bookinfo):
    """A match on the caller's labels: productpage's own sidecar builds it into its routes and
    sends productpage to v2; a waypoint serves every caller, and istiod leaves such matches out of
    its routes, so everything goes to v1 there (and the lab warns)."""
    warnings = bookinfo.apply(
        reviews_vs(
            "  - match: [{sourceLabels: {app: productpage}}]\n    route: [{destination: {host: reviews, subset: v2}}]\n"
            "  - route: [{destination: {host: reviews, subset: v1}}]\n"
        )
    )
    if bookinfo.mode == "sidecar":
        assert reviews_served(bookinfo) == {"reviews-v2-0"}
        assert not any("sourceLabels" in w for w in bookinfo.warnings)
    else:
        assert reviews_served(bookinfo) == {"reviews-v1-0"}
        assert any(
            "http[0].match[0] uses sourceLabels, which waypoints ignore" in w for w in bookinfo.warnings
        ), warnings


def test_a_host_with_a_dot_is_taken_as_written(bookinfo):
    """Istio expands only a host with no dot (reviews -> reviews.default.svc.cluster.local).
    reviews.default is taken as written: as a VirtualService host it names no service, so the rule
    changes nothing; as a destination it is a cluster that does not exist (503, NC)."""
    bookinfo.apply(
        reviews_vs("  - route: [{destination: {host: reviews, subset: v3}}]\n", hosts="[reviews.default]")
    )
    assert any("'reviews.default' (reviews.default) is not a service" in w for w in bookinfo.warnings)
    assert len(reviews_served(bookinfo, 12)) >= 2  # still all three versions, round the pods
    bookinfo.apply(
        reviews_vs(
            "  - route: [{destination: {host: reviews, subset: v3}}]\n",
            hosts="[reviews.default.svc.cluster.local]",
        )
    )
    assert reviews_served(bookinfo) == {"reviews-v3-0"}
    bookinfo.apply(reviews_vs("  - route: [{destination: {host: reviews.default, subset: v3}}]\n"))
    r = bookinfo.request("client", PAGE)
    assert r.status == 200 and REVIEWS_ERROR in r.body
    nc = [s for s in bookinfo.spans(r.trace_id) if (s.attrs or {}).get("response_flags") == "NC"]
    assert nc and all(s.status == 503 for s in nc)
