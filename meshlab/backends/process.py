"""The lab's side of a pod process's control channel (see :mod:`meshlab.apps.worker`).

A :class:`WorkerProcess` owns one ``subprocess.Popen`` whose stdin/stdout carry JSON lines. A
reader thread parses what the worker says and hands each answer to the call that waits for it (by
its id), so calls can wait with a timeout, a dead worker is noticed at once, and two threads may
call one process at once (a load in flight from a background thread while the lab changes). The
stdin pipe is the worker's lifeline: if this process dies, the pipe closes and the worker exits on
its own.
"""

from __future__ import annotations

import itertools
import json
import queue
import signal
import subprocess
import threading
import time
from typing import Callable

from ..errors import LabError, WorkerError

_EOF = object()
#: File descriptors the lab keeps for itself besides its processes' pipes (state files, sockets,
#: a fork batch's pipes in flight).
FD_HEADROOM = 256


def ensure_fds(processes: int) -> None:
    """The lab holds two pipes per process (each one's stdin and stdout): make sure it may open
    that many — raising its soft ``RLIMIT_NOFILE`` up to the hard limit if need be (a 200-pod
    sidecar lab runs 402 processes; 1024 is a common soft limit) — or say plainly what to do."""
    import resource

    need = 2 * processes + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    if hard != resource.RLIM_INFINITY and need > hard:
        raise LabError(
            f"{processes} processes need about {need} open files in the lab's process, but the "
            f"limit here is {hard} (ulimit -Hn); raise it, or use a smaller topology"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


class WorkerProcess:
    def __init__(self, name: str, popen: subprocess.Popen, log_path=None):
        self.name = name
        self.role = "app"  # app | sidecar | ztunnel | waypoint (set by the lab)
        self.where: str | None = None  # the pod (or node) it runs for
        self.proc = popen
        self.log_path = log_path
        self._q: queue.Queue = queue.Queue()  # what no call waits for: the start-up event
        self._waiting: dict[int, queue.Queue] = {}  # call id -> its answers
        self._eof = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _waiting and _eof (held only briefly)
        self._write = threading.Lock()  # one writer at a time on the pipe
        self.ready_info: dict | None = None
        self._reader = threading.Thread(target=self._read, name=f"meshlab-{name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict) or msg.get("id") is None:
                self._q.put(msg)
                continue
            with self._lock:
                q = self._waiting.get(msg["id"])
            if q is not None:  # else a late answer to an abandoned call
                q.put(msg)
        with self._lock:
            self._eof = True
            waiting = list(self._waiting.values())
        for q in [self._q, *waiting]:
            q.put(_EOF)

    def _log_tail(self, n: int = 15) -> str:
        if not self.log_path:
            return ""
        try:
            lines = open(self.log_path, errors="replace").read().splitlines()[-n:]
        except OSError:
            return ""
        return ("\n  last lines of its log:\n    " + "\n    ".join(lines)) if lines else ""

    def _send(self, msg: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise WorkerError(
                f"pod {self.name}: its process has exited (code {self.proc.poll()})" + self._log_tail()
            ) from None

    def start(self, spec: dict) -> None:
        self._send(spec)

    def wait_ready(self, deadline: float) -> dict:
        """Wait for ``ready``; returns the worker's error event dict if it reported one."""
        msg = self._get(deadline, "start")
        if msg.get("event") not in ("ready", "error"):
            raise WorkerError(f"pod {self.name}: unexpected first message {msg!r}")
        self.ready_info = msg
        return msg

    def _get(self, deadline: float, what: str, q: queue.Queue | None = None):
        try:
            msg = (q or self._q).get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise WorkerError(f"pod {self.name}: no answer to {what} in time") from None
        if msg is _EOF:
            self.proc.wait(timeout=5)
            raise WorkerError(
                f"pod {self.name}: its process exited (code {self.proc.returncode}) "
                f"during {what}" + self._log_tail()
            )
        return msg

    def call(
        self,
        op: str,
        args: dict | None = None,
        *,
        timeout: float = 30.0,
        on_progress: Callable[[int], None] | None = None,
    ) -> dict:
        """Send one call and wait for its answer (progress lines go to ``on_progress``)."""
        answers: queue.Queue = queue.Queue()
        with self._lock:
            cid = next(self._ids)
            self._waiting[cid] = answers
            if self._eof:
                answers.put(_EOF)
        try:
            with self._write:
                self._send({"id": cid, "op": op, **(args or {})})
            deadline = time.monotonic() + timeout
            while True:
                msg = self._get(deadline, op, answers)
                if "progress" in msg:
                    if on_progress:
                        on_progress(msg["progress"])
                    continue
                if "error" in msg:
                    raise WorkerError(f"pod {self.name}: {op} failed: {msg['error']}")
                return msg["result"]
        finally:
            with self._lock:
                self._waiting.pop(cid, None)

    def stop(self, grace: float = 2.0) -> None:
        """Ask the worker to exit, then close its lifeline, then TERM, then KILL."""
        if self.alive():
            try:
                self.proc.stdin.close()  # the lifeline: the worker exits on EOF
            except OSError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
