"""The waypoint's (and an ambient-calling sidecar's) kept-alive HBONE streams, against a destination
on a real loopback socket with real mutual TLS: a stream that answered one request twice is not
reused, so the next request gets its own answer (as meshlab.proxy.upstream's pool, issue 13)."""

import asyncio

import pytest

from meshlab.identity import LabCA, client_context, server_context
from meshlab.net.cluster import PodAddr
from meshlab.proxy import hbone
from meshlab.proxy.hbone_upstream import HboneUpstream
from meshlab.proxy.router_plan import Upstream

IP = "127.201.0.7"  # a loopback address of its own: HBONE is always port 15008
REQUEST = b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"
FIRST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
EXTRA = b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.mark.parametrize("together", [True, False], ids=["in one write", "a moment later"])
def test_a_stream_that_answered_twice_is_not_reused(tmp_path, together):
    ca = LabCA.create(tmp_path / "ca")
    server, client = ca.issue("default", "server"), ca.issue("default", "client")
    answered = []

    async def on_stream(stream, peer):
        await stream.accept()
        while True:
            data = await stream.read()
            if not data:
                break
            answered.append(1)
            if len(answered) == 1:
                await stream.write(FIRST + EXTRA if together else FIRST)
                if not together:
                    await asyncio.sleep(0.05)
                    await stream.write(EXTRA)
            else:
                await stream.write(OK)
        await stream.end()

    async def main():
        listener = await hbone.serve(
            IP, 15008, server_context(server.cert_path, server.key_path, ca.root_path, alpn=["h2"]), on_stream
        )
        up = HboneUpstream(
            PodAddr("client-0", "default", "node-1", "127.201.0.8"),
            client_context(client.cert_path, client.key_path, ca.root_path, alpn=["h2"]),
        )
        dest = Upstream("server-0", IP, 8080, "hbone", server.spiffe_id)
        try:
            first = await asyncio.wait_for(up.exchange(dest, REQUEST, "0" * 32, "0" * 16), 10)
            await asyncio.sleep(0.2)  # the second answer has arrived while the stream idled
            second = await asyncio.wait_for(up.exchange(dest, REQUEST, "0" * 32, "1" * 16), 10)
            return first[0].status, second[0].status
        finally:
            up.close()
            listener.close()

    assert asyncio.run(main()) == (400, 200)
