"""Refusing TCP connections the way Envoy and ztunnel do: with a reset (RST), which curl reports
as "Connection reset by peer" (exit code 56)."""

from __future__ import annotations

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
    """Drop an asyncio stream's connection with an RST."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        _linger_zero(sock)
    writer.transport.abort()
