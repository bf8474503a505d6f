"""The proxies' HTTP/1.1 codec (httptools): whole messages out, Envoy-style rewriting in."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshlab.proxy.httpcodec import HOP_BY_HOP, HttpError, MessageReader, request_bytes, response_bytes

token = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(lambda s: s[0] != "-")
value = st.text("abcdefghijklmnopqrstuvwxyz0123456789 ;=/.", max_size=30).map(str.strip)


@given(st.lists(st.tuples(token, value), max_size=8), st.binary(max_size=300), st.integers(1, 50))
def test_a_request_survives_any_chunking(headers, body, chunk):
    headers = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
    raw = request_bytes("POST", "/x?y=1", headers, body)
    r = MessageReader("request")
    got = []
    for i in range(0, len(raw), chunk):
        got += r.feed(raw[i : i + chunk])
    assert len(got) == 1
    req = got[0]
    assert (req.method, req.target, req.body) == ("POST", "/x?y=1", body)
    assert [h for h in req.headers if h[0] != "content-length"] == headers


def test_pipelined_requests_come_out_in_order():
    raw = request_bytes("GET", "/a", [("host", "h")]) + request_bytes("GET", "/b", [("host", "h")])
    assert [q.target for q in MessageReader("request").feed(raw)] == ["/a", "/b"]


def test_hop_by_hop_headers_are_dropped_and_length_rewritten():
    raw = request_bytes(
        "GET", "/", [("host", "h"), ("connection", "keep-alive"), ("content-length", "99")], b"ab"
    )
    (req,) = MessageReader("request").feed(raw)
    assert req.header("content-length") == "2" and req.header("connection") is None


def test_garbage_is_a_400_naming_the_problem():
    with pytest.raises(HttpError) as e:
        MessageReader("request").feed(b"NOT HTTP AT ALL\r\n\r\n")
    assert e.value.status == 400 and "malformed HTTP/1.1" in str(e.value)


def test_connect_is_refused_on_a_plain_listener():
    with pytest.raises(HttpError) as e:
        MessageReader("request").feed(b"CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert e.value.status == 501


def test_a_close_delimited_response_completes_at_eof():
    r = MessageReader("response")
    assert r.feed(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello") == []
    (resp,) = r.eof()
    assert resp.status == 200 and resp.body == b"hello" and not r.keep_alive


def test_response_round_trip_and_head():
    (resp,) = MessageReader("response").feed(response_bytes(503, [("x-a", "1")], b"no"))
    assert (resp.status, resp.body, resp.header("x-a")) == (503, b"no", "1")
    assert response_bytes(200, [], b"abc", head_only=True).endswith(b"content-length: 3\r\n\r\n")


def test_a_head_response_ends_with_its_headers_whatever_its_length_says():
    r = MessageReader("response", head=True)
    (resp,) = r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
    assert resp.status == 200 and resp.body == b"" and not r.keep_alive
