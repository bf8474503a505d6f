"""The fuzz lab and its listeners (for ``meshlab bench fuzz``, :mod:`meshlab.fuzzbench`): one loopback
lab holds every listener kind — a sidecar namespace (``side``: client-s, web), an ambient one with a
waypoint (``amb``: client-a, api), and a pod outside the mesh (``plain``: up), whose address also
holds a fake upstream (port 9000) that answers with malformed responses. The inputs
(:mod:`meshlab.fuzzgen`, seeded) go to:

- ``http-request``: a sidecar's inbound port, a sidecar's and a ztunnel's capture port (15001)
  after a good PROXY header, a ztunnel's plaintext inbound port, apps with and without a proxy,
  and a waypoint inside an HBONE CONNECT (many streams per connection);
- ``http-response``: the fake upstream's answers, read by a sidecar's outbound;
- ``proxy-v2``: the capture ports (15001), from the pod's own address;
- ``hbone-frames``: HTTP/2 frame sequences after a real mutual-TLS handshake, at a ztunnel's, a
  waypoint's and a sidecar's 15008;
- ``tls-records``: garbage, truncated and mis-typed records and ClientHellos at the sidecar's
  mTLS port and at 15008, before a handshake and after one.

:class:`Prober` holds, for one running fuzz lab, each listener as a :class:`Target` (how to throw
one input at it) and a good request per listener kind (the check that it still serves).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Callable

from hyperframe.frame import HeadersFrame as _HF, RstStreamFrame as _RF, SettingsFrame as _SF

from . import fuzzgen as gen
from .fuzzprobe import exchange, outcome, send, tls_after

FAKE_UPSTREAM_PORT = 9000
WAYPOINT_STREAMS = 8
KINDS = ("http-request", "http-response", "proxy-v2", "hbone-frames", "tls-records")


def fuzz_topology() -> dict:
    def ns(name, labels, *sas):
        return {"name": name, "labels": labels, "serviceAccounts": list(sas)}

    def pod(name, namespace, node, kind):
        return {
            "name": name,
            "namespace": namespace,
            "serviceAccount": name,
            "node": node,
            "labels": {"app": name},
            "app": {"kind": kind},
        }

    return {
        "name": "fuzz",
        "description": "Every listener kind: sidecar, ambient with a waypoint, a pod outside the mesh.",
        "entry": {"from": "client-s", "url": "http://web.side/get"},
        "nodes": [{"name": "node-1"}, {"name": "node-2"}],
        "namespaces": [
            ns("side", {"istio-injection": "enabled"}, "client-s", "web"),
            ns("amb", {"istio.io/dataplane-mode": "ambient"}, "client-a", "api"),
            ns("plain", {}, "up"),
        ],
        "services": [
            {"name": "web", "namespace": "side", "port": 80, "targetPort": 8080, "selector": {"app": "web"}},
            {"name": "api", "namespace": "amb", "port": 80, "targetPort": 8080, "selector": {"app": "api"}},
        ],
        "workloads": [
            pod("client-s", "side", "node-1", "client"),
            pod("web", "side", "node-2", "httpbin"),
            pod("client-a", "amb", "node-1", "client"),
            pod("api", "amb", "node-2", "httpbin"),
            pod("up", "plain", "node-2", "httpbin"),
        ],
    }


GOOD_GET = b"GET /get HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n"


class FakeUpstream:
    """An upstream on a lab pod's address that answers each request with a malformed response
    (``/health``: a good one), then closes; on an event loop in a thread of its own."""

    def __init__(self, ip: str, port: int, seed: int):
        self.draw, self.lock = gen.RandomDraw(seed), threading.Lock()
        self.served = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ip, port, ready), daemon=True, name="fake-upstream"
        )
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the fake upstream did not start on {ip}:{port}")

    def _run(self, ip, port, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, ip, port, backlog=1024))
        ready.set()
        self.loop.run_forever()

    async def _serve(self, r, w):
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            if b" /health " in head.split(b"\r\n", 1)[0]:
                w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            else:
                with self.lock:
                    w.write(gen.http_response(self.draw))
                    self.served += 1
            await w.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            ConnectionError,
        ):
            pass
        w.close()

    def close(self):
        def stop():
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)


@dataclass
class Target:
    """One listener and how to throw one input at it: ``probe(draw) -> (outcomes, connections)``."""

    kind: str
    name: str
    probe: Callable
    weight: float = 1.0  # inputs per batch, relative (a TLS handshake costs more than a request)
    per_probe: int = 1  # inputs one probe carries


class Prober:
    """The inputs' targets and the good requests that check them, for one running fuzz lab."""

    def __init__(self, lab, upstream_ip: str):
        from .identity import client_context

        net = lab.net
        self.lab = lab
        self.cs, self.web, self.ca_ = (net.pod(n) for n in ("client-s-0", "web-0", "client-a-0"))
        self.api, self.up, self.wp = (net.pod(n) for n in ("api-0", "up-0", "waypoint-amb-0"))
        self.web_vip, self.api_vip = net.resolve("web", "side"), net.resolve("api", "amb")
        self.upstream = (upstream_ip, FAKE_UPSTREAM_PORT)
        cert = lab.ca.issue("amb", "client-a")
        self.h2_tls = client_context(cert.cert_path, cert.key_path, lab.ca.root_path, alpn=["h2"])
        side = lab.ca.issue("side", "client-s")
        self.tls = client_context(side.cert_path, side.key_path, lab.ca.root_path)
        self.hbone = {  # 15008 listeners: (address, the authorities a fuzzing peer CONNECTs to, a good one)
            "ztunnel": (
                self.api.ip,
                [
                    f"{self.api.ip}:8080",
                    f"{self.api.ip}:8080",
                    f"{self.api.ip}:8081",
                    f"{self.cs.ip}:8080",
                    "",
                    "nonsense",
                ],
            ),
            "waypoint": (
                self.wp.ip,
                [
                    f"{self.api_vip}:80",
                    f"{self.api_vip}:80",
                    f"{self.api_vip}:81",
                    f"{self.api.ip}:8080",
                    "",
                    "nonsense",
                ],
            ),
            "sidecar": (
                self.web.ip,
                [
                    f"{self.web.ip}:8080",
                    f"{self.web.ip}:8080",
                    f"{self.web.ip}:8081",
                    f"{self.api.ip}:8080",
                    "",
                    "nonsense",
                ],
            ),
        }

    # -- inputs --------------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        cs, ca, web, api, up = self.cs, self.ca_, self.web, self.api, self.up
        http = gen.http_request

        def plain(ip, port, make, src=None):
            def probe(d):
                out, err = send(ip, port, make(d), src=src)
                return [outcome(out, err)], 1

            return probe

        def captured(pod, dst, make):
            """From the pod's own address to its 15001: a good PROXY header naming ``dst``, then ``make(d)``."""

            def probe(d):
                from .net import proxyproto

                out, err = send(
                    pod.ip, 15001, lambda src: proxyproto.encode(*src, *dst) + make(d), src=pod.ip
                )
                return [outcome(out, err)], 1

            return probe

        def proxy_v2(pod):
            def probe(d):
                out, err = send(pod.ip, 15001, gen.proxy_header(d) + http(d), src=pod.ip)
                return [outcome(out, err)], 1

            return probe

        def hbone_frames(which):
            ip, names = self.hbone[which]

            def probe(d):
                opening = gen.h2_opening(d)
                try:
                    with self._dial(ip) as t:
                        exchange(
                            t,
                            gen.opening_wire(opening, names),
                            idle=0.2,
                            until=lambda a: (
                                all(a.of(_HF, 2 * i + 1) or a.of(_RF, 2 * i + 1) for i in range(len(opening)))
                                and a.of(_SF, 0)
                            ),
                        )
                        a = exchange(t, b"".join(b for _, b in gen.h2_bad_frames(d)) + gen.DONE, idle=0.1)
                except OSError:
                    return ["handshake failed"], 1
                g = a.goaway()
                word = (
                    (f"goaway {g.error_code} then " + ("closed" if a.closed else "left open"))
                    if g
                    else "answered"
                    if a.pinged
                    else "closed"
                    if a.closed
                    else "quiet"
                )
                return [word], 1

            return probe

        def tls_records(ip, port, ctx):
            def probe(d):
                if d.number(0, 1) == 0:
                    out, err = send(ip, port, gen.tls_before_handshake(d))
                    return ["before handshake: " + outcome(out, err)], 1
                shake, word = tls_after(ip, port, ctx, gen.tls_after_handshake(d))
                return [f"after handshake: {word}" if shake == "ok" else shake], 1

            return probe

        return [
            Target("http-request", "sidecar inbound web-0:8080", plain(web.ip, 8080, http)),
            Target(
                "http-request", "sidecar outbound client-s-0:15001", captured(cs, (self.web_vip, 80), http)
            ),
            Target(
                "http-request",
                "ztunnel outbound client-a-0:15001 (to the waypoint)",
                captured(ca, (self.api_vip, 80), http),
            ),
            Target(
                "http-request",
                "ztunnel inbound api-0:8080 (plaintext, to the app)",
                plain(api.ip, 8080, http),
            ),
            Target("http-request", "app up-0:8080 (no proxy)", plain(up.ip, 8080, http)),
            Target("http-request", "app web-0 behind its sidecar", plain(web.local_ip, 8080, http)),
            Target(
                "http-request",
                "waypoint over HBONE (8 streams a connection)",
                self._waypoint_http,
                per_probe=WAYPOINT_STREAMS,
            ),
            Target(
                "http-response",
                "sidecar outbound reading a fake upstream",
                captured(cs, self.upstream, lambda d: b"GET /fuzz HTTP/1.1\r\nHost: up\r\n\r\n"),
            ),
            Target("proxy-v2", "sidecar client-s-0:15001", proxy_v2(cs)),
            Target("proxy-v2", "ztunnel client-a-0:15001", proxy_v2(ca)),
            Target("hbone-frames", "ztunnel 15008", hbone_frames("ztunnel"), weight=0.25),
            Target("hbone-frames", "waypoint 15008", hbone_frames("waypoint"), weight=0.25),
            Target("hbone-frames", "sidecar 15008", hbone_frames("sidecar"), weight=0.25),
            Target("tls-records", "sidecar mTLS web-0:8080", tls_records(web.ip, 8080, self.tls), weight=0.5),
            Target("tls-records", "ztunnel 15008", tls_records(api.ip, 15008, self.h2_tls), weight=0.5),
            Target("tls-records", "waypoint 15008", tls_records(self.wp.ip, 15008, self.h2_tls), weight=0.5),
        ]

    def _dial(self, ip: str):
        import socket

        sock = socket.create_connection((ip, 15008), timeout=5)
        return self.h2_tls.wrap_socket(sock)

    def _waypoint_http(self, d) -> tuple[list[str], int]:
        """Eight HTTP/1.1 inputs in eight CONNECTs to the service, one connection: each stream's answer."""
        from hyperframe.frame import DataFrame

        n = WAYPOINT_STREAMS
        wire = gen.HELLO + b"".join(
            gen.connect(2 * i + 1, f"{self.api_vip}:80")
            + DataFrame(2 * i + 1, data=gen.http_request(d), flags=["END_STREAM"]).serialize()
            for i in range(n)
        )
        sids = [2 * i + 1 for i in range(n)]

        def ended(a, sid):
            return a.of(_RF, sid) or any(
                "END_STREAM" in f.flags for f in a.of(DataFrame, sid) + a.of(_HF, sid)
            )

        try:
            with self._dial(self.wp.ip) as t:
                a = exchange(t, wire, idle=2.0, until=lambda a: all(ended(a, s) for s in sids))
        except OSError:
            return ["handshake failed"] * n, 1
        words = []
        for s in sids:
            body = b"".join(f.data for f in a.of(DataFrame, s))
            words.append(
                outcome(body)
                if body
                else "reset"
                if a.of(_RF, s)
                else "closed"
                if ended(a, s) or a.closed
                else "timeout"
            )
        return words, 1

    # -- good requests -------------------------------------------------------------------------
    def checks(self) -> dict[str, Callable[[], bool]]:
        """Each listener kind served a good request?"""
        from .net import proxyproto

        cs, ca, web, api, up = self.cs, self.ca_, self.web, self.api, self.up

        def ok(answer):
            return answer[0].startswith(b"HTTP/1.1 200")

        def via(pod, dst, path=b"/get"):
            return ok(
                send(
                    pod.ip,
                    15001,
                    lambda src: proxyproto.encode(*src, *dst) + GOOD_GET.replace(b"/get", path),
                    src=pod.ip,
                )
            )

        return {
            "sidecar inbound (plaintext)": lambda: ok(send(web.ip, 8080, GOOD_GET)),
            "sidecar outbound -> mTLS -> sidecar inbound": lambda: via(cs, (self.web_vip, 80)),
            "sidecar outbound -> fake upstream": lambda: via(cs, self.upstream, b"/health"),
            "ztunnel -> waypoint -> ztunnel -> app": lambda: via(ca, (self.api_vip, 80)),
            "ztunnel inbound (plaintext)": lambda: ok(send(api.ip, 8080, GOOD_GET)),
            "apps": lambda: ok(send(up.ip, 8080, GOOD_GET)) and ok(send(web.local_ip, 8080, GOOD_GET)),
            "sidecar mTLS": self._good_mtls,
            "ztunnel 15008": lambda: self._good_hbone(api.ip, f"{api.ip}:8080"),
            "waypoint 15008": lambda: self._good_hbone(self.wp.ip, f"{self.api_vip}:80"),
            "sidecar 15008": lambda: self._good_hbone(web.ip, f"{web.ip}:8080"),
        }

    def _good_mtls(self) -> bool:
        import socket

        try:
            with self.tls.wrap_socket(socket.create_connection((self.web.ip, 8080), timeout=5)) as t:
                t.sendall(GOOD_GET)
                return t.recv(65536).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def _good_hbone(self, ip: str, authority: str) -> bool:
        from hyperframe.frame import DataFrame

        wire = (
            gen.HELLO
            + gen.connect(1, authority)
            + DataFrame(1, data=GOOD_GET, flags=["END_STREAM"]).serialize()
        )
        try:
            with self._dial(ip) as t:
                a = exchange(
                    t,
                    wire,
                    idle=5.0,
                    until=lambda a: (
                        b"".join(f.data for f in a.of(DataFrame, 1)).startswith(b"HTTP/1.1 200")
                        or a.of(_RF, 1)
                    ),
                )
        except OSError:
            return False
        return b"".join(f.data for f in a.of(DataFrame, 1)).startswith(b"HTTP/1.1 200")
