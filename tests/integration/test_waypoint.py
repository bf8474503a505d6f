"""Ambient mode with a waypoint: L7 for the services that opt in, and the identity change it brings."""

import pytest

from meshlab import Lab
from meshlab.errors import LabError

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
SA = "spiffe://cluster.local/ns/default/sa/"


@pytest.fixture(scope="module")
def bookinfo(module_backend):
    with Lab("bookinfo", mode="ambient", waypoints=["reviews"], backend=module_backend, verbose=False) as lab:
        yield lab


def _segment(hops, app_prefix):
    """The hops from productpage's call to the first app whose name starts with app_prefix
    (every hop after productpage that is deeper than it, up to that app)."""
    i = next(k for k, h in enumerate(hops) if h.role == "app" and h.name.startswith(app_prefix))
    pp = next(h for h in hops if h.name == "productpage-v1-0")
    j = i
    while j > 0 and hops[j - 1].depth > pp.depth and hops[j - 1].depth < hops[j].depth:
        j -= 1
    return hops[j : i + 1]


def test_calls_to_reviews_go_through_the_waypoint(bookinfo):
    """productpage -> reviews: app -> ztunnel -> waypoint -> ztunnel -> app."""
    r = bookinfo.request("client", PAGE)
    assert r.status == 200 and "Reviews served by:" in r.body
    seg = _segment(r.path.hops, "reviews-")
    assert [(h.role, h.direction, h.layer) for h in seg] == [
        ("ztunnel", "outbound", "L4"),
        ("waypoint", "inbound", "L7"),
        ("ztunnel", "inbound", "L4"),
        ("app", None, "L7"),
    ]
    assert [h.depth for h in seg] == list(range(seg[0].depth, seg[0].depth + 4))


def test_the_destination_sees_the_waypoint_identity_not_the_clients(bookinfo):
    r = bookinfo.request("client", PAGE)
    wp, ztun = _segment(r.path.hops, "reviews-")[1:3]
    assert wp.identity == SA + "bookinfo-productpage"  # the waypoint saw productpage ...
    assert ztun.identity == SA + "waypoint"  # ... reviews' ztunnel saw the waypoint


def test_services_without_a_waypoint_skip_it(bookinfo):
    r = bookinfo.request("client", PAGE)
    seg = _segment(r.path.hops, "details-")
    assert [h.role for h in seg] == ["ztunnel", "ztunnel", "app"]


def test_the_waypoint_is_a_pod_of_its_own_with_its_own_identity(bookinfo):
    rows = {p["pod"]: p for p in bookinfo.pods()}
    assert rows["waypoint-0"]["mesh"] == "waypoint" and rows["waypoint-0"]["alive"]
    assert ("default", "waypoint") in bookinfo._certs


def test_a_namespace_waypoint_handles_every_service(backend):
    with Lab("bookinfo", mode="ambient", waypoints="namespace", backend=backend, verbose=False) as lab:
        r = lab.request("client", PAGE)
        apps = [i for i, h in enumerate(r.path.hops) if h.role == "app"]
        assert all(r.path.hops[i - 2].role == "waypoint" for i in apps)


def test_waypoints_need_ambient_and_real_services():
    with pytest.raises(LabError, match="no service named 'reveiws'"):
        Lab("bookinfo", mode="ambient", waypoints=["reveiws"])
    with pytest.raises(LabError, match="not in an ambient namespace"):
        Lab("bookinfo", mode="sidecar", waypoints=["reviews"])


def test_a_waypoint_can_be_added_and_removed_on_a_running_lab(backend):
    """Labelling reviews to use a waypoint takes effect with no app restart; unlabelling undoes it."""
    with Lab("bookinfo", mode="ambient", backend=backend, verbose=False) as lab:
        pids = {p["pod"]: p["pid"] for p in lab.pods()}
        assert "waypoint" not in {h.role for h in lab.request("client", PAGE).path.hops}
        report = lab.set_waypoints(["reviews"])
        assert report["enrolled"] == ["default/reviews"] and report["deployed"] == ["waypoint-0"]
        r = lab.request("client", PAGE)
        assert r.status == 200 and "waypoint" in {h.role for h in r.path.hops}
        assert {p["pod"]: p["pid"] for p in lab.pods() if p["pod"] in pids} == pids
        report = lab.set_waypoints(None)
        assert report["removed"] == ["waypoint-0"] and report["unenrolled"] == ["default/reviews"]
        r = lab.request("client", PAGE)
        assert r.status == 200 and "waypoint" not in {h.role for h in r.path.hops}


def test_kept_alive_streams_to_a_restarted_ztunnel_are_not_reused(backend):
    """The waypoint keeps HBONE streams to each pod; when the pod's ztunnel restarts, those
    streams are dead, and the next requests go over fresh ones instead of failing."""
    with Lab("minimal", mode="ambient", waypoints=["server"], backend=backend, verbose=False) as lab:
        assert lab.load(requests=8, concurrency=4).by_status() == {"200": 8}
        z = lab.proxies["ztunnel-node-2"].proc
        z.kill()
        z.wait()
        lab.reset()
        assert lab.load(requests=8, concurrency=4).by_status() == {"200": 8}


def test_a_waypoint_in_two_namespaces_gets_two_pods(backend):
    topo = {
        "name": "two",
        "nodes": [{"name": "node-1"}],
        "namespaces": [{"name": "default"}, {"name": "shop"}],
        "services": [
            {"name": "a", "port": 80, "targetPort": 8080, "selector": {"app": "a"}},
            {"name": "b", "namespace": "shop", "port": 80, "targetPort": 8080, "selector": {"app": "b"}},
        ],
        "workloads": [
            {"name": "client", "node": "node-1", "app": {"kind": "client"}},
            {"name": "a", "node": "node-1", "app": {"kind": "httpbin"}},
            {"name": "b", "namespace": "shop", "node": "node-1", "app": {"kind": "httpbin"}},
        ],
    }
    with Lab(topo, mode="ambient", waypoints="namespace", backend=backend, verbose=False) as lab:
        assert lab.mode == "ambient"
        assert sorted(lab.waypoint_of.values()) == ["waypoint-0", "waypoint-shop-0"]
        assert lab.request("client", "http://b.shop/get").status == 200


def test_pods_that_share_an_identity_and_a_node_each_get_their_own_tunnel(bookinfo):
    """reviews-v2 and reviews-v3 share a service account and node-2. Each pod's HBONE port
    delivers to that pod only, so the waypoint keeps one tunnel per pod address: every request
    reaches the pod it picked, on the first attempt."""
    res = bookinfo.load(requests=60, concurrency=2)
    assert res.by_status() == {"200": 60}
    served = set()
    for p in res.paths.values():
        assert not [h for h in p.hops if h.role == "unreached"], p
        served |= {h.name for h in p.hops if h.name.startswith("reviews-")}
    assert {"reviews-v2-0", "reviews-v3-0"} <= served
    tunnels = bookinfo.proxies["waypoint-0"].call("stats")["tunnels"]
    reviews = [t for t in tunnels if t["destination"].endswith("/sa/bookinfo-reviews")]
    assert len({t["address"] for t in reviews}) == len(reviews) == 3


def test_a_response_over_envoys_header_count_through_a_waypoint_is_a_502_protocol_error():
    """Over HBONE too: the app answers with 101 headers; the waypoint cannot read that response
    (Envoy's max_headers_count, 100) and answers 502, flag UPE — not a reset retried elsewhere."""
    with Lab("httpbin", mode="ambient", waypoints="namespace", verbose=False) as lab:
        many = "&".join(f"x-{i}=1" for i in range(101))
        r = lab.request("client", f"http://httpbin:8000/response-headers?{many}", timeout=5)
        assert r.status == 502 and r.body.endswith("reset reason: protocol error")
        wp = [s for s in lab.spans(r.trace_id) if s.role == "waypoint" and s.kind == "server"]
        assert [s.attrs.get("response_flags") for s in wp] == ["UPE"]
