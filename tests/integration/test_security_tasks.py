"""Istio's mTLS-migration and circuit-breaking tasks (ISTIO-FACTS §6.1), with the tasks' objects."""

import pytest
import yaml

from meshlab import Lab

pytestmark = pytest.mark.integration

STRICT_FOO = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec:
  mtls: {mode: STRICT}
"""
STRICT_MESH = STRICT_FOO.replace("namespace: foo", "namespace: istio-system")
DISABLE_TLS_TO_FOO = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: foo}
spec:
  host: httpbin
  trafficPolicy:
    tls: {mode: DISABLE}
"""
CIRCUIT_BREAKER = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
"""


@pytest.fixture(scope="module")
def migration(module_backend):
    with Lab("mtls-migration", backend=module_backend, verbose=False) as lab:
        yield lab


def reach(lab):
    """Istio's task loop: every sleep calls every httpbin; the status, or what curl would see."""
    return {
        (src.removeprefix("sleep-"), ns): (r.status or r.error)
        for src in ("sleep-foo", "sleep-bar", "sleep-legacy")
        for ns in ("foo", "bar")
        for r in [lab.request(src, f"http://httpbin.{ns}:8000/ip", timeout=5)]
    }


def test_mtls_migration_strict_shuts_out_the_client_outside_the_mesh(migration):
    migration.delete(all=True)
    assert set(reach(migration).values()) == {200}  # PERMISSIVE by default
    migration.apply(STRICT_FOO)
    got = reach(migration)
    assert got.pop(("legacy", "foo")) == "connection reset"  # curl: exit code 56
    assert set(got.values()) == {200}
    refused = migration.proxies["httpbin-foo-0/istio-proxy"].call("stats")["refused"]
    assert refused[-1]["mode"] == "STRICT" and refused[-1]["tls"] is False
    r = migration.request("sleep-legacy", "http://httpbin.foo:8000/ip", timeout=5)
    [hop] = [h for h in r.path.hops if h.role == "sidecar"]  # the path shows where it stopped
    assert (hop.name, hop.layer, hop.decision) == ("httpbin-foo-0/istio-proxy", "L4", "deny")
    assert "STRICT" in hop.error
    migration.apply(STRICT_MESH)  # mesh-wide, in the root namespace
    got = reach(migration)
    assert got.pop(("legacy", "foo")) == got.pop(("legacy", "bar")) == "connection reset"
    assert set(got.values()) == {200}
    migration.delete(all=True)
    assert set(reach(migration).values()) == {200}


def test_destination_rule_tls_disable_against_strict_gives_503(migration):
    """The circuit-breaking task's warning: a DestinationRule without ISTIO_MUTUAL (here:
    DISABLE) sends plaintext, which a STRICT server refuses: the client's sidecar answers 503."""
    migration.delete(all=True)
    migration.apply(DISABLE_TLS_TO_FOO)
    r = migration.request("sleep-bar", "http://httpbin.foo:8000/ip")
    assert r.status == 200
    assert not next(h for h in r.path.hops if h.name == "httpbin-foo-0/istio-proxy").mtls  # plaintext now
    migration.apply(STRICT_FOO)
    r = migration.request("sleep-bar", "http://httpbin.foo:8000/ip")
    assert r.status == 503 and "reset reason" in r.body
    migration.delete(all=True)


@pytest.fixture(scope="module")
def httpbin_sidecar(module_backend):
    with Lab("httpbin", mode="sidecar", backend=module_backend, verbose=False) as lab:
        yield lab


def test_circuit_breaking_overflows_with_503(httpbin_sidecar):
    """maxConnections 1, one pending request: one client at a time passes; two and three
    concurrent clients overflow (Envoy's UO, 503 at once), more of them the more clients."""
    lab = httpbin_sidecar
    lab.apply(CIRCUIT_BREAKER)
    one = lab.load("client", "http://httpbin:8000/get", requests=20, concurrency=1, progress=False)
    assert one.by_status() == {"200": 20}
    runs = {
        c: lab.load("client", "http://httpbin:8000/get", requests=n, concurrency=c, progress=False)
        for c, n in ((2, 20), (3, 30))
    }
    for res in runs.values():
        assert set(res.by_status()) == {"200", "503"}
    overflowed = [s for s in lab.spans() if "UO" in (s.attrs or {}).get("response_flags", "")]
    assert overflowed and all(s.status == 503 and s.role == "sidecar" for s in overflowed)
    cluster = lab.proxies["client-0/istio-proxy"].call("stats")["clusters"][
        "outbound|8000||httpbin.default.svc.cluster.local"
    ]
    assert cluster["upstream_rq_pending_overflow"] == len(overflowed)
    lab.delete(all=True)
    assert lab.load(
        "client", "http://httpbin:8000/get", requests=20, concurrency=3, progress=False
    ).by_status() == {"200": 20}


DISABLE_FOO = STRICT_FOO.replace("STRICT", "DISABLE").replace("name: default", "name: legacy-welcome")


def test_peer_authentication_disable_in_ambient_lifts_a_mesh_wide_strict(backend):
    """The migration task's namespaces in ambient mode. A mesh-wide STRICT shuts legacy out of
    both; a DISABLE in foo lifts it for foo, as PERMISSIVE would (istiod's conversion for ztunnel
    knows STRICT and not-STRICT), and bar stays shut. Meshed clients keep mutual TLS throughout."""
    from meshlab.topology.loader import TOPOLOGY_DIR

    topo = yaml.safe_load((TOPOLOGY_DIR / "mtls-migration.yaml").read_text())
    for ns in topo["namespaces"]:
        if ns["name"] in ("foo", "bar"):
            ns["labels"] = {"istio.io/dataplane-mode": "ambient"}
    with Lab(topo, backend=backend, verbose=False) as lab:
        lab.apply(STRICT_MESH)
        got = reach(lab)
        assert got.pop(("legacy", "foo")) == got.pop(("legacy", "bar")) == "connection reset"
        assert set(got.values()) == {200}
        lab.apply(DISABLE_FOO)
        got = reach(lab)
        assert got.pop(("legacy", "bar")) == "connection reset"
        assert set(got.values()) == {200}
        assert any("DISABLE acts as PERMISSIVE" in w for w in lab.warnings)
        r = lab.request("sleep-bar", "http://httpbin.foo:8000/ip")
        assert r.status == 200 and any(h.role == "ztunnel" and h.mtls for h in r.path.hops)


def dr_disable(namespace: str, host: str, export: str = "") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: plain-{namespace}, namespace: {namespace}}}\n"
        f"spec:\n  host: {host}\n  trafficPolicy: {{tls: {{mode: DISABLE}}}}\n{export}"
    )


def hop_mtls(lab, src: str) -> bool:
    r = lab.request(src, "http://httpbin.foo:8000/ip")
    assert r.status == 200
    return next(h for h in r.path.hops if h.name == "httpbin-foo-0/istio-proxy").mtls


def test_a_destination_rule_applies_where_istiod_looks_for_it(migration):
    """istiod picks a proxy's DestinationRule from the proxy's own namespace, then the service's
    (if exported to the proxy), then the root namespace; exportTo: ['.'] keeps one at home."""
    migration.delete(all=True)
    migration.apply(dr_disable("bar", "httpbin.foo.svc.cluster.local"))
    assert (hop_mtls(migration, "sleep-bar"), hop_mtls(migration, "sleep-foo")) == (False, True)
    migration.delete(all=True)
    migration.apply(dr_disable("foo", "httpbin", "  exportTo: ['.']\n"))
    assert (hop_mtls(migration, "sleep-bar"), hop_mtls(migration, "sleep-foo")) == (True, False)
    migration.delete(all=True)
