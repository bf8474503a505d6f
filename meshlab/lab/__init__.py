"""The lab: one topology running on one backend, with its mesh mode.

    with Lab("bookinfo") as lab:                         # start() ... stop(), whatever happens
        r = lab.request("client", "http://productpage:9080/productpage")
        print(r.status, r.latency_ms); print(r.path)
        res = lab.load(requests=200, concurrency=4)      # from the topology's entry by default
        print(res.summary()["latency_ms"])

Every pod is its own OS process, started by the backend; the lab talks to each over its control
channel. Spans from every process are collected and reassembled into paths.

:class:`Lab` is the facade learners call; here are its life cycle (start, stop, reset, restart)
and where things are (pods, addresses, a command run or packets captured inside the network). Its
other verbs live in one module each, as parts of the one class (they hold no state of their own;
``Lab.__init__`` sets all of it):

- :mod:`.control` — apply and delete Istio objects; set a namespace's mode, or the waypoints.
- :mod:`.traffic` — send one request or a load from a pod.
- :mod:`.measure` — spans and paths collected, usage, a proxy's metrics, the facts of a run.
- :mod:`.recording` — the loads kept, written to a file that replays with no lab.
"""

from __future__ import annotations

import json
import time
from collections import deque

from .. import enrollment, mesh
from ..backends import choose_backend
from ..backends.process import WorkerProcess
from ..backends.state import RunState
from ..errors import LabError
from ..identity import LabCA
from ..net.cluster import ClusterNet
from ..policy.store import PolicyStore
from ..topology import load_topology
from ..modes import MODES, WAYPOINT_SUFFIX
from ..supervisor import Supervisor
from ..topology.model import Topology
from ..trace import Span
from .control import Control
from .measure import Measure
from .recording import RECORDED_LOADS, Recording
from .traffic import Traffic

__all__ = ["Lab"]


class Lab(Control, Traffic, Measure, Recording):
    """A running cluster. ``topology`` is a shipped name (``"bookinfo"``), a path, a dict or a
    :class:`~meshlab.topology.Topology`; ``mode`` is the mesh mode; ``backend`` is ``"loopback"``
    (the default), ``"mininet"`` (root) or ``"auto"`` (mininet where it can run). ``seed``: every
    random choice in the lab's processes — kube-proxy's endpoint pick, load balancing, route
    weights, fault percentages, retry back-off, httpbin's random status — draws from it (each
    process from ``seed/its name``), so the same requests sent one at a time give the same
    outcomes (concurrent requests still interleave as the machine schedules them)."""

    def __init__(
        self,
        topology: "str | dict | Topology" = "bookinfo",
        mode: str | None = None,
        backend: str = "loopback",
        *,
        waypoints: "str | list[str] | None" = None,
        verbose: bool = True,
        seed: int | None = None,
    ):
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise LabError(f"seed must be an integer or None; got {seed!r}")
        self.seed = seed
        topo = load_topology(topology)
        if mode is not None and mode not in MODES:
            raise LabError(
                f"unknown mesh mode {mode!r}; allowed: {', '.join(MODES)}, "
                "or None for what the topology's namespace labels say"
            )
        self._base = enrollment.with_mode(topo, mode) if mode is not None else topo  # without waypoint pods
        self._enrollment = enrollment.Enrollment.of(self._base, waypoints)
        try:
            self.topology, self.mesh, self.waypoint_of = enrollment.plan(self._base, self._enrollment)
        except ValueError as e:
            raise LabError(str(e)) from None
        self.mode = mesh.describe(self.mesh)  # waypoint pods do not count: see mesh.describe
        self.backend = choose_backend(backend)
        self.verbose = verbose
        self._sup = Supervisor(self.backend, seed=seed, policies=self._policy_records)  # the processes
        self._sup.plan(self.topology, self.mesh, self.waypoint_of)
        self._spans: dict[str, dict[str, Span]] = {}  # by trace id, then span id (newest wins)
        self.startup_s: float | None = None
        self._store = PolicyStore()
        self.warnings: list[str] = []  # from the last apply
        self._engine: str | None = None  # HBONE's HTTP/2 engine, once asked
        self._loads: deque[dict] = deque(maxlen=RECORDED_LOADS)  # the last loads, for record()

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab {self.topology.name} mode={self.mode} backend={self.backend.name} {state}>"

    @property
    def workers(self) -> dict[str, WorkerProcess]:
        """Each pod's process, by pod name (empty when the lab is stopped)."""
        return self._sup.workers

    @property
    def proxies(self) -> dict[str, WorkerProcess]:
        """Each proxy's process, by proxy name (``reviews-v2-0/istio-proxy``)."""
        return self._sup.proxies

    @property
    def state(self) -> RunState | None:
        return self._sup.state

    @property
    def net(self) -> ClusterNet | None:
        """The cluster's addresses as the processes know them (None before start)."""
        return self._sup.net

    @property
    def ca(self) -> LabCA | None:
        """The lab's CA (istiod's): None until a meshed lab starts."""
        return self._sup.ca

    @property
    def _certs(self) -> dict:
        """Every workload certificate issued, by (namespace, service account)."""
        return self._sup.certs

    @property
    def running(self) -> bool:
        return bool(self.workers)

    def start(self) -> "Lab":
        if self.running:
            return self
        t0 = time.monotonic()
        if self.verbose:
            print(f"meshlab: {self.backend.reason}")
        try:
            self._sup.start(self, self.verbose)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop every process and remove everything the lab created. Safe to call twice."""
        self._sup.stop()

    def reset(self) -> None:
        """Forget collected telemetry and restart any pod or proxy whose process died."""
        self._require_running()
        self.collect()
        self._spans.clear()
        for w in [w for w in [*self.proxies.values(), *self.workers.values()] if not w.alive()]:
            self._sup.respawn(w)

    def restart(self, name: str) -> float:
        """Stop one process and start it again, as deleting a pod (or one step of a rolling
        upgrade) replaces it: a pod's app (by pod name), a sidecar (``reviews-v1/istio-proxy``), a
        ztunnel (``ztunnel-node-1``) or a waypoint. Telemetry and everything else stay, so a load
        in flight from another thread goes on. Returns the seconds from stop to ready."""
        self._require_running()
        w = self.proxies.get(name) or self.workers.get(name)
        if w is None:
            raise LabError(f"no pod or proxy named {name!r}; proxies: {', '.join(self.proxies) or '(none)'}")
        t0 = time.monotonic()
        self._sup.respawn(w)
        return time.monotonic() - t0

    def identities(self) -> dict[str, list[str]]:
        """Which workload identities each proxy holds the certificate and private key of, as each
        proxy process reports them (SPIFFE ids read from its certificates; never a key): a sidecar
        or a waypoint holds one, a ztunnel one per service account of its node's ambient pods."""
        self._require_running()
        return {
            name: w.call("identities", timeout=10)["identities"]
            for name, w in sorted(self.proxies.items())
            if w.alive()
        }

    # -- where things are ----------------------------------------------------------------------
    def pod_ip(self, pod: str) -> str:
        self._require_running()
        return self.net.pod(self.topology.pod(pod).name).ip

    def service_vip(self, name: str) -> str:
        self._require_running()
        for s in self.net.services:
            if s.name == name:
                return s.vip
        raise LabError(f"no service named {name!r}; services: {', '.join(s.name for s in self.net.services)}")

    @property
    def data_plane(self) -> str:
        """The mode with its waypoints, as ``compare`` names its columns: ``ambient+waypoint``."""
        return self.mode + (WAYPOINT_SUFFIX if self.waypoint_of else "")

    def pods(self) -> list[dict]:
        """One row per pod: name, node, namespace, service account (its identity), IP, ports, pid, alive."""
        rows = []
        for p in self.topology.pods:
            w = self.workers.get(p.name) or self.proxies.get(p.name)
            sc = self.proxies.get(f"{p.name}/istio-proxy")
            rows.append(
                {
                    "pod": p.name,
                    "node": p.node,
                    "namespace": p.namespace,
                    "service_account": p.service_account,
                    "ip": self.net.pod(p.name).ip if self.net else None,
                    "ports": list(p.ports),
                    "mesh": self.mesh[p.name],
                    "pid": w.pid if w else None,
                    "sidecar_pid": sc.pid if sc else None,
                    "alive": bool(w and w.alive()) and (sc is None or sc.alive()),
                }
            )
        return rows

    # -- inside the network (mininet) -----------------------------------------------------------
    def _place(self, where: str) -> str:
        self._require_running()
        if where in self.net.nodes:
            return where
        try:
            return self.topology.pod(where).name
        except KeyError as e:
            raise LabError(f"{e.args[0]}; nodes: {', '.join(self.net.nodes)}") from None

    def exec(self, where: str, cmd: str, timeout: float = 30.0) -> str:
        """Run a shell command in the network namespace of a pod or node and return its output:
        ``lab.exec("reviews-v1", "iptables -t nat -S")``, ``lab.exec("node-1", "ss -tnp")``."""
        return self.backend.exec(self._place(where), cmd, timeout)

    def capture(
        self,
        where: str,
        *,
        seconds: float | None = None,
        packets: int | None = None,
        during=None,
        intf: str = "eth0",
        path: str | None = None,
    ):
        """Capture packets on a pod's or node's link (``eth0``: a pod's veth, a node's underlay
        link) while ``during()`` runs, for ``seconds`` or until ``packets`` arrived. Returns a
        :class:`~meshlab.telemetry.pcap.Capture`: the pcap file and a table of what is readable."""
        return self.backend.capture(self._place(where), seconds, packets, during, intf, path)

    def _require_running(self) -> None:
        if not self.running:
            raise LabError("the lab is not running: call lab.start() or use `with Lab(...) as lab:`")

    def describe(self) -> str:
        return json.dumps(
            {
                "topology": self.topology.name,
                "mode": self.mode,
                "backend": self.backend.name,
                "pods": self.pods(),
            },
            indent=2,
        )
