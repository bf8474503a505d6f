"""Blocking probes for the fuzz tests and ``meshlab bench fuzz``: a peer that sends bytes to a
listener and says what came back, in a word (:class:`Outcome`); an HBONE peer over TLS that reads
the frames it gets (:func:`exchange`); a TLS peer that, after a real handshake, writes records
outside the session (:func:`tls_after`). Loopback or lab addresses only: the callers pick them."""

from __future__ import annotations

import os
import socket
import ssl
import time

from hyperframe.frame import Frame, GoAwayFrame, PingFrame

from .fuzzgen import parse


def outcome(answer: bytes, error: str | None = None) -> str:
    """What a listener did with an input, in a word: ``4xx``, ``5xx``, ``2xx`` (and so on) for an
    HTTP answer, ``reset``, ``closed`` (closed with nothing said), ``timeout``, ``tls-alert`` (a
    TLS alert record, then closed) or ``other`` (bytes that are none of these)."""
    if error:
        return error
    if answer.startswith(b"HTTP/1.") and len(answer) >= 12 and answer[9:10].isdigit():
        return answer[9:10].decode() + "xx"
    if not answer:
        return "closed"
    if answer[:1] == b"\x15":
        return "tls-alert"
    return "other"


def send(
    ip: str, port: int, data, src: str | None = None, timeout: float = 5.0, half_close: bool = True
) -> tuple[bytes, str | None]:
    """Connect (from ``src``), send ``data`` (bytes, or a function of the connection's own
    address that makes them: a PROXY header names it), half-close, and read until the peer
    closes: what it sent, and ``"reset"`` or ``"timeout"`` when that is how it ended."""
    s = socket.socket()
    out = b""
    try:
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect((ip, port))
        s.sendall(data(s.getsockname()) if callable(data) else data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(65536):
            out += chunk
        return out, None
    except socket.timeout:
        return out, "timeout"
    except OSError:  # reset, or already gone (ENOTCONN at shutdown): refused either way
        return out, "reset"
    finally:
        s.close()


class Answer:
    """What an HBONE peer got back (whole HTTP/2 frames), and whether the connection closed."""

    def __init__(self, frames: list[Frame], closed: bool):
        self.frames, self.closed = frames, closed

    def goaway(self) -> GoAwayFrame | None:
        return next((f for f in self.frames if isinstance(f, GoAwayFrame)), None)

    def of(self, kind, sid: int) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, kind) and f.stream_id == sid]

    @property
    def pinged(self) -> bool:
        return any(
            isinstance(f, PingFrame) and "ACK" in f.flags and f.opaque_data == b"fuzzdone"
            for f in self.frames
        )


def exchange(t: ssl.SSLSocket, wire: bytes, idle: float = 0.3, closing: float = 3.0, until=None) -> Answer:
    """Send ``wire``, then read until the proxy closes, has answered the closing PING (or
    ``until(answer)``), or says nothing for ``idle`` seconds; after a GOAWAY, wait up to
    ``closing`` seconds for it to close the connection."""
    buf, closed = b"", False
    try:
        t.sendall(wire)
    except (ConnectionError, ssl.SSLError):
        pass
    last = time.monotonic()
    while True:
        a = Answer(parse(buf), closed)
        quiet = idle if a.goaway() is None else closing
        if closed or a.pinged or (until is not None and until(a)) or time.monotonic() - last > quiet:
            return a
        t.settimeout(0.05)
        try:
            data = t.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            data = b""
        if not data:
            closed = True
        else:
            buf, last = buf + data, time.monotonic()


def tls_before(ip: str, port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, str | None]:
    """Records instead of a handshake: :func:`send` by another name (the listener reads TLS)."""
    return send(ip, port, data, timeout=timeout)


def tls_after(ip: str, port: int, ctx: ssl.SSLContext, data: bytes, timeout: float = 5.0) -> tuple[str, str]:
    """A real mutual-TLS handshake with ``ctx``, then ``data`` written on the TCP socket under the
    session (records not sealed with its keys), then read what comes, raw, until the peer closes.
    (handshake: ``ok`` or why not; outcome as :func:`outcome` says it)."""
    sock = socket.create_connection((ip, port), timeout=timeout)
    try:
        try:
            t = ctx.wrap_socket(sock, do_handshake_on_connect=False)
            t.do_handshake()
            if t.version() == "TLSv1.3":
                # the server's session tickets come after the handshake: read them (sealed) before
                # anything unsealed is sent, so what comes after is the listener's answer to it
                t.settimeout(0.02)
                try:
                    t.recv(1)
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
                except (ssl.SSLError, OSError):
                    return "ok", "reset"
                t.settimeout(timeout)
        except (ssl.SSLError, OSError) as e:
            return f"handshake failed: {type(e).__name__}", "reset"
        fd = t.fileno()
        try:
            os.write(fd, data)
            sock.shutdown(socket.SHUT_WR)  # nothing more comes: a record cut short cannot wait for its rest
        except OSError:
            return "ok", "reset"
        out = b""
        try:
            while chunk := _recv_raw(fd, timeout):
                out += chunk
        except socket.timeout:
            return "ok", outcome(out, "timeout")
        except OSError:
            return "ok", outcome(out, "reset") if not out else outcome(out)
        return "ok", outcome(out)
    finally:
        sock.close()


def _recv_raw(fd: int, timeout: float) -> bytes:
    """Raw bytes from ``fd`` (past the TLS layer: an alert is plaintext or sealed, either way bytes)."""
    import select

    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        raise socket.timeout()
    return os.read(fd, 65536)
