"""The lab's side of the zygote (:mod:`meshlab.backends.zygote`): start it once, then fork pods.

:class:`Forked` looks like ``subprocess.Popen`` to the rest of the lab (``pid``, ``stdin``,
``stdout``, ``poll``, ``wait``, ``send_signal``, ``kill``), so :class:`WorkerProcess` does not
care whether a pod was forked or exec'd. A forked pod is the zygote's child, not ours: we watch
it through its pid (and its start time, so a recycled pid is never mistaken for it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from .zygote import MAX_JOBS
from ..errors import WorkerError


class Forked:
    """A pod process forked by the zygote, with the Popen methods the lab uses. ``net_key``: the
    cluster network it inherited (see :meth:`Zygote.fork`), or None."""

    def __init__(self, pid: int, stdin, stdout, net_key: str | None = None):
        self.pid, self.stdin, self.stdout, self.net_key = pid, stdin, stdout, net_key
        self.returncode: int | None = None
        try:
            self._ps = psutil.Process(pid)
        except psutil.Error:
            self._ps = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                gone = self._ps is None or self._ps.status() == psutil.STATUS_ZOMBIE
            except psutil.Error:
                gone = True
            if gone:
                self.returncode = -1  # the zygote reaped it; its exit code is in its log
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pod process {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                self._ps.send_signal(sig)
            except psutil.Error:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """One fork server per backend, started on first use, gone when the lab stops or dies."""

    def __init__(self, env: dict):
        self._lab_end, zyg_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        self._net_key: str | None = None  # the cluster network the zygote holds for its children
        # the zygote's fd 3 is its end of the socket; nothing else of ours leaks into it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os; os.dup2(%d, 3); from meshlab.backends.zygote import main; main()"
                % zyg_end.fileno(),
            ],
            pass_fds=(zyg_end.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        zyg_end.close()

    def fork(self, module: str, log_path: str, netns: str | None = None, net=None) -> Forked:
        """A new process running ``module``; in the network namespace at ``netns`` if given.
        With ``net`` (a :class:`~meshlab.net.cluster.ClusterNet`), the process inherits it
        ready-built (``Forked.net_key``; the spec then says ``{"inherited": key}``), handed to
        the zygote once per net."""
        return self.fork_many([(module, log_path, netns)], net)[0]

    def fork_many(self, jobs: list[tuple[str, str, "str | None"]], net=None) -> list[Forked]:
        """:meth:`fork` for each ``(module, log_path, netns)``, in batches of up to
        :data:`~meshlab.backends.zygote.MAX_JOBS` that the zygote forks in one go (a 200-pod lab
        forks 402 processes; a round trip for each cost the zygote a third more CPU per fork).
        All or nothing: if one cannot start, those already forked are killed."""
        done: list[Forked] = []
        try:
            with self._lock:
                net_key = self._share(net) if net is not None else None
                for i in range(0, len(jobs), MAX_JOBS):
                    done += self._fork_batch(jobs[i : i + MAX_JOBS], net_key)
        except BaseException as e:
            for f in done:
                f.kill()
                f.stdin.close()
                f.stdout.close()
            if isinstance(e, OSError):
                raise WorkerError(
                    f"could not start a process: the fork server is gone ({e.strerror or e})"
                ) from None
            raise
        return done

    def _fork_batch(self, jobs, net_key: str | None) -> list[Forked]:
        ours, theirs = [], []  # per job: (stdin write end, stdout read end); the others
        try:
            for _ in jobs:
                in_r, in_w = os.pipe()
                ours.append(in_w)
                theirs.append(in_r)
                out_r, out_w = os.pipe()
                ours.append(out_r)
                theirs.append(out_w)
            socket.send_fds(
                self._lab_end,
                [
                    json.dumps(
                        {
                            "op": "fork",
                            "jobs": [{"module": m, "log": log, "netns": netns} for m, log, netns in jobs],
                        }
                    ).encode()
                ],
                theirs,
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        try:
            reply = json.loads(self._lab_end.recv(65536) or b'{"error": "the fork server exited"}')
        except OSError as e:
            reply = {"error": f"the fork server is gone ({e.strerror or e})"}
        pids = reply.get("pids", [])
        forked = [
            Forked(pid, os.fdopen(ours[2 * k], "wb"), os.fdopen(ours[2 * k + 1], "rb"), net_key)
            for k, pid in enumerate(pids)
        ]
        for fd in ours[2 * len(pids) :]:
            os.close(fd)
        if len(pids) < len(jobs):
            for f in forked:
                f.kill()
                f.stdin.close()
                f.stdout.close()
            raise WorkerError(f"could not start a process for {jobs[len(pids)][0]}: {reply.get('error')}")
        return forked

    def _share(self, net) -> str | None:
        """Hand ``net`` to the zygote unless it holds it already; its key, or None if the
        zygote could not take it (the child then gets the whole net in its spec)."""
        if net.key == self._net_key:
            return net.key
        fd = os.memfd_create("meshlab-net", os.MFD_CLOEXEC)
        try:
            data = memoryview(json.dumps(net.to_dict()).encode())
            while data:
                data = data[os.write(fd, data) :]
            os.lseek(fd, 0, os.SEEK_SET)
            socket.send_fds(self._lab_end, [json.dumps({"op": "net", "key": net.key}).encode()], [fd])
        finally:
            os.close(fd)
        reply = json.loads(self._lab_end.recv(65536) or b"{}")
        self._net_key = reply.get("net")
        return self._net_key

    def close(self) -> None:
        try:
            self._lab_end.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_PKG_PARENT = str(Path(__file__).resolve().parent.parent.parent)


def running_zygote(current: "Zygote | None", record) -> "Zygote":
    """The backend's fork server: ``current`` while it lives, else a fresh one (first use, or the
    old one died), with meshlab importable and its pid recorded for clean-up."""
    if current is not None and current.proc.poll() is None:
        return current
    if current is not None:
        current.close()
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    z = Zygote(env)
    record(z.proc.pid, "zygote", "fork-server")
    return z
