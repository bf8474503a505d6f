"""Istio's "Authorization for HTTP traffic" task on Bookinfo (sidecars: L7 policy at the server
sidecar), and its ambient variant (L4 policy at the destination ztunnel, L7 at the waypoint) —
ISTIO-FACTS §6.1."""

import pytest

from meshlab import Lab
from meshlab.apps.bookinfo import RATINGS_ERROR

pytestmark = pytest.mark.integration

PAGE = "http://productpage:9080/productpage"
SA = "cluster.local/ns/default/sa/"


def policy(name, spec):
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def viewer(app, principal=None):
    rule = {"to": [{"operation": {"methods": ["GET"]}}]}
    if principal:
        rule["from"] = [{"source": {"principals": [SA + principal]}}]
    return policy(
        f"{app}-viewer", {"selector": {"matchLabels": {"app": app}}, "action": "ALLOW", "rules": [rule]}
    )


@pytest.fixture(scope="module")
def sidecar_lab(module_backend):
    with Lab("bookinfo", mode="sidecar", backend=module_backend, verbose=False) as lab:
        yield lab


def test_authz_http_task_four_steps(sidecar_lab):
    lab = sidecar_lab
    lab.apply(policy("deny-all", {}))
    r = lab.request("client", PAGE)
    assert r.status == 403 and r.body == "RBAC: access denied"
    denied = [h for h in r.path.hops if h.decision == "deny"]
    assert [h.name for h in denied] == ["productpage-v1-0/istio-proxy"]  # enforced by the server sidecar

    lab.apply(viewer("productpage"))
    r = lab.request("client", PAGE)
    assert (
        r.status == 200
        and "Error fetching product details" in r.body
        and "Error fetching product reviews" in r.body
    )

    lab.apply([viewer("details", "bookinfo-productpage"), viewer("reviews", "bookinfo-productpage")])
    pages = [lab.request("client", PAGE).body for _ in range(8)]
    assert not any("Error fetching" in b for b in pages)
    assert any(RATINGS_ERROR in b for b in pages)  # reviews v2/v3 may not call ratings yet

    lab.apply(viewer("ratings", "bookinfo-reviews"))
    pages = [lab.request("client", PAGE).body for _ in range(8)]
    assert not any(RATINGS_ERROR in b for b in pages) and any('color="' in b for b in pages)  # stars
    lab.delete(all=True)


def test_ambient_l4_policy_at_ztunnel_then_l7_at_the_waypoint(backend):
    ztunnel_policy = policy(
        "productpage-ztunnel",
        {
            "selector": {"matchLabels": {"app": "productpage"}},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": [SA + "bookinfo-gateway-istio"]}}]}],
        },
    )
    with Lab("bookinfo", mode="ambient", backend=backend, verbose=False) as lab:
        lab.apply(ztunnel_policy)
        r = lab.request("client", PAGE, timeout=5)
        assert r.status is None and r.error == "connection reset"  # curl: exit code 56
        assert (
            lab.request("productpage-v1", "http://details:9080/details/0").status == 200
        )  # others unaffected

        lab.set_waypoints("namespace")  # istioctl waypoint apply --enroll-namespace
        r = lab.request(
            "client", PAGE, timeout=5
        )  # the destination ztunnel now sees sa/waypoint, and refuses it:
        assert r.status == 503 and r.body.startswith("upstream connect error")  # the waypoint's Envoy says so
        lab.apply(
            policy(
                "productpage-waypoint",
                {
                    "targetRefs": [{"kind": "Service", "group": "", "name": "productpage"}],
                    "action": "ALLOW",
                    "rules": [
                        {
                            "from": [{"source": {"principals": [SA + "curl"]}}],
                            "to": [{"operation": {"methods": ["GET"]}}],
                        }
                    ],
                },
            )
        )
        ztunnel_policy["spec"]["rules"][0]["from"][0]["source"]["principals"].append(SA + "waypoint")
        lab.apply(ztunnel_policy)
        assert lab.request("client", PAGE).status == 200
        r = lab.request("client", PAGE, method="DELETE")
        assert r.status == 403 and r.body == "RBAC: access denied"
        assert [h.name for h in r.path.hops if h.decision == "deny"] == ["waypoint-0"]


def test_l7_rule_bound_to_ztunnel_fails_closed_with_istios_warning(backend):
    with Lab("bookinfo", mode="ambient", backend=backend, verbose=False) as lab:
        lab.apply(viewer("productpage"))  # GET only: an HTTP attribute, no waypoint
        assert any("ztunnel does not support HTTP attributes" in w and "waypoint" in w for w in lab.warnings)
        r = lab.request("client", PAGE, timeout=5)
        assert r.error == "connection reset"  # the ALLOW rule is dropped: nothing is allowed


def test_a_new_l4_policy_drops_connections_already_open(backend):
    """ztunnel re-checks open connections when policy changes (its policy watcher): the
    waypoint's pooled connection to productpage must not outlive an ALLOW that leaves the
    waypoint out."""
    only_curl = policy(
        "productpage-ztunnel",
        {
            "selector": {"matchLabels": {"app": "productpage"}},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": [SA + "curl"]}}]}],
        },
    )
    with Lab("bookinfo", mode="ambient", waypoints="namespace", backend=backend, verbose=False) as lab:
        for _ in range(3):  # the waypoint now holds open connections to productpage
            assert lab.request("client", PAGE).status == 200
        lab.apply(only_curl)
        r = lab.request("client", PAGE, timeout=5)
        assert r.status == 503  # not served over the old connection
        dropped = [s for s in lab.spans() if s.role == "ztunnel" and s.decision == "deny"]
        assert any("closed by a new policy" in (s.error or "") for s in dropped)
