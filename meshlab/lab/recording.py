"""The lab's recording: every load kept (the last :data:`RECORDED_LOADS`) with the lab as it was —
topology, mesh, policies in force, facts, the spans of its traces — and written out on request as
the file :func:`meshlab.replay.load` reads back with no lab.

:class:`Recording` is a part of :class:`~meshlab.lab.Lab`: it keeps the loads in the lab's
``_loads`` (a bounded deque) and reads the lab's spans, policies, facts and metrics.
"""

from __future__ import annotations

from pathlib import Path as Path_

from .. import replay
from ..errors import LabError
from ..policy.store import PolicyStore
from ..telemetry.results import LoadResult

#: How many loads a lab keeps for :meth:`Lab.record` (the oldest are dropped past it).
RECORDED_LOADS = 50


class Recording:
    """``record`` and ``recorded_runs`` of a lab's loads."""

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

    def recorded_runs(self, *, metrics: bool = True) -> list[dict]:
        """This lab's loads so far (the last :data:`RECORDED_LOADS`) as a recording holds its runs,
        the last with every proxy's metrics as they are now: for :meth:`record`, or to put runs of
        several labs in one file (``replay.write(f, replay.dumps(runs_a + runs_b, backend=...))``)."""
        if not self._loads:
            raise LabError("nothing to record yet: send a load first (lab.load(...))")
        runs = [replay.run_record(**{**r, "policies": yaml_of(r["policies"])}) for r in self._loads]
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


def yaml_of(store: PolicyStore) -> str:
    """The objects of ``store`` as one multi-document YAML text (a store is never changed in place:
    an apply makes a new one, so a load can keep the one in force and write it out only if recorded)."""
    import yaml

    return yaml.safe_dump_all([o.doc for o in store.items], sort_keys=False)
