"""The floor of a Python proxy, for ``meshlab bench hops``: a plain TCP relay on uvloop, run as
``python -m meshlab.bench.relay LISTEN_IP:PORT UPSTREAM_IP:PORT``.

It is the ztunnel's own plaintext splice (:class:`~meshlab.proxy.ztunnel_conn.Spliced` and its
:class:`~meshlab.proxy.ztunnel_conn.Leg`, which carry a ztunnel's passthrough and plaintext
connections), with nothing else: no TLS, no HTTP/2, no policy, no spans, no metrics. Every accepted
connection gets a new one to the upstream, and bytes are copied both ways. What a pair of these costs
per new connection is what any Python proxy pair pays for the TCP connections and the copying alone
in this lab, on this machine: the floor under the ztunnel pair's figure (issue 12).
"""

from __future__ import annotations

import asyncio
import os
import sys

from ..net import tcp
from ..proxy.ztunnel_conn import Spliced


class _Owner:
    """What :class:`Spliced` needs of its ztunnel: the set of open connections and the network
    (none: loopback, connections leave from the relay's own address)."""

    def __init__(self, upstream: tuple[str, int]):
        self.open: set = set()
        self.net = None
        self.upstream = upstream
        self.tasks: set = set()


class Relayed(Spliced):
    """One accepted connection and its onward leg."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.z.open.add(self)
        transport.pause_reading()  # until the leg is up (Spliced.connect resumes it)
        t = asyncio.get_running_loop().create_task(self.connect(*self.z.upstream, None))
        self.z.tasks.add(t)
        t.add_done_callback(self.z.tasks.discard)

    def data_received(self, data: bytes) -> None:
        self.forward(data)

    def eof_received(self) -> bool:
        self.forward_eof()
        return True

    def connection_lost(self, exc) -> None:
        self.transport = None
        leg = self.leg.transport if self.leg else None
        if leg is not None and not leg.is_closing():
            leg.close()
        self.finish()


def _addr(text: str) -> tuple[str, int]:
    ip, _, port = text.rpartition(":")
    return ip, int(port)


async def serve(listen: tuple[str, int], upstream: tuple[str, int]) -> None:
    owner = _Owner(upstream)
    loop = asyncio.get_running_loop()
    parent = os.getppid()

    def orphaned() -> None:  # the benchmark that started it is gone (killed): stop too
        if os.getppid() != parent:
            os._exit(0)
        loop.call_later(1.0, orphaned)

    orphaned()
    # the lab's listening socket: uvloop's create_server(host, port) would look the address up on
    # libuv's thread pool, and a single-threaded process's CPU is read to the nanosecond
    sock = tcp.listener(*listen)
    server = await loop.create_server(lambda: Relayed(owner), sock=sock, backlog=tcp.BACKLOG)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m meshlab.bench.relay LISTEN_IP:PORT UPSTREAM_IP:PORT", file=sys.stderr)
        return 2
    import uvloop

    uvloop.run(serve(_addr(argv[0]), _addr(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
