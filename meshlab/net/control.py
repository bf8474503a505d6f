"""The process side of the lab's control channel, shared by pod (app) and proxy processes.

JSON lines on stdin/stdout. The first line in is the process's spec; the process answers
``{"event": "ready", ...}`` once it serves (or ``{"event": "error", ...}`` and exits). Then each
line in is a call ``{"id", "op", ...}``, answered by ``{"id", "result"}`` or ``{"id", "error"}``
(long calls may send ``{"id", "progress"}`` first). stdin is the lifeline: when it closes —
the lab stopped, or its process died — the process exits. The lab's side is
:mod:`meshlab.backends.process`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from typing import Awaitable, Callable

from ..errors import DataPlaneError

Handler = Callable[[dict], Awaitable[dict]]


class StartupError(DataPlaneError):
    """Raised by a process's setup to report ``{"event": "error", "kind": kind}`` and exit."""

    def __init__(self, message: str, kind: str = "error", **extra):
        super().__init__(message)
        self.kind, self.extra = kind, extra


class Channel:
    def __init__(self, out):
        self.out = out
        self.done = asyncio.Event()

    def send(self, msg: dict) -> None:
        self.out.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        self.out.flush()

    async def serve(self, reader: asyncio.StreamReader, handlers: dict[str, Handler]) -> None:
        tasks: set[asyncio.Task] = set()

        async def handle(msg: dict) -> None:
            cid, op = msg.get("id"), msg.get("op")
            try:
                if op == "stop":
                    self.done.set()
                    result = {}
                elif op == "ping":
                    result = {"pid": os.getpid()}
                elif op in handlers:
                    result = await handlers[op](msg)
                else:
                    raise ValueError(f"unknown op {op!r}; ops: ping, stop, {', '.join(handlers)}")
                self.send({"id": cid, "result": result})
            except Exception as e:  # noqa: BLE001 - every call gets an answer
                self.send({"id": cid, "error": f"{type(e).__name__}: {e}"})

        while True:
            line = await reader.readline()
            if not line:  # lifeline cut: the lab is gone
                self.done.set()
                return
            try:
                msg = json.loads(line)
            except ValueError:
                self.send({"id": None, "error": f"not JSON: {line[:80]!r}"})
                continue
            t = asyncio.create_task(handle(msg))
            tasks.add(t)
            t.add_done_callback(tasks.discard)


Setup = Callable[[dict, Channel], Awaitable[tuple[dict[str, Handler], Callable[[], Awaitable[None]] | None]]]


async def _amain(setup: Setup) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to the log, never the channel
    ch = Channel(out)
    spec = json.loads(await reader.readline())
    if spec.get("seed") is not None:  # Lab(seed=...): this process's random choices repeat
        random.seed(spec["seed"])
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ch.done.set)
    try:
        handlers, on_stop = await setup(spec, ch)
    except StartupError as e:
        ch.send({"event": "error", "kind": e.kind, "error": str(e), **e.extra})
        return 3
    ch.send({"event": "ready", "pid": os.getpid()})
    serving = asyncio.create_task(ch.serve(reader, handlers))
    await ch.done.wait()
    serving.cancel()
    if on_stop is not None:
        await on_stop()
    return 0


def run(setup: Setup) -> None:
    """Run a control-channel process to the end (uvloop when it is installed), then exit."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    profile_dir = os.environ.get("MESHLAB_PROFILE")  # for performance work: cProfile each process
    prof = None
    if profile_dir:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        code = runner(_amain(setup))
    except (BrokenPipeError, KeyboardInterrupt):
        code = 0
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.path.join(profile_dir, f"{os.getpid()}.prof"))
    os._exit(code)
