"""Bad TLS records at every mutual-TLS listener kind (issue 13's reliability suite), on loopback:
a sidecar's inbound port (where TLS is mTLS from a mesh peer), a ztunnel's and a waypoint's HBONE
port 15008. Hypothesis-made records — garbage, cut short, of the wrong type, broken ClientHellos —
sent instead of a handshake, or after a real one (records not sealed with the session's keys).
Each time the listener refuses or closes the connection (never serves it, never leaves it
hanging), the next good request is served, and no proxy process dies."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from meshlab import Lab
from meshlab.fuzztargets import Prober, fuzz_topology
from meshlab.fuzzgen import strategy, tls_after_handshake, tls_before_handshake
from meshlab.fuzzprobe import outcome, send, tls_after

pytestmark = pytest.mark.integration

LISTENERS = {"sidecar mTLS": "web-0", "ztunnel 15008": "api-0", "waypoint 15008": "waypoint-amb-0"}


@pytest.fixture(scope="module")
def lab():
    with Lab(fuzz_topology(), waypoints="namespace", verbose=False) as lab:
        pids = {n: w.pid for n, w in lab.proxies.items()}
        yield lab, Prober(lab, lab.net.pod("up-0").ip)
        assert {n: w.pid for n, w in lab.proxies.items()} == pids
        assert all(w.alive() for w in lab.proxies.values()), "a proxy died"


def _where(prober, listener):
    ip = prober.lab.net.pod(LISTENERS[listener]).ip
    port = 8080 if listener == "sidecar mTLS" else 15008
    return ip, port, prober.tls if listener == "sidecar mTLS" else prober.h2_tls


FUZZ = settings(
    max_examples=min(settings().max_examples, 40),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(listener=st.sampled_from(sorted(LISTENERS)), records=strategy(tls_before_handshake))
def test_records_instead_of_a_handshake_are_refused(lab, listener, records):
    _, prober = lab
    ip, port, _ = _where(prober, listener)
    answer, err = send(ip, port, records)
    word = outcome(answer, err)
    assert word not in ("2xx", "timeout"), (word, answer[:100])
    assert word != "5xx", answer[:200]  # a refusal is a 4xx or a close, not the proxy failing
    assert prober.checks()[listener](), f"{listener} no longer serves a good peer"


@FUZZ
@given(listener=st.sampled_from(sorted(LISTENERS)), records=strategy(tls_after_handshake))
def test_records_outside_an_established_session_close_it(lab, listener, records):
    _, prober = lab
    ip, port, ctx = _where(prober, listener)
    shake, word = tls_after(ip, port, ctx, records)
    assert shake == "ok"  # a good peer's handshake
    assert word in ("reset", "closed", "tls-alert"), word
    assert prober.checks()[listener](), f"{listener} no longer serves a good peer"


def test_a_good_peer_is_served_at_every_mtls_listener(lab):
    _, prober = lab
    checks = prober.checks()
    assert {k: checks[k]() for k in LISTENERS} == {k: True for k in LISTENERS}
