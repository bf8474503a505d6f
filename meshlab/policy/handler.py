"""What a policy kind's module hands the registry (:mod:`.kinds`): a :class:`KindHandler`.

Each kind lives in one module — :mod:`.virtualservice`, :mod:`.destinationrule`, :mod:`.peerauth`,
:mod:`.authorizationpolicy`, :mod:`.gateway`, :mod:`.enrollment` (Namespace and Service labels),
:mod:`.httproute` — which holds the kind's three jobs:

- **validate**: the document's ``spec`` (and labels), node by node, to a
  :class:`~meshlab.errors.PolicyError` naming file, document, line, field and what is allowed.
  The shared part — apiVersion, kind, metadata — is the loader's; :class:`Document` is what a
  validator gets to see of it.
- **compile**: a checked :class:`~.objects.PolicyObject` to the typed, frozen value the
  evaluating code reads (routes, a traffic policy), once per apply and once per push to a proxy,
  never per request. Kinds evaluated straight from their checked spec compile to ``None``.
- **check**: the warnings (or errors) about an object against the running lab — a host that is
  no service, L7 rules nobody enforces — called by :func:`meshlab.policy.store.check`.

Writers ("build": Istio YAML from a few settings) live in the same modules and are gathered by
:mod:`.builder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import yaml

from ..errors import PolicyError
from ..yamlnode import YamlNode


class Document:
    """One document being read: its root node, ``metadata`` (as nodes), its labels, and the
    namespace it belongs to (a Namespace's own name, else its ``metadata.namespace``)."""

    def __init__(self, root: YamlNode, meta: dict[str, YamlNode], labels: dict[str, str], own_namespace: str):
        self.root, self.meta, self.labels, self.own_namespace = root, meta, labels, own_namespace

    def spec(self, spec: YamlNode | None, empty_ok: bool = False) -> YamlNode:
        """The ``spec`` node; a missing or null spec is an empty mapping where ``empty_ok``."""
        if spec is None:
            if empty_ok:
                return YamlNode(
                    yaml.MappingNode("tag:yaml.org,2002:map", []),
                    self.root.file,
                    "spec",
                    self.root.lines,
                    error_cls=PolicyError,
                    context=self.root.context,
                )
            raise self.root.error("missing 'spec'")
        if isinstance(spec.node, yaml.ScalarNode) and spec.value() is None and empty_ok:
            return YamlNode(
                yaml.MappingNode("tag:yaml.org,2002:map", []),
                spec.file,
                "spec",
                spec.lines,
                error_cls=PolicyError,
                context=spec.context,
            )
        return spec

    def label(self, key: str) -> YamlNode:
        """The node of one ``metadata.labels`` entry, for an error that points at it."""
        return self.meta["labels"].at_key(key)


def selector(at: YamlNode) -> None:
    """A workload ``selector`` (PeerAuthentication, AuthorizationPolicy): ``matchLabels`` only."""
    at.mapping(("matchLabels",))["matchLabels"].labels()


@dataclass(frozen=True)
class KindHandler:
    """A kind's entry in the registry. ``api_versions`` lists what the loader accepts, newest
    first; ``namespaced`` False for cluster-scoped kinds (Namespace); ``core_labels`` for the core
    objects whose labels alone the lab reads (Namespace, Service: their ``status`` is allowed, their
    ``spec`` optional)."""

    kind: str
    api_versions: tuple[str, ...]
    validate: Callable[[YamlNode | None, Document], None]
    compile: Callable[[Any], Any] | None = None
    check: Callable[[Any, Any, Any], list[str]] | None = None
    namespaced: bool = True
    core_labels: bool = False
