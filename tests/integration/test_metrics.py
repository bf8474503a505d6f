"""Every proxy serves Istio's standard metrics in Prometheus text on its admin port (15020), read
from inside the proxy's own network (on mininet: its pod's or node's namespace)."""

import re

import pytest

from meshlab import Lab
from meshlab.errors import LabError

pytestmark = pytest.mark.integration


def series(text: str, name: str) -> list[dict]:
    """Parse the samples of one metric from Prometheus text into label dicts with a 'value'."""
    out = []
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            labels["value"] = float(m.group(2))
            out.append(labels)
    return out


def test_sidecars_report_requests_from_both_ends(backend):
    """The server's sidecar reports reporter=destination with mutual_tls; the client's reports
    reporter=source, where Istio says connection_security_policy=unknown."""
    with Lab("minimal", mode="sidecar", backend=backend, verbose=False) as lab:
        lab.load(requests=12)
        dst = series(lab.metrics("server-0/istio-proxy"), "istio_requests_total")
        src = series(lab.metrics("client-0/istio-proxy"), "istio_requests_total")
    (d,) = [s for s in dst if s["reporter"] == "destination"]
    assert (
        d["value"] == 12 and d["response_code"] == "200" and d["connection_security_policy"] == "mutual_tls"
    )
    assert d["source_workload"] == "client" and d["source_principal"] == "cluster.local/ns/default/sa/client"
    assert (
        d["destination_service"] == "server.default.svc.cluster.local"
        and d["destination_workload"] == "server"
    )
    (s,) = [x for x in src if x["reporter"] == "source"]
    assert s["value"] == 12 and s["connection_security_policy"] == "unknown"


def test_ztunnel_reports_mutual_tls_on_its_outbound_side_too(backend):
    """Unlike a sidecar's client side, ztunnel's source-side TCP metrics say mutual_tls for a
    connection it sent over HBONE (istio/ztunnel outbound.rs: conn_metrics_from_request), and unknown
    only for plain TCP to a destination outside the mesh."""
    with Lab("minimal", mode="ambient", backend=backend, verbose=False) as lab:
        lab.load(requests=6, headers={"connection": "close"})
        src = [
            s
            for s in series(lab.metrics("ztunnel-node-1"), "istio_tcp_connections_opened_total")
            if s["reporter"] == "source"
        ]
    assert src and {s["connection_security_policy"] for s in src} == {"mutual_tls"}


def test_ztunnel_reports_tcp_metrics_only(backend):
    with Lab("minimal", mode="ambient", backend=backend, verbose=False) as lab:
        lab.load(requests=6)
        text = lab.metrics("ztunnel-node-2")
    assert "istio_requests_total" not in text and "istio_request_duration_milliseconds" not in text
    opened = [s for s in series(text, "istio_tcp_connections_opened_total") if s["reporter"] == "destination"]
    assert opened and opened[0]["connection_security_policy"] == "mutual_tls"
    assert opened[0]["source_principal"] == "cluster.local/ns/default/sa/client"
    received = sum(
        s["value"] for s in series(text, "istio_tcp_received_bytes_total") if s["reporter"] == "destination"
    )
    sent = sum(
        s["value"] for s in series(text, "istio_tcp_sent_bytes_total") if s["reporter"] == "destination"
    )
    assert 0 < received < sent  # the destination received requests and sent the (larger) /get answers


def test_a_waypoint_reports_as_waypoint(backend):
    with Lab("minimal", mode="ambient", waypoints="namespace", backend=backend, verbose=False) as lab:
        lab.load(requests=4)
        (w,) = series(lab.metrics("waypoint-0"), "istio_requests_total")
    assert w["reporter"] == "waypoint" and w["value"] == 4 and w["source_workload"] == "client"
    assert w["destination_workload"] == "server"


def test_request_durations_are_a_histogram_with_istios_buckets(backend):
    with Lab("minimal", mode="sidecar", backend=backend, verbose=False) as lab:
        lab.load(requests=3)
        text = lab.metrics("server-0/istio-proxy")
        with pytest.raises(LabError, match="no proxy named 'nope'"):
            lab.metrics("nope")
    assert (
        'istio_request_duration_milliseconds_bucket{' in text
        and 'le="0.5"' in text
        and 'le="3.6e+06"' in text
    )


def test_a_plaintext_client_has_no_principal_in_the_servers_metrics(backend):
    """A caller outside the mesh proves no identity: Istio reports source_principal="unknown"
    (the workload is still known from its address) and connection_security_policy="none"."""
    with Lab("mtls-migration", backend=backend, verbose=False) as lab:
        for _ in range(3):
            assert lab.request("sleep-legacy", "http://httpbin.foo:8000/ip").status == 200
            assert lab.request("sleep-foo", "http://httpbin.foo:8000/ip").status == 200
        got = series(lab.metrics("httpbin-foo-0/istio-proxy"), "istio_requests_total")
    rows = {s["source_workload"]: s for s in got if s["reporter"] == "destination"}
    assert rows["sleep-legacy"]["source_principal"] == "unknown"
    assert rows["sleep-legacy"]["connection_security_policy"] == "none"
    assert rows["sleep-foo"]["source_principal"] == "cluster.local/ns/foo/sa/sleep"
    assert rows["sleep-foo"]["connection_security_policy"] == "mutual_tls"


def test_ztunnel_counts_a_plaintext_connection_it_refuses_opened_then_closed_with_deny(backend):
    """ztunnel counts a connection as opened before its verdict and closes a refused one with
    response_flags="DENY" (src/proxy/inbound_passthrough.rs), for plaintext from outside the mesh
    as for HBONE: here STRICT on an ambient namespace refuses sleep-legacy's plaintext."""
    strict = (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: foo}\nspec:\n  mtls: {mode: STRICT}\n"
    )
    with Lab("mtls-migration", backend=backend, verbose=False) as lab:
        lab.set_mode("ambient", namespace="foo")
        lab.apply(strict)
        for _ in range(3):
            assert lab.request("sleep-legacy", "http://httpbin.foo:8000/ip").status != 200
        text = "".join(lab.metrics(z) for z in lab.proxies if z.startswith("ztunnel-"))
    legacy = lambda name: [  # noqa: E731
        s
        for s in series(text, name)
        if s["source_workload"] == "sleep-legacy" and s["reporter"] == "destination"
    ]
    assert {s["response_flags"] for s in legacy("istio_tcp_connections_opened_total")} == {"-"}
    closed = legacy("istio_tcp_connections_closed_total")
    assert {s["response_flags"] for s in closed} == {"DENY"}
    assert sum(s["value"] for s in closed) == 3
    assert all(s["connection_security_policy"] == "unknown" for s in closed)
