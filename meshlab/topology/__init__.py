"""Topology: a cluster described as pure data (nodes, namespaces, services, workloads, pods).

- :mod:`.model` — the frozen data model; imported eagerly.
- :mod:`.loader` — YAML (or a dict, or a generated topology's spec) into the model, validated;
  :mod:`.generator` — generated topologies (services x replicas x nodes) as YAML-shaped dicts,
  which the loader validates (the loader imports the generator, never the reverse).
- :mod:`.graph` — the topology as a networkx graph (who calls whom).

The loader and the generator are imported lazily, so a pod's worker process never pays for PyYAML.
"""

from .model import (
    APP_KINDS,
    CLUSTER_DOMAIN,
    AppSpec,
    Call,
    Entry,
    Links,
    Namespace,
    Node,
    Pod,
    Service,
    Topology,
    Workload,
)

_LOADER = ("find_topology_file", "generate", "load_topology", "parse_topology", "topology_files")
_GENERATE = ("GenSpec", "generate_dict")
__all__ = [
    "APP_KINDS",
    "CLUSTER_DOMAIN",
    "AppSpec",
    "Call",
    "Entry",
    "Links",
    "Namespace",
    "Node",
    "Pod",
    "Service",
    "Topology",
    "Workload",
    *_LOADER,
    *_GENERATE,
]


def __getattr__(name: str):
    if name in _LOADER:
        from . import loader

        return getattr(loader, name)
    if name in _GENERATE:
        from . import generator as gen

        return getattr(gen, name)
    raise AttributeError(f"module 'meshlab.topology' has no attribute {name!r}")
