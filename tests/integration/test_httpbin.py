"""httpbin and the load client: status codes, delays, who called, and the load's accounting."""

import pytest

pytestmark = pytest.mark.integration


def test_status_codes_are_counted_by_status(httpbin):
    """/status/503 answers 503 every time; the summary counts them as failed, by status."""
    s = httpbin.load(url="http://httpbin:8000/status/503", requests=20, concurrency=2).summary()
    assert s["requests"] == {
        "sent": 20,
        "ok": 0,
        "failed": 20,
        "success_rate": 0.0,
        "by_status": {"503": 20},
        "partial": 0,
        "partial_failures": {},
    }


def test_random_status_mix(httpbin):
    """/status/200,503 picks one of the two at random, as httpbin does."""
    by = httpbin.load(url="http://httpbin:8000/status/200,503", requests=60, concurrency=3).by_status()
    assert set(by) == {"200", "503"} and sum(by.values()) == 60


def test_server_sees_the_client_pod_ip(httpbin):
    """Connections leave from the pod's own IP, so /ip shows the client pod's address."""
    r = httpbin.request("client", "http://httpbin:8000/ip")
    assert r.status == 200
    assert f'"origin": "{httpbin.pod_ip("client")}"' in r.body


def test_both_replicas_get_traffic(httpbin):
    """kube-proxy picks an endpoint per connection: with one connection per request both
    httpbin replicas answer."""
    seen = {httpbin.request("client", "http://httpbin:8000/get").path.hops[1].name for _ in range(30)}
    assert seen == {"httpbin-0", "httpbin-1"}


def test_delay_is_a_timeout_for_an_impatient_client(httpbin):
    """A request with a 0.3 s timeout to /delay/2 ends in a timeout error, not a status."""
    r = httpbin.request("client", "http://httpbin:8000/delay/2", timeout=0.3)
    assert r.status is None and r.error == "timeout"
    assert 250 < r.latency_ms < 2000


def test_unknown_service_is_a_dns_error(httpbin):
    """A name that is no service fails like curl's 'could not resolve host'."""
    r = httpbin.request("client", "http://nosuchsvc:8000/get")
    assert r.status is None and r.error.startswith("dns: could not resolve host")


def test_rate_limited_load_takes_about_the_planned_time(httpbin):
    """A duration-bounded load at a fixed rate sends about rate x duration requests."""
    res = httpbin.load(duration=1.0, rate=20, concurrency=2)
    assert 15 <= len(res) <= 20
    assert all(o["status"] == 200 for o in res.outcomes)
