"""Sidecar and ambient pods in one mesh talk over HBONE with mutual TLS, both ways."""

import pytest

from meshlab import Lab

pytestmark = pytest.mark.integration

SA = "spiffe://cluster.local/ns/"


def mixed():
    return {
        "name": "mixed",
        "nodes": [{"name": "node-1"}, {"name": "node-2"}],
        "namespaces": [
            {"name": "side", "labels": {"istio-injection": "enabled"}, "serviceAccounts": ["s"]},
            {"name": "amb", "labels": {"istio.io/dataplane-mode": "ambient"}, "serviceAccounts": ["a"]},
        ],
        "services": [
            {"name": "web", "namespace": "side", "port": 80, "targetPort": 8080, "selector": {"app": "web"}},
            {"name": "api", "namespace": "amb", "port": 80, "targetPort": 8080, "selector": {"app": "api"}},
        ],
        "workloads": [
            {
                "name": "web",
                "namespace": "side",
                "serviceAccount": "s",
                "node": "node-1",
                "app": {"kind": "httpbin"},
            },
            {
                "name": "api",
                "namespace": "amb",
                "serviceAccount": "a",
                "node": "node-2",
                "app": {"kind": "httpbin"},
            },
        ],
    }


@pytest.fixture(scope="module")
def lab(module_backend):
    with Lab(mixed(), backend=module_backend, verbose=False) as lab:
        yield lab


def test_a_sidecar_calls_an_ambient_pod_over_hbone(lab):
    r = lab.request("web", "http://api.amb/headers")
    assert r.status == 200
    roles = [(h.role, h.direction, h.mtls) for h in r.path.hops]
    assert roles == [
        ("client", None, False),
        ("sidecar", "outbound", False),
        ("ztunnel", "inbound", True),
        ("app", None, False),
    ]
    assert r.path.hops[2].identity == SA + "side/sa/s"


def test_an_ambient_pod_calls_a_sidecar_pod_over_hbone(lab):
    r = lab.request("api", "http://web.side/headers")
    assert r.status == 200
    roles = [(h.role, h.direction, h.mtls) for h in r.path.hops]
    assert roles == [
        ("client", None, False),
        ("ztunnel", "outbound", False),
        ("sidecar", "inbound", True),
        ("app", None, False),
    ]
    assert r.path.hops[2].identity == SA + "amb/sa/a"
    assert f"URI={SA}amb/sa/a" in r.body  # the app got the caller's identity (XFCC)
