"""The process that runs one pod's app: the module :mod:`meshlab.backends.zygote` forks into.

It serves the app (if the app listens) and answers the lab's calls on the control channel
(:mod:`meshlab.net.control`): ``request`` and ``load`` (send traffic from this pod), ``spans``
(hand over and forget the spans recorded so far), ``net`` (the cluster's addresses changed).
"""

from __future__ import annotations

import asyncio

from ..net import control
from ..net.cluster import ClusterNet
from ..net.http1 import serve
from ..net.specs import PodSpec
from .client import Client
from .loadgen import LoadPlan
from .runtime import AppRuntime


def make_handler(rt: AppRuntime):
    from . import bookinfo, httpbin

    makers = {
        "productpage": bookinfo.make_productpage,
        "details": bookinfo.make_details,
        "reviews": bookinfo.make_reviews,
        "ratings": bookinfo.make_ratings,
        "httpbin": httpbin.make_httpbin,
    }
    make = makers.get(rt.app.kind)
    return rt.instrument(make(rt)) if make else None


async def setup(msg: dict, ch: control.Channel):
    spec = PodSpec.from_message(msg)
    rt = AppRuntime(spec.pod, spec.app, ClusterNet.from_dict(msg["net"]))
    client = Client(rt)
    servers: list = []  # meshlab.net.tcp.Listener
    handler = make_handler(rt)
    listening = [None]

    async def listen(ip: str) -> None:
        """(Re)open the app's ports on ``ip``. Enrolling the pod in ambient moves them to the
        pod-local address, behind ztunnel's capture, while the process keeps running — what
        istio-cni's in-pod redirection does without restarting the pod."""
        if handler is None or listening[0] == ip:
            return
        for s in servers:
            s.close()
        servers.clear()
        for port in spec.ports:
            try:
                servers.append(await serve(ip, port, handler, name=spec.pod))
            except OSError as e:
                raise control.StartupError(
                    f"cannot listen on {ip}:{port}: {e.strerror or e}",
                    "port-conflict" if e.errno == 98 else "bind",
                    address=f"{ip}:{port}",
                ) from None
        listening[0] = ip

    await listen(rt.pod.listen_ip)

    async def request(msg):
        return await client.request(
            msg.get("method", "GET"),
            msg["url"],
            [tuple(h) for h in msg.get("headers", [])],
            msg.get("body", "").encode(),
            msg.get("timeout", 30.0),
        )

    async def load(msg):
        plan = LoadPlan(**msg["plan"])
        last = [0.0]
        loop = asyncio.get_running_loop()

        def progress(n: int):
            if loop.time() - last[0] >= 0.2:
                last[0] = loop.time()
                ch.send({"id": msg["id"], "progress": n})

        outs = await client.load(
            plan,
            msg.get("method", "GET"),
            msg["url"],
            [tuple(h) for h in msg.get("headers", [])],
            msg.get("body", "").encode(),
            msg.get("timeout", 30.0),
            progress,
        )
        return {"outcomes": [o.to_dict() for o in outs]}

    async def spans(msg):
        return {"spans": rt.drain()}

    async def net(msg):
        rt.dialer.update(ClusterNet.from_dict(msg["net"]))
        await listen(rt.pod.listen_ip)
        return {}

    async def on_stop():
        for s in servers:
            s.close()

    return {"request": request, "load": load, "spans": spans, "net": net}, on_stop


def main() -> None:
    control.run(setup)


if __name__ == "__main__":
    main()
