"""The topology data model: frozen, pure data, no I/O. Starts nothing.

A :class:`Topology` is what a ``topologies/*.yaml`` file describes: nodes, namespaces with their
service accounts, services (name + port + selector), and workloads (deployments) whose replicas
are the pods. Pods are derived, never written down: workload ``reviews-v2`` with one replica is
pod ``reviews-v2-0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

CLUSTER_DOMAIN = "cluster.local"

#: App kinds the workload runtime can run, with the container port each listens on by default.
APP_KINDS: Mapping[str, int | None] = MappingProxyType(
    {
        "productpage": 9080,
        "details": 9080,
        "reviews": 9080,
        "ratings": 9080,
        "httpbin": 8080,
        "client": None,  # a curl/fortio-like load client: listens on nothing
    }
)

#: Ratings variants, as in Bookinfo's ratings.js SERVICE_VERSION.
RATINGS_VARIANTS = ("normal", "faulty", "delayed", "unavailable", "unhealthy")
STAR_COLORS = ("black", "red")


def frozen_map(d: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class Links:
    """How a node's uplink (its link to the other nodes) is shaped: on what the node *sends* to
    another node, at most ``bandwidth_mbit`` Mbit/s, ``delay_ms`` added, ``loss_pct`` percent of
    packets dropped. A pod's link to its own node is never shaped (both ends sit in one machine).
    Emulated, not measured — and applied only where the backend has links (mininet)."""

    bandwidth_mbit: float | None = None
    delay_ms: float | None = None
    loss_pct: float | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.bandwidth_mbit, self.delay_ms, self.loss_pct))

    def over(self, base: "Links | None") -> "Links":
        """These settings, with ``base``'s for the ones left unset."""
        if base is None:
            return self
        return Links(
            *(
                v if v is not None else b
                for v, b in zip(
                    (self.bandwidth_mbit, self.delay_ms, self.loss_pct),
                    (base.bandwidth_mbit, base.delay_ms, base.loss_pct),
                )
            )
        )

    def describe(self) -> str:
        parts = [
            f"{self.bandwidth_mbit:g} Mbit/s" if self.bandwidth_mbit is not None else "",
            f"{self.delay_ms:g} ms delay" if self.delay_ms is not None else "",
            f"{self.loss_pct:g}% loss" if self.loss_pct is not None else "",
        ]
        return ", ".join(p for p in parts if p) or "unshaped"


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    links: Links | None = None  # overrides the topology's ``links`` for this node


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    service_accounts: tuple[str, ...] = ("default",)


@dataclass(frozen=True)
class Call:
    """One outbound call an app makes, with the timeout and retries written in the app's own code."""

    service: str  # as written: "ratings", "ratings.default" or an FQDN
    port: int
    path: str
    timeout: float | None = None  # seconds per attempt; None = wait forever
    retries: int = 0  # extra attempts after the first, in the app's own code

    def url(self) -> str:
        return f"http://{self.service}:{self.port}{self.path}"


@dataclass(frozen=True)
class AppSpec:
    kind: str
    service_time: float = 0.0  # configured (emulated) work per request, seconds
    calls: tuple[Call, ...] = ()
    params: Mapping[str, object] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    node: str
    service_account: str
    labels: Mapping[str, str]
    app: AppSpec
    replicas: int = 1
    ports: tuple[int, ...] = ()

    def pod_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{i}" for i in range(self.replicas))


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    port: int
    target_port: int
    selector: Mapping[str, str]
    port_name: str = "http"

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}"

    def selects(self, pod: "Pod") -> bool:
        return pod.namespace == self.namespace and all(
            pod.labels.get(k) == v for k, v in self.selector.items()
        )


@dataclass(frozen=True)
class Pod:
    name: str
    workload: str
    namespace: str
    node: str
    service_account: str
    labels: Mapping[str, str]
    app: AppSpec
    ports: tuple[int, ...]

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{CLUSTER_DOMAIN}/ns/{self.namespace}/sa/{self.service_account}"


@dataclass(frozen=True)
class Entry:
    """Where traffic starts by default: the workload to send from and the URL to ask for."""

    source: str
    url: str


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[Node, ...]
    namespaces: tuple[Namespace, ...]
    services: tuple[Service, ...]
    workloads: tuple[Workload, ...]
    entry: Entry | None = None
    description: str = ""
    source: str | None = None  # the file it was loaded from
    links: Links | None = None  # every node's uplink, unless the node says otherwise

    # -- derived views (computed once: a Topology never changes; ``replace`` makes a new one) ---
    @cached_property
    def pods(self) -> tuple[Pod, ...]:
        return tuple(
            Pod(
                name=pn,
                workload=w.name,
                namespace=w.namespace,
                node=w.node,
                service_account=w.service_account,
                labels=w.labels,
                app=w.app,
                ports=w.ports,
            )
            for w in self.workloads
            for pn in w.pod_names()
        )

    @cached_property
    def _pod_index(self) -> dict[str, Pod]:
        ix: dict[str, Pod] = {}
        for p in self.pods:  # a pod by its name, else a workload's first pod
            ix.setdefault(p.name, p)
        for p in self.pods:
            ix.setdefault(p.workload, p)
        return ix

    def node_links(self, name: str) -> Links:
        """The shaping of node ``name``'s uplink: its own ``links``, then the topology's."""
        node = next(n for n in self.nodes if n.name == name)
        return (node.links or Links()).over(self.links)

    def pod(self, name: str) -> Pod:
        """A pod by its name, or the first pod of a workload given by its name."""
        p = self._pod_index.get(name)
        if p is None:
            raise KeyError(f"no pod or workload named {name!r}; pods: {', '.join(p.name for p in self.pods)}")
        return p

    def service(self, name: str, namespace: str | None = None) -> Service:
        for s in self.services:
            if s.name == name and (namespace is None or s.namespace == namespace):
                return s
        raise KeyError(f"no service named {name!r}")

    def endpoints(self, service: Service) -> tuple[Pod, ...]:
        return tuple(p for p in self.pods if service.selects(p))

    def services_of(self, pod: Pod) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.selects(pod))

    def namespace(self, name: str) -> Namespace:
        for ns in self.namespaces:
            if ns.name == name:
                return ns
        raise KeyError(f"no namespace named {name!r}")

    def resolve_service(self, host: str, from_namespace: str) -> Service | None:
        """Kubernetes DNS search-path resolution of ``host`` as seen from ``from_namespace``
        (names are case-insensitive; a trailing dot is allowed), as the pods' DNS does it."""
        host = host.rstrip(".").lower()
        for s in self.services:
            if host in (s.fqdn, f"{s.name}.{s.namespace}.svc", f"{s.name}.{s.namespace}"):
                return s
            if host == s.name and s.namespace == from_namespace:
                return s
        return None
