"""PROXY v2 headers: what the loopback backend's interception hands a proxy."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshlab.net.proxyproto import ProxyHeader, ProxyProtocolError, decode, encode

ips = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ports = st.integers(0, 65535)


@given(ips, ports, ips, ports, st.binary(max_size=64))
def test_round_trip_leaves_the_payload_alone(sip, sp, dip, dp, payload):
    h = encode(sip, sp, dip, dp)
    header, used = decode(h + payload)
    assert header == ProxyHeader(sip, sp, dip, dp)
    assert (h + payload)[used:] == payload


@given(st.integers(0, 27))
def test_a_partial_header_asks_for_more(cut):
    assert decode(encode("10.0.0.1", 1, "10.0.0.2", 2)[:cut]) is None


def test_plain_http_is_not_a_proxy_header():
    with pytest.raises(ProxyProtocolError, match="did not start with a PROXY v2 header"):
        decode(b"GET / HTTP/1.1\r\n")


def test_other_families_are_refused_by_name():
    bad = bytearray(encode("10.0.0.1", 1, "10.0.0.2", 2))
    bad[13] = 0x21  # TCP over IPv6
    with pytest.raises(ProxyProtocolError, match="family 0x21"):
        decode(bytes(bad))
