"""The ztunnel role: one L4 proxy per node for its ambient pods. It never parses HTTP.

For every ambient pod on its node (istio-cni's in-pod redirection: listeners in each pod's
network), ztunnel listens on the pod IP's

- **15001** — the pod's captured outbound connections (PROXY v2 header on loopback). It picks
  the destination pod behind a service (per connection, at random, as L4 load balancing is),
  then opens — or reuses — one HBONE connection per (source identity, destination identity,
  destination pod address): HTTP/2 CONNECT over mTLS to the destination pod's IP on port 15008,
  ``:authority`` = the pod's IP:port, presenting the *source pod's* certificate. A destination
  outside the mesh gets the bytes in plaintext.
- **15008** — HBONE in: mTLS with the destination pod's certificate, then each CONNECT stream is
  delivered in plaintext to the pod, from the original client's IP.
- **the pod's own ports** — plaintext from clients outside the mesh (15006's job in a real pod):
  accepted under the default PERMISSIVE mode, with no identity. The app listens on the pod's own
  "localhost" behind ztunnel, as it does behind a sidecar.

What to do with a connection is decided by the sans-IO :class:`~.ztunnel_core.ZtunnelCore`; this
module is the process object (listeners, the HBONE pool, spans and metrics), and the connections
move the bytes, callback-driven, with no task per connection (:mod:`.ztunnel_conn`; outbound ones
in :mod:`.ztunnel_outbound`, inbound ones in :mod:`.ztunnel_inbound`): each app connection is an
``asyncio.Protocol`` that is also its HBONE stream's sink (:mod:`meshlab.proxy.hbone`), so bytes
go from one socket's callback to the other's write. Connections are counted in Istio's TCP
metrics (tallied, folded into Prometheus counters when read) and recorded as one span each
(layer L4): bytes both ways, mTLS, the peer identity. The CONNECT carries ``traceparent`` (the
connection's id) and ``forwarded``, as ztunnel's do, so the lab can chain the source and
destination halves of one connection.
"""

from __future__ import annotations

import asyncio
import random
import ssl

from ..identity import client_context, server_context, spiffe_id
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, ClusterNet, PodAddr
from ..net.tcp import BACKLOG, listener
from ..trace import Span, new_span_id, new_trace_id, now, span_dict
from . import hbone
from .hbone import TunnelPool
from .hbone_stream import Stream
from .metrics import ProxyMetrics
from .ztunnel_core import ZtunnelCore
from .ztunnel_inbound import Delivery, PlaintextIn
from .ztunnel_outbound import Outbound


class Ztunnel:
    def __init__(self, node: str, net: ClusterNet, certs: dict[str, tuple[str, str]], root: str, rng=None):
        self.node, self.root = node, root
        self.name = f"ztunnel-{node}"
        self.certs = certs  # SPIFFE id -> (cert path, key path), this node's pods
        self.core = ZtunnelCore(node, net, rng or random.Random())
        self._client_ctx: dict[str, ssl.SSLContext] = {}
        self.pool = TunnelPool()
        self.metrics = ProxyMetrics(l7=False)  # ztunnel never sees requests: TCP metrics only
        self.spans: list[dict] = []
        self.live: dict[str, dict] = {}
        self.started: dict[str, list] = {}  # pod -> its listeners
        self.open: set = set()  # connections in flight (their protocol objects)
        self._tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def net(self) -> ClusterNet:
        return self.core.net

    @property
    def policies(self) -> list:
        return self.core.policies

    def set_policies(self, objects: list) -> None:
        """Istio config in force: ztunnel enforces PeerAuthentication and L4 authorization —
        also on connections already open, as ztunnel's policy watcher does: a plaintext one a
        new STRICT forbids, or any one a new AuthorizationPolicy denies, is dropped at once
        (plaintext: TCP reset; HBONE: the stream is reset)."""
        self.core.set_policies(objects)
        for conn in list(self.open):
            conn.recheck()

    def local_pods(self) -> list[PodAddr]:
        return self.core.local_pods()

    async def start(self) -> None:
        """Listen for every ambient pod of this node (and stop for pods that left ambient):
        what istio-cni sets up in each pod's network as it enrolls, with no pod restart."""
        loop = self.loop = asyncio.get_running_loop()
        local = {p.name: p for p in self.local_pods()}
        for name in [n for n in self.started if n not in local]:
            for s in self.started.pop(name):
                s.close()
        for p in local.values():
            if p.name in self.started:
                continue
            ident = spiffe_id(p.namespace, p.service_account)
            cert, key = self.certs[ident]
            tls = server_context(cert, key, self.root, alpn=["h2"])
            servers = self.started[p.name] = []  # filled as they open: a failed bind loses none
            servers.append(
                await loop.create_server(
                    lambda p=p: Outbound(self, p), sock=listener(p.ip, OUTBOUND_PORT), backlog=BACKLOG
                )
            )
            servers.append(
                await hbone.serve(
                    p.ip, HBONE_PORT, tls, lambda s, peer_id, p=p: self.deliver(p, s, peer_id), name=self.name
                )
            )
            for port in p.ports:  # plaintext to the pod's own ports (15006's job in a real pod)
                servers.append(
                    await loop.create_server(
                        lambda p=p, port=port: PlaintextIn(self, p, port),
                        sock=listener(p.ip, port),
                        backlog=BACKLOG,
                    )
                )

    def stats(self) -> dict:
        """The HBONE connection pool: one entry per connection, keyed (source identity,
        destination identity, pod address); more than one per key when one filled up."""
        return {
            "tunnels": [
                {
                    "source": k[0],
                    "destination": k[1],
                    "address": k[2],
                    "streams": t.opened,
                    "open": not t.closed,
                }
                for k, t in self.pool.all()
            ],
            "h2_engine": hbone.h2engine.describe(),
            "connections_open": len(self.open),
            "open": [c.describe() for c in list(self.open)[:20]],
        }

    def update(self, net: ClusterNet) -> None:
        self.core.update(net)

    def close(self) -> None:
        for servers in self.started.values():
            for s in servers:
                s.close()
        self.pool.close()
        for t in list(self._tasks):
            t.cancel()

    def spawn(self, coro) -> None:
        t = self.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- hooks the node-level ztunnel (mininet) overrides --------------------------------------
    def outbound_source(self, transport, pod: PodAddr | None) -> PodAddr | None:
        """Which pod a captured outbound connection comes from: the listener's, when the
        connection comes from that pod's own address. On loopback any local process can reach
        15001; only the pod's own connections are its to send with its identity."""
        peer = transport.get_extra_info("peername")
        return pod if pod is not None and peer and peer[0] == pod.ip else None

    def plaintext_target(
        self, transport, pod: PodAddr | None, port: int | None
    ) -> tuple[PodAddr, int] | None:
        """Which pod and port a plaintext inbound connection is for (the listener's, here)."""
        return pod, port

    def client_tls(self, src_id: str) -> ssl.SSLContext:
        ctx = self._client_ctx.get(src_id)
        if ctx is None:
            cert, key = self.certs[src_id]
            ctx = self._client_ctx[src_id] = client_context(cert, key, self.root, alpn=["h2"])
        return ctx

    # -- inbound HBONE -------------------------------------------------------------------------
    def deliver(self, pod: PodAddr, stream: Stream, peer_id: str | None) -> None:
        """A CONNECT on ``pod``'s HBONE listener: judged, then delivered in plaintext to the pod,
        from the original client's address."""
        Delivery(self, pod, stream, peer_id)

    # -- connection spans ----------------------------------------------------------------------
    def _open(self, conn_id: str, span_id: str, parent: str | None, **fields) -> dict:
        """A connection's span, kept open until it closes; :meth:`drain` reports it either way."""
        rec = dict(
            trace_id=conn_id,
            span_id=span_id,
            parent_id=parent,
            name=self.name,
            role="ztunnel",
            kind="server",
            layer="L4",
            start=now(),
            **fields,
        )
        self.live[span_id] = rec
        return rec

    def _close(self, rec: dict, **fields) -> None:
        rec.update(fields)
        rec["end"] = now()
        self.live.pop(rec["span_id"], None)
        self.spans.append(rec)

    def _refuse(self, pod: PodAddr, peer: str | None, reason: str, direction: str, **fields) -> None:
        """A connection policy turned away: a span of its own, so the path shows where it stopped."""
        rec = self._open(
            new_trace_id(),
            new_span_id(),
            None,
            peer=peer,
            target=pod.name,
            attrs={"direction": direction, "endpoint": pod.name, "decision": "deny"},
            **fields,
        )
        self._close(rec, error=reason)

    def drain_dicts(self) -> list[dict]:
        """Finished connection spans, plus open ones as they stand now (marked ``open``), as
        ``Span.to_dict()`` dicts; a later drain reports an open one again, and the lab keeps the newest."""
        out, self.spans = self.spans, []
        t = now()
        out += [{**r, "end": t, "attrs": {**r["attrs"], "open": True}} for r in self.live.values()]
        return [span_dict(r) for r in out]

    def drain(self) -> list[Span]:
        return [Span(**d) for d in self.drain_dicts()]
