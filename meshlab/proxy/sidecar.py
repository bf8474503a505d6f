"""The sidecar role: one L7 proxy per pod (Envoy's job in Istio's sidecar mode).

- **Outbound** (pod IP, port 15001): every connection the app opens arrives here with its
  original destination (PROXY v2 header on loopback). Per request: find the service behind the
  original destination, pick an endpoint (LEAST_REQUEST), and send the request — over mutual TLS
  to an endpoint that has a sidecar (checking it presents the endpoint's SPIFFE identity), in
  plaintext to one that has none — retrying under Istio's default retry policy.
- **Inbound** (the app's own ports on the pod IP; the app listens on the pod-local address behind
  it): accept mTLS or, under the default PERMISSIVE mode, plaintext; note the peer's identity;
  hand the request to the app in plaintext with ``x-forwarded-client-cert``
  (:mod:`.sidecar_inbound`).

Every request yields a ``server`` span (role ``sidecar``, ``attrs.direction``) and one
``client`` span per upstream attempt, so paths show each sidecar as its own hop.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from ..identity import client_context, server_context, spiffe_id
from ..net import interception, proxyproto, tcp
from ..net.tcp import abort_with_reset
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, ClusterNet, PodAddr
from ..trace import Span, new_span_id, new_trace_id, now
from . import hbone
from .hbone_upstream import HboneUpstream
from .metrics import peer_labels
from ..policy.peerauth import admits, mtls_mode
from ..policy.routing import TrafficPolicy
from .router import L7Router
from .router_plan import Upstream
from .sidecar_inbound import InboundSide, remember_sni
from .upstream import UpstreamPool


class Sidecar(InboundSide, L7Router):
    role = "sidecar"

    def __init__(self, pod_name: str, net: ClusterNet, cert: str, key: str, root: str, rng=None):
        pod = net.pod(pod_name)
        super().__init__(f"{pod_name}/istio-proxy", spiffe_id(pod.namespace, pod.service_account), net, rng)
        self.pod: PodAddr = pod
        self.client_tls = client_context(cert, key, root)
        self.server_tls = server_context(cert, key, root)
        self.server_tls.sni_callback = remember_sni
        self.mesh_pool = UpstreamPool(self.pod.ip, self.client_tls)
        self.app_pool = UpstreamPool(interception.app_source_ip(pod, net))
        self.hbone_server_tls = server_context(cert, key, root, alpn=["h2"])
        self._tls_files = (cert, key, root)
        self._hbone: HboneUpstream | None = None
        self.servers: list = []
        self.refused: list[dict] = []  # connections PeerAuthentication turned away
        self._inbound_conns: dict = {}  # open inbound connections -> (port, tls)
        self._tasks: set[asyncio.Task] = set()

    def set_policies(self, objects) -> None:
        """As Envoy drains connections when its inbound listener changes: open inbound
        connections the new PeerAuthentication forbids (plaintext under STRICT) are reset."""
        super().set_policies(objects)
        for writer, (port, tls) in list(self._inbound_conns.items()):
            if not admits(mtls_mode(self.policies, self.pod.namespace, self.pod.labels, port)[0], tls):
                abort_with_reset(writer)

    # -- listeners -----------------------------------------------------------------------------
    async def start(self) -> None:
        """HBONE in (15008) and the inbound ports are accepted by :class:`~meshlab.net.tcp.Listener`:
        a listener that runs out of descriptors waits and accepts again, and :meth:`stats` shows it
        (``listeners``). The outbound capture port (15001), which accepts a connection for every
        call the app makes, is uvloop's own server, as the ztunnel's capture ports are: it accepts
        in C, ~40 µs of CPU less per connection than a Python accept loop and its task; out of
        descriptors it keeps working but drops what waits (libuv's "EMFILE trick": the app sees a
        reset) instead of keeping it in the backlog."""
        ip = interception.listen_ip(self.pod, self.net)
        self.servers.append(
            await asyncio.start_server(
                self._outbound, sock=tcp.listener(ip, OUTBOUND_PORT), backlog=tcp.BACKLOG
            )
        )
        # HBONE to this pod (from a ztunnel, or a waypoint): each CONNECT for this pod's IP is
        # served like any inbound connection, with the tunnel's peer identity
        self.servers.append(
            await hbone.serve(
                self.pod.ip, HBONE_PORT, self.hbone_server_tls, self._hbone_stream, name=self.name
            )
        )
        loop = asyncio.get_running_loop()
        for port in interception.inbound_listeners(self.pod, self.net):
            self.servers.append(
                tcp.Listener(
                    tcp.listener(ip, port),
                    lambda sock, port=port: self._spawn(
                        self._inbound(loop, sock, interception.inbound_port(sock, port, self.net))
                    ),
                    name=self.name,
                )
            )

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)  # asyncio keeps only weak references to tasks
        t.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for s in self.servers:
            s.close()
        self.mesh_pool.close()
        self.app_pool.close()
        if self._hbone is not None:
            self._hbone.close()

    @property
    def hbone(self) -> HboneUpstream:
        """HBONE to ambient pods (through their ztunnels), set up on first use: most sidecars
        never call an ambient pod, and its TLS context cost each one ~2 ms of CPU at start-up
        (0.5 s over a 200-pod lab)."""
        if self._hbone is None:
            self._hbone = HboneUpstream(self.pod, client_context(*self._tls_files, alpn=["h2"]))
        return self._hbone

    def stats(self) -> dict:
        return {
            "upstream_connections_idle": sum(len(v) for v in self.mesh_pool._idle.values()),
            "refused": self.refused[-20:],
            "listeners": [asdict(s.stats) for s in self.servers if hasattr(s, "stats")],
            **self.cluster_stats(),
        }

    # -- outbound ------------------------------------------------------------------------------
    async def _outbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            got = await interception.original_destination(reader, writer, self.net)
            if got is None:
                return
            orig, rest = got
            refused = self._stranger(writer, orig.dst_ip)
            if refused:
                self._refused_outbound(writer, refused)
                return
            await self.serve_http(
                reader,
                writer,
                rest,
                lambda req: self.route(req, orig.dst_ip, orig.dst_port, direction="outbound"),
            )
        except (proxyproto.ProxyProtocolError, ConnectionError):
            pass
        finally:
            writer.close()

    def _stranger(self, writer, dst_ip: str) -> str | None:
        """Why the outbound port refuses this connection, if it does. On loopback any process on
        the machine can reach 15001: only the pod's own connections are its to send with its
        identity, and the lab's sidecar relays nowhere outside the lab (Envoy's PassthroughCluster
        would; simplified, so the lab cannot be used to reach the host's other services). Under
        iptables only the pod's own traffic arrives here."""
        if interception.by_iptables(self.net):
            return None
        peer = writer.get_extra_info("peername")
        if not peer or peer[0] != self.pod.ip:
            return f"refused: {peer[0] if peer else '?'} is not {self.pod.name}"
        if not self.net.holds(dst_ip):
            return f"refused: {dst_ip} is outside the lab"
        return None

    def _refused_outbound(self, writer, reason: str) -> None:
        peer = writer.get_extra_info("peername")
        t = now()
        self.refusal_span(t, t, "%s:%d" % peer[:2] if peer else None, reason, "outbound")
        abort_with_reset(writer)

    def refusal_span(self, start: float, end: float, peer: str | None, error: str, direction: str) -> None:
        """A connection this sidecar turned away before reading a request (a stranger on 15001,
        plaintext under STRICT): a connection-level (L4) hop of its own, so the path shows where
        it stopped."""
        self.spans.append(
            Span(
                trace_id=new_trace_id(),
                span_id=new_span_id(),
                parent_id=None,
                name=self.name,
                role=self.role,
                kind="server",
                layer="L4",
                start=start,
                end=end,
                peer=peer,
                target=self.pod.name,
                decision="deny",
                error=error,
                attrs={"direction": direction, "endpoint": self.pod.name},
            )
        )

    def source_pod(self, server_fields: dict) -> PodAddr:
        return self.pod

    def source_labels(self, server_fields: dict) -> dict[str, str]:
        return peer_labels("source", self.pod)

    def upstream(self, pod: PodAddr, port: int, tp: TrafficPolicy) -> Upstream:
        """Istio's auto mTLS: a pod with a sidecar is reached over mutual TLS (unless its
        PeerAuthentication says DISABLE, or a DestinationRule sets ``tls.mode: DISABLE``), an
        ambient pod over HBONE (to its ztunnel, as Istio's sidecars do) — both checked to present
        the pod's own identity — and a pod outside the mesh in plaintext (unless a
        DestinationRule insists on ``ISTIO_MUTUAL``, which then fails, as it would in Istio)."""
        if pod.mesh == "ambient":
            return Upstream(pod.name, pod.ip, port, "hbone", self.pod_identity(pod), pod.node)
        mtls = tp.tls == "ISTIO_MUTUAL" or (
            tp.tls is None
            and pod.mesh == "sidecar"
            and self.derived(
                ("mtls", pod.name, port), lambda: mtls_mode(self.policies, pod.namespace, pod.labels, port)[0]
            )
            != "DISABLE"
        )
        if mtls:
            return Upstream(pod.name, pod.ip, port, "mtls", self.pod_identity(pod), pod.node)
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
    ):
        if up.transport == "hbone":
            return await self.hbone.exchange(
                up, data, ctx.trace_id, span_id, head=head, keep=keep, on_ready=on_ready
            )
        tls = up.transport == "mtls"
        ex = await self.mesh_pool.exchange(
            up.ip,
            up.port,
            data,
            tls=tls,
            expect_identity=up.identity,
            sni=istio_sni(cluster, up.port) if tls else None,
            head=head,
            keep=keep,
            on_ready=on_ready,
        )
        return ex.response, ex.peer_identity, {"reused_connection": ex.reused}


def istio_sni(cluster: str, port: int) -> str:
    """The SNI a sidecar sends with mutual TLS: Istio's ``BuildDNSSrvSubsetKey`` of the cluster,
    ``outbound_.<service port>_.<subset>_.<service FQDN>`` (``pilot/pkg/model/service.go``, used
    by ``ClusterBuilder`` as the default SNI) — for a cluster ``outbound|9080|v1|reviews...``,
    ``outbound_.9080_.v1_.reviews...``. A pod addressed directly has no such cluster: its name
    and the port stand in."""
    parts = cluster.split("|")
    if len(parts) == 4 and parts[0] == "outbound":
        return f"outbound_.{parts[1]}_.{parts[2]}_.{parts[3]}"
    return f"outbound_.{port}_._.{cluster}"
