"""How a pod opens a TCP connection: DNS, then kube-proxy's choice of endpoint, then connect.

On the mininet backend the kernel does the DNAT (``kube_proxy="kernel"``): the dialer just
connects to the service VIP. On the loopback backend there is no kernel rule to rely on, so the
dialer does exactly what kube-proxy's iptables rules do — at connect time, pick one ready endpoint
uniformly at random and connect to it instead — and records the choice. Connections always leave
from the pod's own IP, so the server sees who called.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from ..errors import DataPlaneError
from . import proxyproto
from .cluster import OUTBOUND_PORT, ClusterNet
from ..modes import MESHED


class DnsError(DataPlaneError, OSError):
    """The name is not a service in the cluster (curl would exit 6: could not resolve host)."""


@dataclass(frozen=True)
class Dialed:
    """What one connect did: the address asked for, the service behind it, the pod it reached."""

    host: str
    port: int
    ip: str  # what DNS gave (a service VIP or a pod IP)
    dst_ip: str  # where the connection actually went
    dst_port: int
    service: str | None  # "reviews.default" when ``ip`` was a service VIP
    endpoint: str | None  # the pod reached, when known


class Dialer:
    def __init__(self, net: ClusterNet, pod_name: str, rng: random.Random | None = None):
        self.net = net
        self.pod = net.pod(pod_name)
        self.rng = rng or random.Random(random.getrandbits(64))  # from the process seed, if set

    def update(self, net: ClusterNet) -> None:
        self.net = net
        self.pod = net.pod(self.pod.name)  # its mesh may have changed: captured or not

    def resolve(self, host: str) -> str:
        """Cluster DNS from this pod: the service VIP (or the IP given)."""
        ip = self.net.resolve(host, self.pod.namespace)
        if ip is None:
            raise DnsError(f"could not resolve host {host!r}: no service of that name in the cluster")
        return ip

    def route(self, host: str, port: int) -> Dialed:
        """Resolve ``host:port`` and apply kube-proxy's rule, without connecting (pure)."""
        ip = self.resolve(host)
        svc = self.net.service_at(ip)
        if svc is None:
            target = self.net.pod_by_ip(ip)
            return Dialed(host, port, ip, ip, port, None, target.name if target else None)
        if svc.port != port:
            raise ConnectionRefusedError(
                f"service {svc.name}.{svc.namespace} has no port {port} (it has {svc.port})"
            )
        if self.net.kube_proxy == "kernel":
            return Dialed(host, port, ip, ip, port, f"{svc.name}.{svc.namespace}", None)
        ready = [self.net.pod(n) for n in svc.endpoints]
        if not ready:
            raise ConnectionRefusedError(f"service {svc.name}.{svc.namespace} has no ready endpoints")
        ep = self.rng.choice(ready)
        return Dialed(host, port, ip, ep.ip, svc.target_port, f"{svc.name}.{svc.namespace}", ep.name)

    def captured(self) -> bool:
        """Is this pod's outbound traffic captured by a proxy (its sidecar, or its node's ztunnel)?"""
        return self.pod.mesh in MESHED

    async def open(self, host: str, port: int, timeout: float | None = 10.0):
        """Connect; returns ``(reader, writer, dialed)``. Connect timeout 10 s, like Envoy's default.

        A captured pod's connection goes to the proxy listening on its pod IP's outbound port
        (15001), led by a PROXY v2 header with the original destination — what iptables'
        REDIRECT and ``SO_ORIGINAL_DST`` give a proxy in a real pod. Where iptables really
        captures (``interception="iptables"``), the dialer just connects."""
        if self.captured() and self.net.interception == "proxy-protocol":
            ip = self.resolve(host)
            svc = self.net.service_at(ip)
            d = Dialed(host, port, ip, ip, port, f"{svc.name}.{svc.namespace}" if svc else None, None)
            coro = asyncio.open_connection(self.pod.ip, OUTBOUND_PORT, local_addr=(self.pod.ip, 0))
            reader, writer = await asyncio.wait_for(coro, timeout) if timeout else await coro
            src_ip, src_port = writer.get_extra_info("sockname")[:2]
            writer.write(proxyproto.encode(src_ip, src_port, ip, port))
            return reader, writer, d
        d = self.route(host, port)
        coro = asyncio.open_connection(d.dst_ip, d.dst_port, local_addr=(self.pod.ip, 0))
        reader, writer = await asyncio.wait_for(coro, timeout) if timeout else await coro
        return reader, writer, d
