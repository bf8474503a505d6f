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

Spans are per connection (layer L4): bytes both ways, mTLS, the peer identity. The CONNECT
carries ``traceparent`` (the connection's id) and ``forwarded``, as ztunnel's do, so the lab can
chain the source and destination halves of one connection.
"""

from __future__ import annotations

import asyncio
import random
import ssl

from ..identity import client_context, server_context, spiffe_id
from ..net import capture, proxyproto
from ..net.tcp import abort_with_reset, listener
from ..policy.authz import Attributes, authorize
from ..policy.peerauth import mtls_mode
from ..net.cluster import HBONE_PORT, OUTBOUND_PORT, ClusterNet, PodAddr
from ..trace import Span, new_span_id, new_trace_id, now
from .hbone import Stream, Tunnel, TunnelError, TunnelPool, forwarded_for, pump, serve_hbone, unique
from .metrics import ProxyMetrics, peer_labels, service_labels

_READ = 64 * 1024


class Ztunnel:
    def __init__(self, node: str, net: ClusterNet, certs: dict[str, tuple[str, str]], root: str, rng=None):
        self.node, self.net, self.root = node, net, root
        self.name = f"ztunnel-{node}"
        self.certs = certs                      # SPIFFE id -> (cert path, key path), this node's pods
        self.rng = rng or random.Random()
        self._client_ctx: dict[str, ssl.SSLContext] = {}
        self.pool = TunnelPool()
        self.metrics = ProxyMetrics(l7=False)       # ztunnel never sees requests: TCP metrics only
        self.spans: list[Span] = []
        self.live: dict[str, dict] = {}
        self.started: dict[str, list[asyncio.AbstractServer]] = {}     # pod -> its listeners
        self.policies: list = []
        self.plaintext_in: dict = {}            # open plaintext inbound connections -> (pod, port, src ip, span)
        self.hbone_in: dict = {}                # open inbound HBONE streams -> (pod, port, peer id, src ip, span)

    def set_policies(self, objects: list) -> None:
        """Istio config in force: ztunnel enforces PeerAuthentication and L4 authorization —
        also on connections already open, as ztunnel's policy watcher does: a plaintext one a
        new STRICT forbids, or any one a new AuthorizationPolicy denies, is dropped at once
        (plaintext: TCP reset; HBONE: the stream is reset)."""
        self.policies = list(objects)
        for writer, (pod, port, src_ip, rec) in list(self.plaintext_in.items()):
            mode, decided_by = mtls_mode(self.policies, pod.namespace, pod.labels, port, ambient=True)
            decision = self.authorize(pod, port, None, src_ip)
            if mode == "STRICT" or not decision.allowed:
                rec["decision"] = "deny"
                rec["error"] = "closed by a new policy: " + (f"plaintext refused: {decided_by} is STRICT"
                                                             if mode == "STRICT" else f"RBAC: {decision.reason}")
                abort_with_reset(writer)
        for stream, (pod, port, peer_id, src_ip, rec) in list(self.hbone_in.items()):
            decision = self.authorize(pod, port, peer_id, src_ip)
            if not decision.allowed:
                rec["decision"] = "deny"
                rec["error"] = f"closed by a new policy: RBAC: {decision.reason}"
                stream.reset()

    def local_pods(self) -> list[PodAddr]:
        return [p for p in self.net.pods if p.node == self.node and p.mesh == "ambient"]

    async def start(self) -> None:
        """Listen for every ambient pod of this node (and stop for pods that left ambient):
        what istio-cni sets up in each pod's network as it enrolls, with no pod restart."""
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
            servers = self.started[p.name] = []      # filled as they open: a failed bind loses none
            servers.append(await asyncio.start_server(lambda r, w, p=p: self._outbound(p, r, w),
                                                      sock=listener(p.ip, OUTBOUND_PORT)))
            servers.append(await asyncio.start_server(lambda r, w, p=p: self._inbound(p, r, w),
                                                      sock=listener(p.ip, HBONE_PORT), ssl=tls))
            for port in p.ports:        # plaintext to the pod's own ports (15006's job in a real pod)
                servers.append(await asyncio.start_server(
                    lambda r, w, p=p, port=port: self._inbound_plaintext(p, port, r, w), sock=listener(p.ip, port)))

    def stats(self) -> dict:
        """The HBONE connection pool: one entry per (source identity, destination identity, pod address)."""
        return {"tunnels": [{"source": k[0], "destination": k[1], "address": k[2], "streams": t.opened,
                             "open": not t.closed} for k, t in self.pool.tunnels.items()]}

    def update(self, net: ClusterNet) -> None:
        self.net = net

    def close(self) -> None:
        for servers in self.started.values():
            for s in servers:
                s.close()
        self.pool.close()

    # -- outbound ------------------------------------------------------------------------------
    def _destination(self, ip: str, port: int) -> tuple[PodAddr | None, str, int]:
        """Who to tunnel to, and the ``:authority`` to ask for: the service's waypoint (with the
        service's address, as it was addressed), else one of its pods (chosen per connection)."""
        svc = self.net.service_at(ip, port)
        if svc is not None and svc.waypoint:
            return self.net.pod(svc.waypoint), ip, port
        if svc is not None:
            pod = self.net.pod(self.rng.choice(svc.endpoints))
            return pod, pod.ip, svc.target_port
        return self.net.pod_by_ip(ip), ip, port

    async def _outbound(self, src: PodAddr, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn_id, span_id = new_trace_id(), new_span_id()
        rec = self._open(conn_id, span_id, None, peer=f"{peer[0]}:{peer[1]}" if peer else None,
                         attrs={"direction": "outbound"})
        dst, error, sent, received, labels = None, None, 0, 0, None
        try:
            got = await capture.original_destination(reader, writer, self.net)
            if got is None:
                return
            orig, rest = got
            dst, dst_ip, dst_port = self._destination(orig.dst_ip, orig.dst_port)
            attrs = rec["attrs"]
            attrs.update(original_dst=f"{orig.dst_ip}:{orig.dst_port}", endpoint=dst.name if dst else None)
            rec["target"] = dst.name if dst else f"{dst_ip}:{dst_port}"
            svc = self.net.service_at(orig.dst_ip, orig.dst_port)
            labels = {"reporter": "source", "request_protocol": "tcp", "response_flags": "-",
                      "connection_security_policy": "unknown", **peer_labels("source", src),
                      **peer_labels("destination", dst if dst and dst.mesh != "waypoint" else None),
                      **service_labels(self.net, svc.fqdn if svc else None)}
            self.metrics.opened_connection(labels)
            if dst is not None and dst.mesh in ("ambient", "waypoint", "sidecar"):   # all speak HBONE
                src_id, dst_id = spiffe_id(src.namespace, src.service_account), spiffe_id(dst.namespace, dst.service_account)
                tunnel = await self._tunnel(src_id, dst_id, dst)
                stream = await tunnel.open(f"{dst_ip}:{dst_port}", [
                    unique("traceparent", f"00-{conn_id}-{span_id}-01"),
                    unique("forwarded", f'for="{peer[0]}:{peer[1]}"'),
                    ("baggage", f"k8s.namespace.name={src.namespace},k8s.pod.name={src.name}")])
                attrs.update(hbone=f"{dst.ip}:{HBONE_PORT}", src_identity=src_id, dst_identity=dst_id)
                if rest:
                    await stream.write(rest)
                sent, received = await pump(reader, writer, stream)
                sent += len(rest)
            else:                            # not in the mesh: plaintext, straight to it
                r2, w2 = await capture.connect_from(dst_ip, dst_port, src.ip, self.net)
                attrs["passthrough"] = True
                w2.write(rest)
                sent, received = await _splice(reader, writer, r2, w2)
                sent += len(rest)
        except (TunnelError, OSError, ssl.SSLError, proxyproto.ProxyProtocolError) as e:
            error = f"{type(e).__name__}: {e}"
            abort_with_reset(writer)             # what the app sees of a refused connection
        finally:
            writer.close()
            self._close(rec, error=error, bytes_in=sent, bytes_out=received)
            if labels is not None:
                self.metrics.closed_connection({**labels, "response_flags": "-" if error is None else "CONNECT"},
                                               sent=received, received=sent)

    async def _tunnel(self, src_id: str, dst_id: str, dst: PodAddr) -> Tunnel:
        """The pooled HBONE connection for this identity pair to the destination pod's HBONE
        address (its in-pod listener, which delivers to that pod only), opened with the source
        pod's own certificate."""
        ctx = self._client_ctx.get(src_id)
        if ctx is None:
            cert, key = self.certs[src_id]
            ctx = self._client_ctx[src_id] = client_context(cert, key, self.root, alpn=["h2"])
        return await self.pool.get((src_id, dst_id, dst.ip), dst.ip, HBONE_PORT, ctx, dst_id)

    # -- inbound -------------------------------------------------------------------------------
    async def _inbound(self, pod: PodAddr, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_hbone(reader, writer, lambda s, peer_id: self._deliver(pod, s, peer_id))

    async def _deliver(self, pod: PodAddr, stream: Stream, peer_id: str | None) -> None:
        parts = stream.headers.get("traceparent", "").split("-")
        conn_id = parts[1] if len(parts) == 4 else new_trace_id()
        parent = parts[2] if len(parts) == 4 else None
        fwd = forwarded_for(stream)
        src, src_ip = (f"{fwd[0]}:{fwd[1]}", fwd[0]) if fwd else (None, None)
        ip, _, port = stream.authority.rpartition(":")
        error, sent, received = None, 0, 0
        target = self.net.pod_by_ip(ip)
        svc = self.net.services_of(target.name, int(port)) if target and port.isdigit() else []
        labels = {"reporter": "destination", "request_protocol": "tcp", "response_flags": "-",
                  "connection_security_policy": "mutual_tls",
                  **peer_labels("source", self.net.pod_by_ip(src_ip) if src_ip else None, peer_id, peer=True),
                  **peer_labels("destination", target), **service_labels(self.net, svc[0].fqdn if svc else None)}
        self.metrics.opened_connection(labels)
        rec = self._open(conn_id, new_span_id(), parent, peer=src or None, mtls=True, peer_identity=peer_id,
                         target=target.name if target else stream.authority,
                         attrs={"direction": "inbound", "connection_security_policy": "mutual_tls",
                                "endpoint": target.name if target else None})
        try:
            if target is None or target.name != pod.name or not port.isdigit():
                await stream.reject(503)         # a pod's HBONE listener delivers to that pod only
                error = f"{stream.authority} is not {pod.name}, whose HBONE port this is"
                return
            decision = self.authorize(pod, int(port), peer_id, src_ip)
            if not decision.allowed:             # L4 authorization, at the destination ztunnel
                await stream.reject(401)
                rec["decision"] = "deny"
                error = f"RBAC: {decision.reason}"
                return
            self.hbone_in[stream] = (pod, int(port), peer_id, src_ip, rec)   # policy changes re-check it from here
            r2, w2 = await capture.connect_from(target.listen_ip, int(port), src_ip, self.net)
            local = w2.get_extra_info("sockname")
            rec["attrs"]["local"] = f"{local[0]}:{local[1]}"
            if rec.get("decision") == "deny":                   # a new policy came while we connected
                abort_with_reset(w2)
                raise TunnelError(rec["error"])
            await stream.accept()
            try:
                sent, received = await pump(r2, w2, stream)     # (response bytes out, request bytes in)
            finally:
                if rec.get("decision") == "deny":
                    abort_with_reset(w2)                         # dropped by a new policy: the pod sees a reset
        except (OSError, TunnelError) as e:
            error = rec.get("error") or f"{type(e).__name__}: {e}"
            try:
                await stream.reject(503)
            except Exception:
                pass
        finally:
            self.hbone_in.pop(stream, None)
            error = error or rec.get("error")
            flags = "-" if error is None else ("DENY" if rec.get("decision") == "deny" else "CONNECT")
            self._close(rec, error=error, bytes_in=received, bytes_out=sent)
            self.metrics.closed_connection({**labels, "response_flags": flags}, sent=sent, received=received)

    async def _inbound_plaintext(self, pod: PodAddr, port: int, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        """A plaintext connection to an ambient pod's port, from a client outside the mesh:
        accepted (PeerAuthentication is PERMISSIVE by default), with no peer identity."""
        peer = writer.get_extra_info("peername")
        src = f"{peer[0]}:{peer[1]}" if peer else None
        mode, decided_by = mtls_mode(self.policies, pod.namespace, pod.labels, port, ambient=True)
        if mode == "STRICT":                 # istiod makes STRICT a ztunnel rule: no peer identity, no entry
            self._refuse(pod, src, f"plaintext refused: {decided_by} is STRICT", "inbound")
            abort_with_reset(writer)
            return
        decision = self.authorize(pod, port, None, peer[0] if peer else None)
        if not decision.allowed:
            self._refuse(pod, src, f"RBAC: {decision.reason}", "inbound")
            abort_with_reset(writer)
            return
        svc = self.net.services_of(pod.name, port)
        labels = {"reporter": "destination", "request_protocol": "tcp", "response_flags": "-",
                  "connection_security_policy": "unknown",      # ztunnel's value for plaintext inbound
                  **peer_labels("source", self.net.pod_by_ip(peer[0]) if peer else None, peer=True),
                  **peer_labels("destination", pod), **service_labels(self.net, svc[0].fqdn if svc else None)}
        self.metrics.opened_connection(labels)
        rec = self._open(new_trace_id(), new_span_id(), None, peer=src, mtls=False, target=pod.name,
                         attrs={"direction": "inbound", "connection_security_policy": "unknown", "endpoint": pod.name})
        self.plaintext_in[writer] = (pod, port, peer[0] if peer else None, rec)
        error, sent, received = None, 0, 0
        try:
            r2, w2 = await capture.connect_from(pod.listen_ip, port, peer[0] if peer else None, self.net)
            local = w2.get_extra_info("sockname")
            rec["attrs"]["local"] = f"{local[0]}:{local[1]}"
            received, sent = await _splice(reader, writer, r2, w2)
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        finally:
            self.plaintext_in.pop(writer, None)
            writer.close()
            error = error or rec.get("error")               # dropped by a new policy: set_policies says why
            self._close(rec, error=error, bytes_in=received, bytes_out=sent)
            self.metrics.closed_connection({**labels, "response_flags": "DENY" if rec.get("decision") == "deny"
                                            else labels["response_flags"]}, sent=sent, received=received)

    def authorize(self, pod: PodAddr, port: int, peer_id: str | None, src_ip: str | None):
        """L4 AuthorizationPolicy for a connection to ``pod`` (ISTIO-FACTS §4.4: what ztunnel can
        enforce; L7 rules bound here fail closed for ALLOW and lose their HTTP fields for DENY)."""
        return authorize(self.policies, Attributes(destination_port=port, source_principal=peer_id,
                                                   source_ip=src_ip, destination_ip=pod.ip),
                         enforcement="ztunnel", namespace=pod.namespace, labels=pod.labels, layer="L4")

    def _refuse(self, pod: PodAddr, peer: str | None, reason: str, direction: str, **fields) -> None:
        """A connection policy turned away: a span of its own, so the path shows where it stopped."""
        rec = self._open(new_trace_id(), new_span_id(), None, peer=peer, target=pod.name,
                         attrs={"direction": direction, "endpoint": pod.name, "decision": "deny"}, **fields)
        self._close(rec, error=reason)

    # -- connection spans ----------------------------------------------------------------------
    def _open(self, conn_id: str, span_id: str, parent: str | None, **fields) -> dict:
        """A connection's span, kept open until it closes; :meth:`drain` reports it either way."""
        rec = dict(trace_id=conn_id, span_id=span_id, parent_id=parent, name=self.name, role="ztunnel",
                   kind="server", layer="L4", start=now(), **fields)
        self.live[span_id] = rec
        return rec

    def _close(self, rec: dict, **fields) -> None:
        rec.update(fields)
        self.live.pop(rec["span_id"], None)
        self.spans.append(Span(end=now(), **rec))

    def drain(self) -> list[Span]:
        """Finished connection spans, plus open ones as they stand now (marked ``open``); a later
        drain reports an open one again, and the lab keeps the newest."""
        out, self.spans = self.spans, []
        t = now()
        out += [Span(end=t, **{**r, "attrs": {**r["attrs"], "open": True}}) for r in self.live.values()]
        return out


async def _splice(r1, w1, r2, w2) -> tuple[int, int]:
    """Copy bytes both ways between two TCP connections; (1 -> 2, 2 -> 1) byte counts."""
    counts = [0, 0]

    async def copy(r, w, i):
        try:
            while data := await r.read(_READ):
                counts[i] += len(data)
                w.write(data)
                await w.drain()
            if w.can_write_eof():
                w.write_eof()
        except (ConnectionError, OSError):
            pass
    await asyncio.gather(copy(r1, w2, 0), copy(r2, w1, 1))
    w2.close()
    return counts[0], counts[1]
