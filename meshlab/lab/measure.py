"""What the lab measures: spans collected from every process (and reassembled into paths), each
process's memory and CPU, a proxy's Prometheus metrics scraped from its admin port, and the facts a
report states beside a load.

:class:`Measure` is a part of :class:`~meshlab.lab.Lab`: it keeps the spans collected so far in the
lab's ``_spans`` (by trace id, then span id) and the HBONE engine once asked in ``_engine``, and
reads the lab's processes (``workers``, ``proxies``), ``net`` and ``backend``.
"""

from __future__ import annotations

from ..errors import LabError, WorkerError
from ..modes import HBONE_ROLES
from ..net.cluster import ADMIN_PORT
from ..telemetry import cost
from ..telemetry.cost import Usage
from ..telemetry.paths import L4Index, RequestPath, build_paths
from ..telemetry.scrape import scrape
from ..trace import Span


class Measure:
    """Spans, paths, usage, metrics and facts of a lab."""

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

    def paths(self) -> dict[str, RequestPath]:
        self.collect()
        return build_paths(self.spans())
