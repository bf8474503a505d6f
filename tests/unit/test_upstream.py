"""The L7 proxies' upstream connection pool (meshlab/proxy/upstream.py) against servers that
misbehave on real loopback sockets: what it reports is what Envoy's flags and retries need."""

import asyncio

import pytest

from meshlab.net.tcp import listener
from meshlab.proxy.upstream import UpstreamFailure, UpstreamPool

REQUEST = b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"


async def _exchange_with(answer: bytes):
    async def serve(r, w):
        await r.read(65536)
        w.write(answer)
        await w.drain()
        w.close()
    srv = await asyncio.start_server(serve, sock=listener("127.0.0.1", 0))
    pool = UpstreamPool(None)
    try:
        return await pool.exchange("127.0.0.1", srv.sockets[0].getsockname()[1], REQUEST)
    finally:
        pool.close()
        srv.close()


@pytest.mark.parametrize("answer, said", [
    (b"", "closed the connection before responding"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "closed the connection in the middle of its response"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab", "in the middle of its response"),
])
def test_a_response_cut_short_is_a_reset_saying_where_it_was_cut(answer, said):
    """A truncated response is not forwarded as if complete: it is an upstream reset (Envoy's UC)."""
    with pytest.raises(UpstreamFailure) as e:
        asyncio.run(_exchange_with(answer))
    assert e.value.kind == "reset" and said in str(e.value)


def test_a_complete_response_is_forwarded():
    ex = asyncio.run(_exchange_with(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"))
    assert ex.response.status == 200 and ex.response.body == b"abc"


def test_an_informational_response_is_not_taken_for_the_answer():
    """100 Continue, then the real answer: the proxy forwards the 200 (it was forwarding the 100)."""
    ex = asyncio.run(_exchange_with(b"HTTP/1.1 100 Continue\r\n\r\n"
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))
    assert ex.response.status == 200 and ex.response.body == b"ok"


@pytest.mark.parametrize("answer, said", [
    (b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (61 * 1024) + b"\r\ncontent-length: 0\r\n\r\n",
     "response header section larger than 61440 bytes"),
    (b"HTTP/1.1 200 OK\r\n" + b"".join(b"x-%d: 1\r\n" % i for i in range(101)) + b"content-length: 0\r\n\r\n",
     "response has more than 100 headers"),
    (b"SMTP ready\r\n\r\n", "malformed HTTP/1.1"),
])
def test_a_response_the_proxy_cannot_read_is_a_protocol_error(answer, said):
    """Over Envoy's header limits (60 KiB, 100 headers) or malformed: Envoy's upstream codec fails
    with a protocol error, which its router answers 502 (flag UPE), not a connection reset."""
    with pytest.raises(UpstreamFailure) as e:
        asyncio.run(_exchange_with(answer))
    assert e.value.kind == "protocol-error" and said in str(e.value)
