"""Tests of the proxies' Istio metrics (meshlab/proxy/metrics.py): counted in plain dicts,
exposed as Prometheus text with Istio's names, labels and buckets."""

from __future__ import annotations

import sys

from meshlab.proxy.metrics import HTTP_LABELS, TCP_LABELS, ProxyMetrics


def _sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in\n{text}")


def test_requests_make_a_counter_and_cumulative_histograms():
    m = ProxyMetrics(l7=True)
    labels = {"reporter": "destination", "response_code": "200"}
    for ms in (0.3, 7.0, 7.0, 40.0):
        m.request(labels, ms, 10, 1000)
    text = m.text().decode()
    assert _sample(text, "istio_requests_total", response_code="200", source_workload="unknown") == 4
    bucket = "istio_request_duration_milliseconds_bucket"
    assert [_sample(text, bucket, le=le) for le in ("0.5", "5.0", "10.0", "25.0", "50.0", "+Inf")] == [
        1,
        1,
        3,
        3,
        4,
        4,
    ]
    assert _sample(text, "istio_request_duration_milliseconds_count") == 4
    assert _sample(text, "istio_request_duration_milliseconds_sum") == 54.3
    assert _sample(text, "istio_response_bytes_bucket", le="1000.0") == 4  # le is inclusive
    assert "_created" not in text  # Istio's proxies expose no *_created series
    assert 'le="3.6e+06"' in text  # Istio's top bucket, as prometheus_client writes it


def test_tcp_metrics_only_for_a_ztunnel():
    m = ProxyMetrics(l7=False)
    m.opened_connection({"reporter": "destination"})
    m.closed_connection({"reporter": "destination"}, sent=100, received=40)
    text = m.text().decode()
    assert "istio_requests_total" not in text and "istio_request_duration" not in text
    assert _sample(text, "istio_tcp_connections_opened_total", reporter="destination") == 1
    assert (
        _sample(text, "istio_tcp_sent_bytes_total") == 100
        and _sample(text, "istio_tcp_received_bytes_total") == 40
    )
    assert text.count("istio_tcp_connections_closed_total{") == 1
    assert all(f'{k}="' in text for k in TCP_LABELS)


def test_families_are_there_before_any_traffic():
    text = ProxyMetrics(l7=True).text().decode()
    assert "# TYPE istio_requests_total counter" in text
    assert "# TYPE istio_request_duration_milliseconds histogram" in text
    assert len(HTTP_LABELS) == len(set(HTTP_LABELS))


def test_counting_runs_no_prometheus_client_code(monkeypatch):
    """Requests and connections are counted without prometheus_client (which a forked proxy
    would copy out of the zygote's pages): it is only needed for the text."""
    for name in [n for n in sys.modules if n == "prometheus_client" or n.startswith("prometheus_client.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # importing it now fails
    m = ProxyMetrics(l7=True)
    m.request({}, 1.0, 0, 0)
    m.opened_connection({})
    m.closed_connection({}, 1, 1)
