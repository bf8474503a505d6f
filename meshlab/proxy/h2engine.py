"""HBONE's HTTP/2, sans-IO: one interface, two engines.

An :class:`Engine` is one side of one HTTP/2 connection with no I/O: the driver feeds it the
bytes it read (:meth:`~Engine.receive`, which returns events) and writes what it asks to send
(:meth:`~Engine.data_to_send`). It frames, compresses headers (HPACK) and keeps HTTP/2's flow
control; the driver only moves bytes. Two engines speak it:

- :class:`Nghttp2Engine` — **libnghttp2** (C; curl's, Apache httpd's and Node's HTTP/2), bound
  with cffi (:mod:`meshlab.net.nghttp2`). The default where the library loads.
- :class:`H2Engine` — the pure-Python **h2** library. The fallback, and the one to read.

:func:`engine_name` says which one this process uses: chosen once, at first use, from
``MESHLAB_H2_ENGINE`` (``nghttp2`` or ``h2``) or else nghttp2 when it loads.

Events are small tuples (the hot path makes one per frame), first item one of:

- ``(HEADERS, stream_id, headers: dict, end_stream: bool)`` — a request (server side) or a
  response (client side);
- ``(DATA, stream_id, data: bytes)`` — hand it on, then :meth:`~Engine.consume` it (flow control);
- ``(END, stream_id)`` — the peer ended its side of the stream;
- ``(RESET, stream_id, error_code)`` — the stream is gone (the peer reset it, or it broke);
- ``(GOAWAY, error_code)`` — the peer is closing the connection.

A peer that breaks the protocol gets a GOAWAY (queued for :meth:`~Engine.data_to_send`) and
:attr:`~Engine.alive` turns False; nothing raises into the driver.
"""

from __future__ import annotations

import os

HEADERS, DATA, END, RESET, GOAWAY = range(5)

#: Streams one HBONE connection carries at once (``SETTINGS_MAX_CONCURRENT_STREAMS``, which the
#: server side announces and the client's pool respects by opening another connection): ztunnel's
#: pool opens another connection past 100 streams (istio/ztunnel ``src/config.rs``,
#: ``DEFAULT_POOL_MAX_STREAMS_PER_CONNECTION = 100``, settable as ``POOL_MAX_STREAMS_PER_CONNECTION``).
MAX_CONCURRENT_STREAMS = 100
STREAM_WINDOW = 4 * 1024 * 1024  # per stream: HBONE streams are whole TCP connections
CONNECTION_WINDOW = 16 * 1024 * 1024
CANCEL, REFUSED_STREAM, PROTOCOL_ERROR, NO_ERROR = 0x8, 0x7, 0x1, 0x0

Header = tuple  # (name: str, value: str, sensitive: bool): sensitive = never indexed (HPACK)


class Engine:
    """What both engines offer (see the module docstring)."""

    name = "?"
    alive = True

    def receive(self, data: bytes) -> list[tuple]: ...
    def data_to_send(self) -> bytes: ...
    def request(self, headers: list[Header]) -> int: ...
    def respond(self, stream_id: int, status: int, end: bool = False) -> None: ...
    def send(self, stream_id: int, data: bytes) -> None: ...
    def end(self, stream_id: int) -> None: ...
    def reset(self, stream_id: int, code: int = CANCEL) -> None: ...
    def consume(self, stream_id: int, n: int) -> None: ...
    def pending(self, stream_id: int) -> int: ...
    def peer_max_streams(self) -> int: ...
    def close(self, code: int = NO_ERROR) -> None: ...


# -- libnghttp2 -------------------------------------------------------------------------------


class Nghttp2Engine(Engine):
    """libnghttp2's session in memory. Received headers and data reach Python through four
    callbacks (one per header, one per data chunk, one per frame, one per closed stream); data
    to send waits in a per-stream buffer that nghttp2 reads when flow control allows."""

    def __init__(self, client_side: bool, max_streams: int = MAX_CONCURRENT_STREAMS):
        from ..net import nghttp2 as ng

        self.name = f"nghttp2 {ng.version}"
        self.client_side = client_side
        self.events: list[tuple] = []
        self._out: dict[int, _Out] = {}
        self._headers: dict[int, dict] = {}
        self._early: list[bytes] = []  # sent during receive(), for data_to_send() to return
        self._handle = ng.ffi.new_handle(self)
        ptr = ng.ffi.new("nghttp2_session **")
        new = ng.lib.nghttp2_session_client_new2 if client_side else ng.lib.nghttp2_session_server_new2
        rc = new(ptr, _callbacks(), self._handle, _option())
        if rc != 0:
            raise MemoryError(f"nghttp2_session_new: {ng.strerror(rc)}")
        self._s = ptr[0]
        settings = ng.ffi.new(
            "nghttp2_settings_entry[2]",
            [
                (ng.SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (ng.SETTINGS_MAX_CONCURRENT_STREAMS, max_streams),
            ],
        )
        ng.lib.nghttp2_submit_settings(self._s, 0, settings, 2 if not client_side else 1)
        ng.lib.nghttp2_submit_window_update(self._s, 0, 0, CONNECTION_WINDOW - 65535)
        self._lib, self._ffi = ng.lib, ng.ffi

    def __del__(self):
        s, self._s = getattr(self, "_s", None), None
        if s is not None:
            self._lib.nghttp2_session_del(s)

    # receiving
    def receive(self, data: bytes) -> list[tuple]:
        if self._s is None:
            return []
        self.events = ev = []
        rc = self._lib.nghttp2_session_mem_recv(
            self._s, data if type(data) is bytes else self._ffi.from_buffer(data), len(data)
        )
        if rc < 0:  # fatal (a flood, a bad preface): say goodbye, stop reading
            self._lib.nghttp2_session_terminate_session(self._s, PROTOCOL_ERROR)
            self.alive = False
        else:
            # A stream nghttp2 resets for the peer's error closes only as its RST_STREAM leaves:
            # send now, so that its RESET is among these events (the driver hears of it now)
            self._send(self._early)
            if not self._lib.nghttp2_session_want_read(self._s):
                self.alive = False  # a GOAWAY went or came: no new streams either way
        self.events = []
        return ev

    def _send(self, chunks: list) -> None:
        ptr = _ptr
        while True:
            n = self._lib.nghttp2_session_mem_send(self._s, ptr)
            if n <= 0:
                break
            chunks.append(self._ffi.buffer(ptr[0], n)[:])

    def data_to_send(self) -> bytes:
        if self._s is None:
            return b""
        chunks, self._early = self._early, []
        self._send(chunks)
        if not self._lib.nghttp2_session_want_write(self._s) and not self._lib.nghttp2_session_want_read(
            self._s
        ):
            self.alive = False
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # sending
    def _nva(self, headers):
        ffi = self._ffi
        nva = ffi.new("nghttp2_nv[]", len(headers))
        keep = []
        for i, (name, value, sensitive) in enumerate(headers):
            n, v = name.encode(), value.encode()
            keep += (n, v)
            nv = nva[i]
            nv.name, nv.value = ffi.from_buffer("uint8_t[]", n), ffi.from_buffer("uint8_t[]", v)
            keep += (nv.name, nv.value)
            nv.namelen, nv.valuelen, nv.flags = len(n), len(v), 1 if sensitive else 0
        return nva, keep

    def request(self, headers: list[Header]) -> int:
        nva, keep = self._nva(headers)
        sid = self._lib.nghttp2_submit_request(
            self._s, self._ffi.NULL, nva, len(headers), _provider(), self._ffi.NULL
        )
        if sid < 0:
            raise ConnectionError(f"HBONE: cannot open a stream: {self._strerror(sid)}")
        self._out[sid] = _Out()
        return sid

    def respond(self, stream_id: int, status: int, end: bool = False) -> None:
        nva, keep = self._nva([(":status", str(status), False)])
        if not end:
            self._out[stream_id] = _Out()
        rc = self._lib.nghttp2_submit_response(
            self._s, stream_id, nva, 1, self._ffi.NULL if end else _provider()
        )
        if rc < 0:
            self._out.pop(stream_id, None)

    def send(self, stream_id: int, data: bytes) -> None:
        out = self._out.get(stream_id)
        if out is None or out.eof:
            raise ConnectionError(f"HBONE stream {stream_id} cannot send")
        out.buf += data
        if out.deferred:
            out.deferred = False
            self._lib.nghttp2_session_resume_data(self._s, stream_id)

    def end(self, stream_id: int) -> None:
        out = self._out.get(stream_id)
        if out is not None and not out.eof:
            out.eof = True
            if out.deferred:
                out.deferred = False
                self._lib.nghttp2_session_resume_data(self._s, stream_id)

    def reset(self, stream_id: int, code: int = CANCEL) -> None:
        self._out.pop(stream_id, None)
        if self._s is not None:
            self._lib.nghttp2_submit_rst_stream(self._s, 0, stream_id, code)

    def consume(self, stream_id: int, n: int) -> None:
        if self._s is not None and n:
            self._lib.nghttp2_session_consume(self._s, stream_id, n)

    def pending(self, stream_id: int) -> int:
        out = self._out.get(stream_id)
        return len(out.buf) if out is not None else 0

    def peer_max_streams(self) -> int:
        from ..net import nghttp2 as ng

        return self._lib.nghttp2_session_get_remote_settings(self._s, ng.SETTINGS_MAX_CONCURRENT_STREAMS)

    def close(self, code: int = NO_ERROR) -> None:
        if self._s is not None:
            self._lib.nghttp2_session_terminate_session(self._s, code)

    def _strerror(self, rc: int) -> str:
        from ..net import nghttp2 as ng

        return ng.strerror(rc)


class _Out:
    """Bytes a stream has to send, as nghttp2's data provider reads them."""

    __slots__ = ("buf", "eof", "deferred")

    def __init__(self):
        self.buf, self.eof, self.deferred = bytearray(), False, False


_cb_state: dict = {}
_ptr = None


def _callbacks():
    """The session callbacks, made once per process (cffi closures are not free)."""
    if "callbacks" in _cb_state:
        return _cb_state["callbacks"]
    global _ptr
    from ..net import nghttp2 as ng

    ffi, lib = ng.ffi, ng.lib
    _ptr = ffi.new("const uint8_t **")
    from_handle, unpack = ffi.from_handle, ffi.unpack
    failure = ng.ERR_CALLBACK_FAILURE

    @ffi.callback(
        "int(nghttp2_session *, const nghttp2_frame *, const char *, size_t, const char *, size_t,"
        " uint8_t, void *)",
        onerror=lambda *a: failure,
    )
    def on_header(session, frame, name, namelen, value, valuelen, flags, user_data):
        e = from_handle(user_data)
        sid = frame.hd.stream_id
        h = e._headers.get(sid)
        if h is None:
            h = e._headers[sid] = {}
        h[unpack(name, namelen).decode("utf-8", "replace")] = unpack(value, valuelen).decode(
            "utf-8", "replace"
        )
        return 0

    @ffi.callback("int(nghttp2_session *, const nghttp2_frame *, void *)", onerror=lambda *a: failure)
    def on_frame_recv(session, frame, user_data):
        e = from_handle(user_data)
        hd = frame.hd
        t = hd.type
        if t == ng.HEADERS:
            sid = hd.stream_id
            end = bool(hd.flags & ng.FLAG_END_STREAM)
            e.events.append((HEADERS, sid, e._headers.pop(sid, {}), end))
            if end:
                e.events.append((END, sid))
        elif t == ng.DATA:
            if hd.flags & ng.FLAG_END_STREAM:
                e.events.append((END, hd.stream_id))
        elif t == ng.GOAWAY:
            e.events.append((GOAWAY, frame.goaway.error_code))
        return 0

    @ffi.callback(
        "int(nghttp2_session *, uint8_t, int32_t, const char *, size_t, void *)", onerror=lambda *a: failure
    )
    def on_data(session, flags, stream_id, data, length, user_data):
        from_handle(user_data).events.append((DATA, stream_id, unpack(data, length)))
        return 0

    @ffi.callback("int(nghttp2_session *, int32_t, uint32_t, void *)", onerror=lambda *a: failure)
    def on_close(session, stream_id, error_code, user_data):
        e = from_handle(user_data)
        e._out.pop(stream_id, None)
        e._headers.pop(stream_id, None)
        if error_code != 0:
            e.events.append((RESET, stream_id, error_code))
        return 0

    @ffi.callback(
        "ssize_t(nghttp2_session *, int32_t, uint8_t *, size_t, uint32_t *, nghttp2_data_source *, void *)",
        onerror=lambda *a: ng.ERR_TEMPORAL_CALLBACK_FAILURE,
    )
    def on_read(session, stream_id, buf, length, data_flags, source, user_data):
        out = from_handle(user_data)._out.get(stream_id)
        if out is None:
            data_flags[0] = ng.DATA_FLAG_EOF
            return 0
        n = len(out.buf)
        if n == 0:
            if out.eof:
                data_flags[0] = ng.DATA_FLAG_EOF
                return 0
            out.deferred = True
            return ng.ERR_DEFERRED
        if n > length:
            n = length
        ffi.memmove(buf, out.buf, n)
        del out.buf[:n]
        if out.eof and not out.buf:
            data_flags[0] = ng.DATA_FLAG_EOF
        return n

    pp = ffi.new("nghttp2_session_callbacks **")
    lib.nghttp2_session_callbacks_new(pp)
    cbs = pp[0]
    lib.nghttp2_session_callbacks_set_on_header_callback(
        cbs, ffi.cast("nghttp2_on_header_callback", on_header)
    )
    lib.nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv)
    lib.nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, ffi.cast("nghttp2_on_data_chunk_recv_callback", on_data)
    )
    lib.nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close)
    provider = ffi.new("nghttp2_data_provider *")
    provider.read_callback = on_read
    opt = ffi.new("nghttp2_option **")
    lib.nghttp2_option_new(opt)
    lib.nghttp2_option_set_no_auto_window_update(opt[0], 1)  # consume() says when data left us
    _cb_state.update(
        callbacks=cbs,
        provider=provider,
        option=opt[0],
        keep=(on_header, on_frame_recv, on_data, on_close, on_read),
    )
    # Resolved here, not first in Nghttp2Engine.__del__: an engine and its handle form a cycle,
    # so the cyclic GC runs __del__, at any allocation -- also one made while cffi holds its own
    # lock (resolving a name, parsing a type); resolving the name there waits for that lock forever
    _cb_state["session_del"] = lib.nghttp2_session_del
    return cbs


def _provider():
    return _cb_state["provider"]


def _option():
    _callbacks()
    return _cb_state["option"]


# -- h2 (pure Python) -------------------------------------------------------------------------


class H2Engine(Engine):
    """The h2 library's connection, with the same events. h2 frames what it may send at once;
    what flow control holds back waits here, per stream, until a WINDOW_UPDATE."""

    def __init__(self, client_side: bool, max_streams: int = MAX_CONCURRENT_STREAMS):
        import h2
        import h2.settings

        self.name = f"h2 {h2.__version__}"
        self.client_side = client_side
        self.conn = h2_connection(client_side)
        self._held: dict[int, list] = {}  # stream -> [bytearray held back, end after it?]
        self.conn.local_settings.max_concurrent_streams = max_streams
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW})
        self.conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)

    def receive(self, data: bytes) -> list[tuple]:
        import h2.events as ev
        import h2.exceptions

        if not self.alive:
            return []
        try:
            events = self.conn.receive_data(bytes(data))
        except h2.exceptions.ProtocolError:
            self.alive = False  # h2 has queued the GOAWAY
            return []
        out = []
        for e in events:
            t = type(e)
            if t is ev.DataReceived:
                if e.data:
                    out.append((DATA, e.stream_id, e.data))
                if e.flow_controlled_length > len(e.data):  # padding: nobody will consume it
                    self.conn.acknowledge_received_data(e.flow_controlled_length - len(e.data), e.stream_id)
            elif t is ev.RequestReceived or t is ev.ResponseReceived:
                out.append((HEADERS, e.stream_id, dict(e.headers), e.stream_ended is not None))
            elif t is ev.StreamEnded:
                out.append((END, e.stream_id))
            elif t is ev.StreamReset:
                self._held.pop(e.stream_id, None)
                out.append((RESET, e.stream_id, e.error_code))
            elif t is ev.ConnectionTerminated:
                self.alive = False
                out.append((GOAWAY, e.error_code))
            elif t is ev.WindowUpdated or t is ev.RemoteSettingsChanged:
                self._release()
            elif t is ev.TrailersReceived and e.stream_ended is not None:
                pass  # StreamEnded follows
        return out

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def request(self, headers: list[Header]) -> int:
        from hpack import NeverIndexedHeaderTuple

        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [NeverIndexedHeaderTuple(n, v) if s else (n, v) for n, v, s in headers])
        return sid

    def respond(self, stream_id: int, status: int, end: bool = False) -> None:
        import h2.exceptions

        try:
            self.conn.send_headers(stream_id, [(":status", str(status))], end_stream=end)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass

    def send(self, stream_id: int, data: bytes) -> None:
        held = self._held.get(stream_id)
        if held is not None:
            held[0] += data
            return
        rest = self._frame(stream_id, data)
        if rest:
            self._held[stream_id] = [bytearray(rest), False]

    def end(self, stream_id: int) -> None:
        import h2.exceptions

        held = self._held.get(stream_id)
        if held is not None:
            held[1] = True
            return
        try:
            self.conn.end_stream(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass

    def _frame(self, stream_id: int, data) -> bytes:
        """Frame as much of ``data`` as flow control allows now; returns the rest."""
        import h2.exceptions

        conn = self.conn
        while data:
            try:
                n = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, len(data))
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                raise ConnectionError(f"HBONE stream {stream_id} cannot send") from None
            if n <= 0:
                return bytes(data)
            try:
                conn.send_data(stream_id, bytes(data[:n]))
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):  # the connection broke
                raise ConnectionError(f"HBONE stream {stream_id} cannot send") from None
            data = data[n:]
        return b""

    def _release(self) -> None:
        for sid, held in list(self._held.items()):
            try:
                rest = self._frame(sid, held[0])
            except ConnectionError:
                self._held.pop(sid, None)
                continue
            if rest:
                held[0] = bytearray(rest)
                continue
            del self._held[sid]
            if held[1]:
                self.end(sid)

    def reset(self, stream_id: int, code: int = CANCEL) -> None:
        import h2.exceptions

        self._held.pop(stream_id, None)
        try:
            self.conn.reset_stream(stream_id, error_code=code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass

    def consume(self, stream_id: int, n: int) -> None:
        import h2.exceptions

        if n:
            try:
                self.conn.acknowledge_received_data(n, stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                pass

    def pending(self, stream_id: int) -> int:
        held = self._held.get(stream_id)
        return len(held[0]) if held else 0

    def peer_max_streams(self) -> int:
        return self.conn.remote_settings.max_concurrent_streams

    def close(self, code: int = NO_ERROR) -> None:
        self.conn.close_connection(error_code=code)


def h2_connection(client_side: bool):
    """The h2 connection of one side of an HBONE tunnel, made cheaper where HTTP/2 allows."""
    import functools
    import h2.config
    import h2.connection

    class _Connection(h2.connection.H2Connection):
        # h2 remembers the last 65,536 closed streams (to tell a late frame on a reset stream from
        # a protocol error); a pooled HBONE connection opens a stream per TCP connection it
        # carries, so memory grew by ~150 bytes a connection. Rust's h2, under Istio's ztunnel,
        # remembers a few dozen reset streams for a short while; a thousand is plenty.
        MAX_CLOSED_STREAMS = 1024

    conn = _Connection(
        h2.config.H2Configuration(
            client_side=client_side,
            header_encoding="utf-8",
            # what we send is ours and well formed; what the peer sends is still checked
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )
    # HPACK's Huffman coding is optional (RFC 7541 5.2) and costly in pure Python
    conn.encoder.encode = functools.partial(conn.encoder.encode, huffman=False)
    return conn


# -- which one ----------------------------------------------------------------------------------

ENGINES = {"nghttp2": Nghttp2Engine, "h2": H2Engine}
_chosen: list = []


def choose(name: str | None = None) -> tuple[str, str]:
    """``(engine, why)``: ``name``, else ``MESHLAB_H2_ENGINE``, else nghttp2 where it loads, else h2.
    Raises ValueError for an unknown name, and when nghttp2 is asked for but missing."""
    want = name or os.environ.get("MESHLAB_H2_ENGINE") or None
    if want is not None and want not in ENGINES:
        raise ValueError(f"MESHLAB_H2_ENGINE={want!r}: must be one of {', '.join(ENGINES)}")
    from ..net import nghttp2 as ng

    if want == "h2":
        return "h2", "asked for (MESHLAB_H2_ENGINE=h2)"
    if ng.lib is None:
        if want == "nghttp2":
            raise ValueError(f"MESHLAB_H2_ENGINE=nghttp2, but {ng.why_missing()}")
        return "h2", f"fallback: {ng.why_missing()}"
    return "nghttp2", "asked for" if want else "libnghttp2 loaded"


def preload() -> None:
    """Choose the engine and, for nghttp2, load the library and make its callbacks: once, in the
    process that forks the proxies (the zygote), so they share it instead of each redoing it."""
    if engine_name() == "nghttp2":
        _callbacks()


def engine_name() -> str:
    """The engine this process uses (chosen once)."""
    if not _chosen:
        _chosen.append(choose()[0])
    return _chosen[0]


def new_engine(client_side: bool, name: str | None = None) -> Engine:
    return ENGINES[name or engine_name()](client_side)


def describe(name: str | None = None) -> str:
    """``"nghttp2 1.52.0"`` or ``"h2 4.4.1"``: what meshlab compare and lab.usage() name."""
    name = name or engine_name()
    if name == "nghttp2":
        from ..net import nghttp2 as ng

        return f"nghttp2 {ng.version}"
    import h2

    return f"h2 {h2.__version__}"
