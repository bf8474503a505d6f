"""HBONE's HTTP/2, sans-IO: one interface, two engines, and which one this process uses.

An engine is one side of one HTTP/2 connection with no I/O: the driver feeds it the bytes it read
(:meth:`~.h2events.Engine.receive`, which returns events) and writes what it asks to send
(:meth:`~.h2events.Engine.data_to_send`). It frames, compresses headers (HPACK) and keeps HTTP/2's
flow control; the driver only moves bytes. The interface — events, settings, the
:class:`~.h2events.Engine` base — is :mod:`.h2events`. Two engines speak it:

- :class:`~.h2engine_nghttp2.Nghttp2Engine` — **libnghttp2** (C; curl's, Apache httpd's and
  Node's HTTP/2), bound with cffi (:mod:`meshlab.net.nghttp2`). The default where the library loads.
- :class:`~.h2engine_h2.H2Engine` — the pure-Python **h2** library. The fallback, and the one to read.

:func:`engine_name` says which one this process uses: chosen once, at first use, from
``MESHLAB_H2_ENGINE`` (``nghttp2`` or ``h2``) or else nghttp2 when it loads.
"""

from __future__ import annotations

import os

from .h2engine_h2 import H2Engine
from .h2engine_nghttp2 import Nghttp2Engine, callbacks
from .h2events import Engine

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
        callbacks()


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
