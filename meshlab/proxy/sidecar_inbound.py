"""A sidecar's inbound side: what reaches its pod (Envoy's inbound listener in Istio's sidecar mode).

A connection to one of the app's ports arrives on the pod IP (the app listens on the pod-local
address behind it). The sidecar peeks at its first byte: a TLS handshake is mutual TLS from a
mesh peer, anything else plaintext, which the port's PeerAuthentication admits (PERMISSIVE, the
default) or refuses with a reset (STRICT). Each request is then judged by the
AuthorizationPolicies (a 403 before the app sees it) and handed to the app in plaintext, with
``x-forwarded-client-cert`` naming the peer's SPIFFE identity; a request that could not reach the
app (its connection refused) is tried twice more, as Istio's inbound route does since 1.24
(:data:`~meshlab.policy.retries.DEFAULT_INBOUND_RETRY`), then answered 503 with flags ``UF,URX``.
An HBONE CONNECT to the pod (from a ztunnel or a waypoint, port 15008) is served the same way,
with the tunnel's peer identity.

:class:`InboundSide` is a part of :class:`~meshlab.proxy.sidecar.Sidecar` (which mixes it in
beside :class:`~meshlab.proxy.router.L7Router`); every request yields a ``server`` span with
``attrs.direction = "inbound"`` and a ``client`` span for the exchange with the app.
"""

from __future__ import annotations

import asyncio
import socket

from ..identity import peer_cert_sha256, peer_spiffe_id
from ..net.http1 import Request, Response
from ..net.httpwrite import request_bytes
from ..net.tcp import reset_socket
from ..policy.peerauth import admits, mtls_mode
from ..policy.retries import DEFAULT_INBOUND_RETRY as INBOUND_RETRY, Attempt, backoff, retriable
from ..trace import new_span_id, now
from .hbone_stream import Stream, forwarded_for
from .metrics import peer_labels, service_labels
from .router_attempts import failure_flag, failure_response
from .upstream import UpstreamFailure


class InboundSide:
    """The inbound half of a :class:`~meshlab.proxy.sidecar.Sidecar`: its listeners call
    :meth:`_inbound` (an accepted socket) and :meth:`_hbone_stream` (a CONNECT for this pod)."""

    async def _inbound(self, loop, sock: socket.socket, port: int) -> None:
        accepted = now()
        try:
            first = await _peek(loop, sock)
        except (asyncio.TimeoutError, OSError):
            sock.close()
            return
        tls = first[:1] == b"\x16"  # a TLS handshake record: mTLS from a mesh peer
        mode, _ = mtls_mode(self.policies, self.pod.namespace, self.pod.labels, port)
        if not admits(mode, tls):
            peer = "%s:%d" % sock.getpeername()[:2]
            self.refused.append({"peer": peer, "port": port, "mode": mode, "tls": tls})
            refused_at = now()  # before the reset: the client's span must not end before ours
            reset_socket(sock)  # STRICT: plaintext is refused (the client sees a reset)
            self.refusal_span(
                accepted, refused_at, peer, f"plaintext refused: PeerAuthentication mode {mode}", "inbound"
            )
            return
        reader = asyncio.StreamReader(limit=1 << 20)
        proto = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: proto, sock, ssl=self.server_tls if tls else None
            )
        except (OSError, Exception):  # a failed handshake: no certificate, wrong CA, ...
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, proto, reader, loop)
        self._inbound_conns[writer] = (port, tls)
        peer_id = sni = peer_hash = None
        if tls:
            ssl_object = transport.get_extra_info("ssl_object")
            peer_id, sni = peer_spiffe_id(ssl_object), getattr(ssl_object, "meshlab_sni", None)
            peer_hash = peer_cert_sha256(ssl_object)
        peer = transport.get_extra_info("peername")
        try:
            await self.serve_http(
                reader, writer, b"", lambda req: self._to_app(req, port, tls, peer_id, peer, sni, peer_hash)
            )
        except ConnectionError:
            pass
        finally:
            self._inbound_conns.pop(writer, None)
            writer.close()

    async def _hbone_stream(self, stream: Stream, peer_id: str | None) -> None:
        ip, _, port = stream.authority.rpartition(":")
        if ip != self.pod.ip or not (port.isascii() and port.isdigit()) or int(port) not in self.pod.ports:
            await stream.reject(503)
            return
        src = forwarded_for(stream)
        transport = stream.tunnel.transport
        peer_hash = peer_cert_sha256(transport.get_extra_info("ssl_object")) if transport else None
        await self.serve_stream(
            stream, lambda req: self._to_app(req, int(port), True, peer_id, src, peer_hash=peer_hash)
        )

    async def _to_app(
        self,
        req: Request,
        port: int,
        mtls: bool,
        peer_id: str | None,
        peer,
        sni: str | None = None,
        peer_hash: str | None = None,
    ) -> Response:
        start = now()
        ctx = self.context(req)
        server_id, span_id = new_span_id(), new_span_id()
        decision = self.rbac(req, port, peer_id, peer, self.pod.ip, sni=sni, enforcement="sidecar")
        if not decision.allowed:  # Envoy's RBAC filter: 403 before the app sees anything
            denied = self.rbac_denied(
                req,
                ctx,
                server_id,
                start,
                decision,
                direction="inbound",
                mtls=mtls,
                peer_identity=peer_id,
                peer=f"{peer[0]}:{peer[1]}" if peer else None,
                attrs={"response_flags": "-", "connection_security_policy": "mutual_tls" if mtls else "none"},
            )
            # ... and Istio's stats still count it: istio_requests_total{response_code="403"} (flags "-")
            self.count_request(
                self._inbound_labels(port, 403, "-", mtls, peer_id, peer[0] if peer else None),
                start,
                req,
                denied,
            )
            return denied
        resp, err, attempt, exhausted = None, None, 0, False
        while True:  # the inbound route's retry policy (Istio's inbound default)
            attempt += 1
            hs = [
                h
                for h in self.forward_headers(req, ctx, server_id, span_id)
                if h[0] != "x-forwarded-client-cert"
            ]
            if mtls and peer_id:  # Envoy's SANITIZE_SET with Subject, URI and DNS (Istio's inbound)
                xfcc = f"By={self.identity};Hash={peer_hash};" if peer_hash else f"By={self.identity};"
                hs.append(("x-forwarded-client-cert", xfcc + f'Subject="";URI={peer_id}'))
            if not any(k == "x-forwarded-proto" for k, _ in hs):  # the caller's sidecar's, kept
                hs.append(("x-forwarded-proto", "https" if mtls else "http"))
            t0, err = now(), None
            try:
                ex = await self.app_pool.exchange(
                    self.pod.local_ip,
                    port,
                    request_bytes(req.method, req.target, hs, req.body),
                    head=req.method == "HEAD",
                )
                resp = ex.response
            except UpstreamFailure as e:
                err = e.kind
            self.emit(
                ctx,
                span_id,
                "client",
                t0,
                resp.status if err is None else None,
                parent=server_id,
                error=err,
                attempt=attempt,
                peer=f"{self.pod.local_ip}:{port}",
                target=f"{self.pod.name}:{port}{req.target}",
                attrs={"direction": "inbound", "endpoint": self.pod.name},
            )
            if err is None or not retriable(INBOUND_RETRY, Attempt(failure=err)):
                break
            if attempt > INBOUND_RETRY.attempts:
                exhausted = True  # Envoy's flag URX
                break
            await asyncio.sleep(backoff(attempt, self.rng))
            span_id = new_span_id()
        if err is not None:
            resp = failure_response(err)
        flags = "-" if err is None else ",".join([failure_flag(err)] + ["URX"] * exhausted)
        self.count_request(
            self._inbound_labels(port, resp.status, flags, mtls, peer_id, peer[0] if peer else None),
            start,
            req,
            resp,
        )
        self.emit(
            ctx,
            server_id,
            "server",
            start,
            resp.status,
            direction="inbound",
            mtls=mtls,
            peer_identity=peer_id,
            peer=f"{peer[0]}:{peer[1]}" if peer else None,
            target=f"{req.method} {req.target}",
            attrs={"connection_security_policy": "mutual_tls" if mtls else "none", "response_flags": flags},
        )
        return resp

    def _inbound_labels(
        self, port: int, status: int, flags: str, mtls: bool, peer_id: str | None, peer_ip: str | None
    ) -> tuple:
        """Istio's labels for a request this sidecar handed its app (``reporter="destination"``),
        built once per distinct peer, port, status: label sets repeat, requests do."""
        key = ("inbound", port, status, flags, mtls, peer_id, peer_ip)
        values = self._metric_labels.get(key)
        if values is None:
            svc = self.net.services_of(self.pod.name, port)
            values = self._metric_labels[key] = self.metrics.label_values(
                {
                    "reporter": "destination",
                    "request_protocol": "http",
                    "response_code": str(status),
                    "response_flags": flags,
                    "connection_security_policy": "mutual_tls" if mtls else "none",
                    **peer_labels(
                        "source", self.net.pod_by_ip(peer_ip) if peer_ip else None, peer_id, peer=True
                    ),
                    **peer_labels("destination", self.pod),
                    **service_labels(self.net, svc[0].fqdn if svc else None),
                }
            )
        return values


def remember_sni(ssl_object, server_name, ctx) -> None:
    """The server TLS context's SNI callback: keep the name the client asked for, for
    ``connection.sni`` in authorization policies."""
    try:
        ssl_object.meshlab_sni = server_name
    except AttributeError:
        pass


async def _peek(loop, sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Wait until the client sends something, and look at it without consuming it."""
    fut = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: fut.done() or fut.set_result(None))
    try:
        await asyncio.wait_for(fut, timeout)
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)
