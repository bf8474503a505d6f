"""Durations as Istio writes them: ``"3s"``, ``"0.5s"``, ``"250ms"``, ``"1m"``, ``"1h"``.

>>> parse_duration("2.5s")
2.5
>>> parse_duration("250ms")
0.25
>>> format_duration(0.25)
'250ms'
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*$")

ALLOWED = "a number followed by one of us, ms, s, m, h (for example 3s, 0.5s, 250ms)"


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds. Raises ValueError naming the allowed forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, {ALLOWED}; got {value!r}")
    if isinstance(value, (int, float)):
        raise ValueError(f"expected a duration with a unit, {ALLOWED}; got the bare number {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration, {ALLOWED}; got {type(value).__name__} {value!r}")
    m = _RE.match(value)
    if not m:
        raise ValueError(f"expected a duration, {ALLOWED}; got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def format_duration(seconds: float) -> str:
    """An Istio-style spelling of ``seconds`` that :func:`parse_duration` reads back (never an
    exponent: ``1e-07s`` is not a duration)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return _positional(seconds * 1000) + "ms"
    return _positional(seconds) + "s"


def _positional(x: float) -> str:
    s = format(Decimal(repr(x)), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s
