"""The sidecar role: one L7 proxy per pod (Envoy's job in Istio's sidecar mode).

- **Outbound** (pod IP, port 15001): every connection the app opens arrives here with its
  original destination (PROXY v2 header on loopback). Per request: find the service behind the
  original destination, pick an endpoint (LEAST_REQUEST), and send the request — over mutual TLS
  to an endpoint that has a sidecar (checking it presents the endpoint's SPIFFE identity), in
  plaintext to one that has none — retrying under Istio's default retry policy.
- **Inbound** (the app's own ports on the pod IP; the app listens on the pod-local address behind
  it): accept mTLS or, under the default PERMISSIVE mode, plaintext; note the peer's identity;
  hand the request to the app in plaintext with ``x-forwarded-client-cert``.

Every request yields a ``server`` span (role ``sidecar``, ``attrs.direction``) and one
``client`` span per upstream attempt, so paths show each sidecar as its own hop.
"""

from __future__ import annotations

import asyncio
import random
import socket
from dataclasses import dataclass

from ..identity import client_context, server_context, spiffe_id
from ..net import proxyproto
from ..net.cluster import OUTBOUND_PORT, ClusterNet, PodAddr
from ..net.http1 import Request, Response
from ..trace import Span, TraceContext, new_request_id, new_span_id, now
from .httpcodec import HttpError, MessageReader, request_bytes, response_bytes
from .l7 import DEFAULT_RETRY, Attempt, Balancer, backoff, should_retry
from .upstream import UpstreamFailure, UpstreamPool

_READ = 64 * 1024
_TRACE = ("traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled")
UF_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"


@dataclass(frozen=True)
class Upstream:
    name: str            # endpoint pod
    ip: str
    port: int
    tls: bool
    identity: str | None


class Sidecar:
    def __init__(self, pod_name: str, net: ClusterNet, cert: str, key: str, root: str, rng=None):
        self.net = net
        self.pod: PodAddr = net.pod(pod_name)
        self.name = f"{pod_name}/istio-proxy"
        self.identity = spiffe_id(self.pod.namespace, self.pod.service_account)
        self.rng = rng or random.Random()
        self.lb = Balancer("LEAST_REQUEST", self.rng)
        self.client_tls = client_context(cert, key, root)
        self.server_tls = server_context(cert, key, root)
        self.mesh_pool = UpstreamPool(self.pod.ip, self.client_tls)
        self.app_pool = UpstreamPool(self.pod.local_ip)
        self.spans: list[Span] = []
        self.servers: list = []
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task] = set()

    # -- listeners -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.servers.append(await asyncio.start_server(self._outbound, self.pod.ip, OUTBOUND_PORT,
                                                       reuse_address=True))
        loop = asyncio.get_running_loop()
        for port in self.pod.ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.pod.ip, port))
            s.listen(512)
            s.setblocking(False)
            self._sockets.append(s)
            self.servers.append(asyncio.ensure_future(self._accept_loop(loop, s, port)))

    def close(self) -> None:
        for s in self.servers:
            s.close() if hasattr(s, "close") else s.cancel()
        for s in self._sockets:
            s.close()
        self.mesh_pool.close()
        self.app_pool.close()

    def update(self, net: ClusterNet) -> None:
        self.net = net

    def stats(self) -> dict:
        return {"upstream_connections_idle": sum(len(v) for v in self.mesh_pool._idle.values())}

    def drain(self) -> list[Span]:
        out, self.spans = self.spans, []
        return out

    # -- outbound ------------------------------------------------------------------------------
    async def _outbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        try:
            while (got := proxyproto.decode(buf)) is None:
                chunk = await reader.read(_READ)
                if not chunk:
                    return
                buf += chunk
            orig, used = got
            await self._serve_http(reader, writer, buf[used:],
                                   lambda req: self._route_outbound(req, orig.dst_ip, orig.dst_port))
        except (proxyproto.ProxyProtocolError, ConnectionError):
            pass
        finally:
            writer.close()

    def _upstreams(self, dst_ip: str, dst_port: int) -> tuple[str, list[Upstream]]:
        svc = self.net.service_at(dst_ip, dst_port)
        if svc is not None:
            ups = [self._upstream(self.net.pod(n), svc.target_port) for n in svc.endpoints]
            return svc.fqdn, ups
        pod = self.net.pod_by_ip(dst_ip)
        if pod is not None:
            return pod.name, [self._upstream(pod, dst_port)]
        return f"{dst_ip}:{dst_port}", [Upstream(f"{dst_ip}:{dst_port}", dst_ip, dst_port, False, None)]

    def _upstream(self, pod: PodAddr, port: int) -> Upstream:
        sidecar = pod.mesh == "sidecar"
        return Upstream(pod.name, pod.ip, port, sidecar,
                        spiffe_id(pod.namespace, pod.service_account) if sidecar else None)

    async def _route_outbound(self, req: Request, dst_ip: str, dst_port: int) -> Response:
        start = now()
        ctx = self._context(req)
        server_id = new_span_id()
        cluster, ups = self._upstreams(dst_ip, dst_port)
        by_name = {u.name: u for u in ups}
        policy = DEFAULT_RETRY
        tried: set[str] = set()
        resp, attempt, flags = None, 0, []
        while True:
            attempt += 1
            name = self.lb.pick(list(by_name), tried)
            if name is None:
                flags.append("UH")               # no healthy upstream
                break
            up = by_name[name]
            tried.add(name)
            resp, outcome = await self._attempt(req, ctx, server_id, up, attempt, cluster)
            if should_retry(policy, attempt, outcome):
                flags.append("URX")
                await asyncio.sleep(backoff(attempt, self.rng))
                continue
            if resp is None:
                flags.append("UF")
            break
        if resp is None:
            resp = Response(503, [("content-type", "text/plain")], UF_BODY if "UH" not in flags else b"no healthy upstream")
        self._emit(ctx, server_id, "server", start, resp.status, direction="outbound", target=f"{req.method} {req.target}",
                   peer=None, attrs={"cluster": cluster, "response_flags": ",".join(flags) or "-"})
        return resp

    async def _attempt(self, req: Request, ctx: TraceContext, parent: str, up: Upstream, attempt: int,
                       cluster: str) -> tuple[Response | None, Attempt]:
        span_id = new_span_id()
        hs = [(k, v) for k, v in req.headers if k not in _TRACE and k != "x-envoy-attempt-count"]
        hs += TraceContext(ctx.trace_id, parent, ctx.request_id).child_headers(span_id).items()
        hs.append(("x-envoy-attempt-count", str(attempt)))
        if not any(k == "x-request-id" for k, _ in hs):
            hs.append(("x-request-id", ctx.request_id))
        data = request_bytes(req.method, req.target, hs, req.body)
        start = now()
        self.lb.started(up.name)
        resp, err, ident = None, None, None
        try:
            sni = f"outbound_.{up.port}_._.{cluster}" if up.tls else None
            ex = await self.mesh_pool.exchange(up.ip, up.port, data, tls=up.tls, sni=sni, expect_identity=up.identity)
            resp, ident = ex.response, ex.peer_identity
            outcome = Attempt(status=resp.status)
        except UpstreamFailure as e:
            err = e.kind
            outcome = Attempt(failure=e.kind)
        finally:
            self.lb.finished(up.name)
        self._emit(ctx, span_id, "client", start, resp.status if resp else None, parent=parent, error=err,
                   attempt=attempt, peer=f"{up.ip}:{up.port}", target=f"{up.name}:{up.port}{req.target}",
                   mtls=up.tls, peer_identity=ident, attrs={"endpoint": up.name, "direction": "outbound"})
        return resp, outcome

    # -- inbound -------------------------------------------------------------------------------
    async def _accept_loop(self, loop, lsock: socket.socket, port: int) -> None:
        while True:
            sock, _ = await loop.sock_accept(lsock)
            t = asyncio.ensure_future(self._inbound(loop, sock, port))
            self._tasks.add(t)                # asyncio keeps only weak references to tasks
            t.add_done_callback(self._tasks.discard)

    async def _inbound(self, loop, sock: socket.socket, port: int) -> None:
        try:
            first = await _peek(loop, sock)
        except (asyncio.TimeoutError, OSError):
            sock.close()
            return
        tls = first[:1] == b"\x16"           # a TLS handshake record: mTLS from a mesh peer
        reader = asyncio.StreamReader(limit=1 << 20)
        proto = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: proto, sock,
                                                              ssl=self.server_tls if tls else None)
        except (OSError, Exception):         # a failed handshake: no certificate, wrong CA, ...
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, proto, reader, loop)
        peer_id = None
        if tls:
            from ..identity import peer_spiffe_id
            peer_id = peer_spiffe_id(transport.get_extra_info("ssl_object"))
        peer = transport.get_extra_info("peername")
        try:
            await self._serve_http(reader, writer, b"",
                                   lambda req: self._to_app(req, port, tls, peer_id, peer))
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _to_app(self, req: Request, port: int, mtls: bool, peer_id: str | None, peer) -> Response:
        start = now()
        ctx = self._context(req)
        server_id, span_id = new_span_id(), new_span_id()
        hs = [(k, v) for k, v in req.headers if k not in _TRACE and k != "x-forwarded-client-cert"]
        hs += TraceContext(ctx.trace_id, server_id, ctx.request_id).child_headers(span_id).items()
        if not any(k == "x-request-id" for k, _ in hs):
            hs.append(("x-request-id", ctx.request_id))
        if mtls and peer_id:
            hs.append(("x-forwarded-client-cert", f"By={self.identity};URI={peer_id}"))
        hs.append(("x-forwarded-proto", "https" if mtls else "http"))
        t0 = now()
        err = None
        try:
            ex = await self.app_pool.exchange(self.pod.local_ip, port, request_bytes(req.method, req.target, hs, req.body))
            resp = ex.response
        except UpstreamFailure as e:
            err = e.kind
            resp = Response(503, [("content-type", "text/plain")], UF_BODY)
        self._emit(ctx, span_id, "client", t0, resp.status if err is None else None, parent=server_id, error=err,
                   peer=f"{self.pod.local_ip}:{port}", target=f"{self.pod.name}:{port}{req.target}",
                   attrs={"direction": "inbound", "endpoint": self.pod.name})
        self._emit(ctx, server_id, "server", start, resp.status, direction="inbound", mtls=mtls,
                   peer_identity=peer_id, peer=f"{peer[0]}:{peer[1]}" if peer else None,
                   target=f"{req.method} {req.target}",
                   attrs={"connection_security_policy": "mutual_tls" if mtls else "none"})
        return resp

    # -- shared --------------------------------------------------------------------------------
    async def _serve_http(self, reader, writer, initial: bytes, handle) -> None:
        rd = MessageReader("request")
        data = initial
        while True:
            try:
                reqs = rd.feed(data) if data else []
            except HttpError as e:
                writer.write(response_bytes(e.status, [("content-type", "text/plain")],
                                            f"{self.name}: {e}\n".encode(), close=True))
                await writer.drain()
                return
            for req in reqs:
                resp = await handle(req)
                writer.write(response_bytes(resp.status, resp.headers, resp.body, close=not rd.keep_alive,
                                            head_only=req.method == "HEAD"))
                await writer.drain()
                if not rd.keep_alive:
                    return
            data = await reader.read(_READ)
            if not data:
                return

    def _context(self, req: Request) -> TraceContext:
        ctx = TraceContext.from_headers(req.header_map)
        return ctx if ctx.request_id else TraceContext(ctx.trace_id, ctx.parent_id, new_request_id())

    def _emit(self, ctx: TraceContext, span_id: str, kind: str, start: float, status, *, parent: str | None = None,
              direction: str | None = None, **kw) -> None:
        attrs = dict(kw.pop("attrs", {}) or {})
        if direction:
            attrs["direction"] = direction
        self.spans.append(Span(trace_id=ctx.trace_id, span_id=span_id,
                               parent_id=parent if kind == "client" else ctx.parent_id, name=self.name,
                               role="sidecar", kind=kind, layer="L7", start=start, end=now(),
                               request_id=ctx.request_id, status=status, attrs=attrs, **kw))


async def _peek(loop, sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Wait until the client sends something, and look at it without consuming it."""
    fut = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: fut.done() or fut.set_result(None))
    try:
        await asyncio.wait_for(fut, timeout)
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)
