"""Read Istio YAML — one or many documents — into checked, compiled :class:`PolicyObject` s.

The subset meshlab builds (see ``docs/policy-support.md``) is the registry's (:mod:`.kinds`): each
kind's module validates its ``spec`` — VirtualService and DestinationRule (``networking.istio.io``),
PeerAuthentication and AuthorizationPolicy (``security.istio.io``), the waypoint ``Gateway`` and
``HTTPRoute`` for mesh traffic (``gateway.networking.k8s.io``), and ``Namespace`` / ``Service``
objects for their labels (``istio-injection``, ``istio.io/dataplane-mode``,
``istio.io/use-waypoint``). This module does what every kind shares: YAML, apiVersion, kind,
metadata, and the kind's compile once the document is checked.

Every problem is one :class:`~meshlab.errors.PolicyError` naming the file, the document, the
line, the field path (``spec.http[0].retries.retryOn``) and what is allowed. A field the real API
has but meshlab does not build is refused by name, never ignored. Checking here is about shape;
whether the object fits the running lab (does the namespace exist?) is :mod:`.store`'s job.

An object keeps the document exactly as written (``doc``), so the lab can show it and export it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import yaml

from ..errors import PolicyError
from ..yamlnode import YamlNode, close_match, compose_documents, dict_to_yaml, listing, yaml_problem
from .authz import ROOT_NAMESPACE
from .handler import Document
from .kinds import REGISTRY, UNSUPPORTED_KINDS, compiled
from .objects import PolicyObject
from .virtualservice import parse_retry_on

__all__ = ["ROOT_NAMESPACE", "PolicyObject", "load_policies", "parse_retry_on"]

KINDS = tuple(REGISTRY)


# ------------------------------------------------------------------------------------------------


def load_policies(source: "str | Path | dict | Iterable", file: str | None = None) -> list[PolicyObject]:
    """Policies from YAML text, a path to a YAML file, one document as a dict, or a list of those."""
    if isinstance(source, PolicyObject):
        return [source]
    if isinstance(source, dict):
        return _from_text(dict_to_yaml(source, PolicyError, file or "<dict>"), file or "<dict>", lines=False)
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.strip().endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PolicyError(f"cannot read the file: {e}", file=str(path)) from None
        return _from_text(text, str(path))
    if isinstance(source, str):
        return _from_text(source, file or "<yaml>")
    if not isinstance(source, Iterable) or isinstance(source, (bytes, bytearray)):
        raise PolicyError(
            f"cannot read Istio objects from a {type(source).__name__}: give YAML text, a path to a "
            ".yaml file, a dict (one object), or a list of those",
            file=file,
        )
    out: list[PolicyObject] = []
    for item in source:
        out += load_policies(item, file)
    return out


def _from_text(text: str, file: str, lines: bool = True) -> list[PolicyObject]:
    docs = []
    try:
        for node in compose_documents(text):
            docs.append(node)
    except yaml.YAMLError as e:
        problem, line = yaml_problem(e, text)
        raise PolicyError(
            f"not valid YAML: {problem}", file=file, document=len(docs) + 1, line=line
        ) from None
    out, seen = [], {}
    for i, node in enumerate(docs, 1):
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            continue  # an empty document (--- followed by ---)
        obj = _document(YamlNode(node, file, "", lines, error_cls=PolicyError, context={"document": i}))
        obj = compiled(
            PolicyObject(
                obj.kind,
                obj.namespace,
                obj.name,
                obj.doc,
                file,
                i,
                node.start_mark.line + 1 if lines else None,
            )
        )
        if obj.key in seen:
            raise PolicyError(
                f"{obj} appears twice in one apply (also document {seen[obj.key]})", file=file, document=i
            )
        seen[obj.key] = i
        out.append(obj)
    if not out:
        raise PolicyError("no policy documents found (expected apiVersion/kind/metadata/spec)", file=file)
    return out


def _document(root: YamlNode) -> PolicyObject:
    """One document: the shared part (apiVersion, kind, metadata) here, the spec by its kind's module."""
    top = root.free_mapping()
    kind_at = top.get("kind")
    if kind_at is None:
        raise root.error(f"missing 'kind'; kinds meshlab reads: {listing(KINDS)}")
    kind = kind_at.string()
    if kind in UNSUPPORTED_KINDS:
        raise kind_at.error(
            f"kind {kind} is not supported by meshlab ({UNSUPPORTED_KINDS[kind]}); "
            f"supported kinds: {listing(KINDS)}"
        )
    if kind not in REGISTRY:
        raise kind_at.error(
            f"unknown kind {kind!r}{close_match(kind, KINDS)}; supported kinds: {listing(KINDS)}"
        )
    h = REGISTRY[kind]
    top = root.mapping(
        ("apiVersion", "kind", "metadata"),
        ("spec", "status") if h.core_labels else ("spec",),
        unsupported=() if h.core_labels else ("status",),
    )
    top["apiVersion"].string(h.api_versions)
    meta = top["metadata"].mapping(("name",), ("namespace", "labels", "annotations"))
    name = meta["name"].name()
    root.context["what"] = f"{kind} {name}"
    namespace = None
    if h.namespaced:
        namespace = meta["namespace"].name() if "namespace" in meta else "default"
        root.context["what"] = f"{kind} {namespace}/{name}"
    elif "namespace" in meta:
        raise meta["namespace"].error("a Namespace is not in a namespace: remove metadata.namespace")
    labels = meta["labels"].labels() if "labels" in meta else {}
    if "annotations" in meta:
        meta["annotations"].free_mapping()  # kept and exported; they change nothing in the lab
    h.validate(top.get("spec"), Document(root, meta, labels, namespace or name))
    return PolicyObject(kind, namespace, name, root.value())
