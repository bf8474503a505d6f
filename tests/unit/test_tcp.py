"""meshlab.net.tcp: listening and connecting on IP addresses without a name lookup, so no
process of the lab starts libuv's thread pool (four threads and their memory) to look up an IP."""

import asyncio
import errno
import socket
import subprocess
import sys
import textwrap

import pytest

from meshlab.net.tcp import connect, listener


def test_a_connection_through_listener_and_connect_carries_bytes():
    async def main():
        srv = await asyncio.start_server(_echo, sock=listener("127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]
        sock = socket.socket()
        sock.setblocking(False)
        await connect(sock, "127.0.0.1", port)
        r, w = await asyncio.open_connection(sock=sock)
        w.write(b"ping")
        got = await r.readexactly(4)
        w.close()
        srv.close()
        return got

    assert asyncio.run(main()) == b"ping"


def test_connecting_to_a_closed_port_is_refused_like_connect_2_says():
    free = listener("127.0.0.1", 0)
    port = free.getsockname()[1]
    free.close()

    async def main():
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await connect(sock, "127.0.0.1", port)
        finally:
            sock.close()

    with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{port}"):
        asyncio.run(main())


def test_a_taken_port_says_address_in_use():
    first = listener("127.0.0.1", 0)
    try:
        with pytest.raises(OSError) as e:
            listener("127.0.0.1", first.getsockname()[1])
        assert e.value.errno == errno.EADDRINUSE
    finally:
        first.close()


def test_no_thread_pool_starts_under_uvloop():
    """What uvloop's own start_server(host, port) and sock_connect do: four libuv worker threads
    appear. Through listener/connect, the process keeps its one thread."""
    code = textwrap.dedent("""
        import asyncio, os, socket, uvloop
        from meshlab.net.tcp import connect, listener
        async def main():
            srv = await asyncio.start_server(lambda r, w: w.close(), sock=listener("127.0.0.1", 0))
            sock = socket.socket(); sock.setblocking(False)
            await connect(sock, "127.0.0.1", srv.sockets[0].getsockname()[1])
            await asyncio.open_connection(sock=sock)
            mine = len(os.listdir("/proc/self/task"))
            srv2 = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
            print(mine, len(os.listdir("/proc/self/task")))
        uvloop.run(main())
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "1", out  # (out[1], after uvloop's own start_server(host, port), is 5 today)


async def _echo(r, w):
    while data := await r.read(1024):
        w.write(data)
        await w.drain()
    w.close()
