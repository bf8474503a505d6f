"""A fork server for pod processes: ``python -m meshlab.apps.zygote``.

Starting a fresh Python per pod costs ~0.2 s of CPU each (interpreter + asyncio + httptools + apps);
on a 2-core machine Bookinfo's seven pods took most of a second. The zygote imports all of that
once and forks a pod process per request: a fork takes milliseconds, and the forked pods share
the zygote's pages until they write them (so their PSS is lower too — a real saving, as with
any pre-forking server; the lab measures it, it does not assume it).

Protocol on fd 3 (a Unix socket from the lab): the lab sends ``{"op": "fork", "module": ...,
"log": path}`` with two file descriptors attached (the pod's stdin read end and stdout write
end); the zygote forks, and the child makes them its stdin/stdout, sends its stderr to ``log``,
and runs ``module.main()`` — the same entry point a plain ``python -m module`` would run. The
zygote answers ``{"pid": n}``. It reaps its children, and exits when the lab's socket closes.

With ``"netns": "/proc/<pid>/ns/net"`` (the mininet backend: a pod's or node's namespace, held
by its Mininet host), the child joins that network namespace before it runs the module — what
``mnexec -a <pid>`` does, without paying for a fresh interpreter per pod.
"""

from __future__ import annotations

import array
import gc
import importlib
import json
import os
import signal
import socket
import sys

#: Imported before any fork (a module's ``preload()``, if it has one, runs too: work every child
#: would otherwise repeat, such as parsing libnghttp2's declarations and making its callbacks).
PRELOAD = ("meshlab.apps.worker", "meshlab.apps.bookinfo", "meshlab.apps.httpbin", "meshlab.proxy.main",
           "meshlab.proxy.sidecar", "meshlab.proxy.ztunnel", "meshlab.proxy.waypoint", "meshlab.proxy.h2engine",
           "uvloop", "prometheus_client")
CONTROL_FD = 3


def _reap(signum, frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _recv(sock: socket.socket) -> tuple[dict | None, list[int]]:
    fds = array.array("i")
    try:
        msg, anc, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(8 * fds.itemsize))
    except InterruptedError:
        return _recv(sock)
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    if not msg:
        return None, list(fds)
    return json.loads(msg), list(fds)


def setns(path: str) -> None:
    """Join the network namespace at ``path`` (Python 3.11 has no ``os.setns``)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:          # CLONE_NEWNET
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _child(req: dict, fds: list[int], sock: socket.socket) -> None:
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        stdin_r, stdout_w = fds
        os.dup2(stdin_r, 0)
        os.dup2(stdout_w, 1)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
        sock.close()
        os.closerange(3, 1 << 16)            # nothing of the zygote's or the lab's stays open
        sys.stdin = os.fdopen(0, "r", closefd=False)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        if req.get("netns"):
            setns(req["netns"])
        importlib.import_module(req["module"]).main()
    except Exception:                      # a setns or import failure: say why in the pod's log
        import traceback
        traceback.print_exc()
    finally:
        os._exit(70)


def main() -> None:
    for m in PRELOAD:
        hook = getattr(importlib.import_module(m), "preload", None)
        if hook is not None:
            hook()
    sock = socket.socket(fileno=CONTROL_FD)
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        req, fds = _recv(sock)
        if req is None:                     # the lab is gone: its pods have their own lifelines
            return
        if req.get("op") != "fork" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            sock.sendall(json.dumps({"error": f"bad request {req!r}"}).encode())
            continue
        gc.freeze()             # the zygote's objects: a child's collections never touch (copy) their pages
        pid = os.fork()
        if pid == 0:
            _child(req, fds, sock)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    main()
