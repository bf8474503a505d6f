"""Frozen dataclasses to plain JSON data and back, every field's type checked on the way in.

What a recording (:mod:`meshlab.replay`) stores of a :class:`~meshlab.topology.Topology` or a
:class:`~meshlab.telemetry.paths.Hop`: their fields, as the classes declare them. Reading one back
checks each value against its field's annotation (``str``, ``int``, ``float``, ``bool``, ``None``
unions, ``tuple[X, ...]``, ``Mapping[str, X]``, nested dataclasses) and a wrong one is a
:class:`RecordError` naming where it is (``topology.workloads[2].app.calls[0].port``), what it
is and what the field allows — never a half-built object.

    d = to_data(topo)                      # dicts, lists, str, int, float, bool, None
    topo = from_data(Topology, d, "topology")
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from functools import lru_cache

from .errors import MeshlabError
from .topology.model import frozen_map


class RecordError(MeshlabError, ValueError):
    """A recorded value does not fit its field: ``where`` names it."""


def to_data(obj):
    """``obj`` (a dataclass, tuple, mapping or plain value) as JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [to_data(v) for v in obj]
    return obj


@lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _name(tp) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_name(typing.get_args(tp)[0])}"
    if origin is not None and issubclass(origin, Mapping):
        return f"an object of {_name(typing.get_args(tp)[1])}"
    if tp in (list, dict):
        return {list: "a list", dict: "an object"}[tp]
    if tp is object:
        return "any JSON value"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _kind(v) -> str:
    if v is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(v), type(v).__name__)


def from_data(tp, data, where: str):
    """``data`` read as type ``tp`` (a dataclass or an annotation); :class:`RecordError` if it does not fit."""

    def wrong():
        shown = repr(data) if not isinstance(data, (list, dict)) else _kind(data)
        return RecordError(f"{where}: {shown[:60]} is {_kind(data)}; expected {_name(tp)}")

    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise wrong()
        hints = _hints(tp)
        names = {f.name: f for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise RecordError(f"{where}: unknown field {unknown[0]!r}; {tp.__name__} has: {', '.join(names)}")
        args = {}
        for name, f in names.items():
            if name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise RecordError(f"{where}: field {name!r} is missing ({tp.__name__} needs it)")
                continue
            args[name] = from_data(hints[name], data[name], f"{where}.{name}")
        return tp(**args)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        opts = typing.get_args(tp)
        if data is None and type(None) in opts:
            return None
        for a in opts:
            if a is type(None):
                continue
            try:
                return from_data(a, data, where)
            except RecordError:
                if len([o for o in opts if o is not type(None)]) == 1:
                    raise
        raise wrong()
    if origin is tuple:
        if not isinstance(data, list):
            raise wrong()
        item = typing.get_args(tp)[0]
        return tuple(from_data(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(data, dict):
            raise wrong()
        value = typing.get_args(tp)[1]
        out = {k: from_data(value, v, f"{where}.{k}") for k, v in data.items()}
        return out if origin is dict else frozen_map(out)  # Mapping: read-only, as the model keeps it
    if tp in (list, dict):  # checked item by item by the caller
        if type(data) is not tp:
            raise wrong()
        return data
    if tp is object:
        return _plain(data, where)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)) or not math.isfinite(data):
            raise wrong()
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise wrong()
        return data
    if tp in (str, bool):
        if type(data) is not tp:
            raise wrong()
        return data
    raise RecordError(f"{where}: cannot read a {tp!r} field")  # a class this codec was not written for


def _plain(data, where: str):
    """Any JSON value (a field annotated ``object``), with no non-finite number in it."""
    if isinstance(data, float) and not math.isfinite(data):
        raise RecordError(f"{where}: {data} is not a finite number")
    if isinstance(data, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in data.items()}
    return data
