"""The lab's processes: what the facade (:mod:`meshlab.lab`) asks of the cluster, done — the
kubelet and the part of istiod that issues certificates and pushes configuration.

A :class:`Supervisor` starts one process per app pod, sidecar, waypoint and ztunnel on a backend,
hands each its :class:`~meshlab.net.specs` spec (typed, frozen; sent as JSON over the control
channel and read back as the same type on the other side), issues the SPIFFE certificates, pushes
the Istio objects in force to every proxy (all or none), makes the processes follow an enrollment
change (which pods restart, which ztunnels start or stop, which waypoints deploy), restarts what
died, and releases everything exactly once — on ``stop()``, when the lab that owns it is
garbage-collected (a notebook cell re-run), or at interpreter exit.

The supervisor decides nothing about the mesh: the lab gives it the plan (topology, each pod's
mesh, each service's waypoint: :func:`meshlab.enrollment.plan`) and it makes the processes match.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .backends.process import WorkerProcess, ensure_fds
from .backends.state import RunState
from .errors import PortConflict, WorkerError
from .identity import LabCA
from .net.cluster import ClusterNet
from .net.specs import PodSpec, ProxySpec
from .topology.model import Topology

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Job:
    """One process to start: its name, where it runs (a pod's address, or a node's name), the
    module it runs, its role and its spec (without the cluster network: see :meth:`Supervisor.start_all`)."""

    name: str
    where: object
    module: str
    role: str
    spec: PodSpec | ProxySpec


class Running:
    """What a started lab holds. Released exactly once (see the module's docstring)."""

    def __init__(self, backend):
        self.backend = backend
        self.workers: dict[str, WorkerProcess] = {}  # apps, by pod name
        self.proxies: dict[str, WorkerProcess] = {}  # proxies, by proxy name
        self.state: RunState | None = None

    def release(self) -> None:
        workers = list(self.workers.values()) + list(self.proxies.values())
        self.workers, self.proxies = {}, {}
        for w in workers:
            try:
                w.proc.stdin.close()  # cut every lifeline first, so they exit in parallel
            except OSError:
                pass
        for w in workers:
            w.stop()
        self.backend.teardown()
        if self.state is not None:
            self.state.remove()
            self.state = None


class Supervisor:
    """The processes of one lab on one backend. ``policies()`` returns the Istio objects in force
    as records (what every proxy is given); ``seed`` seeds each process's random choices."""

    def __init__(self, backend, *, seed: int | None, policies: Callable[[], list[dict]]):
        self.backend = backend
        self.seed = seed
        self.policies = policies
        self.net: ClusterNet | None = None
        self.ca: LabCA | None = None
        self.certs: dict = {}  # (namespace, service account) -> certificate
        self.starts: dict[str, int] = {}  # processes started, by name (for their seeds)
        self.topology: Topology | None = None  # the plan the processes follow (set by the lab)
        self.mesh: dict[str, str | None] = {}
        self.waypoint_of: dict = {}
        self._run: Running | None = None
        self._finalizer = None

    def plan(self, topology: Topology, mesh: dict, waypoint_of: dict) -> None:
        self.topology, self.mesh, self.waypoint_of = topology, mesh, waypoint_of

    @property
    def workers(self) -> dict[str, WorkerProcess]:
        return self._run.workers if self._run else {}

    @property
    def proxies(self) -> dict[str, WorkerProcess]:
        return self._run.proxies if self._run else {}

    @property
    def state(self) -> RunState | None:
        return self._run.state if self._run else None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, owner, verbose: bool) -> None:
        """Start every process of the plan; released with ``owner`` (the lab) if nobody stops it."""
        self._run = Running(self.backend)
        self._finalizer = weakref.finalize(owner, self._run.release)
        self.net = self.backend.plan(self.topology)
        self.apply_mesh_to_net()
        if verbose:
            for note in self.backend.notes:
                print(f"meshlab: {note}")
        self._run.state = RunState(self.topology.name, self.backend.name)
        self.backend.prepare(self._run.state.record_process)
        self.issue_certificates()
        jobs = [self.ztunnel_job(node) for node in self.ambient_nodes()]
        for pod in self.topology.pods:
            if self.mesh[pod.name] == "waypoint":
                jobs.append(self.pod_proxy_job(pod.name, "waypoint", pod.name))
                continue
            if self.mesh[pod.name] == "sidecar":
                jobs.append(self.pod_proxy_job(pod.name, "sidecar", f"{pod.name}/istio-proxy"))
            jobs.append(self.app_job(pod.name))
        self.start_all(jobs)  # every process forked and told its spec; they start in parallel
        deadline = time.monotonic() + START_TIMEOUT
        for w in [*self.proxies.values(), *self.workers.values()]:
            self.ready(w, deadline)

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs Running.release once
        self._run = self._finalizer = None

    def ambient_nodes(self) -> list[str]:
        return sorted({p.node for p in self.topology.pods if self.mesh[p.name] == "ambient"})

    @staticmethod
    def ready(w: WorkerProcess, deadline: float) -> WorkerProcess:
        """Wait until ``w`` serves; its start-up error, if any, becomes ours."""
        msg = w.wait_ready(deadline)
        if msg.get("event") == "error":
            if msg.get("kind") == "port-conflict":
                raise PortConflict(f"{w.name}: {msg['error']} — another process took it")
            raise WorkerError(f"{w.name}: {msg['error']}")
        return w

    def start_all(self, jobs: list[Job]) -> list[WorkerProcess]:
        """Start a process for each job and send it its spec with the cluster network
        (``"net"``): whole, or by reference when the backend handed it down at fork time (a
        200-pod lab's net is ~60 kB of JSON, which each of 400 processes would otherwise parse
        into its own copy). Apps go to :attr:`workers`, proxies to :attr:`proxies`."""
        ensure_fds(len(self.workers) + len(self.proxies) + len(jobs))
        logs = [self.state.logs / f"{j.name.replace('/', '.')}.log" for j in jobs]
        handles = self.backend.spawn_many(
            [(j.where, j.module, str(log)) for j, log in zip(jobs, logs)], net=self.net
        )
        started = []
        for j, popen, log in zip(jobs, handles, logs):  # every one is known before any can fail
            self.state.record_process(popen.pid, j.name, j.role)
            w = WorkerProcess(j.name, popen, log)
            w.role, w.where = j.role, j.where.name if hasattr(j.where, "name") else j.where
            (self.workers if j.role == "app" else self.proxies)[j.name] = w
            started.append(w)
        for j, w in zip(jobs, started):
            key = getattr(w.proc, "net_key", None)
            # a restarted process draws anew (its trace and span ids must not repeat its last life's)
            self.starts[j.name] = self.starts.get(j.name, 0) + 1
            seed = None if self.seed is None else f"{self.seed}/{j.name}/{self.starts[j.name]}"
            w.start(j.spec.message(net={"inherited": key} if key else self.net.to_dict(), seed=seed))
        return started

    def spawn(self, role: str, where: str) -> WorkerProcess:
        """Start one process again: an app (``where``: its pod), a sidecar (its pod), a waypoint
        (its pod) or a ztunnel (its node)."""
        job = {
            "app": self.app_job,
            "sidecar": lambda pod: self.pod_proxy_job(pod, "sidecar", f"{pod}/istio-proxy"),
            "waypoint": lambda pod: self.pod_proxy_job(pod, "waypoint", pod),
            "ztunnel": self.ztunnel_job,
        }[role](where)
        return self.start_all([job])[0]

    def respawn(self, w: WorkerProcess) -> WorkerProcess:
        """Stop ``w`` (dead or alive) and start its process again, ready."""
        w.stop()
        return self.ready(self.spawn(w.role, w.where), time.monotonic() + START_TIMEOUT)

    # -- jobs ------------------------------------------------------------------------------------
    def app_job(self, pod_name: str) -> Job:
        pod = self.topology.pod(pod_name)
        return Job(pod_name, self.net.pod(pod_name), "meshlab.apps.worker", "app", PodSpec.of(pod))

    def pod_proxy_job(self, pod_name: str, role: str, name: str) -> Job:
        """A proxy with one pod's identity: its sidecar, or a waypoint (a pod of its own)."""
        pod = self.topology.pod(pod_name)
        cert = self.certs[(pod.namespace, pod.service_account)]
        return Job(
            name,
            self.net.pod(pod_name),
            "meshlab.proxy.main",
            role,
            ProxySpec(
                role=role,
                pod=pod_name,
                cert=cert.cert_path,
                key=cert.key_path,
                root=self.ca.root_path,
                policies=tuple(self.policies()),
            ),
        )

    def ztunnel_job(self, node: str) -> Job:
        """One ztunnel per node, holding the certificates of that node's ambient pods only."""
        return Job(
            f"ztunnel-{node}",
            node,
            "meshlab.proxy.main",
            "ztunnel",
            ProxySpec(
                role="ztunnel",
                node=node,
                certs=self.ztunnel_certs(node),
                root=self.ca.root_path,
                policies=tuple(self.policies()),
            ),
        )

    # -- identity --------------------------------------------------------------------------------
    def issue_certificates(self) -> None:
        """The lab's istiod: a CA, and a SPIFFE certificate per service account with a proxy."""
        meshed = [p for p in self.topology.pods if self.mesh[p.name]]
        if not meshed:
            return
        if self.ca is None or not Path(self.ca.root_path).exists():
            self.ca = LabCA.create(self.state.dir / "ca")
            self.certs = {}
        for p in meshed:
            key = (p.namespace, p.service_account)
            if key not in self.certs:
                self.certs[key] = self.ca.issue(*key)

    def ztunnel_certs(self, node: str) -> dict[str, list[str]]:
        certs = {}
        for p in self.topology.pods:
            if p.node == node and self.mesh[p.name] == "ambient":
                c = self.certs[(p.namespace, p.service_account)]
                certs[c.spiffe_id] = [c.cert_path, c.key_path]
        return certs

    # -- configuration ---------------------------------------------------------------------------
    def push(self, old: list[dict]) -> None:
        """Push the objects in force (``policies()``) to every running proxy; if one cannot take
        them, push ``old`` back to those that did, and raise."""
        done = []
        try:
            for w in list(self.proxies.values()):
                if w.alive():
                    w.call("policy", {"objects": self.policies()}, timeout=10)
                    done.append(w)
        except Exception:
            for w in done:
                try:
                    w.call("policy", {"objects": old}, timeout=10)
                except Exception:  # noqa: BLE001 - best effort: the first error is the one to report
                    pass
            raise

    def apply_mesh_to_net(self) -> None:
        self.net = replace(
            self.net,
            pods=tuple(replace(p, mesh=self.mesh.get(p.name)) for p in self.net.pods),
            services=tuple(
                replace(s, waypoint=self.waypoint_of.get((s.namespace, s.name))) for s in self.net.services
            ),
        )
        self.backend.sync(self.net)  # mininet: iptables rules follow the meshes

    def enroll(self, report: dict, apps: dict, new_mesh: dict) -> None:
        """Make the processes follow an enrollment change already planned (:meth:`plan` holds the
        new plan; ``report`` and ``apps`` say what changed, pod by pod: see
        :meth:`meshlab.lab.control.Control._enroll`)."""
        self.apply_mesh_to_net()
        self.issue_certificates()
        deadline = time.monotonic() + START_TIMEOUT
        # 0. pods that lose or gain a sidecar are recreated: stop the old ones first, so that
        #    nothing of theirs holds the pod IP's ports when a ztunnel comes to capture them
        for pod in report["restarted"]:
            if f"{pod}/istio-proxy" in self.proxies:
                self.proxies.pop(f"{pod}/istio-proxy").stop()
            self.workers.pop(pod).stop()
        #    and pods joining ambient move their app's ports to the pod-local address (no restart)
        for pod, (a, b) in apps.items():
            if b == "ambient" and a is None and pod in self.workers:
                self.workers[pod].call("net", {"net": self.net.to_dict()})
        # 1. ztunnels: listeners for newly captured pods, none for pods that left ambient
        for name in [n for n in self.proxies if n.startswith("ztunnel-")]:
            node = name.removeprefix("ztunnel-")
            self.proxies[name].call("net", {"net": self.net.to_dict(), "certs": self.ztunnel_certs(node)})
        for node in self.ambient_nodes():
            if f"ztunnel-{node}" not in self.proxies:
                self.ready(self.spawn("ztunnel", node), deadline)
        # 2. new waypoints, and the recreated pods with their sidecar if they now have one
        for pod in report["deployed"]:
            self.ready(self.spawn("waypoint", pod), deadline)
        for pod in report["restarted"]:
            if new_mesh[pod] == "sidecar":
                self.ready(self.spawn("sidecar", pod), deadline)
            self.ready(self.spawn("app", pod), deadline)
        # 3. everyone else learns the new addresses and meshes (who to capture, who speaks mTLS,
        #    which services go through which waypoint)
        fresh = {*report["restarted"], *report["deployed"]}
        for name, w in [*self.proxies.items(), *self.workers.items()]:
            if not name.startswith("ztunnel-") and name not in fresh and w.alive():
                w.call("net", {"net": self.net.to_dict()})
        nodes = set(self.ambient_nodes())
        for name in [n for n in self.proxies if n.startswith("ztunnel-")]:
            if name.removeprefix("ztunnel-") not in nodes:
                self.proxies.pop(name).stop()
        for pod in report["removed"]:
            if pod in self.proxies:
                self.proxies.pop(pod).stop()
