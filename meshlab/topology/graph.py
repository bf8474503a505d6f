"""The topology as a networkx graph, for drawing and for questions like "who calls whom"."""

from __future__ import annotations

import networkx as nx

from .model import Topology


def topology_graph(topo: Topology) -> "nx.DiGraph":
    """Nodes: ``node:<name>``, ``pod:<name>``, ``svc:<ns>/<name>``. Edges carry a ``kind``:
    ``runs-on`` (pod -> node), ``selects`` (service -> pod), ``calls`` (pod -> service)."""
    g = nx.DiGraph(name=topo.name)
    for n in topo.nodes:
        g.add_node(f"node:{n.name}", kind="node", name=n.name)
    for s in topo.services:
        g.add_node(
            f"svc:{s.namespace}/{s.name}", kind="service", name=s.name, namespace=s.namespace, port=s.port
        )
    for p in topo.pods:
        g.add_node(
            f"pod:{p.name}",
            kind="pod",
            name=p.name,
            namespace=p.namespace,
            app=p.app.kind,
            labels=dict(p.labels),
            node=p.node,
        )
        g.add_edge(f"pod:{p.name}", f"node:{p.node}", kind="runs-on")
        for c in p.app.calls:
            svc = topo.resolve_service(c.service, p.namespace)
            g.add_edge(
                f"pod:{p.name}",
                f"svc:{svc.namespace}/{svc.name}",
                kind="calls",
                timeout=c.timeout,
                retries=c.retries,
            )
    for s in topo.services:
        for p in topo.endpoints(s):
            g.add_edge(f"svc:{s.namespace}/{s.name}", f"pod:{p.name}", kind="selects")
    return g
