"""Topology: a cluster described as pure data (nodes, namespaces, services, workloads, pods).

The model is imported eagerly; the YAML loader lazily, so a pod's worker process never pays for
PyYAML.
"""

from .model import (APP_KINDS, CLUSTER_DOMAIN, AppSpec, Call, Entry, Links, Namespace, Node, Pod,
                    Service, Topology, Workload)

_LOADER = ("find_topology_file", "load_topology", "parse_topology", "topology_files")
__all__ = ["APP_KINDS", "CLUSTER_DOMAIN", "AppSpec", "Call", "Entry", "Links", "Namespace", "Node", "Pod",
           "Service", "Topology", "Workload", *_LOADER]


def __getattr__(name: str):
    if name in _LOADER:
        from . import loader
        return getattr(loader, name)
    raise AttributeError(f"module 'meshlab.topology' has no attribute {name!r}")
