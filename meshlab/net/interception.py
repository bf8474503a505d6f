"""How a proxy learns where a captured connection was going: the one place that knows.

A mesh proxy sees connections the app never addressed to it, and must learn their *original*
destination. ``ClusterNet.interception`` says how the backend hands them over:

- ``"proxy-protocol"`` (loopback): no namespaces to intercept in, so the app's dialer connects to
  its proxy itself and leads with a PROXY v2 header carrying the original destination
  (:mod:`meshlab.net.proxyproto`).
- ``"iptables"`` (mininet): real ``REDIRECT`` rules (istio-init's in sidecar pods, the node's for
  ambient pods) send the connection to the proxy's port, and the kernel remembers the original
  destination: ``getsockopt(SOL_IP, SO_ORIGINAL_DST)``, as Envoy and ztunnel read it.

Proxies call :func:`original_destination` and the few helpers below and never branch on the
backend themselves.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import socket
import struct

from . import proxyproto, tcp
from .proxyproto import ProxyHeader

INTERCEPTIONS = ("proxy-protocol", "iptables")
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
IP_TRANSPARENT = 19  # linux/in.h
#: Source ports for transparent connections: below Linux's default ephemeral range (32768-60999),
#: which the pods' own connections use, so ztunnel's connection to an app never reuses the 4-tuple
#: of the client's captured connection (conntrack would take it for that one).
TRANSPARENT_PORTS = range(20000, 32768)
PROXY_UID = PROXY_GID = 1337  # istio-proxy's user: its own traffic is never captured (ISTIO-FACTS §3)
INBOUND_SOURCE_IP = "127.0.0.6"  # Envoy's source for inbound passthrough: ISTIO_OUTPUT returns it
#: istio-init's inbound capture port (``-z 15006``)
INBOUND_CAPTURE_PORT = 15006


def by_iptables(net) -> bool:
    return getattr(net, "interception", "proxy-protocol") == "iptables"


def socket_original_dst(sock: socket.socket) -> tuple[str, int]:
    """The destination a connection had before iptables redirected it (IPv4)."""
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack("!2xH4s8x", raw)
    return socket.inet_ntoa(packed), port


async def original_destination(reader, writer, net) -> tuple[ProxyHeader, bytes] | None:
    """A captured connection's original source and destination, and any bytes already read past
    the header (None if the client went away first). Raises
    :class:`~meshlab.net.proxyproto.ProxyProtocolError` for a bad header."""
    if not by_iptables(net):
        return await proxyproto.read_header(reader)
    sock = writer.get_extra_info("socket")
    src_ip, src_port = writer.get_extra_info("peername")[:2]
    dst_ip, dst_port = socket_original_dst(sock)
    return ProxyHeader(src_ip, src_port, dst_ip, dst_port), b""


def listen_ip(pod, net) -> str:
    """Where a pod's proxy binds its capture ports: the pod IP on loopback; every address in the
    pod's namespace with iptables (``REDIRECT`` from OUTPUT lands on 127.0.0.1)."""
    return "0.0.0.0" if by_iptables(net) else pod.ip


def inbound_listeners(pod, net) -> list[int]:
    """The ports a sidecar accepts inbound connections on: the app's own ports on loopback (it
    holds them on the pod IP), or istio-init's single inbound capture port."""
    return [INBOUND_CAPTURE_PORT] if by_iptables(net) else list(pod.ports)


def inbound_port(sock: socket.socket, listened: int, net) -> int:
    """The app port an accepted inbound connection was meant for (``listened`` if the kernel no
    longer knows: the connection is already gone, and fails on its own)."""
    if not by_iptables(net):
        return listened
    try:
        return socket_original_dst(sock)[1]
    except OSError:
        return listened


def source_socket(src_ip: str | None, net) -> socket.socket:
    """A non-blocking TCP socket that will connect from ``src_ip`` (see :func:`connect_from`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if src_ip:
        try:
            if by_iptables(net):
                sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
                _bind_transparent(sock, src_ip)
            else:
                sock.bind((src_ip, 0))
        except OSError:
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
    return sock


async def connect_from(ip: str, port: int, src_ip: str | None, net, protocol_factory=None):
    """Connect to ``ip:port`` from the original client's address ``src_ip``, so the app sees who
    called (ztunnel delivering to a pod). On loopback every 127/8 address is local; under iptables
    (mininet) it is another pod's address, so the socket is ``IP_TRANSPARENT``, as ztunnel's are,
    and the node routes the replies back to it (:func:`meshlab.backends.rules.node_transparent_setup`).
    Where the address cannot be taken, the connection leaves from the proxy's own address.
    Returns asyncio streams ``(reader, writer)``, or with ``protocol_factory`` the transport and
    protocol ``loop.create_connection`` makes."""
    sock = source_socket(src_ip, net)
    try:
        await tcp.connect(sock, ip, port)
    except BaseException:
        sock.close()
        raise
    if protocol_factory is not None:
        return await asyncio.get_running_loop().create_connection(protocol_factory, sock=sock)
    return await asyncio.open_connection(sock=sock)


def _bind_transparent(sock: socket.socket, ip: str) -> None:
    for _ in range(32):
        try:
            sock.bind((ip, random.choice(TRANSPARENT_PORTS)))
            return
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no free source port for {ip}")


def app_source_ip(pod, net) -> str | None:
    """The source address a sidecar uses to hand requests to its app (Envoy's 127.0.0.6 under
    iptables, which ISTIO_OUTPUT lets through; the pod-local address on loopback)."""
    return INBOUND_SOURCE_IP if by_iptables(net) else pod.local_ip


def become_proxy_user(role: str, net) -> None:
    """Under iptables, a sidecar runs as istio-proxy (UID/GID 1337), so istio-init's owner match
    keeps its own connections out of the capture. It keeps one capability, CAP_DAC_READ_SEARCH,
    so it can still read the lab's files (Python's own modules may sit in a root-only home)."""
    if role != "sidecar" or not by_iptables(net) or os.getuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(8, 1, 0, 0, 0)  # PR_SET_KEEPCAPS: keep permitted caps across setuid
    os.setgroups([])
    os.setgid(PROXY_GID)
    os.setuid(PROXY_UID)
    keep = 1 << 2  # CAP_DAC_READ_SEARCH

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    data = (Data * 2)(Data(keep, keep, 0), Data(0, 0, 0))
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:  # _LINUX_CAPABILITY_VERSION_3
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
