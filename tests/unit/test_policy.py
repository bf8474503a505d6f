"""The policy core, pure: loading Istio YAML, route matching, weights, faults, retries, traffic
policy, circuit breakers, outlier detection, PeerAuthentication modes."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from meshlab.errors import PolicyError
from meshlab.policy.circuit import OutlierDetector, PoolAccount
from meshlab.policy.loader import load_policies, parse_retry_on
from meshlab.policy.peerauth import mtls_mode
from meshlab.policy.retries import DEFAULT_INBOUND_RETRY, DEFAULT_RETRY, Attempt, retriable
from meshlab.policy.routing import (
    UNLIMITED,
    Destination,
    RequestInfo,
    Outlier,
    RouteProxy,
    TrafficPolicy,
    compile_routes,
    destination_rule_for,
    fault_decision,
    fqdn,
    pick_destination,
    route_request,
    select_route,
    short_name_hint,
    source_blocks,
    traffic_policy,
    virtual_service_for,
    virtual_services_for,
)

REVIEWS = "reviews.default.svc.cluster.local"


def vs(http, hosts=("reviews",), ns="default"):
    return load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "r", "namespace": ns},
            "spec": {"hosts": list(hosts), "http": http},
        }
    )[0]


def req(path="/reviews/0", method="GET", **headers):
    return RequestInfo(method, path, {k.replace("_", "-"): v for k, v in headers.items()})


# -- loading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["block", "flow"])
def test_policy_nested_too_deep_or_with_a_nul_byte_is_a_policy_error_with_its_line(style):
    """Issue 13, defect 6: deep nesting crashed the policy loader with a RecursionError, and a NUL
    byte was reported by its position in the text; both name the document and the line now."""
    head = (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: d}\n---\n"
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n"
    )
    deep = head + (
        "".join("  " * i + "-\n" for i in range(1, 3000))
        if style == "block"
        else "  rules: " + "[" * 3000 + "]" * 3000 + "\n"
    )
    with pytest.raises(PolicyError) as e:
        load_policies(deep, file="deep.yaml")
    assert (e.value.document, e.value.line) == (2, 72 if style == "block" else 9)
    assert str(e.value).startswith(
        f"deep.yaml: document 2, line {e.value.line}: not valid YAML: nested more than 64 levels deep"
    )
    with pytest.raises(PolicyError) as e:
        load_policies(head + "  action: DE\x00NY\n", file="nul.yaml")
    assert (e.value.document, e.value.line) == (2, 9)
    assert "unacceptable character #x0000 (column 13)" in str(e.value) and "position" not in str(e.value)
    d: dict = {}
    for _ in range(3000):
        d = {"a": d}
    with pytest.raises(PolicyError) as e:
        load_policies(
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {"name": "a"},
                "spec": d,
            }
        )
    assert "nested" in str(e.value)


@pytest.mark.parametrize(
    "doc, field, words",
    [
        (
            "kind: VirtualService\napiVersion: networking.istio.io/v1\n"
            "metadata: {name: r}\n"
            "spec: {hosts: [r], http: [{route: [{destination: {host: r}}], timeout: 3}]}",
            "spec.http[0].timeout",
            "duration with a unit",
        ),
        (
            "kind: DestinationRule\napiVersion: networking.istio.io/v1\n"
            "metadata: {name: r}\n"
            "spec: {host: r, trafficPolicy: {loadBalancer: {simple: FASTEST}}}",
            "spec.trafficPolicy.loadBalancer.simple",
            "allowed values: UNSPECIFIED, LEAST_REQUEST, ROUND_ROBIN, RANDOM",
        ),
        (
            "kind: PeerAuthentication\napiVersion: security.istio.io/v1\n"
            "metadata: {name: d}\n"
            "spec: {mtls: {mode: strict}}",
            "spec.mtls.mode",
            "did you mean 'STRICT'?",
        ),
        (
            "kind: AuthorizationPolicy\napiVersion: security.istio.io/v1\n"
            "metadata: {name: a}\n"
            "spec: {rules: [{to: [{operation: {ports: [9080]}}]}]}",
            "spec.rules[0].to[0].operation.ports[0]",
            "expected a string",
        ),
        (
            "kind: VirtualService\napiVersion: networking.istio.io/v1beta2\nmetadata: {name: r}\nspec: {hosts: [r]}",
            "apiVersion",
            "networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3",
        ),
        (
            "kind: VirtualService\napiVersion: networking.istio.io/v1\n"
            "metadata: {name: r}\n"
            "spec: {hosts: [r], http: [{route: [{destination: {host: r}}], "
            "match: [{headers: {End-User: {exact: a}}}]}]}",
            "spec.http[0].match[0].headers.End-User",
            "must be lower-case",
        ),
        (
            "kind: Gateway\napiVersion: gateway.networking.k8s.io/v1\n"
            "metadata: {name: waypoint, labels: {istio.io/waypoint-for: all}}\n"
            "spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}",
            "metadata.labels.istio.io/waypoint-for",
            "'all' is not supported by meshlab; allowed: service (Istio's default)",
        ),
        (
            "kind: Namespace\napiVersion: v1\nmetadata: {name: default, labels: {istio.io/use-waypoint: waypoint, "
            "istio.io/use-waypoint-namespace: infra}}",
            "metadata.labels.istio.io/use-waypoint-namespace",
            "'infra' is not supported by meshlab",
        ),
        (
            "kind: Service\napiVersion: v1\n"
            "metadata: {name: reviews, namespace: foo, labels: {istio.io/use-waypoint-namespace: infra}}",
            "metadata.labels.istio.io/use-waypoint-namespace",
            "allowed: 'foo' (this object's namespace",
        ),
    ],
)
def test_a_bad_document_names_its_field_and_what_is_allowed(doc, field, words):
    with pytest.raises(PolicyError) as e:
        load_policies("# comment\n" + doc, file="p.yaml")
    assert e.value.file == "p.yaml" and e.value.document == 1 and e.value.field == field
    assert e.value.line is not None and words in str(e.value)


def test_use_waypoint_namespace_naming_the_objects_own_namespace_is_accepted():
    [ns] = load_policies(
        "kind: Namespace\napiVersion: v1\nmetadata: {name: foo, labels: "
        "{istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: foo}}\n"
    )
    assert ns.labels["istio.io/use-waypoint-namespace"] == "foo"


def test_retry_on_reads_policies_and_status_codes():
    assert parse_retry_on("5xx, 503,gateway-error") == (
        frozenset({"5xx", "gateway-error", "retriable-status-codes"}),
        frozenset({503}),
    )
    with pytest.raises(ValueError, match="unknown retryOn value '5xxx'"):
        parse_retry_on("5xxx")


# -- routes --------------------------------------------------------------------------------------


def test_first_matching_route_wins_and_no_match_is_404():
    v = vs(
        [
            {
                "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
            },
            {
                "match": [{"uri": {"prefix": "/reviews"}}, {"method": {"exact": "POST"}}],
                "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
            },
        ]
    )
    assert route_request(v, REVIEWS, req(end_user="jason")).destinations[0].subset == "v2"
    assert route_request(v, REVIEWS, req()).destinations[0].subset == "v1"
    assert route_request(v, REVIEWS, req("/health", "POST")).destinations[0].subset == "v1"  # blocks are ORed
    assert route_request(v, REVIEWS, req("/health")) is None  # NR: 404
    assert route_request(None, REVIEWS, req()).rule == "default route"


def test_uri_ignores_the_query_and_headers_can_be_presence_checks():
    v = vs(
        [
            {
                "match": [{"uri": {"exact": "/reviews/0"}, "headers": {"x-canary": {}}}],
                "route": [{"destination": {"host": "reviews", "subset": "v3"}}],
            },
            {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]},
        ]
    )
    assert route_request(v, REVIEWS, req("/reviews/0?x=1", x_canary="")).destinations[0].subset == "v3"
    assert route_request(v, REVIEWS, req("/reviews/0?x=1")).destinations[0].subset == "v1"


def test_hosts_are_relative_to_the_objects_namespace():
    assert fqdn("reviews", "default") == REVIEWS
    assert (
        virtual_service_for([vs([{"route": [{"destination": {"host": "reviews"}}]}], ns="other")], REVIEWS)
        is None
    )


@pytest.mark.parametrize(
    "host, ns, read",
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("reviews", "other", "reviews.other.svc.cluster.local"),
        ("reviews.default", "default", "reviews.default"),  # a dot: as written
        ("reviews.default.svc", "default", "reviews.default.svc"),
        ("reviews.default.svc.cluster.local", "other", "reviews.default.svc.cluster.local"),
        ("*.default.svc.cluster.local", "default", "*.default.svc.cluster.local"),
        ("*", "default", "*"),
        ("10.96.0.12", "default", "10.96.0.12"),
        ("::1", "default", "::1"),
    ],
)
def test_istio_expands_only_a_host_with_no_dot(host, ns, read):
    """pilot/pkg/model/config.go ResolveShortnameToFQDN."""
    assert fqdn(host, ns) == read


@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,4}", fullmatch=True),
    st.sampled_from(["default", "foo"]),
)
def test_a_dotted_host_is_never_rewritten(host, ns):
    assert fqdn(host, ns) == (host if "." in host else f"{host}.{ns}.svc.cluster.local")


def test_a_dotted_host_that_names_no_service_gets_a_hint():
    hint = short_name_hint("reviews.default", {REVIEWS})
    assert "taken as written" in hint and "'reviews'" in hint and REVIEWS in hint
    assert short_name_hint("reviews.default", set()) == short_name_hint("reviews", {REVIEWS}) == ""
    assert (
        virtual_service_for(
            [vs([{"route": [{"destination": {"host": "reviews"}}]}], hosts=("reviews.default",))], REVIEWS
        )
        is None
    )


def test_a_fault_keeps_the_routes_timeout_and_retries_and_needs_a_percentage():
    """istiod sets a route's timeout and retry policy whatever its fault (TranslateRoute): only
    the injected requests escape them, because Envoy's fault filter answers before the router."""
    v = vs(
        [
            {
                "route": [{"destination": {"host": "reviews"}}],
                "timeout": "1s",
                "retries": {"attempts": 3, "retryOn": "5xx"},
                "fault": {"delay": {"fixedDelay": "7s", "percent": 100}, "abort": {"httpStatus": 500}},
            }
        ]
    )
    a = route_request(v, REVIEWS, req())
    assert a.timeout == 1.0 and a.retry.attempts == 3 and a.retry.retry_on == {"5xx"}
    assert a.delay == (7.0, 100.0) and a.abort == (500, 0.0)
    assert fault_decision(a, random.Random(1)) == (7.0, None)  # abort has no percentage: never


def test_retries_follow_istios_translation():
    base = [{"route": [{"destination": {"host": "reviews"}}]}]
    assert route_request(vs(base), REVIEWS, req()).retry.attempts == 2  # the mesh default
    off = vs([{**base[0], "retries": {"attempts": 0}}])
    assert route_request(off, REVIEWS, req()).retry.attempts == 0
    r = route_request(
        vs([{**base[0], "retries": {"attempts": 3, "retryOn": "gateway-error,409", "perTryTimeout": "2s"}}]),
        REVIEWS,
        req(),
    ).retry
    assert (r.attempts, r.retriable_status_codes, r.per_try_timeout) == (3, frozenset({409}), 2.0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 100), min_size=2, max_size=4).filter(lambda ws: sum(ws) > 0),
    st.integers(0, 2**32),
)
def test_weights_split_traffic_in_proportion(weights, seed):
    dests = [Destination(REVIEWS, f"v{i}", weight=w) for i, w in enumerate(weights)]
    rng = random.Random(seed)
    n = 4000
    counts = {d.subset: 0 for d in dests}
    for _ in range(n):
        counts[pick_destination(dests, rng).subset] += 1
    for d in dests:
        share = d.weight / sum(weights)
        assert abs(counts[d.subset] / n - share) < 0.05  # ~6 sigma at n=4000
        if d.weight == 0:
            assert counts[d.subset] == 0


def test_subset_traffic_policy_overrides_the_rules():
    dr = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "r"},
            "spec": {
                "host": "reviews",
                "trafficPolicy": {
                    "loadBalancer": {"simple": "RANDOM"},
                    "connectionPool": {"tcp": {"maxConnections": 5}},
                },
                "subsets": [
                    {
                        "name": "v1",
                        "labels": {"version": "v1"},
                        "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}},
                    }
                ],
            },
        }
    )[0]
    assert traffic_policy(dr).lb == "RANDOM" and traffic_policy(dr).max_connections == 5
    assert traffic_policy(dr, "v1").lb == "ROUND_ROBIN"
    assert traffic_policy(None) == TrafficPolicy()


# -- circuit breakers and outliers -------------------------------------------------------------------


def test_circuit_breaker_of_the_task_admits_one_and_queues_one():
    acct = PoolAccount(TrafficPolicy(max_connections=1, max_pending=1, max_requests_per_connection=1))
    assert acct.admit() == "connect"
    assert acct.admit() == "overflow"  # the first one's connection is still opening
    acct.connected()
    assert acct.admit() == "queue"
    assert acct.admit() == "overflow"
    acct.finished(keep_connection=True)  # maxRequestsPerConnection 1: closed anyway
    assert acct.can_hand() and acct.hand() == "connect"
    acct.connected()
    assert (acct.connections, acct.busy, acct.pending, acct.overflows) == (1, 1, 0, 2)


def test_http2_max_requests_bounds_requests_in_flight_over_http1_too():
    """Envoy's max_requests (Istio's http2MaxRequests) is checked when a request is given a
    connection, whatever the protocol: one in flight, the next overflows (503 UO) until it ends."""
    acct = PoolAccount(TrafficPolicy(max_requests=1))
    assert acct.admit() == "connect"
    assert acct.admit() == "overflow"  # would open a second connection: one request is in flight
    acct.connected()
    assert acct.admit() == "overflow"
    acct.finished(keep_connection=True)
    assert acct.admit() == "reuse"  # the kept-alive connection, the only request now
    assert (acct.overflows, acct.pending_total) == (2, 1)


def test_a_queued_request_handed_a_connection_overflows_when_requests_are_full():
    acct = PoolAccount(TrafficPolicy(max_connections=2, max_pending=5, max_requests=1))
    acct.busy = acct.connections = 2  # two in flight (the limit came down under them)
    assert acct.admit() == "queue"
    acct.finished(keep_connection=True)  # one ends; one is still in flight
    assert acct.can_hand() and acct.hand() == "overflow"
    assert (acct.queued, acct.pending, acct.overflows) == (0, 0, 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["admit", "connected", "finish", "finish-keep"]), max_size=60),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([0, 1]),
    st.sampled_from([1, 2, 4, UNLIMITED]),
)
def test_circuit_breaker_never_exceeds_its_limits(ops, max_conn, max_pending, per_conn, max_requests):
    acct = PoolAccount(
        TrafficPolicy(
            max_connections=max_conn,
            max_pending=max_pending,
            max_requests_per_connection=per_conn,
            max_requests=max_requests,
        )
    )
    connecting, running = 0, 0
    for op in ops:
        if op == "admit":
            got = acct.admit()
            connecting += got == "connect"
            running += got == "reuse"
        elif op == "connected" and connecting:
            connecting -= 1
            running += 1
            acct.connected()
        elif op.startswith("finish") and running:
            running -= 1
            acct.finished(op == "finish-keep")
            while acct.can_hand():
                got = acct.hand()
                connecting += got == "connect"
                running += got == "reuse"
        assert 0 <= acct.busy <= acct.connections <= max_conn
        assert acct.busy <= max_requests and running + connecting == acct.busy
        assert 0 <= acct.pending <= max_pending and acct.queued <= acct.pending


def test_outlier_detection_ejects_for_base_times_backoff_and_returns_at_a_sweep():
    """Envoy's consecutive-5xx ejection: out for baseEjectionTime x a back-off that grows by one per
    ejection and shrinks by one per interval in service; back at the first interval sweep after."""
    od = OutlierDetector(Outlier(consecutive_5xx=2, base_ejection=10, interval=1, max_ejection_percent=100))
    assert not od.record("a", 503, 0.0, 2)
    assert od.record("a", None, 1.5, 2)  # a connection failure counts too
    assert od.ejected(11.9) == {"a"} and od.ejected(12.0) == set()  # 1.5 + 10, at the sweep of t=12
    od.record("a", 500, 12.5, 2)
    assert od.record("a", 502, 12.5, 2)  # second ejection in a row: 20 s
    assert od.ejected(32.9) == {"a"} and od.ejected(33.0) == set()
    assert od.ejected(35.0) == set() and od.backoff["a"] == 0  # two sweeps in service: back to 0
    od.record("a", 500, 40.0, 2)
    assert od.record("a", 500, 40.0, 2) and od.ejected(49.9) == {"a"} and od.ejected(50.0) == set()
    assert not od.record("b", 200, 50.0, 2)


def test_outlier_detection_ejects_nothing_from_a_small_cluster_at_the_default_10_percent():
    """Envoy >= 1.28: an ejection must leave at most maxEjectionPercent of the hosts out, counting
    itself; under 10 hosts the default 10% allows none (Istio does not expose always_eject_one_host)."""
    od = OutlierDetector(Outlier(consecutive_5xx=1))
    assert od.policy.max_ejection_percent == 10
    assert not od.record("a", 500, 0.0, 3) and od.overflows == 1 and od.ejected(0.0) == set()
    big = OutlierDetector(Outlier(consecutive_5xx=1))
    assert big.record("a", 500, 0.0, 10)  # 1 of 10 is 10%
    assert not big.record("b", 500, 0.0, 10)  # 2 of 10 would be 20%
    half = OutlierDetector(Outlier(consecutive_5xx=1, max_ejection_percent=50))
    assert half.record("a", 500, 0.0, 2) and not half.record("b", 500, 0.0, 2)


def test_max_ejection_percent_0_is_unset_as_in_istio():
    dr = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "r"},
            "spec": {"host": "reviews", "trafficPolicy": {"outlierDetection": {"maxEjectionPercent": 0}}},
        }
    )[0]
    assert traffic_policy(dr).outlier.max_ejection_percent == 10


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.sampled_from([0, 10, 25, 50, 100]),
    st.integers(1, 3),
    st.lists(
        st.tuples(st.integers(0, 11), st.sampled_from([200, 500, 503, None]), st.floats(0, 3)), max_size=80
    ),
)
def test_outlier_detection_never_ejects_more_than_the_percentage_allows(n, pct, consecutive, events):
    od = OutlierDetector(
        Outlier(consecutive_5xx=consecutive, max_ejection_percent=pct or 10, interval=1, base_ejection=2)
    )
    t = 0.0
    for host, status, dt in events:
        t += dt
        od.record(f"h{host % n}", status, t, n)
        assert len(od.ejected(t)) <= (pct or 10) * n // 100


def test_min_health_percent_is_the_panic_threshold():
    od = OutlierDetector(Outlier(consecutive_5xx=1, max_ejection_percent=100, min_health_percent=50))
    eps = ["a", "b", "c"]
    od.record("a", 500, 0.0, 3)
    assert od.choosable(eps, 0.0) == ["b", "c"]  # 2 of 3 in service: above 50%
    od.record("b", 500, 0.0, 3)
    assert od.choosable(eps, 0.0) == eps  # 1 of 3: panic, all of them
    assert OutlierDetector(Outlier(consecutive_5xx=1, max_ejection_percent=100)).choosable(eps, 0.0) == eps


# -- PeerAuthentication ------------------------------------------------------------------------------


def pa(ns, mode, selector=None, ports=None, name="default"):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(p): {"mode": m} for p, m in ports.items()}
    return load_policies(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )[0]


def test_narrowest_peer_authentication_wins():
    objs = [
        pa("istio-system", "STRICT"),
        pa("foo", "PERMISSIVE"),
        pa("foo", "UNSET", {"app": "httpbin"}, {8080: "DISABLE"}, name="httpbin"),
    ]
    assert mtls_mode([], "foo", {})[0] == "PERMISSIVE"  # nothing set
    assert mtls_mode(objs[:1], "bar", {})[0] == "STRICT"  # mesh-wide
    assert mtls_mode(objs, "foo", {})[0] == "PERMISSIVE"  # namespace over mesh
    assert mtls_mode(objs, "foo", {"app": "httpbin"}, 9000)[0] == "PERMISSIVE"  # workload UNSET inherits
    assert mtls_mode(objs, "foo", {"app": "httpbin"}, 8080)[0] == "DISABLE"  # port level
    assert (
        mtls_mode(objs, "foo", {"app": "httpbin"}, 8080, ambient=True)[0] == "PERMISSIVE"
    )  # ignored in ambient


def test_an_object_for_a_namespace_the_lab_lacks_is_refused_with_its_file_and_document():
    from meshlab import Lab

    lab = Lab("bookinfo", verbose=False)  # not started: apply checks all the same
    with pytest.raises(PolicyError) as e:
        lab.apply(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            "metadata: {name: r, namespace: nope}\nspec: {host: r}\n",
            file="x.yaml",
        )
    assert (e.value.file, e.value.document) == ("x.yaml", 1) and "namespace 'nope' is not in the lab" in str(
        e.value
    )
    assert lab.policies() == []


def test_retry_ignore_previous_hosts_is_kept_and_defaults_to_true():
    base = {"route": [{"destination": {"host": "reviews"}}]}
    assert route_request(vs([base]), REVIEWS, req()).retry.ignore_previous_hosts  # the mesh default
    on = vs([{**base, "retries": {"attempts": 2}}])
    off = vs([{**base, "retries": {"attempts": 2, "retryIgnorePreviousHosts": False}}])
    assert route_request(on, REVIEWS, req()).retry.ignore_previous_hosts
    assert not route_request(off, REVIEWS, req()).retry.ignore_previous_hosts


# -- source matches: settled per proxy, as istiod builds routes ------------------------------------

SOURCE_VS = [
    {
        "match": [{"sourceLabels": {"app": "productpage"}}],
        "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
    },
    {
        "match": [{"sourceNamespace": "default", "headers": {"x-ns": {}}}],
        "route": [{"destination": {"host": "reviews", "subset": "v3"}}],
    },
    {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]},
]


def subset_for(proxy, **headers):
    routes = compile_routes(vs(SOURCE_VS), REVIEWS, proxy)
    return select_route(routes, req(**headers)).destinations[0].subset


def test_a_sidecar_keeps_the_source_matches_its_own_workload_meets():
    productpage = RouteProxy("default", {"app": "productpage", "version": "v1"})
    assert subset_for(productpage) == "v2"
    assert subset_for(RouteProxy("default", {"app": "details"}), x_ns="") == "v3"
    assert subset_for(RouteProxy("other", {"app": "details"}), x_ns="") == "v1"


def test_a_waypoint_drops_source_label_matches_and_checks_source_namespace_against_its_own():
    """istiod's waypointInboundRoute drops match blocks with sourceLabels (istio/istio#51565), and
    sourceMatchHTTP compares sourceNamespace with the waypoint's namespace, not the client's."""
    waypoint = RouteProxy(
        "default", {"gateway.networking.k8s.io/gateway-name": "waypoint", "app": "productpage"}, waypoint=True
    )
    assert subset_for(waypoint) == "v1"  # even a waypoint labelled like the source
    assert subset_for(waypoint, x_ns="") == "v3"
    assert subset_for(RouteProxy("other", {}, waypoint=True), x_ns="") == "v1"
    assert len(compile_routes(vs(SOURCE_VS), REVIEWS, waypoint)) == 2  # http[0] is no route there
    assert source_blocks([{"sourceLabels": {"a": "b"}}, {"uri": {"prefix": "/x"}}], waypoint) == [
        {"uri": {"prefix": "/x"}}
    ]


def test_a_waypoints_default_route_retries_as_an_outbound_route_does():
    """With no VirtualService for the service, a waypoint's default route is built like a
    sidecar's outbound route (buildSidecarInboundHTTPRouteConfig -> BuildDefaultHTTPOutboundRoute
    for a waypoint, Istio 1.31, istio#60682): the mesh's default retry policy, preferring other
    endpoints. The inbound default (reset-before-request only, any endpoint) is a sidecar's route
    to its own app (sidecar_inbound), which the waypoint had from 1.24 to 1.30."""
    [(_, at_waypoint)] = compile_routes(None, REVIEWS, RouteProxy("default", waypoint=True))
    [(_, at_sidecar)] = compile_routes(None, REVIEWS, RouteProxy("default", {"app": "productpage"}))
    assert at_waypoint.retry == at_sidecar.retry == DEFAULT_RETRY
    assert DEFAULT_RETRY.ignore_previous_hosts and not DEFAULT_INBOUND_RETRY.ignore_previous_hosts
    inbound = DEFAULT_INBOUND_RETRY
    assert inbound.attempts == 2
    assert retriable(inbound, Attempt(failure="connect-failure"))  # the request never went out
    assert not retriable(inbound, Attempt(failure="reset"))  # it may have reached the app
    assert not retriable(inbound, Attempt(status=503))
    assert not retriable(inbound, Attempt(failure="per-try-timeout"))


# -- PeerAuthentication in ambient: istiod's conversion for ztunnel ---------------------------------

WL = {"app": "httpbin"}
AMBIENT_CASES = [  # (policies, port, mode at ztunnel): pilot/pkg/serviceregistry/ambient/authorization.go
    ([pa("istio-system", "STRICT")], 8080, "STRICT"),
    ([pa("istio-system", "STRICT"), pa("foo", "DISABLE")], 8080, "PERMISSIVE"),  # DISABLE lifts it
    ([pa("istio-system", "STRICT"), pa("foo", "UNSET")], 8080, "STRICT"),
    ([pa("foo", "STRICT"), pa("foo", "DISABLE", WL, name="w")], 8080, "PERMISSIVE"),
    ([pa("foo", "STRICT"), pa("foo", "UNSET", WL, {8080: "PERMISSIVE"}, name="w")], 8080, "PERMISSIVE"),
    ([pa("foo", "STRICT"), pa("foo", "UNSET", WL, {8080: "PERMISSIVE"}, name="w")], 9000, "STRICT"),
    (
        [pa("foo", "STRICT"), pa("foo", "UNSET", WL, {8080: "DISABLE"}, name="w")],
        8080,
        "STRICT",
    ),  # not looked for
    ([pa("foo", "STRICT", WL, {8080: "DISABLE"}, name="w")], 8080, "PERMISSIVE"),
    ([pa("foo", "STRICT", WL, {8080: "DISABLE"}, name="w")], 9000, "STRICT"),
    ([pa("foo", "PERMISSIVE", WL, {8080: "STRICT"}, name="w")], 8080, "STRICT"),
    ([pa("foo", "PERMISSIVE", WL, {8080: "STRICT"}, name="w")], 9000, "PERMISSIVE"),
    ([pa("foo", "DISABLE"), pa("foo", "UNSET", WL, {8080: "STRICT"}, name="w")], 8080, "STRICT"),
    ([pa("foo", "DISABLE"), pa("foo", "UNSET", WL, {8080: "STRICT"}, name="w")], 9000, "PERMISSIVE"),
    (
        [pa("istio-system", "STRICT"), pa("foo", "PERMISSIVE", WL, {8080: "STRICT"}, name="w")],
        8080,
        "PERMISSIVE",
    ),
    (
        [pa("istio-system", "STRICT"), pa("foo", "UNSET", WL, {8080: "PERMISSIVE"}, name="w")],
        8080,
        "PERMISSIVE",
    ),
    ([pa("istio-system", "STRICT"), pa("foo", "UNSET", WL, {8080: "PERMISSIVE"}, name="w")], 9000, "STRICT"),
]


@pytest.mark.parametrize("objs, port, mode", AMBIENT_CASES)
def test_peer_authentication_at_ztunnel_follows_istiods_conversion(objs, port, mode):
    assert mtls_mode(objs, "foo", WL, port, ambient=True)[0] == mode


def test_disable_in_ambient_behaves_as_permissive_and_names_its_policy():
    objs = [pa("istio-system", "STRICT"), pa("foo", "DISABLE", name="legacy-ok")]
    assert mtls_mode(objs, "foo", {}, 8080, ambient=True) == (
        "PERMISSIVE",
        "PeerAuthentication foo/legacy-ok",
    )
    assert mtls_mode(objs, "bar", {}, 8080, ambient=True) == (
        "STRICT",
        "PeerAuthentication istio-system/default",
    )
    assert mtls_mode(objs, "foo", {}, 8080) == ("DISABLE", "PeerAuthentication foo/legacy-ok")  # a sidecar


MODES_NO_DISABLE = st.sampled_from(["UNSET", "PERMISSIVE", "STRICT", None])


@given(MODES_NO_DISABLE, MODES_NO_DISABLE, MODES_NO_DISABLE)
def test_without_disable_or_port_levels_ztunnel_and_sidecar_agree(mesh, ns, wl):
    """Where the conversion has no corner to cut, it is the narrowest-wins rule."""
    objs = [
        o
        for o in (mesh and pa("istio-system", mesh), ns and pa("foo", ns), wl and pa("foo", wl, WL, name="w"))
        if o
    ]
    assert mtls_mode(objs, "foo", WL, 8080, ambient=True)[0] == mtls_mode(objs, "foo", WL, 8080)[0]


def test_the_lab_refuses_what_it_would_otherwise_ignore_and_changes_nothing():
    """waypoint-for: all (ztunnel sends waypoints service-addressed traffic only) and a waypoint
    in another namespace are refused by name when applied, as a pod-level use-waypoint is in a
    topology."""
    from meshlab import Lab
    from meshlab.errors import TopologyError

    lab = Lab("bookinfo", mode="ambient", verbose=False)
    gateway = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: waypoint, labels: "
        "{istio.io/waypoint-for: all}}\nspec: {gatewayClassName: istio-waypoint, listeners: "
        "[{name: mesh, port: 15008, protocol: HBONE}]}\n"
    )
    with pytest.raises(PolicyError, match="allowed: service"):
        lab.apply(gateway)
    with pytest.raises(PolicyError, match="use-waypoint-namespace: 'infra' is not supported"):
        lab.apply(
            "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, labels: {istio.io/use-waypoint: waypoint, "
            "istio.io/use-waypoint-namespace: infra}}\n"
        )
    assert lab.policies() == []
    topo = {
        "name": "t",
        "nodes": [{"name": "n"}],
        "namespaces": [{"name": "default"}],
        "services": [],
        "workloads": [
            {"name": "c", "node": "n", "labels": {"istio.io/use-waypoint": "none"}, "app": {"kind": "client"}}
        ],
    }
    with pytest.raises(TopologyError, match="a pod-level istio.io/use-waypoint is not supported"):
        Lab(topo, verbose=False)


def test_the_sidecars_sni_is_istios_subset_key_of_the_cluster():
    from meshlab.proxy.sidecar import istio_sni

    assert (
        istio_sni("outbound|9080||reviews.default.svc.cluster.local", 9080)
        == "outbound_.9080_._.reviews.default.svc.cluster.local"
    )
    assert (
        istio_sni("outbound|8000|v1|httpbin.default.svc.cluster.local", 8080)
        == "outbound_.8000_.v1_.httpbin.default.svc.cluster.local"
    )  # the service port, not the pod's


def dr_in(ns: str, host: str, name: str, export=None) -> object:
    spec = {"host": host, **({"exportTo": export} if export else {})}
    return load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )[0]


def test_a_proxy_takes_its_destination_rule_where_istiod_looks():
    """PushContext.destinationRule: the proxy's namespace, then the service's (exported to the
    proxy), then the root namespace; exact hosts before wildcards; another namespace never."""
    svc = "httpbin.foo.svc.cluster.local"
    other = dr_in("baz", svc, "other")
    root = dr_in("istio-system", svc, "root")
    at_service = dr_in("foo", "httpbin", "at-service")
    private = dr_in("foo", "httpbin", "private", ["."])
    at_client = dr_in("bar", svc, "at-client")
    wildcard = dr_in("bar", "*.foo.svc.cluster.local", "wild")
    pick = lambda objs, ns: getattr(destination_rule_for(objs, svc, ns), "name", None)
    assert pick([other], "bar") is None
    assert pick([other, root], "bar") == "root"
    assert pick([root, at_service], "bar") == "at-service"
    assert pick([private], "bar") is None and pick([private], "foo") == "private"
    assert pick([root, at_service, at_client], "bar") == "at-client"
    assert pick([wildcard, at_client], "bar") == "at-client"
    assert pick([wildcard, at_service], "bar") == "wild"


def test_a_virtual_service_is_seen_where_it_is_exported():
    v = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {
                "hosts": ["reviews"],
                "exportTo": ["."],
                "http": [{"route": [{"destination": {"host": "reviews"}}]}],
            },
        }
    )[0]
    assert virtual_service_for([v], REVIEWS, RouteProxy("default")) is v
    assert virtual_service_for([v], REVIEWS, RouteProxy("other")) is None
    public = vs(
        [{"route": [{"destination": {"host": "reviews"}}]}],
        hosts=("reviews.default.svc.cluster.local",),
        ns="other",
    )
    assert virtual_service_for([public], REVIEWS, RouteProxy("default")) is public
    assert (
        virtual_service_for([public], REVIEWS, RouteProxy("default", waypoint=True)) is None
    )  # not its namespace
    assert virtual_service_for([public], REVIEWS, RouteProxy("other", waypoint=True)) is public


def test_ignore_uri_case_applies_to_exact_and_prefix_not_regex():
    v = vs(
        [
            {
                "match": [{"uri": {"prefix": "/Reviews"}, "ignoreUriCase": True}],
                "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
            },
            {
                "match": [{"uri": {"regex": "/RATINGS/.*"}, "ignoreUriCase": True}],
                "route": [{"destination": {"host": "reviews", "subset": "v3"}}],
            },
            {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]},
        ]
    )
    assert route_request(v, REVIEWS, req("/reviews/0")).destinations[0].subset == "v2"
    assert route_request(v, REVIEWS, req("/ratings/0")).destinations[0].subset == "v1"  # regex: case kept
    assert route_request(v, REVIEWS, req("/RATINGS/0")).destinations[0].subset == "v3"


def test_a_virtual_service_left_without_routes_for_a_proxy_is_the_default_route():
    """istiod gives up a VirtualService that yields no route for a proxy, and the service gets its
    default route: not a 404."""
    only_source = vs(
        [
            {
                "match": [{"sourceLabels": {"app": "productpage"}}],
                "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
            }
        ]
    )
    for proxy in (
        RouteProxy("default", {"app": "details"}),
        RouteProxy("default", {"app": "productpage"}, waypoint=True),
    ):
        [(blocks, action)] = compile_routes(only_source, REVIEWS, proxy)
        assert action.rule == "default route" and blocks == [{}]


def test_a_waypoint_merges_the_routes_of_every_virtual_service_for_the_service():
    a = vs(
        [
            {
                "match": [{"uri": {"prefix": "/a"}}],
                "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
            }
        ]
    )
    b = load_policies(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {
                "hosts": ["reviews"],
                "http": [{"route": [{"destination": {"host": "reviews", "subset": "v3"}}]}],
            },
        }
    )[0]
    waypoint = RouteProxy("default", {}, waypoint=True)
    routes = compile_routes(virtual_services_for([a, b], REVIEWS, waypoint), REVIEWS, waypoint)
    assert [select_route(routes, req(p)).destinations[0].subset for p in ("/a", "/b")] == ["v2", "v3"]
    sidecar = RouteProxy("default", {})
    routes = compile_routes(virtual_service_for([a, b], REVIEWS, sidecar), REVIEWS, sidecar)
    assert (
        select_route(routes, req("/a")).destinations[0].subset == "v2"
        and select_route(routes, req("/b")) is None
    )


@pytest.mark.parametrize("source", [42, 3.5, b"kind: VirtualService", None])
def test_something_that_is_not_yaml_is_a_policy_error_saying_what_is_accepted(source):
    with pytest.raises(PolicyError, match="give YAML text, a path to a .yaml file, a dict"):
        load_policies(source)
