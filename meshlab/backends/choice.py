"""Which backend runs a lab (``backend="auto"``), and ``meshlab clean`` over every backend's leftovers.

This is the one module that knows every backend: :func:`choose_backend` builds one by name and
says why, :func:`clean` hands each backend's clean-up to :func:`.state.clean`. The backends
themselves import only :mod:`.base`, :mod:`.state` and their own helpers, never each other or
this module.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from ..errors import LabError
from ..modes import BACKENDS
from . import state
from .base import Backend


def mininet_status() -> tuple[bool, str]:
    """Can the mininet backend run here? (ok, reason in plain words)."""
    if os.geteuid() != 0:
        return False, "mininet needs root"
    missing = [t for t in ("mnexec", "iptables-restore", "brctl", "ip") if shutil.which(t) is None]
    if missing:
        return False, (
            f"{', '.join(missing)} not installed (Debian: apt-get install mininet iptables "
            "bridge-utils iproute2, or run scripts/setup as root)"
        )
    if importlib.util.find_spec("mininet") is None:
        return False, "Mininet's Python API is not installed (pip install 'meshlab[mininet]')"
    return True, "root, mnexec and Mininet are here"


def choose_backend(name: str) -> Backend:
    """``loopback`` (the default: no root, the same everywhere), ``mininet`` (root), or ``auto``:
    mininet where it can run, loopback otherwise — and the backend's ``reason`` says which and why."""
    from .loopback import LoopbackBackend

    if name not in BACKENDS:
        raise LabError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
    if name == "loopback":
        return LoopbackBackend(reason="asked for the loopback backend")
    ok, why = mininet_status()
    if not ok:
        if name == "mininet":
            raise LabError(f"backend 'mininet' cannot run here: {why}; use backend='loopback'")
        return LoopbackBackend(reason=f"{why} — using the loopback backend")
    from .mininet import MininetBackend  # (lazy: Mininet's Python API loads only here)

    return MininetBackend(
        reason=f"{why} — using the mininet backend (network namespaces, real iptables)"
        if name == "auto"
        else "asked for the mininet backend"
    )


def clean(force: bool = False, root: Path | None = None) -> state.CleanReport:
    """``meshlab clean``: what crashed labs left running (:func:`.state.clean`), and the network of
    mininet labs that no live lab holds (:func:`.mininet_record.clean_leftovers`)."""
    from .mininet_record import clean_leftovers

    return state.clean(force, root, cleaners=(clean_leftovers,))
