"""Gateway API HTTPRoute (meshlab/policy/httproute.py): what the loader accepts and refuses, what it
compiles to (routes in the Gateway API's order, weights), how it routes a request, and the
warnings it gets against a lab — pure, no sockets."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from meshlab.errors import PolicyError
from meshlab.policy import builder, httproute
from meshlab.policy.kinds import REGISTRY, from_records
from meshlab.policy.loader import load_policies
from meshlab.policy.routing import RequestInfo, RouteProxy, compile_routes, route_request, virtual_service_for
from meshlab.policy.store import LabView, PolicyStore, check
from meshlab.topology.loader import load_topology

REVIEWS = "reviews.default.svc.cluster.local"
PARENT = {"group": "", "kind": "Service", "name": "reviews", "port": 9080}


def route(rules, parents=(PARENT,), name="reviews"):
    return load_policies(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": list(parents), "rules": rules},
        }
    )[0]


def backend(name, weight=None):
    return {"name": name, "port": 9080, **({} if weight is None else {"weight": weight})}


def req(path="/reviews/0", method="GET", **headers):
    return RequestInfo(method, path, {k.replace("_", "-"): v for k, v in headers.items()})


JASON = [
    {
        "matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
        "backendRefs": [backend("reviews-v2")],
    },
    {"backendRefs": [backend("reviews-v1")]},
]


def test_the_registry_reads_httproute_and_istios_request_routing_route_loads():
    """HTTPRoute is a registered kind (one module); the route of Istio's request-routing task
    (Gateway API tab) loads as written and compiles to routes for reviews."""
    assert REGISTRY["HTTPRoute"] is httproute.HANDLER
    r = route(JASON)
    assert r.compiled.hosts == (REVIEWS,)
    assert (
        route_request(r, REVIEWS, req(end_user="jason")).destinations[0].host
        == "reviews-v2.default.svc.cluster.local"
    )
    assert route_request(r, REVIEWS, req()).destinations[0].host == "reviews-v1.default.svc.cluster.local"


@pytest.mark.parametrize(
    "spec,where,says",
    [
        (
            {"parentRefs": [{"name": "reviews"}], "rules": [{"backendRefs": [backend("reviews")]}]},
            "spec.parentRefs[0]",
            "a parentRef with no kind is a Gateway",
        ),
        (
            {
                "parentRefs": [{**PARENT, "namespace": "other"}],
                "rules": [{"backendRefs": [backend("reviews")]}],
            },
            "spec.parentRefs[0].namespace",
            "allowed: default",
        ),
        (
            {
                "parentRefs": [PARENT],
                "hostnames": ["reviews"],
                "rules": [{"backendRefs": [backend("reviews")]}],
            },
            "spec.hostnames",
            "part of the real API, but meshlab does not support it",
        ),
        (
            {"parentRefs": [PARENT], "rules": [{"filters": [], "backendRefs": [backend("reviews")]}]},
            "spec.rules[0].filters",
            "supported here: backendRefs, name, matches",
        ),
        (
            {
                "parentRefs": [PARENT],
                "rules": [{"timeouts": {"request": "1s"}, "backendRefs": [backend("reviews")]}],
            },
            "spec.rules[0].timeouts",
            "meshlab does not support it",
        ),
        (
            {
                "parentRefs": [PARENT],
                "rules": [{"matches": [{"queryParams": []}], "backendRefs": [backend("reviews")]}],
            },
            "spec.rules[0].matches[0].queryParams",
            "meshlab does not support it",
        ),
        (
            {
                "parentRefs": [PARENT],
                "rules": [
                    {
                        "matches": [{"path": {"type": "Prefix", "value": "/"}}],
                        "backendRefs": [backend("reviews")],
                    }
                ],
            },
            "spec.rules[0].matches[0].path.type",
            "PathPrefix, Exact, RegularExpression",
        ),
        (
            {
                "parentRefs": [PARENT],
                "rules": [{"matches": [{"path": {"value": "reviews"}}], "backendRefs": [backend("reviews")]}],
            },
            "spec.rules[0].matches[0].path.value",
            "starts with '/'",
        ),
        (
            {"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "reviews"}]}]},
            "spec.rules[0].backendRefs[0]",
            "missing required key 'port'",
        ),
        (
            {
                "parentRefs": [PARENT],
                "rules": [{"backendRefs": [backend("reviews-v1", 0), backend("reviews-v2", 0)]}],
            },
            "spec.rules[0].backendRefs",
            "every backend has weight 0",
        ),
        ({"parentRefs": [PARENT], "rules": [{"backendRefs": []}]}, "spec.rules[0].backendRefs", "non-empty"),
        ({"parentRefs": [PARENT]}, "spec", "needs rules with backendRefs"),
    ],
)
def test_what_the_lab_does_not_read_is_refused_by_file_line_and_field(spec, where, says):
    text = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: "
        + __import__("json").dumps(spec)
        + "\n"
    )
    with pytest.raises(PolicyError) as e:
        load_policies(text, "route.yaml")
    message = str(e.value)
    assert "route.yaml" in message and "line" in message and where in message and says in message, message


def test_weights_split_the_rules_requests_and_default_to_one():
    r = route([{"backendRefs": [backend("reviews-v1", 1), backend("reviews-v3", 3)]}])
    action = route_request(r, REVIEWS, req())
    assert [(d.host.split(".")[0], d.weight, d.port) for d in action.destinations] == [
        ("reviews-v1", 1, 9080),
        ("reviews-v3", 3, 9080),
    ]
    assert action.retry.source == "Istio default retry policy"  # no retry field: the mesh default
    from meshlab.policy.routing import pick_destination

    rng = random.Random(7)
    picks = [pick_destination(action.destinations, rng).host.split(".")[0] for _ in range(4000)]
    assert 0.70 < picks.count("reviews-v3") / len(picks) < 0.80
    assert [
        d.weight
        for d in route_request(
            route([{"backendRefs": [backend("a"), backend("b")]}]), REVIEWS, req()
        ).destinations
    ] == [1, 1]


def test_path_prefix_matches_whole_path_elements_exact_and_regex_match_the_path():
    r = route(
        [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api/"}}], "backendRefs": [backend("a")]},
            {"matches": [{"path": {"type": "Exact", "value": "/x"}}], "backendRefs": [backend("b")]},
            {
                "matches": [{"path": {"type": "RegularExpression", "value": "/r[0-9]+"}}],
                "backendRefs": [backend("c")],
            },
        ]
    )
    to = lambda path: getattr(route_request(r, REVIEWS, req(path)), "destinations", [None])[0]
    assert to("/api").host.startswith("a.") and to("/api/v1?q=1").host.startswith("a.")
    assert to("/apix") is None  # no match: 404
    assert to("/x").host.startswith("b.") and to("/x/y") is None
    assert to("/r12").host.startswith("c.") and to("/r") is None


def test_header_names_are_case_insensitive_and_a_method_matches():
    r = route(
        [
            {
                "matches": [{"headers": [{"name": "End-User", "value": "jason"}], "method": "GET"}],
                "backendRefs": [backend("reviews-v2")],
            },
            {
                "matches": [{"headers": [{"type": "RegularExpression", "name": "x-v", "value": "3|three"}]}],
                "backendRefs": [backend("reviews-v3")],
            },
        ]
    )
    assert route_request(r, REVIEWS, req(end_user="jason")).destinations[0].host.startswith("reviews-v2")
    assert route_request(r, REVIEWS, req(method="POST", end_user="jason")) is None
    assert route_request(r, REVIEWS, req(x_v="three")).destinations[0].host.startswith("reviews-v3")


def test_the_more_specific_match_wins_whatever_the_order_written():
    """The catch-all written first does not shadow the header rule (Gateway API precedence), as
    it would in a VirtualService, whose routes are tried in the order written."""
    r = route(list(reversed(JASON)))
    assert route_request(r, REVIEWS, req(end_user="jason")).destinations[0].host.startswith("reviews-v2")
    assert route_request(r, REVIEWS, req()).destinations[0].host.startswith("reviews-v1")


_MATCH = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["Exact", "PathPrefix"]),
                    "value": st.sampled_from(["/", "/a", "/a/b", "/abc"]),
                }
            ),
            st.just({"type": "RegularExpression", "value": "/a.*"}),
        ),
        "method": st.sampled_from(["GET", "POST"]),
        "headers": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["h1", "h2", "h3"]), "value": st.just("v")}),
            max_size=3,
            unique_by=lambda h: h["name"],
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_MATCH, min_size=0, max_size=3), min_size=1, max_size=5))
def test_compiled_routes_follow_the_gateway_api_precedence_and_keep_ties_in_order(rules):
    """Any rules: one route per match, sorted by (exact path, longest prefix, method, most
    headers), and two routes that tie keep the order they were written in."""
    r = route(
        [{**({"matches": ms} if ms else {}), "backendRefs": [backend(f"b{i}")]} for i, ms in enumerate(rules)]
    )
    routes = r.compiled.routes
    assert len(routes) == sum(max(1, len(ms)) for ms in rules)
    keys = [httproute.precedence(blocks[0]) for blocks, _ in routes]
    assert keys == sorted(keys)
    for (b1, a1), (b2, a2) in zip(routes, routes[1:]):
        if httproute.precedence(b1[0]) == httproute.precedence(b2[0]):
            assert int(a1.rule.split("rules[")[1].split("]")[0]) <= int(
                a2.rule.split("rules[")[1].split("]")[0]
            )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1_000_000), min_size=1, max_size=4).filter(any))
def test_any_weights_load_and_compile_as_written(weights):
    r = route([{"backendRefs": [backend(f"s{i}", w) for i, w in enumerate(weights)]}])
    [(blocks, action)] = r.compiled.routes
    assert [d.weight for d in action.destinations] == weights and blocks == ({"uri": {"pathPrefix": "/"}},)


def test_a_proxy_compiles_the_pushed_records_once_and_sees_the_route_where_a_virtual_service_would_be():
    r = route(JASON)
    [pushed] = from_records([r.to_record()])
    assert pushed.compiled == r.compiled
    for proxy in (RouteProxy("default", {"app": "productpage"}), RouteProxy("default", waypoint=True)):
        assert virtual_service_for([pushed], REVIEWS, proxy) is pushed
        assert len(compile_routes([pushed], REVIEWS, proxy)) == 2


@pytest.fixture(scope="module")
def bookinfo():
    """Bookinfo with one Service per reviews version (Istio's bookinfo-versions.yaml)."""
    import yaml
    from meshlab.topology.loader import find_topology_file

    topo = yaml.safe_load(find_topology_file("bookinfo").read_text())
    topo["services"] += [
        {"name": f"reviews-{v}", "port": 9080, "selector": {"app": "reviews", "version": v}}
        for v in ("v1", "v2", "v3")
    ]
    return load_topology(topo)


def _view(topo, mode, waypoint=False):
    mesh = {p.name: mode for p in topo.pods}
    return LabView(topo, mesh, {("default", "reviews"): "waypoint-0"} if waypoint else {})


def test_an_ambient_service_with_no_waypoint_gets_the_warning_a_virtual_service_gets(bookinfo):
    r = route(JASON)
    vs = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]},
        }
    )[0]
    warn = lambda o, view: check([o], view, PolicyStore((o,)))
    [w] = warn(r, _view(bookinfo, "ambient"))
    assert w.replace("HTTPRoute", "VirtualService") == warn(vs, _view(bookinfo, "ambient"))[0]
    assert "no waypoint" in w
    assert warn(r, _view(bookinfo, "ambient", waypoint=True)) == []
    assert warn(r, _view(bookinfo, "sidecar")) == []  # the client's sidecar applies it


def test_the_checks_name_missing_services_ports_and_a_virtual_service_for_the_same_service(bookinfo):
    r = route(
        [{"backendRefs": [backend("nope"), {"name": "reviews-v2", "port": 80}]}],
        parents=(PARENT, {**PARENT, "name": "gone"}),
    )
    vs = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]},
        }
    )[0]
    ws = check([r], _view(bookinfo, "sidecar"), PolicyStore((vs, r)))
    assert any("parentRefs[1] names Service 'gone'" in w for w in ws)
    assert any("backendRefs[0] names Service 'nope'" in w for w in ws)
    assert any("backendRefs[1] port 80 is not reviews-v2's port (9080)" in w for w in ws)
    assert any("Istio leaves mixing VirtualService and HTTPRoute" in w for w in ws)


def test_the_builder_writes_a_route_the_loader_reads_back():
    doc = builder.http_route("reviews", 9080, [(None, {"reviews-v1": 0, "reviews-v2": 100})])
    r = load_policies(doc)[0]
    assert [d.weight for d in route_request(r, REVIEWS, req()).destinations] == [0, 100]
    r = load_policies(
        builder.http_route(
            "reviews", 9080, [({"end-user": "jason"}, {"reviews-v2": 1}), (None, {"reviews-v1": 1})]
        )
    )[0]
    assert route_request(r, REVIEWS, req(end_user="jason")).destinations[0].host.startswith("reviews-v2")
    assert route_request(r, REVIEWS, req()).destinations[0].host.startswith("reviews-v1")


def test_meshlab_export_writes_the_route_as_given(tmp_path):
    """``meshlab export``'s 30-policies.yaml holds the HTTPRoute exactly as applied (with the
    namespace kubectl would fill in)."""
    from meshlab.export import manifests

    doc = builder.http_route(
        "reviews", 9080, [({"end-user": "jason"}, {"reviews": 1}), (None, {"reviews": 1})]
    )
    del doc["metadata"]["namespace"]
    m = manifests("bookinfo", "ambient", policies=[doc], waypoints=["reviews"])
    [written] = [d for d in m.policies if d["kind"] == "HTTPRoute"]
    assert written == {**doc, "metadata": {**doc["metadata"], "namespace": "default"}}
