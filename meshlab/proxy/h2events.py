"""The interface of HBONE's HTTP/2 engines (:mod:`.h2engine`): the events an engine returns, the
settings both announce, HTTP/2 error codes, and :class:`Engine`, what both offer.

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
