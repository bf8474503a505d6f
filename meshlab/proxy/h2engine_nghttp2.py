"""HBONE's HTTP/2 in **libnghttp2** (C; curl's, Apache httpd's and Node's HTTP/2), bound with cffi
(:mod:`meshlab.net.nghttp2`): the default engine where the library loads (:mod:`.h2engine`).
"""

from __future__ import annotations

from .h2events import (
    CANCEL,
    CONNECTION_WINDOW,
    DATA,
    END,
    GOAWAY,
    HEADERS,
    MAX_CONCURRENT_STREAMS,
    NO_ERROR,
    PROTOCOL_ERROR,
    RESET,
    STREAM_WINDOW,
    Engine,
    Header,
)


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
        rc = new(ptr, callbacks(), self._handle, _option())
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


def callbacks():
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
    callbacks()
    return _cb_state["option"]
