"""Walking a YAML document with its line numbers: the shared mechanism behind every file meshlab
reads (topologies, Istio policies). Every value keeps the file, line and field path it came from,
so a problem becomes one error naming all three and what is allowed.

The error class is the caller's (:class:`~meshlab.errors.TopologyError`,
:class:`~meshlab.errors.PolicyError`); ``context`` carries extra fields for it (a document index).
"""

from __future__ import annotations

import re
from typing import Iterable

import yaml

from .durations import ALLOWED as DURATION_ALLOWED, parse_duration

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a mapping", list: "a list"}


class YamlNode:
    """A YAML node with the file and field path it came from."""

    def __init__(self, node: yaml.Node, file: str, path: str, lines: bool = True, *, error_cls=None,
                 context: dict | None = None):
        from .errors import TopologyError
        self.node, self.file, self.path, self.lines = node, file, path, lines
        self.error_cls = error_cls or TopologyError
        self.context = context or {}

    @property
    def line(self) -> int | None:
        return self.node.start_mark.line + 1 if self.lines else None

    def error(self, message: str, path: str | None = None) -> Exception:
        return self.error_cls(message, file=self.file, line=self.line, field=path or self.path or None,
                              **self.context)

    def _like(self, node: yaml.Node, path: str) -> "YamlNode":
        return YamlNode(node, self.file, path, self.lines, error_cls=self.error_cls, context=self.context)

    def child(self, node: yaml.Node, suffix: str) -> "YamlNode":
        path = f"{self.path}.{suffix}" if self.path and not suffix.startswith("[") else self.path + suffix
        return self._like(node, path)

    def at_key(self, key: str) -> "YamlNode":
        """The value under ``key`` of this (already validated) mapping, so an error points at its line."""
        if isinstance(self.node, yaml.MappingNode):
            for knode, vnode in self.node.value:
                if isinstance(knode, yaml.ScalarNode) and knode.value == key:
                    return self.child(vnode, key)
        return self._like(self.node, join(self.path, key))

    def _kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        v = self.value()
        return "nothing (null)" if v is None else f"{_TYPE_NAMES.get(type(v), type(v).__name__)} ({v!r})"

    def value(self):
        try:
            return yaml.SafeLoader("").construct_object(self.node, deep=True)
        except Exception as e:  # an explicit tag (!foo, !!int abc, merge key <<) PyYAML cannot build
            problem = getattr(e, "problem", None) or str(e)
            raise self.error(f"cannot read this value: {problem}; write a plain YAML value "
                             "(tags such as !foo and merge keys << are not supported)") from None

    # -- shapes --------------------------------------------------------------------------------
    def mapping(self, required: Iterable[str] = (), optional: Iterable[str] = (),
                unsupported: Iterable[str] = ()) -> dict[str, "YamlNode"]:
        """The mapping's keys: ``required`` and ``optional`` ones; a key in ``unsupported`` is one
        the real API has but meshlab does not build, and is refused by name (never ignored)."""
        required, optional, unsupported = list(required), list(optional), list(unsupported)
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"expected a mapping with keys {listing(required + optional)}; got {self._kind()}")
        out: dict[str, YamlNode] = {}
        allowed = required + optional
        for knode, vnode in self.node.value:
            kat = self._like(knode, self.path)
            key = kat.value()
            if not isinstance(key, str):
                raise kat.error(f"keys must be strings; got {key!r}")
            if key in out:
                raise kat.error(f"duplicate key {key!r} (also on line {out[key].node.start_mark.line + 1})",
                                join(self.path, key))
            if key in unsupported:
                raise kat.error(f"{key!r} is part of the real API, but meshlab does not support it; "
                                f"supported here: {listing(allowed)} (see docs/policy-support.md)",
                                join(self.path, key))
            if allowed and key not in allowed:
                hint = close_match(key, allowed)
                raise kat.error(f"unknown key {key!r}{hint}; allowed keys: {listing(allowed)}",
                                join(self.path, key))
            out[key] = self.child(vnode, key)
        missing = [k for k in required if k not in out]
        if missing:
            raise self.error(f"missing required key {missing[0]!r}; required keys: {listing(required)}")
        return out

    def free_mapping(self) -> dict[str, "YamlNode"]:
        return self.mapping()

    def seq(self, allow_empty: bool = True) -> list["YamlNode"]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"expected a list; got {self._kind()}")
        if not allow_empty and not self.node.value:
            raise self.error("expected a non-empty list")
        return [self.child(n, f"[{i}]") for i, n in enumerate(self.node.value)]

    # -- scalars -------------------------------------------------------------------------------
    def _scalar(self, typ: type, what: str):
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.error(f"expected {what}; got {self._kind()}")
        v = self.value()
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise self.error(f"expected {what}; got {self._kind()}")
        return v

    def string(self, choices: Iterable[str] | None = None) -> str:
        v = self._scalar(str, "a string")
        if choices is not None:
            choices = list(choices)
            if v not in choices:
                raise self.error(f"{v!r} is not allowed{close_match(v, choices)}; allowed values: {listing(choices)}")
        return v

    def boolean(self) -> bool:
        return self._scalar(bool, "true or false")

    def name(self) -> str:
        v = self._scalar(str, "a name")
        if not _NAME_RE.match(v) or len(v) > 63:
            raise self.error(f"{v!r} is not a valid name: use at most 63 lower-case letters, digits "
                             "and '-', starting and ending with a letter or digit (Kubernetes DNS-1123)")
        return v

    def integer(self, lo: int | None = None, hi: int | None = None) -> int:
        what = "an integer" + (f" from {lo} to {hi}" if lo is not None and hi is not None else "")
        v = self._scalar(int, what)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.error(f"{v} is out of range; allowed: {lo} to {hi}")
        return v

    def number(self, lo: float, hi: float) -> float:
        """An integer or decimal number from ``lo`` to ``hi``."""
        v = self._scalar(float, f"a number from {lo:g} to {hi:g}")
        if not lo <= v <= hi:
            raise self.error(f"{v:g} is out of range; allowed: {lo:g} to {hi:g}")
        return v

    def port(self) -> int:
        return self.integer(1, 65535)

    def duration(self) -> float:
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.error(f"expected a duration, {DURATION_ALLOWED}; got {self._kind()}")
        try:
            return parse_duration(self.value())
        except ValueError as e:
            raise self.error(str(e)) from None

    def labels(self) -> dict[str, str]:
        out = {}
        for key, at in self.free_mapping().items():
            if not _LABEL_KEY_RE.match(key):
                raise at.error(f"{key!r} is not a valid label key (Kubernetes: [prefix/]name of "
                               "letters, digits, '-', '_' and '.')")
            if isinstance(at.node, yaml.ScalarNode) and isinstance(at.value(), (int, float, bool)):
                raise at.error(f"label values must be strings; quote it: \"{at.node.value}\"")
            v = at.string()
            if not _LABEL_VALUE_RE.match(v) or len(v) > 63:
                raise at.error(f"{v!r} is not a valid label value (up to 63 letters, digits, '-', '_', '.')")
            out[key] = v
        return out


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def listing(items: Iterable[str]) -> str:
    return ", ".join(str(i) for i in items) or "(none)"


def close_match(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    for c in choices:                            # the commonest slip: the wrong case
        if str(c).lower() == str(word).lower() and str(c) != str(word):
            return f" (did you mean {str(c)!r}?)"
    import difflib
    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""
