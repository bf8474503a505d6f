"""The lab: one topology running on one backend, with its mesh mode.

    with Lab("bookinfo") as lab:                         # start() ... stop(), whatever happens
        r = lab.request("client", "http://productpage:9080/productpage")
        print(r.status, r.latency_ms); print(r.path)
        res = lab.load(requests=200, concurrency=4)      # from the topology's entry by default
        print(res.summary()["latency_ms"])

Every pod is its own OS process, started by the backend; the lab talks to each over its control
channel. Spans from every process are collected and reassembled into paths.
"""

from __future__ import annotations

import json
import time
from pathlib import Path as Path_
from collections import deque
from dataclasses import replace

from . import enrollment, mesh, replay
from .backends import choose_backend
from .backends.process import WorkerProcess
from .backends.state import RunState
from .errors import LabError, PolicyError, WorkerError
from .identity import LabCA
from .net.cluster import ADMIN_PORT, ClusterNet
from .policy.loader import PolicyObject, load_policies
from .policy.store import LabView, PolicyStore, check
from .telemetry import cost
from .telemetry.cost import Usage
from .telemetry.paths import L4Index, Path, build_paths, path_of
from .telemetry.results import LoadResult, RequestResult
from .telemetry.scrape import scrape
from .topology import load_topology
from .modes import HBONE_ROLES, MODES, WAYPOINT_SUFFIX
from .supervisor import Supervisor
from .topology.model import Topology
from .trace import Span

#: How many loads a lab keeps for :meth:`Lab.record` (the oldest are dropped past it).
RECORDED_LOADS = 50


class Lab:
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

    def set_mode(self, mode: str, namespace: str | None = None) -> dict:
        """Move a namespace (or every namespace) to mesh mode ``none``, ``sidecar`` or ``ambient``
        on the running lab, by relabelling it as one would in Kubernetes.

        Enrolling in ambient (or leaving it) needs no pod restart: the node's ztunnel starts (or
        stops) capturing the pods' traffic. Sidecar injection happens when a pod is created, so
        pods moving into or out of sidecar mode are restarted — and the lab says so. Returns
        ``{"restarted": [...], "enrolled": [...], "left": [...]}``.
        """
        self._require_running()
        if mode not in mesh.MODES:
            raise LabError(f"unknown mesh mode {mode!r}; allowed: {', '.join(mesh.MODES)}")
        names = [n.name for n in self.topology.namespaces]
        if namespace is not None and namespace not in names:
            raise LabError(f"no namespace named {namespace!r}; namespaces: {', '.join(names)}")
        targets = [namespace] if namespace else names
        e = enrollment.set_mode(self._enrollment, self._base, mode, targets)
        r = self._enroll(e, self._plan(e, LabError))
        # a Namespace applied earlier shows its labels as they are now (kubectl get ns -o yaml would)
        live = [
            replace(
                o,
                doc={
                    **o.doc,
                    "metadata": {**(o.doc.get("metadata") or {}), "labels": dict(e.namespace_labels[o.name])},
                },
            )
            for o in self._store.items
            if o.kind == "Namespace" and o.name in targets
        ]
        if live:
            self._store = self._store.applied(live)[0]
        return {k: r[k] for k in ("restarted", "enrolled", "left")}

    def set_waypoints(self, waypoints: "str | list[str] | None") -> dict:
        """Change which services use a waypoint on the running lab — ``["reviews"]``,
        ``"namespace"`` or None — as ``istioctl waypoint apply`` and labelling services with
        ``istio.io/use-waypoint`` do. No app pod restarts: source ztunnels start (or stop)
        sending the services' traffic to the waypoint, which is deployed (or removed) as
        needed. Returns what changed."""
        self._require_running()
        e = enrollment.set_waypoints(self._enrollment, waypoints)
        r = self._enroll(e, self._plan(e, LabError))
        return {
            "enrolled": r["waypoint_for"],
            "unenrolled": r["no_waypoint_for"],
            "deployed": r["deployed"],
            "removed": r["removed"],
        }

    def _plan(self, e: "enrollment.Enrollment", error=LabError, **context) -> tuple:
        try:
            return enrollment.plan(self._base, e)
        except ValueError as err:
            raise error(str(err), **context) from None

    def _enroll(self, e: "enrollment.Enrollment", planned: tuple) -> dict:
        """Make the running lab match an enrollment (:func:`meshlab.enrollment.plan` of it):
        the one mechanism behind ``set_mode``, ``set_waypoints`` and applied Namespace,
        Service and Gateway objects. Returns what changed, pod by pod and service by service."""
        topo, new_mesh, new_of = planned
        old_mesh, old_of = self.mesh, self.waypoint_of
        changed = {
            p: (old_mesh.get(p), new_mesh.get(p))
            for p in {*old_mesh, *new_mesh}
            if old_mesh.get(p) != new_mesh.get(p)
        }
        apps = {p: ab for p, ab in changed.items() if "waypoint" not in ab}
        report = {
            "restarted": sorted(p for p, (a, b) in apps.items() if "sidecar" in (a, b)),
            "enrolled": sorted(p for p, (a, b) in apps.items() if b == "ambient"),
            "left": sorted(p for p, (a, b) in apps.items() if a and not b),
            "waypoint_for": sorted(
                f"{ns}/{s}" for (ns, s), wp in new_of.items() if old_of.get((ns, s)) != wp
            ),
            "no_waypoint_for": sorted(f"{ns}/{s}" for (ns, s) in old_of if (ns, s) not in new_of),
            "deployed": sorted(p for p, (a, b) in changed.items() if b == "waypoint"),
            "removed": sorted(p for p, (a, b) in changed.items() if a == "waypoint"),
        }
        running = self.running
        if running and report["deployed"]:
            self._sup.net = self.backend.replan(topo)
        self._enrollment = e
        self.topology, self.mesh, self.waypoint_of = topo, new_mesh, new_of
        self._sup.plan(topo, new_mesh, new_of)
        self.mode = mesh.describe(new_mesh)
        if not running or (not changed and old_of == new_of):
            return report
        if self.verbose and report["restarted"]:
            print(
                "meshlab: sidecar injection happens when a pod is created, so these pods restart "
                f"(as `kubectl rollout restart` would): {', '.join(report['restarted'])}"
            )
        quiet = [p for p in report["enrolled"] if p not in report["restarted"]]  # the others just restarted
        if self.verbose and quiet:
            print(f"meshlab: enrolled in ambient with no restart: {', '.join(quiet)}")
        if self.verbose and (report["waypoint_for"] or report["no_waypoint_for"]):
            print(
                f"meshlab: waypoint for {', '.join(report['waypoint_for']) or '-'}; none any more for "
                f"{', '.join(report['no_waypoint_for']) or '-'} (no app pod restarted)"
            )
        self._sup.enroll(report, apps, new_mesh)
        return report

    # -- Istio config ----------------------------------------------------------------------------
    def apply(self, source, *, file: str | None = None) -> list[str]:
        """Apply Istio YAML — text, a path, a dict, or a list of those; many documents at once —
        as ``kubectl apply`` would: every object is checked first, and only if all are fine do
        they take effect, reaching the running proxies at once (the lab's istiod pushes them).
        Namespace and Service objects set enrollment labels (``istio-injection``,
        ``istio.io/dataplane-mode``, ``istio.io/use-waypoint``) and a waypoint Gateway deploys a
        waypoint, on the running lab as ``set_mode`` and ``set_waypoints`` do.
        A rejected apply raises :class:`~meshlab.errors.PolicyError` and changes nothing.
        Returns ``kubectl``-style lines (``virtualservice/reviews -n default created``);
        warnings are printed and kept in ``lab.warnings``. Works before start() too."""
        objs = load_policies(source, file)
        new, report = self._store.applied(objs)
        enrolling = [o for o in objs if o.kind in enrollment.KINDS]
        e, planned = self._enrollment, (self.topology, self.mesh, self.waypoint_of)
        if enrolling:
            e = enrollment.applied(e, [o.doc for o in enrolling], self._base)
            o = enrolling[0]
            planned = self._plan(e, PolicyError, file=o.file, document=o.document, what=str(o))
        warnings = check(objs, LabView(*planned), new)  # raises for a namespace or service the lab lacks
        if enrolling:
            warnings += enrollment.missing_waypoints(self._base, e)
        self._push(new)
        self.warnings = warnings
        if enrolling:
            self._enroll(e, planned)
            # the lab's namespaces and services exist already: kubectl would say "configured"
            report = [
                line.replace(" created", " configured")
                if line.startswith(("namespace/", "service/"))
                else line
                for line in report
            ]
        for w in self.warnings:
            if self.verbose:
                print(f"meshlab: warning: {w}")
        return report

    def delete(
        self,
        source=None,
        *,
        kind: str | None = None,
        name: str | None = None,
        namespace: str = "default",
        all: bool = False,
    ) -> list[str]:
        """Delete Istio objects: the ones named in YAML (as ``kubectl delete -f``), one by
        ``kind`` and ``name``, or ``all=True``. Deleting something not in force is an error that
        changes nothing. Deleting a Namespace or Service object takes back its labels only (the
        lab's namespaces and services come from the topology; Kubernetes would delete them and
        everything in them); deleting a waypoint Gateway removes its waypoint."""
        if all:
            keys = [o.key for o in self._store.items]
        elif source is not None:
            keys = [o.key for o in load_policies(source)]
        elif kind and name:
            keys = [(kind, None if kind == "Namespace" else namespace, name)]
        else:
            raise LabError("say what to delete: YAML (text, path, dict) or kind= and name=")
        new, report = self._store.deleted(keys)
        gone = [o for o in self._store.items if o.key in keys and o.kind in enrollment.KINDS]
        e = enrollment.deleted(self._enrollment, [o.doc for o in gone], self._base)
        planned = self._plan(e, PolicyError, what=str(gone[0])) if gone else None
        self._push(new)
        if planned is not None:
            self._enroll(e, planned)
        notes = {
            "namespace/": " (the lab keeps it: its mesh labels return to the topology's)",
            "service/": " (the lab keeps it: its istio.io/use-waypoint label goes)",
        }
        return [line + next((n for p, n in notes.items() if line.startswith(p)), "") for line in report]

    def policies(self) -> list[PolicyObject]:
        """The Istio objects in force, oldest first (``o.doc`` is the YAML as applied; an applied
        Namespace shows its labels as they are now, after ``set_mode``)."""
        return self._store.objects

    def policies_yaml(self) -> str:
        """The objects in force as one multi-document YAML text, ready for ``kubectl apply -f``."""
        return _yaml(self._store)

    def export(self, out_dir=None, *, command: str | None = None):
        """The lab as it stands — topology, enrollment (modes, waypoints) and the Istio objects
        in force — as the Kubernetes and Istio YAML a real cluster needs
        (:mod:`meshlab.export`). Returns the :class:`~meshlab.export.Manifests`; with
        ``out_dir`` it also writes them there, with the README of commands."""
        from .export import manifests, write

        m = manifests(self._base, None, [o.doc for o in self._store.items], state=self._enrollment)
        if out_dir is not None:
            write(m, out_dir, command=command)
        return m

    def _policy_records(self) -> list[dict]:
        return [o.to_record() for o in self._store.items]

    def _push(self, new: PolicyStore) -> None:
        """Make ``new`` the config in force: on every running proxy, or restore the old one
        everywhere if a proxy cannot take it."""
        old, self._store = self._store, new
        try:
            self._sup.push([o.to_record() for o in old.items])
        except Exception:
            self._store = old
            raise

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

    # -- traffic -------------------------------------------------------------------------------
    def _worker_for(self, source: str | None) -> tuple[str, WorkerProcess]:
        self._require_running()
        source = source or (self.topology.entry.source if self.topology.entry else None)
        if source is None:
            raise LabError("say which workload sends the traffic (the topology has no entry)")
        try:
            pod = self.topology.pod(source)
        except KeyError as e:
            raise LabError(str(e.args[0])) from None
        if pod.name not in self.workers:
            raise LabError(
                f"{pod.name} is a {self.mesh.get(pod.name) or 'proxy'} pod, not an app: send from an app pod"
            )
        return pod.name, self.workers[pod.name]

    def _url(self, url: str | None) -> str:
        url = url or (self.topology.entry.url if self.topology.entry else None)
        if not url or not url.startswith("http://"):
            raise LabError(f"expected an http:// URL; got {url!r}")
        return url

    @staticmethod
    def _headers(headers) -> list[list[str]]:
        if headers is None:
            return []
        items = headers.items() if hasattr(headers, "items") else headers
        out = []
        for k, v in items:
            if not isinstance(k, str) or not isinstance(v, str):
                raise LabError(f"headers must map strings to strings; got {k!r}: {v!r}")
            out.append([k, v])
        return out

    def request(
        self,
        source: str | None = None,
        url: str | None = None,
        *,
        method: str = "GET",
        headers=None,
        body: str = "",
        timeout: float = 30.0,
    ) -> RequestResult:
        """Send one request from a pod (a workload name picks its first pod) and return its
        status, latency and path."""
        name, w = self._worker_for(source)
        url = self._url(url)
        r = w.call(
            "request",
            dict(method=method, url=url, headers=self._headers(headers), body=body, timeout=timeout),
            timeout=timeout + 10,
        )
        self.collect()
        tid = r.get("trace_id")
        path = path_of(tid, self.spans(tid, collect=False), self._l4()) if tid else None
        return RequestResult(
            source=name,
            url=url,
            status=r["status"],
            error=r["error"],
            latency_ms=(r["end"] - r["start"]) * 1000,
            path=path,
            body=r.get("body", ""),
            headers=tuple(tuple(h) for h in r.get("headers", [])),
            trace_id=tid,
            partial=tuple(r.get("partial", ())),
        )

    def load(
        self,
        source: str | None = None,
        url: str | None = None,
        *,
        requests: int | None = None,
        duration: float | None = None,
        rate: float | None = None,
        concurrency: int = 1,
        method: str = "GET",
        headers=None,
        body: str = "",
        timeout: float = 30.0,
        progress: bool | None = None,
    ) -> LoadResult:
        """Send many requests from one pod: ``requests`` of them, or for ``duration`` seconds, at
        ``rate`` per second (None: as fast as possible), over ``concurrency`` connections. Shows a
        progress bar on long runs (``progress=None``: when more than 50 requests or a duration)."""
        from .apps.loadgen import LoadPlan

        name, w = self._worker_for(source)
        url = self._url(url)
        try:
            plan = LoadPlan(requests=requests, duration=duration, rate=rate, concurrency=concurrency)
        except ValueError as e:
            raise LabError(str(e)) from None
        if progress is None:
            progress = duration is not None or (requests or 0) > 50
        bar = None
        if progress:
            from tqdm.auto import tqdm

            in_notebook = tqdm.__module__.startswith("tqdm.notebook")
            # a notebook keeps the finished bar, labelled with the mode it measured; a terminal clears it
            bar = tqdm(
                total=plan.expected(),
                desc=f"{self.data_plane}: {name} -> {url}",
                unit="req",
                leave=in_notebook,
            )
        last = [0]

        def on_progress(n: int):
            if bar is not None:
                bar.update(n - last[0])
                last[0] = n

        limit = (duration or 0) + (requests or 0) * timeout / concurrency + 30
        before = self.usage()
        t0 = time.monotonic()
        try:
            r = w.call(
                "load",
                dict(
                    plan=plan.__dict__,
                    method=method,
                    url=url,
                    headers=self._headers(headers),
                    body=body,
                    timeout=timeout,
                ),
                timeout=min(limit, 3600),
                on_progress=on_progress,
            )
            if bar is not None:  # progress comes in steps: the last one may not have arrived
                done = len(r["outcomes"])
                bar.total = max(bar.total or 0, done) if duration is None else done
                bar.update(done - last[0])
        finally:
            if bar is not None:
                bar.close()  # (short of its total only when the load failed: drawn red then)
        wall = time.monotonic() - t0
        after = self.usage()
        cpu = cost.cpu_delta(before, after)
        self.collect()
        outcomes = r["outcomes"]
        l4 = self._l4()
        paths = {}
        for o in outcomes:
            tid = o.get("trace_id")
            if tid and tid in self._spans:
                p = path_of(tid, self.spans(tid, collect=False), l4)
                if p is not None:
                    paths[tid] = p
        res = LoadResult(
            source=name,
            url=url,
            outcomes=outcomes,
            paths=paths,
            wall_s=wall,
            cpu_s=cpu,
            settings={
                "requests": requests,
                "duration": duration,
                "rate": rate,
                "concurrency": concurrency,
                "method": method,
                "mode": self.mode,
                "backend": self.backend.name,
                "topology": self.topology.name,
            },
            usage=[{k: v for k, v in u.to_dict().items() if k != "pid"} for u in after.values()],
        )
        self._loads.append(self._run_record(res))
        return res

    # -- recording -----------------------------------------------------------------------------
    def _run_record(self, res: LoadResult) -> dict:
        """One load as a recording will keep it (:func:`meshlab.replay.run_record`'s arguments): the
        lab as it was, the result, and the spans of its traces with every L4 span open during the
        load. Objects, not copies (they are frozen); written out only by :meth:`record`."""
        t0 = min((o["start"] for o in res.outcomes), default=0.0)
        t1 = max((o["end"] for o in res.outcomes), default=0.0)
        tids = {o.get("trace_id") for o in res.outcomes}
        spans = [
            s for tid in tids if tid in self._spans for s in self._spans[tid].values() if s.layer != "L4"
        ]
        spans += [
            s
            for ss in self._spans.values()
            for s in ss.values()
            if s.layer == "L4" and s.end >= t0 and s.start <= t1
        ]
        return dict(
            label=f"{self.data_plane} {len(self._loads) + 1}",
            topology=self.topology,
            mesh=dict(self.mesh),
            waypoint_of=dict(self.waypoint_of),
            mode=self.mode,
            data_plane=self.data_plane,
            policies=self._store,
            facts=self.facts(),
            result=res,
            spans=spans,
        )

    def facts(self) -> dict:
        """What a report says of the lab beside a load (:func:`meshlab.telemetry.report.report`; a
        recording keeps it): topology, mode, backend, start-up time, pods, nodes, and the HTTP/2
        engine HBONE ran on, as a ztunnel or waypoint reports it (None where none runs)."""
        return {
            "topology": self.topology.name,
            "mode": self.mode,
            "backend": self.backend.name,
            "h2_engine": self._h2_engine(),
            "startup_s": round(self.startup_s or 0.0, 3),
            "pods": sum(1 for m in self.mesh.values() if m != "waypoint"),
            "nodes": len(self.topology.nodes),
        }

    def _h2_engine(self) -> str | None:
        hbone = [w for w in self.proxies.values() if w.role in HBONE_ROLES]
        if not hbone:
            return None
        for w in hbone:  # chosen once per process, the same in every proxy: ask one
            if self._engine is not None:
                break
            try:
                self._engine = w.call("stats", timeout=10).get("h2_engine")
            except WorkerError:  # (one that was killed: ask the next)
                continue
        return self._engine

    def recorded_runs(self, *, metrics: bool = True) -> list[dict]:
        """This lab's loads so far (the last :data:`RECORDED_LOADS`) as a recording holds its runs,
        the last with every proxy's metrics as they are now: for :meth:`record`, or to put runs of
        several labs in one file (``replay.write(f, replay.dumps(runs_a + runs_b, backend=...))``)."""
        if not self._loads:
            raise LabError("nothing to record yet: send a load first (lab.load(...))")
        runs = [replay.run_record(**{**r, "policies": _yaml(r["policies"])}) for r in self._loads]
        if metrics and self.running:
            runs[-1]["metrics"] = {p: self.metrics(p) for p in self.proxies}
        return runs

    def record(
        self, file, *, what: str = "", labels: "list[str] | None" = None, metrics: bool = True
    ) -> "Path_":
        """Write every load of this lab so far (:meth:`load`) to ``file`` (``.json``, or ``.json.gz``
        compressed): topology, mesh, policies, outcomes, spans, cost, and each proxy's metrics now —
        what :func:`meshlab.replay.load` reads back for the figures, with no lab. ``labels`` name
        the loads (default: the data plane and a number)."""
        runs = self.recorded_runs(metrics=metrics)
        if labels is not None:
            if len(labels) != len(runs):
                raise LabError(f"{len(labels)} labels for {len(runs)} loads")
            for r, label in zip(runs, labels):
                r["label"] = label
        return replay.write(file, replay.dumps(runs, backend=self.backend.name, what=what))

    # -- cost ----------------------------------------------------------------------------------
    def usage(self) -> dict[str, Usage]:
        """Memory and CPU of every pod and proxy process, by name (see :mod:`meshlab.telemetry.cost`)."""
        out = {}
        for name, w in [*self.workers.items(), *self.proxies.items()]:
            u = cost.usage(name, w.role, w.pid)
            if u is not None:
                out[name] = u
        return out

    def metrics(self, proxy: str) -> str:
        """A proxy's Prometheus metrics, fetched over HTTP from its admin port (15020), as
        Prometheus would scrape them — from the proxy's own network (its pod's, or its node's
        for a ztunnel; the namespace itself on mininet). ``proxy`` is a proxy name
        (``reviews-v1-0/istio-proxy``, ``ztunnel-node-1``, ``waypoint-0``)."""
        self._require_running()
        if proxy not in self.proxies:
            raise LabError(
                f"no proxy named {proxy!r}; proxies: {', '.join(self.proxies) or '(none: mode none)'}"
            )
        if proxy.startswith("ztunnel-"):
            where = proxy.removeprefix("ztunnel-")
            ip = self.net.nodes[where]
        else:
            where = proxy.split("/")[0]
            ip = self.net.pod(where).ip
        try:
            return scrape(lambda addr: self.backend.connect(where, addr, timeout=10), ip, ADMIN_PORT)
        except OSError as e:
            raise LabError(f"could not read {proxy}'s metrics from {ip}:{ADMIN_PORT}: {e}") from None

    # -- telemetry -----------------------------------------------------------------------------
    def collect(self) -> int:
        """Fetch new spans from every pod; returns how many arrived."""
        n = 0
        for w in [*self.workers.values(), *self.proxies.values()]:
            if not w.alive():
                continue
            for d in w.call("spans", timeout=10)["spans"]:
                s = Span.from_dict(d)
                self._spans.setdefault(s.trace_id, {})[s.span_id] = s
                n += 1
        return n

    def spans(self, trace_id: str | None = None, *, collect: bool = True) -> list[Span]:
        """Every span collected so far (or one trace's), fetching new ones first."""
        if collect:
            self.collect()
        if trace_id is not None:
            return list(self._spans.get(trace_id, {}).values())
        return [s for ss in self._spans.values() for s in ss.values()]

    def _l4(self) -> L4Index:
        return L4Index(s for ss in self._spans.values() for s in ss.values() if s.layer == "L4")

    def paths(self) -> dict[str, Path]:
        self.collect()
        return build_paths(self.spans())

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


def _yaml(store: PolicyStore) -> str:
    """The objects of ``store`` as one multi-document YAML text (a store is never changed in place:
    an apply makes a new one, so a load can keep the one in force and write it out only if recorded)."""
    import yaml

    return yaml.safe_dump_all([o.doc for o in store.items], sort_keys=False)
