"""Refusing TCP connections the way Envoy and ztunnel do: with a reset (RST), which curl reports
as "Connection reset by peer" (exit code 56)."""

from __future__ import annotations

import socket
import struct


def reset_socket(sock) -> None:
    """Close ``sock`` with an RST: SO_LINGER on, with a zero timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def abort_with_reset(writer) -> None:
    """Drop an asyncio stream's connection with an RST."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()
