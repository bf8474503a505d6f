"""The waypoint role: a shared L7 proxy for the services (or namespace) that opt in.

It accepts **HBONE only** (port 15008, mTLS): each CONNECT stream from a source ztunnel carries
one client connection addressed to a service (``:authority`` = the service's IP:port). Inside
the stream it serves HTTP/1.1 with the same L7 engine as the sidecar — routing to the service's
endpoints per request, load balancing, Istio's default retries — and sends each request on over
HBONE to the chosen pod's ztunnel (``:authority`` = the pod's IP:port), presenting **its own**
certificate: the destination sees the waypoint's identity, not the client's.
"""

from __future__ import annotations

import asyncio

from ..identity import client_context, server_context, spiffe_id
from ..net.cluster import HBONE_PORT, ClusterNet, PodAddr
from ..net.http1 import Response
from ..trace import new_span_id, now
from . import hbone
from .hbone_stream import Stream, forwarded_for
from .hbone_upstream import HboneUpstream
from ..policy.routing import TrafficPolicy
from .router import L7Router
from .router_plan import Upstream
from .upstream import UpstreamPool


class Waypoint(L7Router):
    role = "waypoint"
    reporter = "waypoint"  # Istio labels a waypoint's metrics reporter="waypoint"

    def __init__(self, pod_name: str, net: ClusterNet, cert: str, key: str, root: str, rng=None):
        pod = net.pod(pod_name)
        super().__init__(pod_name, spiffe_id(pod.namespace, pod.service_account), net, rng)
        self.pod: PodAddr = pod
        self.server_tls = server_context(cert, key, root, alpn=["h2"])
        self.client_tls = client_context(cert, key, root, alpn=["h2"])
        self.hbone = HboneUpstream(pod, self.client_tls)
        self.plain = UpstreamPool(pod.ip)
        self.servers: list[asyncio.AbstractServer] = []
        self.gateway = pod.labels.get(
            "gateway.networking.k8s.io/gateway-name", "waypoint"
        )  # its Gateway's name

    async def start(self) -> None:
        self.servers.append(
            await hbone.serve(self.pod.ip, HBONE_PORT, self.server_tls, self._stream, name=self.name)
        )

    def close(self) -> None:
        for s in self.servers:
            s.close()
        self.hbone.close()
        self.plain.close()

    def stats(self) -> dict:
        return {
            "tunnels": [
                {"destination": k[0], "address": k[1], "streams": t.opened} for k, t in self.hbone.pool.all()
            ],
            "h2_engine": hbone.h2engine.describe(),
            **self.cluster_stats(),
        }

    # -- downstream: HBONE in ------------------------------------------------------------------
    async def _stream(self, stream: Stream, peer_id: str | None) -> None:
        ip, _, port = stream.authority.rpartition(":")
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            await stream.reject(400)
            return
        source = _baggage(stream.headers.get("baggage", "")).get("k8s.pod.name")
        peer = forwarded_for(stream)
        fields = dict(
            direction="inbound",
            mtls=True,
            peer_identity=peer_id,
            attrs={
                "connection_security_policy": "mutual_tls",
                "authority": stream.authority,
                "source_pod": source,
            },
        )

        async def handle(req):
            start = now()
            svc = self.net.service_at(ip, int(port))
            decision = self.rbac(
                req,
                int(port),
                peer_id,
                peer,
                ip,
                enforcement="waypoint",
                waypoint=self.gateway,
                service=f"{svc.namespace}/{svc.name}" if svc else None,
            )
            if decision.allowed:
                return await self.route(req, ip, int(port), **fields)
            denied = self.rbac_denied(req, self.context(req), new_span_id(), start, decision, **fields)
            # Istio's stats count a denied request too: istio_requests_total{response_code="403"} (flags "-")
            self.count_request(
                self._labels(fields, 403, "-", None, svc.fqdn if svc else None), start, req, denied
            )
            return denied

        await self.serve_stream(stream, handle)

    def source_pod(self, server_fields: dict) -> PodAddr | None:
        return self.net.pod_or_none(server_fields.get("attrs", {}).get("source_pod") or "")

    # -- upstream: HBONE out to the destination pod's ztunnel ----------------------------------
    def upstream(self, pod: PodAddr, port: int, tp: TrafficPolicy) -> Upstream:
        if pod.mesh == "ambient":
            return Upstream(pod.name, pod.ip, port, "hbone", self.pod_identity(pod), pod.node)
        return Upstream(pod.name, pod.ip, port, "plaintext", None, pod.node)

    async def exchange(
        self,
        up: Upstream,
        data: bytes,
        cluster: str,
        ctx,
        span_id: str,
        head: bool = False,
        keep: bool = True,
        on_ready=None,
    ) -> tuple[Response, str | None, dict]:
        if up.transport == "plaintext":
            ex = await self.plain.exchange(up.ip, up.port, data, head=head, keep=keep, on_ready=on_ready)
            return ex.response, None, {}
        return await self.hbone.exchange(
            up, data, ctx.trace_id, span_id, head=head, keep=keep, on_ready=on_ready
        )


def _baggage(value: str) -> dict[str, str]:
    """W3C baggage ``k=v,k2=v2`` (ztunnel sends the source workload's names in it)."""
    return dict(p.strip().split("=", 1) for p in value.split(",") if "=" in p)
