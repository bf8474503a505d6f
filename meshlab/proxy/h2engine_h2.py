"""HBONE's HTTP/2 in the pure-Python **h2** library: the fallback engine (:mod:`.h2engine`), and the
one to read.
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
    RESET,
    STREAM_WINDOW,
    Engine,
    Header,
)


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
