"""Topology: a cluster described as pure data (nodes, namespaces, services, workloads, pods)."""

from .loader import find_topology_file, load_topology, parse_topology, topology_files
from .model import (APP_KINDS, CLUSTER_DOMAIN, AppSpec, Call, Entry, Namespace, Node, Pod, Service,
                    Topology, Workload)

__all__ = ["APP_KINDS", "CLUSTER_DOMAIN", "AppSpec", "Call", "Entry", "Namespace", "Node", "Pod",
           "Service", "Topology", "Workload", "find_topology_file", "load_topology", "parse_topology",
           "topology_files"]
