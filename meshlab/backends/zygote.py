"""A fork server for pod processes: ``python -m meshlab.backends.zygote``.

Starting a fresh Python per pod costs ~0.2 s of CPU each (interpreter + asyncio + httptools + apps);
on a 2-core machine Bookinfo's seven pods took most of a second. The zygote imports all of that
once and forks a pod process per request: a fork takes milliseconds, and the forked pods share
the zygote's pages until they write them (so their PSS is lower too — a real saving, as with
any pre-forking server; the lab measures it, it does not assume it).

Protocol on fd 3 (a Unix socket from the lab): the lab sends ``{"op": "fork", "jobs":
[{"module": ..., "log": path}, ...]}`` with two file descriptors attached per job (the pod's
stdin read end and stdout write end, in order); the zygote forks once per job, and each child
makes its pair its stdin and stdout, sends its stderr to ``log``, and runs ``module.main()`` — the
same entry point a plain ``python -m module`` would run. The zygote answers ``{"pids": [...]}``
(and ``"error"`` if it could not fork them all). A batch forked in one go costs the zygote a
quarter less CPU per fork than a round trip each: between two forks it writes (so copies) almost
nothing. It reaps its children, and exits when the lab's socket closes.

With ``"netns": "/proc/<pid>/ns/net"`` (the mininet backend: a pod's or node's namespace, held
by its Mininet host), the child joins that network namespace before it runs the module — what
``mnexec -a <pid>`` does, without paying for a fresh interpreter per pod.

``{"op": "net", "key": k}`` with one file descriptor (a memfd holding the lab's
:class:`~meshlab.net.cluster.ClusterNet` as JSON) makes the zygote build that net once; children
forked after it find it under ``k`` (:func:`meshlab.net.cluster.inherited`), so a pod's spec
says ``"net": {"inherited": k}`` instead of carrying the whole cluster — which, in a 200-pod lab,
every one of 400 processes used to parse into a private copy.

What a forked pod writes is copied out of the zygote's pages and becomes its own; what it only
reads stays shared. So the zygote does once, before forking, the first-time work every pod would
otherwise do for itself (:func:`prewarm`): OpenSSL's first ``SSL_CTX_new`` (1.5 MB per proxy),
uvloop's first loop and an HTTP exchange; and ``gc.freeze()`` keeps the children's collections
off its objects. ``meshlab bench startup`` measures the outcome.
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
PRELOAD = (
    "meshlab.apps.worker",
    "meshlab.apps.bookinfo",
    "meshlab.apps.httpbin",
    "meshlab.proxy.main",
    "meshlab.proxy.sidecar",
    "meshlab.proxy.ztunnel",
    "meshlab.proxy.waypoint",
    "meshlab.proxy.h2engine",
    "uvloop",
    "prometheus_client",
    "encodings.idna",
)
CONTROL_FD = 3
#: Jobs in one fork request: two file descriptors each, and a message carries at most 253.
MAX_JOBS = 64


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
        msg, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(2 * MAX_JOBS * fds.itemsize))
    except InterruptedError:
        return _recv(sock)
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not msg:
        return None, list(fds)
    return json.loads(msg), list(fds)


def setns(path: str) -> None:
    """Join the network namespace at ``path`` (Python 3.11 has no ``os.setns``)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _libuv_pipe() -> set[int]:
    """The fds of a pipe whose two ends are both ours: libuv's signal lock, which libuv re-creates
    in a forked child (a ``pthread_atfork`` handler) once the zygote has run a loop. Closing it
    would make the child's first ``uv_signal_start`` (a subprocess's SIGCHLD watch) abort."""
    ends: dict[str, list[int]] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            ends.setdefault(target, []).append(int(name))
    return {fd for fds in ends.values() if len(fds) == 2 for fd in fds}


def _close_fds_from(low: int, keep: set[int]) -> None:
    for fd in sorted(k for k in keep if k >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


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
        # nothing of the zygote's or the lab's stays open (libuv's own pipe aside)
        _close_fds_from(3, _libuv_pipe() - {stdin_r, stdout_w, log})
        sys.stdin = os.fdopen(0, "r", closefd=False)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        if req.get("netns"):
            setns(req["netns"])
        importlib.import_module(req["module"]).main()
    except Exception:  # a setns or import failure: say why in the pod's log
        import traceback

        traceback.print_exc()
    finally:
        os._exit(70)


_WARM: list = []  # what prewarm() made, kept so that its memory stays (shared) in the zygote


def prewarm(rounds: int = 3) -> None:
    """Do in the zygote, once, the first-time work every pod process would otherwise do on its
    own: what is written then is shared by every child instead of copied into each. Never fatal:
    a pod does whatever was not done here itself.

    - OpenSSL 3 fetches its algorithms on the first ``SSL_CTX_new``: 1.5 MB in each proxy.
    - uvloop's first loop, and HTTP/1.1 exchanges over it: 0.7 MB in each process.

    What is left in a pod is mostly pages it *touches*: with no immortal objects in Python 3.11,
    reading an object writes its reference count, and the page holding it is copied."""
    try:
        import ssl

        for proto in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS_SERVER):
            ctx = ssl.SSLContext(proto)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("ECDHE+AESGCM")
            _WARM.append(ctx)
        import uvloop

        uvloop.run(_exchanges(rounds))
    except Exception as e:  # noqa: BLE001 - a warm-up, not a requirement
        print(f"meshlab zygote: warm-up cut short: {type(e).__name__}: {e}", file=sys.stderr)


async def _exchanges(rounds: int) -> None:
    """HTTP requests over the loop's own TCP connections (127.0.0.1, a free port)."""
    import asyncio
    from meshlab.net.http1 import ClientConnection, serve, text_response

    async def hello(req):
        return text_response(200, "warm\n")

    server = await serve("127.0.0.1", 0, hello)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(rounds):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conn = ClientConnection(reader, writer)
            await conn.request("GET", "/", [("host", "warm-up")])
            conn.close()
    finally:
        server.close()
        await server.wait_closed()


def _take_net(req: dict, fds: list[int]) -> dict:
    """Build the lab's cluster network once (children inherit it); the JSON is in a memfd."""
    from meshlab.net.cluster import ClusterNet, inherit

    try:
        with os.fdopen(fds[0], "rb") as f:
            net = ClusterNet.from_dict(json.loads(f.read()))
        inherit(req["key"], net)
        return {"net": req["key"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"error": f"could not read the cluster network: {e}"}


def main() -> None:
    for m in PRELOAD:
        hook = getattr(importlib.import_module(m), "preload", None)
        if hook is not None:
            hook()
    prewarm()
    sock = socket.socket(fileno=CONTROL_FD)
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        req, fds = _recv(sock)
        if req is None:  # the lab is gone: its pods have their own lifelines
            return
        if req.get("op") == "net" and len(fds) == 1:
            sock.sendall(json.dumps(_take_net(req, fds)).encode())
            continue
        jobs = req.get("jobs") if req.get("op") == "fork" else None
        if not isinstance(jobs, list) or not jobs or len(fds) != 2 * len(jobs):
            for fd in fds:
                os.close(fd)
            sock.sendall(
                json.dumps({"error": f"bad request {req!r} with {len(fds)} file descriptors"}).encode()
            )
            continue
        sock.sendall(json.dumps(_fork_all(jobs, fds, sock)).encode())


def _fork_all(jobs: list[dict], fds: list[int], sock: socket.socket) -> dict:
    gc.freeze()  # the zygote's objects: a child's collections never touch (copy) their pages
    pids, error = [], None
    for i, job in enumerate(jobs):
        pair = fds[2 * i : 2 * i + 2]
        if error is None:
            try:
                pid = os.fork()
            except OSError as e:
                error = f"fork failed after {len(pids)} of {len(jobs)}: {e.strerror or e}"
            else:
                if pid == 0:
                    _child(job, pair, sock)
                pids.append(pid)
        for fd in pair:
            os.close(fd)
    return {"pids": pids, **({"error": error} if error else {})}


if __name__ == "__main__":
    main()
