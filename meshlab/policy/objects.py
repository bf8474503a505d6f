"""The applied object — :class:`PolicyObject` — shared by every policy kind's module.

An object keeps the document exactly as written (``doc``: the lab shows it, exports it and sends it
to the proxies) and, once its kind's module has compiled it (:func:`meshlab.policy.kinds.compiled`,
on every apply and on every push to a proxy), the typed value the evaluating code reads
(``compiled``: routes, a traffic policy ...). The lab's own annotation for what the control panel
wrote lives here too, since every kind's writer uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Marks the objects the panel writes, so that it changes only those (never a learner's own YAML).
WRITTEN_BY = {"meshlab.io/written-by": "control-panel"}


def panel_meta(name: str, namespace: str) -> dict:
    """``metadata`` of an object the control panel writes."""
    return {"name": name, "namespace": namespace, "annotations": dict(WRITTEN_BY)}


@dataclass(frozen=True)
class PolicyObject:
    """One applied object: its kind, namespace and name, the document as written, and (once
    compiled) what its kind's module made of it."""

    kind: str
    namespace: str | None
    name: str
    doc: dict = field(compare=False, hash=False)
    file: str | None = field(default=None, compare=False)  # where it was read from
    document: int | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)
    compiled: object = field(default=None, compare=False, hash=False, repr=False)

    @property
    def source(self) -> str:
        """``file: document N, line L``."""
        return f"{self.file or '<policy>'}: document {self.document}" + (
            f", line {self.line}" if self.line else ""
        )

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def spec(self) -> dict:
        return self.doc.get("spec") or {}

    @property
    def labels(self) -> dict:
        return (self.doc.get("metadata") or {}).get("labels") or {}

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_record(self) -> dict:
        """JSON-able, for the control channel: each proxy compiles the same document
        (:func:`meshlab.policy.kinds.from_records`)."""
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "doc": self.doc}

    @classmethod
    def from_record(cls, r: dict) -> "PolicyObject":
        """The object as sent, not compiled: :func:`meshlab.policy.kinds.from_records` compiles it."""
        return cls(r["kind"], r["namespace"], r["name"], r["doc"])
