"""Generated topologies: services x replicas x nodes, for measuring a mesh as the cluster grows.

    from meshlab.topology import generate
    topo = generate(services=20, replicas=10, nodes=4)        # 200 app pods + a client
    Lab("gen:services=20,replicas=10,nodes=4", mode="sidecar")   # the same, by its spec

A generated cluster is made of **Bookinfo shards**: Istio's Bookinfo, once per namespace
(``bookinfo-1``, ``bookinfo-2``, ...), with the apps and calls of ``topologies/bookinfo.yaml``:
productpage calls details then reviews (fan-out), reviews v2/v3 call ratings (a chain). The
services are taken four at a time in that order (productpage, details, reviews, ratings); a last,
partial shard stops where the count does — productpage alone, + details, + reviews (then only
v1, which calls nothing). Each service has ``replicas`` pods; reviews' replicas take v1, v2, v3 in
turn. Pods are spread over the nodes round-robin, so each service's replicas land on different
nodes as a topology spread constraint would put them. Since a topology's workload sits on one
node, each (service, version, node) is one workload: ``reviews-v2-b3-n2`` is reviews v2 of shard 3
on node-2, and its pods are ``reviews-v2-b3-n2-0``, ``-1``, ...

A ``client`` workload (service account ``curl``, on node-1, in ``bookinfo-1``) is the entry:
``http://productpage:9080/productpage``, one Bookinfo page across the first shard; any shard's page
is ``http://productpage.bookinfo-<k>:9080/productpage``.

Pure data: :func:`generate_dict` builds the YAML-shaped dict, which
:func:`meshlab.topology.loader.generate` (also ``meshlab.topology.generate``) passes through the same
validating loader as a ``topologies/*.yaml`` file. The loader imports this module, never the reverse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..errors import TopologyError
from ..yamlnode import close_match

PREFIX = "gen:"
#: setting -> (lowest, highest). Replicas: the loader's limit per workload. Nodes: the loopback
#: backend's (each node is a /24 of pod addresses).
LIMITS = {"services": (1, 400), "replicas": (1, 50), "nodes": (1, 120)}
#: A Bookinfo shard's services, in the order they are taken.
SHARD = ("productpage", "details", "reviews", "ratings")
SERVICE_TIME = "1ms"


@dataclass(frozen=True)
class GenSpec:
    """What to generate; ``str(spec)`` is the spec string, ``GenSpec.parse`` reads it back.

    >>> GenSpec.parse("gen:services=20,replicas=10,nodes=4")
    GenSpec(services=20, replicas=10, nodes=4)
    >>> str(GenSpec(services=8))
    'gen:services=8,replicas=1,nodes=2'
    """

    services: int = 4
    replicas: int = 1
    nodes: int = 2

    def __post_init__(self):
        for f in fields(self):
            lo, hi = LIMITS[f.name]
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                got = f"{v!r}" if isinstance(v, (int, float, str)) else type(v).__name__
                raise TopologyError(
                    f"expected a whole number from {lo} to {hi}; got {got}", file=self._where(), field=f.name
                )

    def _where(self) -> str:
        return PREFIX + ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))

    def __str__(self) -> str:
        return self._where()

    @classmethod
    def parse(cls, text: str) -> "GenSpec":
        """``"gen:services=20,replicas=10,nodes=4"``; settings left out take their defaults."""
        if not text.startswith(PREFIX):
            raise TopologyError(
                f"a generated topology's spec starts with {PREFIX!r}, as in "
                f"'{PREFIX}services=20,replicas=10,nodes=4'",
                file=text,
            )
        values: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text[len(PREFIX) :].split(","))):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if key not in LIMITS:
                raise TopologyError(
                    f"unknown setting {key!r}{close_match(key, LIMITS)}; "
                    f"allowed: {', '.join(LIMITS)} (as in '{PREFIX}services=20,replicas=10,nodes=4')",
                    file=text,
                    field=key,
                )
            if key in values:
                raise TopologyError(f"{key} is given twice", file=text, field=key)
            lo, hi = LIMITS[key]
            if not sep or not re.fullmatch(r"[0-9]+", raw.strip()):
                raise TopologyError(
                    f"expected {key}=<a whole number from {lo} to {hi}>; got {part!r}", file=text, field=key
                )
            values[key] = int(raw)
        try:
            return cls(**values)
        except TopologyError as e:
            raise TopologyError(e.reason, file=text, field=e.field) from None

    # -- the topology ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"gen-s{self.services}-r{self.replicas}-n{self.nodes}"

    @property
    def shards(self) -> int:
        return -(-self.services // len(SHARD))

    def to_dict(self) -> dict:
        """The topology as the dict a ``topologies/*.yaml`` file would hold."""
        nodes = [f"node-{j}" for j in range(1, self.nodes + 1)]
        namespaces, services, workloads = [], [], []
        spread = _RoundRobin(nodes)
        left = self.services
        for k in range(1, self.shards + 1):
            ns = f"bookinfo-{k}"
            names = SHARD[: min(left, len(SHARD))]
            left -= len(names)
            sas = [f"bookinfo-{s}" for s in names] + (["curl"] if k == 1 else [])
            namespaces.append({"name": ns, "serviceAccounts": sas})
            for s in names:
                services.append({"name": s, "namespace": ns, "port": 9080, "selector": {"app": s}})
                versions = _versions(s, "ratings" in names)
                per_workload: dict[tuple[str, str], int] = {}
                for i in range(self.replicas):
                    key = (versions[i % len(versions)], spread.next())
                    per_workload[key] = per_workload.get(key, 0) + 1
                for (version, node), count in per_workload.items():
                    workloads.append(_workload(s, version, k, node, ns, count, names))
        workloads.append(
            {
                "name": "client",
                "namespace": "bookinfo-1",
                "node": nodes[0],
                "serviceAccount": "curl",
                "labels": {"app": "client"},
                "app": {"kind": "client"},
            }
        )
        pods = self.services * self.replicas
        return {
            "name": self.name,
            "description": (
                f"Generated: {_n(self.services, 'service')} x {_n(self.replicas, 'replica')} over "
                f"{_n(self.nodes, 'node')} - {_n(pods, 'app pod')} and a client, as "
                f"{_n(self.shards, 'Bookinfo shard')} (namespace"
                + (f"s bookinfo-1..{self.shards})." if self.shards > 1 else " bookinfo-1).")
            ),
            "entry": {"from": "client", "url": "http://productpage:9080/productpage"},
            "nodes": [{"name": n} for n in nodes],
            "namespaces": namespaces,
            "services": services,
            "workloads": workloads,
        }


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


class _RoundRobin:
    def __init__(self, items):
        self.items, self.i = items, 0

    def next(self):
        item = self.items[self.i % len(self.items)]
        self.i += 1
        return item


def _versions(service: str, has_ratings: bool) -> tuple[str, ...]:
    return ("v1", "v2", "v3") if service == "reviews" and has_ratings else ("v1",)


def _workload(service: str, version: str, shard: int, node: str, ns: str, replicas: int, names) -> dict:
    app: dict = {"kind": service, "serviceTime": SERVICE_TIME}
    if service == "productpage":  # Bookinfo's own timeouts and retries (see bookinfo.yaml)
        app["calls"] = [
            c
            for c in (
                {"service": "details", "path": "/details/0", "timeout": "3s", "retries": 0},
                {"service": "reviews", "path": "/reviews/0", "timeout": "3s", "retries": 1},
            )
            if c["service"] in names
        ]
    elif service == "reviews" and version != "v1":
        app["starColor"] = "black" if version == "v2" else "red"
        app["calls"] = [
            {"service": "ratings", "path": "/ratings/0", "timeout": "10s" if version == "v2" else "2.5s"}
        ]
    w = {
        "name": f"{service}-{version}-b{shard}-n{node.removeprefix('node-')}",
        "namespace": ns,
        "node": node,
        "serviceAccount": f"bookinfo-{service}",
        "labels": {"app": service, "version": version},
        "app": app,
    }
    if replicas > 1:
        w["replicas"] = replicas
    return w


def generate_dict(services: int = 4, replicas: int = 1, nodes: int = 2) -> dict:
    """The generated topology as a YAML-shaped dict (what ``meshlab generate`` writes)."""
    return GenSpec(services=services, replicas=replicas, nodes=nodes).to_dict()
