"""Walking a YAML document with its line numbers: the shared mechanism behind every file meshlab
reads (topologies, Istio policies). Every value keeps the file, line and field path it came from,
so a problem becomes one error naming all three and what is allowed.

The error class is the caller's (:class:`~meshlab.errors.TopologyError`,
:class:`~meshlab.errors.PolicyError`); ``context`` carries extra fields for it (a document index).
Reading the text is shared too: :func:`compose_documents` (nesting limited to :data:`MAX_DEPTH`),
:func:`yaml_problem` (what PyYAML found wrong, and on which line), :func:`dict_to_yaml`.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

import yaml

from .durations import ALLOWED as DURATION_ALLOWED, parse_duration

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


#: How deep a document may nest. Istio's policies need about ten levels, topologies fewer; PyYAML's
#: composer recurses a few frames a level and hits Python's recursion limit a few hundred levels
#: down, with a bare RecursionError. Past this depth the reader stops first, naming the line.
MAX_DEPTH = 64
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; a topology or a policy needs far fewer"


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose a node nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, _TOO_DEEP, self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_documents(text: str) -> Iterator[yaml.Node | None]:
    """The node tree of each YAML document in ``text``, one at a time, so a caller knows which
    document a :class:`yaml.YAMLError` is in (:func:`yaml_problem` words it). PyYAML refuses a
    character YAML does not allow (a NUL byte ...) before reading anything; here the documents
    before the one holding it come first, then the error."""
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is None:
        yield from yaml.compose_all(text, Loader=_DepthLimitedLoader)
        return
    try:  # (with the character blanked, so that PyYAML reads the documents before it)
        for node in yaml.compose_all(
            yaml.reader.Reader.NON_PRINTABLE.sub(" ", text), Loader=_DepthLimitedLoader
        ):
            if node is None or node.end_mark.index > bad.start():
                break
            yield node
    except yaml.MarkedYAMLError as e:
        if e.problem_mark is not None and e.problem_mark.index < bad.start():
            raise  # a problem before the character: it comes first
    raise yaml.reader.ReaderError(
        "<unicode string>", bad.start(), ord(bad.group()), "unicode", "special characters are not allowed"
    )


def yaml_problem(e: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """What PyYAML found wrong in ``text``, and the 1-based line. A character YAML refuses (a NUL
    byte ...) comes from PyYAML's reader as an offset into the text: it becomes a line and column."""
    if isinstance(e, yaml.reader.ReaderError):
        start = text.rfind("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        return (
            f"unacceptable character #x{char:04x} (column {e.position - start + 1}): {e.reason}",
            text.count("\n", 0, e.position) + 1,
        )
    mark = getattr(e, "problem_mark", None)
    return getattr(e, "problem", None) or str(e), mark.line + 1 if mark else None


def check_depth(source, error_cls, file: str = "<dict>") -> None:
    """Refuse Python data nested past :data:`MAX_DEPTH` with ``error_cls`` (PyYAML's writer and
    representer, recursive, would answer with a RecursionError)."""
    stack = [(source, 1)]
    while stack:  # iteratively: the nesting is what is in question
        obj, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error_cls(_TOO_DEEP, file=file)
        if isinstance(obj, dict):
            stack += [(v, depth + 1) for v in obj.values()]
        elif isinstance(obj, (list, tuple)):
            stack += [(v, depth + 1) for v in obj]


def dict_to_yaml(source: dict, error_cls, file: str = "<dict>") -> str:
    """YAML text for a document given as Python data, read back as a file is. ``error_cls`` for
    what YAML cannot hold: an arbitrary object, or nesting past :data:`MAX_DEPTH`."""
    check_depth(source, error_cls, file)
    try:
        return yaml.safe_dump(source, sort_keys=False)
    except yaml.YAMLError as e:
        bad = e.args[-1] if e.args else e
        raise error_cls(
            f"cannot represent {bad!r} ({type(bad).__name__}); use only dicts, lists, "
            "strings, numbers, true/false and None",
            file=file,
        ) from None


class YamlNode:
    """A YAML node with the file and field path it came from."""

    def __init__(
        self,
        node: yaml.Node,
        file: str,
        path: str,
        lines: bool = True,
        *,
        error_cls=None,
        context: dict | None = None,
    ):
        from .errors import TopologyError

        self.node, self.file, self.path, self.lines = node, file, path, lines
        self.error_cls = error_cls or TopologyError
        self.context = context or {}

    @property
    def line(self) -> int | None:
        return self.node.start_mark.line + 1 if self.lines else None

    def error(self, message: str, path: str | None = None) -> Exception:
        return self.error_cls(
            message, file=self.file, line=self.line, field=path or self.path or None, **self.context
        )

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
            raise self.error(
                f"cannot read this value: {problem}; write a plain YAML value "
                "(tags such as !foo and merge keys << are not supported)"
            ) from None

    # -- shapes --------------------------------------------------------------------------------
    def mapping(
        self, required: Iterable[str] = (), optional: Iterable[str] = (), unsupported: Iterable[str] = ()
    ) -> dict[str, "YamlNode"]:
        """The mapping's keys: ``required`` and ``optional`` ones; a key in ``unsupported`` is one
        the real API has but meshlab does not build, and is refused by name (never ignored)."""
        required, optional, unsupported = list(required), list(optional), list(unsupported)
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(
                f"expected a mapping with keys {listing(required + optional)}; got {self._kind()}"
            )
        out: dict[str, YamlNode] = {}
        allowed = required + optional
        for knode, vnode in self.node.value:
            kat = self._like(knode, self.path)
            key = kat.value()
            if not isinstance(key, str):
                raise kat.error(f"keys must be strings; got {key!r}")
            if key in out:
                raise kat.error(
                    f"duplicate key {key!r} (also on line {out[key].node.start_mark.line + 1})",
                    join(self.path, key),
                )
            if key in unsupported:
                raise kat.error(
                    f"{key!r} is part of the real API, but meshlab does not support it; "
                    f"supported here: {listing(allowed)} (see docs/policy-support.md)",
                    join(self.path, key),
                )
            if allowed and key not in allowed:
                hint = close_match(key, allowed)
                raise kat.error(
                    f"unknown key {key!r}{hint}; allowed keys: {listing(allowed)}", join(self.path, key)
                )
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
                raise self.error(
                    f"{v!r} is not allowed{close_match(v, choices)}; allowed values: {listing(choices)}"
                )
        return v

    def boolean(self) -> bool:
        return self._scalar(bool, "true or false")

    def name(self) -> str:
        v = self._scalar(str, "a name")
        if not _NAME_RE.match(v) or len(v) > 63:
            raise self.error(
                f"{v!r} is not a valid name: use at most 63 lower-case letters, digits "
                "and '-', starting and ending with a letter or digit (Kubernetes DNS-1123)"
            )
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
                raise at.error(
                    f"{key!r} is not a valid label key (Kubernetes: [prefix/]name of "
                    "letters, digits, '-', '_' and '.')"
                )
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
    for c in choices:  # the commonest slip: the wrong case
        if str(c).lower() == str(word).lower() and str(c) != str(word):
            return f" (did you mean {str(c)!r}?)"
    import difflib

    m = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""
