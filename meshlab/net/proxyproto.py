"""PROXY protocol version 2 (haproxy's spec), TCP over IPv4 only: sans-IO encode and decode.

On the loopback backend there is no iptables to redirect a pod's connections to its proxy, so
the pod's dialer connects to the proxy itself and first writes this header, carrying exactly
what the kernel would have told the proxy: the original source and destination.

>>> h = encode("127.100.1.2", 40000, "127.100.250.3", 9080)
>>> decode(h + b"GET /")
(ProxyHeader(src_ip='127.100.1.2', src_port=40000, dst_ip='127.100.250.3', dst_port=9080), 28)
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from ..errors import DataPlaneError

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_PROXY = 0x21  # version 2, command PROXY
_TCP4 = 0x11  # AF_INET, STREAM
HEADER_LEN = 16 + 12


class ProxyProtocolError(DataPlaneError, ValueError):
    """The bytes are not a PROXY v2 header this lab understands."""


@dataclass(frozen=True)
class ProxyHeader:
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int


def encode(src_ip: str, src_port: int, dst_ip: str, dst_port: int) -> bytes:
    return SIGNATURE + struct.pack(
        "!BBH4s4sHH",
        _V2_PROXY,
        _TCP4,
        12,
        socket.inet_aton(src_ip),
        socket.inet_aton(dst_ip),
        src_port,
        dst_port,
    )


def decode(data: bytes) -> tuple[ProxyHeader, int] | None:
    """``(header, bytes consumed)``, or None if more bytes are needed. Raises ProxyProtocolError."""
    n = min(len(data), len(SIGNATURE))
    if data[:n] != SIGNATURE[:n]:
        raise ProxyProtocolError(
            "connection did not start with a PROXY v2 header (is the client "
            "talking to the proxy's capture port directly?)"
        )
    if len(data) < 16:
        return None
    ver_cmd, fam, length = struct.unpack("!BBH", data[12:16])
    if ver_cmd != _V2_PROXY or fam != _TCP4 or length < 12:
        raise ProxyProtocolError(
            f"unsupported PROXY v2 header (command 0x{ver_cmd:02x}, family 0x{fam:02x}); "
            "only PROXY over TCP/IPv4 is used here"
        )
    if len(data) < 16 + length:
        return None
    src, dst, sport, dport = struct.unpack("!4s4sHH", data[16:28])
    return ProxyHeader(socket.inet_ntoa(src), sport, socket.inet_ntoa(dst), dport), 16 + length


async def read_header(reader, chunk: int = 64 * 1024) -> tuple[ProxyHeader, bytes] | None:
    """For drivers: read a captured connection's header from an asyncio stream; returns it with
    the bytes that came after it, or None if the connection closed first."""
    buf = b""
    while (got := decode(buf)) is None:
        data = await reader.read(chunk)
        if not data:
            return None
        buf += data
    header, used = got
    return header, buf[used:]
