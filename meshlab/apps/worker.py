"""The process that runs one pod: ``python -m meshlab.apps.worker``.

Control channel (the lab's side is :mod:`meshlab.backends.process`): JSON lines. The first line
on stdin is the pod's spec; the worker answers ``{"event": "ready"}`` once it listens (or
``{"event": "error", ...}`` and exits). Then each line is a call ``{"id", "op", ...}`` answered
by ``{"id", "result"}`` or ``{"id", "error"}``, with ``{"id", "progress"}`` lines on the way for
long calls. stdin is also the lifeline: when it closes — the lab stopped, or its process died —
the worker exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from ..net.cluster import ClusterNet
from ..net.http1 import serve
from ..topology.model import AppSpec, Call
from .client import Client
from .loadgen import LoadPlan
from .runtime import AppRuntime

EXIT_PORT_CONFLICT = 3


def app_from_dict(d: dict) -> AppSpec:
    return AppSpec(kind=d["kind"], service_time=d.get("service_time", 0.0),
                   calls=tuple(Call(**c) for c in d.get("calls", ())), params=d.get("params", {}))


def make_handler(rt: AppRuntime):
    from . import bookinfo, httpbin
    makers = {"productpage": bookinfo.make_productpage, "details": bookinfo.make_details,
              "reviews": bookinfo.make_reviews, "ratings": bookinfo.make_ratings,
              "httpbin": httpbin.make_httpbin}
    make = makers.get(rt.app.kind)
    return rt.instrument(make(rt)) if make else None


class Worker:
    def __init__(self, spec: dict, out):
        self.spec = spec
        self.out = out
        net = ClusterNet.from_dict(spec["net"])
        self.rt = AppRuntime(spec["pod"], app_from_dict(spec["app"]), net)
        self.client = Client(self.rt)
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task] = set()
        self.done = asyncio.Event()

    def send(self, msg: dict) -> None:
        self.out.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        self.out.flush()

    async def start(self) -> bool:
        handler = make_handler(self.rt)
        if handler is None:
            return True
        for port in self.spec.get("ports", []):
            try:
                self.servers.append(await serve(self.rt.pod.ip, port, handler))
            except OSError as e:
                self.send({"event": "error", "kind": "port-conflict" if e.errno in (98, 48) else "bind",
                           "address": f"{self.rt.pod.ip}:{port}",
                           "error": f"cannot listen on {self.rt.pod.ip}:{port}: {e.strerror or e}"})
                return False
        return True

    async def handle(self, msg: dict) -> None:
        cid, op = msg.get("id"), msg.get("op")
        try:
            if op == "ping":
                result = {"pid": os.getpid(), "pod": self.rt.pod_name}
            elif op == "spans":
                result = {"spans": self.rt.drain()}
            elif op == "net":
                self.rt.dialer.update(ClusterNet.from_dict(msg["net"]))
                result = {}
            elif op == "request":
                result = await self.client.request(msg.get("method", "GET"), msg["url"],
                                                   [tuple(h) for h in msg.get("headers", [])],
                                                   msg.get("body", "").encode(), msg.get("timeout", 30.0))
            elif op == "load":
                plan = LoadPlan(**msg["plan"])
                last = [0.0]

                def progress(n: int):
                    t = asyncio.get_running_loop().time()
                    if t - last[0] >= 0.2:
                        last[0] = t
                        self.send({"id": cid, "progress": n})
                outs = await self.client.load(plan, msg.get("method", "GET"), msg["url"],
                                              [tuple(h) for h in msg.get("headers", [])],
                                              msg.get("body", "").encode(), msg.get("timeout", 30.0), progress)
                result = {"outcomes": [o.to_dict() for o in outs]}
            elif op == "stop":
                self.done.set()
                result = {}
            else:
                raise ValueError(f"unknown op {op!r}; ops: ping, spans, net, request, load, stop")
            self.send({"id": cid, "result": result})
        except Exception as e:  # noqa: BLE001 - every call gets an answer
            self.send({"id": cid, "error": f"{type(e).__name__}: {e}"})

    async def control(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:                       # lifeline cut: the lab is gone
                self.done.set()
                return
            try:
                msg = json.loads(line)
            except ValueError:
                self.send({"id": None, "error": f"not JSON: {line[:80]!r}"})
                continue
            t = asyncio.create_task(self.handle(msg))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)


async def amain() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                              # stray prints go to the log, never the channel
    spec = json.loads(await reader.readline())
    w = Worker(spec, out)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, w.done.set)
    if not await w.start():
        return EXIT_PORT_CONFLICT
    w.send({"event": "ready", "pid": os.getpid(), "pod": w.rt.pod_name})
    ctl = asyncio.create_task(w.control(reader))
    await w.done.wait()
    ctl.cancel()
    for s in w.servers:
        s.close()
    return 0


def main() -> None:
    try:
        code = asyncio.run(amain())
    except (BrokenPipeError, KeyboardInterrupt):
        code = 0
    os._exit(code)


if __name__ == "__main__":
    main()
