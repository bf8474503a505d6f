"""The h2 engine's HTTP/2 settings (HBONE's fallback engine), on h2's sans-IO connection (no sockets): what meshlab
changes from h2's defaults still speaks HTTP/2 a peer with the defaults accepts, and a pooled
tunnel's memory does not grow with every connection it has carried."""

import h2.config
import h2.connection
import h2.events
from hypothesis import given, settings, strategies as st

from meshlab.proxy.h2engine_h2 import h2_connection
from hpack import NeverIndexedHeaderTuple


def _pair():
    client = h2_connection(client_side=True)  # meshlab's side, as a Tunnel makes it
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server


def _one_stream(client, server, authority: str, traceparent: str) -> dict:
    sid = client.get_next_available_stream_id()
    client.send_headers(
        sid,
        [
            (":method", "CONNECT"),
            (":authority", authority),
            NeverIndexedHeaderTuple("traceparent", traceparent),
            ("baggage", "k8s.pod.name=a"),
        ],
    )
    got = [e for e in server.receive_data(client.data_to_send()) if isinstance(e, h2.events.RequestReceived)]
    server.send_headers(sid, [(":status", "200")], end_stream=True)
    client.receive_data(server.data_to_send())
    client.end_stream(sid)
    server.receive_data(client.data_to_send())
    return dict(got[0].headers)


@settings(max_examples=30, deadline=None)
@given(port=st.integers(1, 65535), trace=st.text("0123456789abcdef", min_size=32, max_size=32))
def test_a_peer_with_h2s_defaults_reads_what_hbone_sends(port, trace):
    """No Huffman coding and never-indexed literals are plain HPACK (RFC 7541): a strict peer
    decodes the CONNECT exactly as sent, twice over (the second time from its dynamic table)."""
    client, server = _pair()
    tp = f"00-{trace}-{trace[:16]}-01"
    for _ in range(2):
        h = _one_stream(client, server, f"10.0.0.5:{port}", tp)
        assert h[":method"] == "CONNECT" and h[":authority"] == f"10.0.0.5:{port}"
        assert h["traceparent"] == tp and h["baggage"] == "k8s.pod.name=a"
    indexed = {bytes(n) for n, _ in server.decoder.header_table.dynamic_entries}
    assert b"baggage" in indexed and b"traceparent" not in indexed  # unique() stays out of the table


def test_a_tunnel_remembers_a_bounded_number_of_closed_streams():
    """One stream per TCP connection carried: 3000 connections later, the tunnel holds at most
    its limit of closed-stream records (h2's default would hold all 3000, and up to 65,536)."""
    client, server = _pair()
    for i in range(3000):
        _one_stream(client, server, "10.0.0.5:9080", f"00-{i:032x}-{i:016x}-01")
    assert len(client._closed_streams) <= type(client).MAX_CLOSED_STREAMS < 3000
    assert not client.open_outbound_streams
