"""TCP sockets the lab's way: refusing connections as Envoy and ztunnel do, with a reset (RST),
which curl reports as "Connection reset by peer" (exit code 56); and listening and connecting on
IP addresses without a name lookup (see :func:`listener`)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct


def _linger_zero(sock) -> None:
    """SO_LINGER on with a zero timeout: closing then sends an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def reset_socket(sock) -> None:
    """Close ``sock`` with an RST."""
    _linger_zero(sock)
    sock.close()


def abort_with_reset(writer) -> None:
    """Drop a connection with an RST: an asyncio stream's (its writer), or a transport."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        _linger_zero(sock)
    getattr(writer, "transport", writer).abort()


# uvloop resolves even a literal address with getaddrinfo on libuv's thread pool in
# ``start_server(host, port)`` and ``sock_connect``: that starts four worker threads (and a malloc
# arena each, ~0.5 MB of private memory) in every process that does it, to look up an IP address.
# The lab only ever listens on and connects to IP addresses, so it makes its sockets itself.

def listener(ip: str, port: int, backlog: int = 512) -> socket.socket:
    """A listening, non-blocking TCP socket on ``ip:port`` (for ``asyncio.start_server(sock=...)``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect(sock: socket.socket, ip: str, port: int) -> None:
    """Connect the non-blocking ``sock`` to ``ip:port`` (what ``loop.sock_connect`` does, without
    the lookup); raises ``OSError`` as ``connect(2)`` reports it (refused, unreachable ...)."""
    try:
        sock.connect((ip, port))
        return
    except BlockingIOError:
        pass
    except OSError as e:                      # refused or unreachable at once (a local address)
        raise _failed(e.errno, ip, port) from None
    # To a local address the kernel has usually finished the handshake (or refused it) before
    # connect(2) returns: then there is nothing to wait for (saves an event-loop round trip).
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise _failed(err, ip, port)
    try:
        sock.getpeername()
        return
    except OSError:
        pass
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(fd)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise _failed(err, ip, port)


def _failed(err: int, ip: str, port: int) -> OSError:
    """connect(2)'s error as Python's OSError subclass for it (ConnectionRefusedError ...)."""
    return OSError(err, f"connect {ip}:{port}: {errno.errorcode.get(err, err)} ({os.strerror(err)})")
