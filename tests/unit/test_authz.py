"""AuthorizationPolicy decisions, as Istio makes them (ISTIO-FACTS §4.4, §6.1), without sockets.

The scenarios follow Istio's own tasks: the four steps of "Authorization for HTTP traffic" on
Bookinfo (sidecar mode), the ambient getting-started (L4 policy at ztunnel, L7 at the waypoint),
and the pitfall of an HTTP rule bound to ztunnel.
"""

import random

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from meshlab.policy.authz import Decision, applies, decide, for_ztunnel, unsupported
from meshlab.policy.authzmatch import Attributes, check_when_key


def sa(name: str, ns: str = "default") -> str:
    return f"cluster.local/ns/{ns}/sa/{name}"


def policies(text: str) -> list[dict]:
    """AuthorizationPolicies from YAML, in the shape decide() takes."""
    return [
        {"name": d["metadata"]["name"], "namespace": d["metadata"]["namespace"], "spec": d.get("spec") or {}}
        for d in yaml.safe_load_all(text)
        if d
    ]


# -- Bookinfo, sidecar mode: the authz-http task -------------------------------------------------

BOOKINFO = {
    "productpage": {"app": "productpage", "version": "v1"},
    "details": {"app": "details", "version": "v1"},
    "reviews": {"app": "reviews", "version": "v2"},
    "ratings": {"app": "ratings", "version": "v1"},
}
INGRESS = sa("istio-ingressgateway-service-account", "istio-system")
PRODUCTPAGE, REVIEWS, DETAILS = sa("bookinfo-productpage"), sa("bookinfo-reviews"), sa("bookinfo-details")

DENY_ALL = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: default}
spec: {}
"""
PRODUCTPAGE_VIEWER = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: productpage-viewer, namespace: default}
spec:
  selector:
    matchLabels: {app: productpage}
  action: ALLOW
  rules:
  - to:
    - operation:
        methods: ["GET"]
"""
VIEWER = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {app}-viewer, namespace: default}}
spec:
  selector:
    matchLabels: {{app: {app}}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["{principal}"]
    to:
    - operation:
        methods: ["GET"]
"""
DETAILS_VIEWER = VIEWER.format(app="details", principal=PRODUCTPAGE)
REVIEWS_VIEWER = VIEWER.format(app="reviews", principal=PRODUCTPAGE)
RATINGS_VIEWER = VIEWER.format(app="ratings", principal=REVIEWS)


def sidecar_call(
    applied: list[dict], source: str | None, dst: str, method: str = "GET", path: str = "/"
) -> Decision:
    """One HTTP request, decided by the destination's sidecar."""
    bound = [
        p for p in applied if applies(p, namespace="default", labels=BOOKINFO[dst], enforcement="sidecar")
    ]
    return decide(
        bound,
        Attributes(
            destination_port=9080, source_principal=source, host=f"{dst}:9080", method=method, path=path
        ),
    )


def test_step1_deny_all_denies_every_request_with_an_implicit_deny():
    applied = policies(DENY_ALL)
    for source, dst in [(INGRESS, "productpage"), (PRODUCTPAGE, "details"), (REVIEWS, "ratings")]:
        d = sidecar_call(applied, source, dst)
        assert not d.allowed and d.action is None and d.policy is None
        assert "default/deny-all has no rules, so it allows nothing" in d.reason


def test_step2_productpage_viewer_lets_the_page_load_but_not_details_or_reviews():
    applied = policies(DENY_ALL + "---" + PRODUCTPAGE_VIEWER)
    page = sidecar_call(applied, INGRESS, "productpage", path="/productpage")
    assert page.allowed and page.policy == "default/productpage-viewer" and page.action == "ALLOW"
    assert not sidecar_call(applied, INGRESS, "productpage", method="POST").allowed
    assert not sidecar_call(
        applied, PRODUCTPAGE, "details", path="/details/0"
    ).allowed  # "Error fetching product details"
    assert not sidecar_call(
        applied, PRODUCTPAGE, "reviews", path="/reviews/0"
    ).allowed  # "Error fetching product reviews"


def test_step3_details_and_reviews_viewers_admit_only_productpage():
    applied = policies("---".join([DENY_ALL, PRODUCTPAGE_VIEWER, DETAILS_VIEWER, REVIEWS_VIEWER]))
    assert sidecar_call(applied, PRODUCTPAGE, "details", path="/details/0").allowed
    assert sidecar_call(applied, PRODUCTPAGE, "reviews", path="/reviews/0").allowed
    assert not sidecar_call(applied, PRODUCTPAGE, "details", method="POST").allowed
    assert not sidecar_call(applied, sa("curl"), "details").allowed
    assert not sidecar_call(applied, None, "details").allowed  # plaintext: no principal
    assert not sidecar_call(
        applied, REVIEWS, "ratings", path="/ratings/0"
    ).allowed  # "Ratings service ... unavailable"


def test_step4_ratings_viewer_brings_the_stars_back():
    applied = policies(
        "---".join([DENY_ALL, PRODUCTPAGE_VIEWER, DETAILS_VIEWER, REVIEWS_VIEWER, RATINGS_VIEWER])
    )
    d = sidecar_call(applied, REVIEWS, "ratings", path="/ratings/0")
    assert d.allowed and d.policy == "default/ratings-viewer"
    assert not sidecar_call(applied, PRODUCTPAGE, "ratings").allowed
    assert not sidecar_call(applied, DETAILS, "ratings").allowed


# -- Ambient: L4 policy at ztunnel, L7 policy at the waypoint ------------------------------------

GATEWAY, CURL, WAYPOINT = sa("bookinfo-gateway-istio"), sa("curl"), sa("waypoint")
PRODUCTPAGE_ZTUNNEL = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: productpage-ztunnel, namespace: default}
spec:
  selector:
    matchLabels: {app: productpage}
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/default/sa/bookinfo-gateway-istio
"""
PRODUCTPAGE_ZTUNNEL_WITH_WAYPOINT = PRODUCTPAGE_ZTUNNEL + "        - cluster.local/ns/default/sa/waypoint\n"
PRODUCTPAGE_WAYPOINT = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: productpage-waypoint, namespace: default}
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/default/sa/curl
    to:
    - operation:
        methods: ["GET"]
"""


def ztunnel_connect(
    applied: list[dict], source: str | None, dst: str = "productpage", port: int = 9080
) -> Decision:
    """One connection, decided by the destination ztunnel (L4 only)."""
    bound = [
        p for p in applied if applies(p, namespace="default", labels=BOOKINFO[dst], enforcement="ztunnel")
    ]
    return decide(
        bound,
        Attributes(
            destination_port=port,
            source_principal=source,
            source_ip="10.244.0.7",
            destination_ip="10.244.0.10",
        ),
        layer="L4",
    )


def waypoint_request(applied: list[dict], source: str, method: str, service: str = "productpage") -> Decision:
    bound = [
        p
        for p in applied
        if applies(
            p, namespace="default", labels={}, enforcement="waypoint", waypoint="waypoint", service=service
        )
    ]
    return decide(
        bound,
        Attributes(
            destination_port=9080,
            source_principal=source,
            host=f"{service}:9080",
            method=method,
            path="/productpage",
        ),
    )


def test_ambient_l4_policy_admits_the_gateway_and_resets_the_curl_pod():
    applied = policies(PRODUCTPAGE_ZTUNNEL)
    assert for_ztunnel(applied[0]) == (applied[0], None)  # plain L4: enforced as written
    assert ztunnel_connect(applied, GATEWAY).allowed
    curl = ztunnel_connect(applied, CURL)
    assert not curl.allowed and "implicit deny" in curl.reason  # curl: exit code 56


def test_ambient_with_a_waypoint_ztunnel_sees_the_waypoint_identity_until_it_is_allowed():
    assert not ztunnel_connect(policies(PRODUCTPAGE_ZTUNNEL), WAYPOINT).allowed
    applied = policies(PRODUCTPAGE_ZTUNNEL_WITH_WAYPOINT + "---" + PRODUCTPAGE_WAYPOINT)
    assert ztunnel_connect(applied, WAYPOINT).allowed
    assert ztunnel_connect(applied, GATEWAY).allowed
    assert not ztunnel_connect(applied, CURL).allowed  # curl must come through the waypoint


def test_ambient_l7_policy_at_the_waypoint_allows_get_and_denies_delete():
    applied = policies(PRODUCTPAGE_ZTUNNEL_WITH_WAYPOINT + "---" + PRODUCTPAGE_WAYPOINT)
    get = waypoint_request(applied, CURL, "GET")
    assert get.allowed and get.policy == "default/productpage-waypoint"
    assert not waypoint_request(applied, CURL, "DELETE").allowed  # 403 "RBAC: access denied"
    assert waypoint_request(applied, CURL, "DELETE", service="reviews").allowed  # not bound there
    # each policy binds only where it was meant to
    zt, wp = applied
    assert not applies(wp, namespace="default", labels=BOOKINFO["productpage"], enforcement="ztunnel")
    assert not applies(
        zt,
        namespace="default",
        labels=BOOKINFO["productpage"],
        enforcement="waypoint",
        waypoint="waypoint",
        service="productpage",
    )
    assert for_ztunnel(wp) == (None, None)


# -- The pitfall: HTTP rules bound to ztunnel ----------------------------------------------------


def policy(spec: dict, name: str = "p", namespace: str = "default") -> dict:
    return {"name": name, "namespace": namespace, "spec": spec}


SELECT_PRODUCTPAGE = {"matchLabels": {"app": "productpage"}}


def test_an_allow_with_http_attributes_at_ztunnel_fails_closed_with_istios_warning():
    p = policy(
        {
            "selector": SELECT_PRODUCTPAGE,
            "rules": [
                {
                    "from": [{"source": {"principals": [CURL]}}],
                    "to": [{"operation": {"methods": ["GET"], "paths": ["/x*"]}}],
                }
            ],
        }
    )
    converted, warning = for_ztunnel(p)
    assert converted["spec"]["rules"] == []
    assert warning == (
        "ztunnel does not support HTTP attributes (found: methods, paths). In ambient mode you "
        "must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching "
        "HTTP attributes are omitted. This will be more restrictive than requested."
    )
    d = ztunnel_connect([p], CURL)
    assert not d.allowed and "ztunnel drops ALLOW rules that use HTTP attributes (default/p)" in d.reason
    # the same policy at a sidecar does what it says
    assert sidecar_call([p], CURL, "productpage", "GET", "/x1").allowed


def test_a_deny_with_methods_and_ports_at_ztunnel_denies_the_whole_port():
    p = policy(
        {
            "selector": SELECT_PRODUCTPAGE,
            "action": "DENY",
            "rules": [{"to": [{"operation": {"methods": ["DELETE"], "ports": ["9080"]}}]}],
        }
    )
    converted, warning = for_ztunnel(p)
    assert converted["spec"]["rules"] == [{"to": [{"operation": {"ports": ["9080"]}}]}]
    assert warning.endswith(
        "DENY policy with HTTP attributes is enforced without the HTTP rules. "
        "This will be more restrictive than requested."
    )
    d = ztunnel_connect([p], GATEWAY, port=9080)
    assert not d.allowed and d.policy == "default/p" and d.action == "DENY"
    assert ztunnel_connect([p], GATEWAY, port=9090).allowed
    assert sidecar_call([p], GATEWAY, "productpage", "GET").allowed  # at L7 only DELETE is denied


def test_a_deny_with_only_http_attributes_has_no_effect_at_ztunnel():
    for rule in (
        {"to": [{"operation": {"methods": ["DELETE"]}}]},
        {"from": [{"source": {"principals": [CURL]}}], "to": [{"operation": {"methods": ["DELETE"]}}]},
        {"when": [{"key": "request.headers[x-user]", "values": ["eve"]}]},
    ):
        p = policy({"selector": SELECT_PRODUCTPAGE, "action": "DENY", "rules": [rule]})
        converted, warning = for_ztunnel(p)
        assert converted is None and "will have no effect" in warning
        assert ztunnel_connect([p], CURL).allowed


def test_a_deny_keeps_l4_conditions_at_ztunnel():
    p = policy({"action": "DENY", "rules": [{"when": [{"key": "source.ip", "values": ["10.244.0.0/24"]}]}]})
    assert for_ztunnel(p) == (p, None)
    assert not ztunnel_connect([p], GATEWAY).allowed


def test_ztunnel_does_not_run_audit_or_custom():
    assert for_ztunnel(policy({"action": "AUDIT", "rules": [{}]})) == (
        None,
        "ztunnel does not support the AUDIT action",
    )
    assert for_ztunnel(policy({"action": "CUSTOM", "rules": [{}]}))[0] is None


def tcp_connect(applied: list[dict], source: str | None, port: int = 3306) -> Decision:
    return decide(applied, Attributes(destination_port=port, source_principal=source), layer="TCP")


def test_a_sidecar_on_a_tcp_port_treats_missing_http_attributes_as_matches_for_deny():
    deny = policy({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})
    assert not tcp_connect([deny], CURL).allowed  # unlike ztunnel, where it has no effect
    allow = policy({"rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})
    d = tcp_connect([allow], CURL)
    assert not d.allowed and "a TCP filter drops ALLOW rules that use HTTP attributes" in d.reason
    mixed = policy({"rules": [{"to": [{"operation": {"ports": ["3306"]}}]}]})
    assert tcp_connect([mixed], CURL).allowed and not tcp_connect([mixed], CURL, port=5432).allowed


# -- Matching forms ------------------------------------------------------------------------------


def allows(rule: dict, namespace: str = "default", **kw) -> bool:
    """Does an ALLOW policy with just ``rule`` admit this request (L7)?"""
    kw.setdefault("destination_port", 9080)
    return decide([policy({"rules": [rule]}, namespace=namespace)], Attributes(**kw)).allowed


def source(**fields) -> dict:
    return {"from": [{"source": fields}]}


def operation(**fields) -> dict:
    return {"to": [{"operation": fields}]}


@pytest.mark.parametrize(
    "rule, attrs, expected",
    [
        (source(principals=[CURL]), dict(source_principal=CURL), True),
        (source(principals=[CURL]), dict(source_principal="spiffe://" + CURL), True),
        (source(principals=[CURL]), dict(source_principal=sa("curl2")), False),
        (source(principals=["cluster.local/ns/default/*"]), dict(source_principal=CURL), True),
        (source(principals=["cluster.local/ns/default/*"]), dict(source_principal=sa("curl", "foo")), False),
        (source(principals=["*/sa/curl"]), dict(source_principal=sa("curl", "foo")), True),
        (source(principals=["*"]), dict(source_principal=CURL), True),
        (source(principals=["*"]), dict(), False),  # plaintext has no principal
        (source(namespaces=["default"]), dict(source_principal=CURL), True),
        (source(namespaces=["foo"]), dict(source_principal=CURL), False),
        (source(namespaces=["def*"]), dict(source_principal=CURL), True),
        (source(namespaces=["*"]), dict(source_ip="10.0.0.1"), False),
        (source(serviceAccounts=["default/curl"]), dict(source_principal=CURL), True),
        (source(serviceAccounts=["curl"]), dict(source_principal=CURL), True),  # the policy's namespace
        (source(serviceAccounts=["foo/curl"]), dict(source_principal=CURL), False),
        (source(serviceAccounts=["curl"]), dict(source_principal=sa("curl", "foo")), False),
        (source(trustDomains=["cluster.local"]), dict(source_principal=CURL), True),
        (source(trustDomains=["other.org"]), dict(source_principal=CURL), False),
        (source(ipBlocks=["10.0.0.0/8"]), dict(source_ip="10.1.2.3"), True),
        (source(ipBlocks=["10.1.2.3"]), dict(source_ip="10.1.2.3"), True),
        (source(ipBlocks=["10.1.2.3"]), dict(source_ip="10.1.2.4"), False),
        (source(ipBlocks=["fd00::/8"]), dict(source_ip="fd00::1"), True),
        (source(ipBlocks=["10.0.0.0/8"]), dict(source_ip="fd00::1"), False),
        (source(ipBlocks=["10.0.0.0/8"]), dict(), False),
        (source(remoteIpBlocks=["10.0.0.0/8"]), dict(source_ip="10.1.2.3"), True),  # defaults to source
        (source(remoteIpBlocks=["10.0.0.0/8"]), dict(source_ip="10.1.2.3", remote_ip="192.0.2.1"), False),
        (
            source(requestPrincipals=["https://issuer.example/alice"]),
            dict(request_principal="https://issuer.example/alice"),
            True,
        ),
        (source(requestPrincipals=["*"]), dict(), False),
        (source(principals=[CURL], namespaces=["foo"]), dict(source_principal=CURL), False),  # all fields AND
        (
            operation(hosts=["Productpage.Default.svc.cluster.local"]),
            dict(host="productpage.default.SVC.cluster.local"),
            True,
        ),
        (operation(hosts=["*.svc.cluster.local"]), dict(host="ratings.default.svc.cluster.local"), True),
        (operation(hosts=["productpage*"]), dict(host="productpage:9080"), True),
        (operation(hosts=["productpage"]), dict(host="productpage:9080"), False),
        (operation(ports=["9080"]), dict(), True),
        (operation(ports=["9080"]), dict(destination_port=9090), False),
        (operation(methods=["GET"]), dict(method="GET"), True),
        (operation(methods=["GET"]), dict(method="get"), False),  # methods are case-sensitive
        (operation(methods=["GET"]), dict(), False),  # no method at all
        (operation(paths=["/api/*"]), dict(path="/api/v1/users"), True),
        (operation(paths=["*.json"]), dict(path="/data/x.json"), True),
        (operation(paths=["/status"]), dict(path="/status?verbose=1"), True),  # the query is not the path
        (operation(paths=["/status"]), dict(path="/status/1"), False),
        (operation(methods=["GET"], paths=["/ok"]), dict(method="GET", path="/no"), False),
        (
            {"from": [{"source": {"principals": [CURL]}}, {"source": {"namespaces": ["foo"]}}]},
            dict(source_principal=sa("x", "foo")),
            True,
        ),  # any source
        (
            {"to": [{"operation": {"methods": ["POST"]}}, {"operation": {"paths": ["/ok"]}}]},
            dict(method="GET", path="/ok"),
            True,
        ),  # any operation
        (
            dict(source(principals=[CURL]), **operation(methods=["GET"])),
            dict(source_principal=CURL, method="PUT"),
            False,
        ),
    ],
)
def test_matching_forms(rule, attrs, expected):
    assert allows(rule, **attrs) is expected


def test_a_bare_service_account_is_in_the_policys_own_namespace():
    assert allows(source(serviceAccounts=["sleep"]), namespace="foo", source_principal=sa("sleep", "foo"))
    assert not allows(source(serviceAccounts=["sleep"]), namespace="foo", source_principal=sa("sleep"))


def test_star_means_non_empty_except_for_headers_where_it_means_present():
    assert not allows(when("connection.sni", ["*"]), sni="")
    assert allows(when("connection.sni", ["*"]), sni="reviews")
    assert allows(when("request.headers[x-debug]", ["*"]), headers={"x-debug": ""})


@pytest.mark.parametrize(
    "rule, attrs, expected",
    [
        (source(notPrincipals=[CURL]), dict(source_principal=CURL), False),
        (source(notPrincipals=[CURL]), dict(source_principal=DETAILS), True),
        (source(notPrincipals=[CURL]), dict(), True),  # plaintext is "not curl"
        (
            source(principals=["cluster.local/ns/default/*"], notPrincipals=[CURL]),
            dict(source_principal=DETAILS),
            True,
        ),
        (
            source(principals=["cluster.local/ns/default/*"], notPrincipals=[CURL]),
            dict(source_principal=CURL),
            False,
        ),
        (source(notNamespaces=["foo"]), dict(source_principal=CURL), True),
        (source(notNamespaces=["default"]), dict(source_principal=CURL), False),
        (source(notNamespaces=["default"]), dict(), True),
        (source(notServiceAccounts=["default/curl"]), dict(source_principal=CURL), False),
        (source(notIpBlocks=["10.0.0.0/8"]), dict(source_ip="10.9.9.9"), False),
        (source(notIpBlocks=["10.0.0.0/8"]), dict(source_ip="192.0.2.1"), True),
        (
            source(notRemoteIpBlocks=["192.0.2.0/24"]),
            dict(source_ip="10.0.0.1", remote_ip="192.0.2.1"),
            False,
        ),
        (source(notRequestPrincipals=["*"]), dict(), True),
        (operation(notMethods=["DELETE"]), dict(method="GET"), True),
        (operation(notMethods=["DELETE"]), dict(method="DELETE"), False),
        (operation(notPaths=["/admin*"]), dict(path="/admin/users"), False),
        (operation(notPaths=["/admin*"]), dict(path="/public"), True),
        (operation(notPorts=["9080"]), dict(), False),
        (operation(notPorts=["9080"]), dict(destination_port=15021), True),
        (operation(notHosts=["ADMIN.example.com"]), dict(host="admin.example.com"), False),
    ],
)
def test_not_forms(rule, attrs, expected):
    assert allows(rule, **attrs) is expected


def test_deny_not_principals_star_is_how_istio_requires_mtls():
    require_mtls = policy({"action": "DENY", "rules": [source(notPrincipals=["*"])]})
    assert not decide([require_mtls], Attributes(destination_port=80, source_ip="10.0.0.5")).allowed
    assert decide([require_mtls], Attributes(destination_port=80, source_principal=CURL)).allowed


def when(key: str, values=None, not_values=None) -> dict:
    c = {"key": key}
    if values is not None:
        c["values"] = values
    if not_values is not None:
        c["notValues"] = not_values
    return {"when": [c]}


@pytest.mark.parametrize(
    "rule, attrs, expected",
    [
        (when("request.headers[end-user]", ["jason"]), dict(headers={"End-User": "jason"}), True),
        (when("request.headers[End-User]", ["jason"]), dict(headers={"end-user": "jason"}), True),
        (when("request.headers[end-user]", ["jason"]), dict(headers={"end-user": "Jason"}), False),
        (when("request.headers[end-user]", ["jason"]), dict(), False),
        (when("request.headers[end-user]", not_values=["jason"]), dict(), True),
        (when("request.headers[end-user]", not_values=["jason"]), dict(headers={"end-user": "jason"}), False),
        (when("request.headers[x-debug]", ["*"]), dict(headers={"x-debug": ""}), True),  # presence
        (when("request.headers[user-agent]", ["curl/*"]), dict(headers={"user-agent": "curl/8.5"}), True),
        (when("source.ip", ["10.244.0.0/16"]), dict(source_ip="10.244.1.5"), True),
        (when("remote.ip", ["192.0.2.1"]), dict(source_ip="10.0.0.1", remote_ip="192.0.2.1"), True),
        (when("source.namespace", ["default"]), dict(source_principal=CURL), True),
        (when("source.namespace", not_values=["default"]), dict(source_principal=CURL), False),
        (when("source.principal", [CURL]), dict(source_principal=CURL), True),
        (when("request.auth.principal", ["iss/sub"]), dict(request_principal="iss/sub"), True),
        (when("destination.ip", ["10.96.0.0/12"]), dict(destination_ip="10.96.3.4"), True),
        (when("destination.port", ["9080"]), dict(), True),
        (when("destination.port", ["9080", "9443"]), dict(destination_port=8000), False),
        (
            when("connection.sni", ["*.svc.cluster.local"]),
            dict(sni="outbound_.9080_._.reviews.default.svc.cluster.local"),
            True,
        ),
        (
            {
                "when": [
                    {"key": "source.namespace", "values": ["default"]},
                    {"key": "request.headers[end-user]", "values": ["jason"]},
                ]
            },
            dict(source_principal=CURL, headers={"end-user": "bob"}),
            False,
        ),  # all conditions AND
    ],
)
def test_when_conditions(rule, attrs, expected):
    assert allows(rule, **attrs) is expected


def test_check_when_key_names_the_key_and_the_allowed_keys():
    for key in ("source.ip", "request.headers[end-user]", "connection.sni", "request.auth.principal"):
        check_when_key(key)
    with pytest.raises(
        ValueError, match=r"unknown when key 'source.port'; allowed keys: .*request\.headers\[<name>\]"
    ):
        check_when_key("source.port")
    with pytest.raises(ValueError, match=r"'request.auth.claims\[iss\]' is valid in Istio"):
        check_when_key("request.auth.claims[iss]")
    with pytest.raises(ValueError, match="unknown when key 'request.headers\\[\\]'"):
        check_when_key("request.headers[]")
    with pytest.raises(ValueError, match="source.port"):
        allows(when("source.port", ["1"]))


# -- Binding: selector, namespaces, targetRefs ---------------------------------------------------


def bound(p: dict, enforcement: str, namespace: str = "default", labels=None, **kw) -> bool:
    return applies(p, namespace=namespace, labels=labels or {"app": "reviews"}, enforcement=enforcement, **kw)


def test_selector_and_namespace_binding_at_sidecars_and_ztunnels():
    for enforcement in ("sidecar", "ztunnel"):
        assert bound(policy({}), enforcement)  # namespace-wide
        assert not bound(policy({}, namespace="foo"), enforcement)  # another namespace
        assert bound(policy({}, namespace="istio-system"), enforcement, namespace="foo")  # mesh-wide
        assert bound(policy({}, namespace="mesh-root"), enforcement, root_namespace="mesh-root")
        assert bound(policy({"selector": {"matchLabels": {"app": "reviews"}}}), enforcement)
        assert not bound(
            policy({"selector": {"matchLabels": {"app": "reviews", "version": "v3"}}}),
            enforcement,
            labels={"app": "reviews", "version": "v2"},
        )
        assert bound(
            policy({"selector": {"matchLabels": {"app": "reviews"}}}, namespace="istio-system"),
            enforcement,
            namespace="foo",
        )
        # a targetRefs policy is for waypoints (and gateways): sidecars ignore it, ztunnel never gets it
        assert not bound(
            policy({"targetRefs": [{"kind": "Service", "group": "", "name": "reviews"}]}),
            enforcement,
            service="reviews",
        )


def test_waypoints_take_only_targetrefs_policies():
    at_waypoint = dict(enforcement="waypoint", waypoint="waypoint", service="reviews")
    assert not bound(policy({}), **at_waypoint)  # namespace-wide: ignored
    assert not bound(policy({"selector": {"matchLabels": {"app": "reviews"}}}), **at_waypoint)
    gw = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}
    assert bound(policy({"targetRefs": [gw]}), **at_waypoint)
    assert bound(policy({"targetRef": gw}), **at_waypoint)  # legacy single targetRef
    assert not bound(policy({"targetRefs": [{**gw, "name": "other"}]}), **at_waypoint)
    assert not bound(policy({"targetRefs": [gw]}, namespace="foo"), **at_waypoint)
    assert not bound(policy({"targetRefs": [{**gw, "group": "networking.istio.io"}]}), **at_waypoint)
    svc = {"kind": "Service", "group": "", "name": "reviews"}
    assert bound(policy({"targetRefs": [svc]}), **at_waypoint)
    assert not bound(policy({"targetRefs": [{**svc, "name": "ratings"}]}), **at_waypoint)
    assert bound(
        policy({"targetRefs": [svc]}, namespace="shop"),
        enforcement="waypoint",
        waypoint="waypoint",
        service="shop/reviews",
    )  # a Service in another ns
    gwc = {"kind": "GatewayClass", "group": "gateway.networking.k8s.io", "name": "istio-waypoint"}
    assert bound(policy({"targetRefs": [gwc]}, namespace="istio-system"), namespace="foo", **at_waypoint)
    assert not bound(policy({"targetRefs": [gwc]}), **at_waypoint)  # only from the root namespace


def test_unknown_enforcement_or_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="enforcement 'envoy': expected one of sidecar, ztunnel, waypoint"):
        bound(policy({}), "envoy")
    with pytest.raises(ValueError, match="layer 'L3'"):
        decide([], Attributes(destination_port=1), layer="L3")


# -- CUSTOM, AUDIT, attributes -------------------------------------------------------------------


def test_custom_is_not_evaluated_and_unsupported_says_so():
    custom = policy({"action": "CUSTOM", "provider": {"name": "ext-authz"}, "rules": [{}]}, name="ext")
    d = decide([custom], Attributes(destination_port=80))
    assert d.allowed and d.policy is None
    assert "CUSTOM" in unsupported(custom) and unsupported(custom).startswith(
        "AuthorizationPolicy default/ext:"
    )
    assert unsupported(policy({"rules": [operation(paths=["/api/{*}/x"])]})).count("path template") == 1
    assert "request.auth.claims[groups]" in unsupported(
        policy({"rules": [when("request.auth.claims[groups]", ["a"])]})
    )
    assert unsupported(policy({"rules": [source(principals=[CURL])]})) is None


def test_audit_is_reported_but_never_decides():
    audit = policy({"action": "AUDIT", "rules": [operation(methods=["DELETE"])]}, name="audit-deletes")
    d = decide(
        [audit, policy({"rules": [{}]}, name="allow-all")], Attributes(destination_port=80, method="DELETE")
    )
    assert d.allowed and d.policy == "default/allow-all" and d.audited == ("default/audit-deletes",)
    assert decide([audit], Attributes(destination_port=80, method="GET")).audited == ()
    audit_all = policy({"action": "AUDIT", "rules": [{}]}, name="audit-all")
    assert decide([audit_all], Attributes(destination_port=80)).audited == ("default/audit-all",)
    assert (
        decide([audit_all], Attributes(destination_port=80), layer="L4").audited == ()
    )  # ztunnel has no AUDIT


def test_attributes_derive_the_namespace_from_the_principal_only():
    a = Attributes(destination_port=80, source_principal="spiffe://cluster.local/ns/foo/sa/sleep")
    assert a.source_principal == "cluster.local/ns/foo/sa/sleep" and a.source_namespace == "foo"
    with pytest.raises(ValueError, match="contradicts"):
        Attributes(destination_port=80, source_principal=CURL, source_namespace="foo")
    with pytest.raises(ValueError, match="only from its mTLS identity"):
        Attributes(destination_port=80, source_namespace="foo")


# -- Properties ----------------------------------------------------------------------------------

PRINCIPAL_VALUES = [CURL, "cluster.local/ns/default/*", "*/sa/bookinfo-reviews", "*"]
sources = st.fixed_dictionaries(
    {},
    optional={
        "principals": st.lists(st.sampled_from(PRINCIPAL_VALUES), min_size=1, max_size=2),
        "notPrincipals": st.lists(st.sampled_from(PRINCIPAL_VALUES), min_size=1, max_size=2),
        "namespaces": st.lists(st.sampled_from(["default", "foo", "*"]), min_size=1, max_size=2),
        "ipBlocks": st.lists(
            st.sampled_from(["10.0.0.0/8", "10.0.0.1", "192.0.2.0/24"]), min_size=1, max_size=2
        ),
    },
)
operations = st.fixed_dictionaries(
    {},
    optional={
        "methods": st.lists(st.sampled_from(["GET", "POST", "DELETE"]), min_size=1, max_size=2),
        "notMethods": st.lists(st.sampled_from(["GET", "DELETE"]), min_size=1, max_size=1),
        "paths": st.lists(st.sampled_from(["/", "/api/*", "*.json", "*"]), min_size=1, max_size=2),
        "ports": st.lists(st.sampled_from(["9080", "8000"]), min_size=1, max_size=2),
    },
)
conditions = st.one_of(
    st.builds(
        lambda v: {"key": "request.headers[x-user]", "values": v},
        st.lists(st.sampled_from(["alice", "*"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda v: {"key": "source.namespace", "notValues": v},
        st.lists(st.sampled_from(["foo", "default"]), min_size=1, max_size=1),
    ),
    st.builds(
        lambda v: {"key": "destination.port", "values": v},
        st.lists(st.sampled_from(["9080", "8000"]), min_size=1, max_size=1),
    ),
)
rules = st.fixed_dictionaries(
    {},
    optional={
        "from": st.lists(st.builds(lambda s: {"source": s}, sources), min_size=1, max_size=2),
        "to": st.lists(st.builds(lambda o: {"operation": o}, operations), min_size=1, max_size=2),
        "when": st.lists(conditions, min_size=1, max_size=2),
    },
)
specs = st.builds(
    lambda action, rs: {"action": action, **({} if rs is None else {"rules": rs})},
    st.sampled_from(["ALLOW", "DENY", "AUDIT"]),
    st.none() | st.lists(rules, max_size=3),
)
policy_lists = st.lists(specs, max_size=5).map(lambda ss: [policy(s, name=f"p{i}") for i, s in enumerate(ss)])
attributes = st.builds(
    lambda principal, ip, port, method, path, user: Attributes(
        destination_port=port,
        source_principal=principal,
        source_ip=ip,
        method=method,
        path=path,
        headers={} if user is None else {"x-user": user},
    ),
    st.sampled_from([None, CURL, REVIEWS, sa("sleep", "foo")]),
    st.sampled_from(["10.0.0.1", "192.0.2.9"]),
    st.sampled_from([9080, 8000]),
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.sampled_from(["/", "/api/v1", "/x.json"]),
    st.sampled_from([None, "alice", "bob"]),
)
layers = st.sampled_from(["L7", "TCP", "L4"])


@given(policy_lists, attributes, layers, st.randoms(use_true_random=False))
def test_the_decision_does_not_depend_on_policy_order(ps, attrs, layer, rnd: random.Random):
    shuffled = list(ps)
    rnd.shuffle(shuffled)
    assert decide(shuffled, attrs, layer) == decide(ps, attrs, layer)


def matching_deny(attrs: Attributes, layer: str, choice: int) -> dict:
    """A DENY built from what the request carries, so that it matches at ``layer``."""
    l4 = [
        {},
        operation(ports=[str(attrs.destination_port)]),
        source(ipBlocks=[attrs.source_ip]),
        source(principals=[attrs.source_principal or "x"])
        if attrs.source_principal
        else source(notPrincipals=["*"]),
    ]
    l7 = [
        operation(methods=[attrs.method]),
        operation(paths=[attrs.path], methods=["*"]),
        dict(source(notNamespaces=["nowhere"]), **operation(notMethods=["TRACE"])),
    ]
    options = l4 if layer == "L4" else l4 + l7
    return policy({"action": "DENY", "rules": [options[choice % len(options)]]}, name="zz-deny")


@given(policy_lists, attributes, layers, st.integers(0, 20))
def test_adding_a_matching_deny_always_denies(ps, attrs, layer, choice):
    d = decide(ps + [matching_deny(attrs, layer, choice)], attrs, layer)
    assert not d.allowed and d.action == "DENY"


@given(policy_lists, attributes, layers, st.lists(rules, max_size=2))
def test_an_audit_policy_never_changes_the_decision(ps, attrs, layer, audit_rules):
    audit = policy({"action": "AUDIT", "rules": audit_rules}, name="audit")
    before, after = decide(ps, attrs, layer), decide(ps + [audit], attrs, layer)
    assert (after.allowed, after.action, after.policy) == (before.allowed, before.action, before.policy)


@given(
    policy_lists,
    attributes,
    layers,
    st.sampled_from([{}, {"rules": []}, {"rules": [source(principals=[sa("nobody", "nowhere")])]}]),
)
def test_an_allow_that_matches_nothing_turns_allow_into_deny(ps, attrs, layer, allow_nothing):
    ps = [p for p in ps if p["spec"]["action"] != "ALLOW"]  # a workload without ALLOW policies
    before = decide(ps, attrs, layer)
    after = decide(ps + [policy(allow_nothing, name="allow-nothing")], attrs, layer)
    assert after.allowed is False
    assert before.allowed is (before.action != "DENY")
    if before.allowed:
        assert "implicit deny" in after.reason


@given(policy_lists, attributes, layers)
def test_rules_with_one_empty_rule_allow_everything_not_denied(ps, attrs, layer):
    allow_all = policy({"action": "ALLOW", "rules": [{}]}, name="allow-all")
    denies = [p for p in ps if p["spec"]["action"] == "DENY"]
    assert decide(ps + [allow_all], attrs, layer).allowed is decide(denies, attrs, layer).allowed
