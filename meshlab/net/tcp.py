"""TCP sockets the lab's way: refusing connections as Envoy and ztunnel do, with a reset (RST),
which curl reports as "Connection reset by peer" (exit code 56); listening and connecting on
IP addresses without a name lookup (see :func:`listener`); and accepting as Envoy's listeners do,
through running out of file descriptors and back (see :class:`Listener`, :func:`serve`)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Awaitable, Callable


def _linger_zero(sock) -> None:
    """SO_LINGER on with a zero timeout: closing then sends an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def reset_socket(sock) -> None:
    """Close ``sock`` with an RST."""
    _linger_zero(sock)
    sock.close()


def abort_with_reset(writer) -> None:
    """Drop a connection with an RST: an asyncio stream's (its writer), or a transport."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        _linger_zero(sock)
    getattr(writer, "transport", writer).abort()


# uvloop resolves even a literal address with getaddrinfo on libuv's thread pool in
# ``start_server(host, port)`` and ``sock_connect``: that starts four worker threads (and a malloc
# arena each, ~0.5 MB of private memory) in every process that does it, to look up an IP address.
# The lab only ever listens on and connects to IP addresses, so it makes its sockets itself.


def _somaxconn() -> int:
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4096  # Linux's default since 5.4


#: How many connections a listener's accept queue holds: ``net.core.somaxconn``, as Envoy's
#: listeners use on Linux (``tcp_backlog_size`` unset). ``loop.create_server(sock=...)`` and
#: ``asyncio.start_server(sock=...)`` listen again with their own ``backlog`` (100 unless given):
#: pass this. A queue of 100 overflowed when 500 connections arrived at once: SYN cookies whose
#: ACK found the queue still full, and the client saw resets.
BACKLOG = _somaxconn()


def listener(ip: str, port: int, backlog: int | None = None) -> socket.socket:
    """A listening, non-blocking TCP socket on ``ip:port`` (for ``asyncio.start_server(sock=...,
    backlog=BACKLOG)``)."""
    backlog = BACKLOG if backlog is None else backlog
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect(sock: socket.socket, ip: str, port: int) -> None:
    """Connect the non-blocking ``sock`` to ``ip:port`` (what ``loop.sock_connect`` does, without
    the lookup); raises ``OSError`` as ``connect(2)`` reports it (refused, unreachable ...)."""
    try:
        sock.connect((ip, port))
        return
    except BlockingIOError:
        pass
    except OSError as e:  # refused or unreachable at once (a local address)
        raise _failed(e.errno, ip, port) from None
    # To a local address the kernel has usually finished the handshake (or refused it) before
    # connect(2) returns: then there is nothing to wait for (saves an event-loop round trip).
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise _failed(err, ip, port)
    try:
        sock.getpeername()
        return
    except OSError:
        pass
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(fd)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise _failed(err, ip, port)


def _failed(err: int, ip: str, port: int) -> OSError:
    """connect(2)'s error as Python's OSError subclass for it (ConnectionRefusedError ...)."""
    return OSError(err, f"connect {ip}:{port}: {errno.errorcode.get(err, err)} ({os.strerror(err)})")


# -- accepting ------------------------------------------------------------------------------------
# asyncio's accept loops do not survive running out of descriptors the way a proxy must: uvloop's
# server accepts and closes every pending connection when accept(2) says EMFILE (libuv's "EMFILE
# trick"), silently; a ``loop.sock_accept`` loop raises, and the task that ran it ends for good
# while the kernel goes on completing handshakes into the backlog. Envoy's listener is
# level-triggered and tries accept(2) again on the next loop iteration: connections wait in the
# backlog until descriptors free up (source/common/network/tcp_listener_impl.cc; older Envoys
# crashed instead: "panic: listener accept failure: Too many open files", envoyproxy/envoy#6403).

#: accept(2) errors that mean the process or the machine ran out of something that frees up again:
#: descriptors (EMFILE for the process, ENFILE for the system) or socket memory.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: accept(2) errors about one connection (gone before it was taken, refused by a filter): take the next.
ONE_CONNECTION = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
RETRY_S = 0.1  # how soon an exhausted listener tries accept(2) again
QUIET_S = 10.0  # a listener running out again within this long of its last warning is only counted
ACCEPT_BATCH = (
    64  # connections taken per readiness event at most, so one busy listener cannot starve the loop
)


@dataclass
class ListenerStats:
    """What one listener met, as Envoy counts per listener (``downstream_cx_total``), and what
    Envoy does not count: accept(2) failing for lack of descriptors or memory."""

    address: str
    accepted: int = 0
    accept_failures: int = 0  # accept(2) calls that failed for lack of descriptors or memory
    exhaustions: int = 0  # times it ran out (each ends when an accept succeeds again)
    last_error: str | None = None  # the last such failure, as strerror says it


def _stderr(message: str) -> None:
    """A process's log is its stderr (the lab keeps it as ``<process>.log``)."""
    print(message, file=sys.stderr, flush=True)


class Listener:
    """Accepts connections on the listening socket ``sock`` until :meth:`close`, handing each
    (non-blocking) to ``on_socket(conn)`` — it never stops for lack of descriptors: it counts
    the failure in :attr:`stats`, says so in the log (at most once per :data:`QUIET_S`), leaves
    the pending connections in the kernel's backlog and tries again every :data:`RETRY_S` until
    one is accepted, then says that too. ``name`` is who listens (for the log). Create it with a running event loop.

    It has what the lab used of ``asyncio.Server``: ``sockets``, ``close()``, ``wait_closed()``."""

    def __init__(
        self,
        sock: socket.socket,
        on_socket: Callable[[socket.socket], None],
        *,
        name: str = "",
        log: Callable[[str], None] = _stderr,
    ):
        self.sockets = [sock]
        self.on_socket, self.name, self._log = on_socket, name, log
        ip, port = sock.getsockname()[:2]
        self.stats = ListenerStats(f"{ip}:{port}")
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._retry: asyncio.TimerHandle | None = None
        self._since: float | None = None  # when the current exhaustion began
        self._failed_then = 0  # accept_failures when it began
        self._warned: float | None = None  # when the log last said it ran out
        self._told = False  # ... and that was about the current exhaustion
        self._loop.add_reader(self._fd, self._accept)

    @property
    def sock(self) -> socket.socket:
        return self.sockets[0]

    def _accept(self) -> None:
        raw_accept = self.sock._accept  # socket.accept() without its enum conversions (~5 µs a call)
        for _ in range(ACCEPT_BATCH):
            try:
                fd, _ = raw_accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in EXHAUSTED:
                    self._exhausted(e)
                    return
                if e.errno in ONE_CONNECTION:
                    continue
                self._log(f"[error] {self._who()}: accept failed: {e.strerror or e}; the listener stops")
                self.close()
                return
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fd)
            if self._since is not None:
                self._recovered()
            conn.setblocking(False)
            self.stats.accepted += 1
            self.on_socket(conn)

    def _who(self) -> str:
        return f"{self.name} listener {self.stats.address}" if self.name else f"listener {self.stats.address}"

    def _exhausted(self, e: OSError) -> None:
        st = self.stats
        st.accept_failures += 1
        st.last_error = f"{errno.errorcode.get(e.errno, e.errno)} ({e.strerror or e})"
        if self._since is None:
            self._since, self._failed_then = time.monotonic(), st.accept_failures - 1
            st.exhaustions += 1
            self._told = self._warned is None or self._since - self._warned > QUIET_S
            if self._told:  # (under sustained pressure: once per QUIET_S)
                self._warned = self._since
                what = (
                    "out of file descriptors"
                    if e.errno in (errno.EMFILE, errno.ENFILE)
                    else "out of socket memory"
                )
                self._log(
                    f"[warning] {self._who()}: {what}: accept(2) failed with {st.last_error}; "
                    f"new connections wait in the backlog, accept retried every {RETRY_S:g} s"
                )
        self._loop.remove_reader(self._fd)  # level-triggered: it would fire again at once
        self._retry = self._loop.call_later(RETRY_S, self._resume)

    def _resume(self) -> None:
        self._retry = None
        if self.sock.fileno() != -1:
            self._loop.add_reader(self._fd, self._accept)

    def _recovered(self) -> None:
        if self._told:
            failed = self.stats.accept_failures - self._failed_then
            self._log(
                f"[info] {self._who()} accepts again after {time.monotonic() - self._since:.1f} s "
                f"({failed} accept(2) calls failed)"
            )
        self._since = None

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.sock.fileno() != -1:
            self._loop.remove_reader(self._fd)
            self.sock.close()

    async def wait_closed(self) -> None:
        return None


Connected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(
    ip: str, port: int, connected: Connected, *, ssl=None, name: str = "", limit: int = 64 * 1024
) -> Listener:
    """``asyncio.start_server(connected, ...)`` the lab's way: on a :func:`listener` (no name
    lookup) accepted by a :class:`Listener` (descriptor exhaustion survived and told). ``ssl``:
    a server context; a connection whose handshake fails is closed without a word, as before."""

    def factory() -> asyncio.StreamReaderProtocol:
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=limit), connected)

    return await serve_protocol(ip, port, factory, ssl=ssl, name=name)


async def serve_protocol(ip: str, port: int, protocol_factory, *, ssl=None, name: str = "") -> Listener:
    """``loop.create_server(protocol_factory, ...)`` the lab's way: a :class:`Listener` (no name
    lookup; descriptor exhaustion survived and told) handing each connection to an asyncio
    protocol. ``ssl``: a server context; a failed handshake closes the connection."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks

    async def start(conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(protocol_factory, conn, ssl=ssl)
        except (OSError, asyncio.TimeoutError):  # ssl.SSLError is an OSError
            conn.close()

    def on_socket(conn: socket.socket) -> None:
        t = loop.create_task(start(conn))
        pending.add(t)
        t.add_done_callback(pending.discard)

    return Listener(listener(ip, port), on_socket, name=name)
