"""Recorded runs: what a lab measured, in one file that every figure replays with no lab at all.

``meshlab run ... --record FILE`` and ``lab.record(FILE)`` write a recording; :func:`load` reads
it back into the objects :mod:`meshlab.viz` draws — a :class:`~meshlab.telemetry.results.LoadResult`
per run, its paths (reassembled from the recorded spans by the same code as on a live lab), the
run's topology and mesh, and the ``compare``-style dict of every run (:meth:`Recording.compare`).
Loading imports nothing that runs a lab (no asyncio servers, psutil, uvloop, httptools, h2,
cffi), so a recording opens on a phone's Binder, in Voilà, in a static page (``meshlab report``).

The format (version 1; ``docs/recordings.md`` has the field list): one JSON object, optionally
gzip-compressed (``.json.gz``)::

    {"format": "meshlab-recording", "version": 1,
     "meshlab": "0.1.0", "recorded": "2025-06-01", "backend": "mininet",
     "machine": "Linux 6.1.0, Python 3.11.7, 2 CPUs", "what": "why it was recorded",
     "captures": null,                         # or the name of a packet-capture recording (recordings/NAME)
     "runs": [{"label", "topology", "mesh", "waypoints", "mode", "data_plane", "policies",
               "facts", "load", "usage", "metrics", "spans"}, ...]}

Everything is checked before anything is drawn: a damaged, foreign, too new or too large file is
one :class:`RecordingError` naming the file and the field at fault.
"""

from __future__ import annotations

import gzip
import io
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path as FilePath

from .errors import MeshlabError
from .records import RecordError, from_data, to_data
from .telemetry.paths import L4Index, RequestPath, path_of
from .telemetry.pcap import RECORDINGS_DIR
from .telemetry.report import add_added_latency, add_cost, report
from .telemetry.results import LoadResult
from .topology.model import Topology
from .trace import Span
from .version import __version__

FORMAT = "meshlab-recording"
VERSION = 1
#: Refused above these sizes (a recording of a big run is a few MB; a shipped one a few hundred KB).
MAX_FILE_BYTES = 32 * 2**20
MAX_JSON_BYTES = 128 * 2**20  # after gzip: a small file that unpacks to gigabytes is refused
#: Shipped recordings (tools/record_runs.py): recordings/runs/NAME.json.gz
RUNS_DIR = RECORDINGS_DIR / "runs"


class RecordingError(MeshlabError, ValueError):
    """A recording cannot be read: damaged, not a recording, of a newer format, or too large."""


@dataclass(frozen=True)
class RecordedRun:
    """One load of a recorded lab, with the lab as it was: topology, mesh, policies, cost."""

    label: str
    topology: Topology
    mesh: dict
    waypoints: tuple  # ((namespace, service, waypoint pod), ...)
    mode: str
    data_plane: str  # the mode with "+waypoint" where waypoints ran
    policies: str  # the Istio YAML in force during the load
    facts: dict  # backend, startup_s, h2_engine, pods, nodes
    result: LoadResult
    metrics: dict = field(default_factory=dict)  # proxy -> Prometheus text, at the end of the load
    spans: tuple = ()

    def report(self) -> dict:
        """What ``meshlab run --json`` printed for this load (:func:`meshlab.telemetry.report.report`)."""
        return report(self.result, {**self.facts, "topology": self.topology.name, "mode": self.mode})

    def path(self, which: str = "slowest ok") -> RequestPath | None:
        """One request's path: ``"slowest ok"``, ``"first"``, ``"first failed"``, or a trace id."""
        res = self.result
        if which in res.paths:
            return res.paths[which]
        rows = [o for o in res.outcomes if o.get("trace_id") in res.paths]
        if which == "first failed":
            rows = [o for o in rows if not (o["status"] is not None and 200 <= o["status"] < 400)]
        elif which == "slowest ok":
            ok = [o for o in rows if o["status"] is not None and 200 <= o["status"] < 400]
            rows = sorted(ok or rows, key=lambda o: o["start"] - o["end"])
        elif which != "first":
            raise KeyError(f"no path {which!r}: say 'slowest ok', 'first', 'first failed' or a trace id")
        return res.paths[rows[0]["trace_id"]] if rows else None


@dataclass(frozen=True)
class Recording:
    """A recording read back (:func:`load`): where and when it was made, and its runs."""

    source: str
    meta: dict
    runs: tuple[RecordedRun, ...]

    @property
    def label(self) -> str:
        """ "recorded on the mininet backend, 2025-06-01 (meshlab 0.1.0; Linux ...)": show it with every figure."""
        m = self.meta
        return f"recorded on the {m['backend']} backend, {m['recorded']} (meshlab {m['meshlab']}; {m['machine']})"

    def run(self, which: "int | str" = 0) -> RecordedRun:
        """A run by index or label."""
        if isinstance(which, int):
            return self.runs[which]
        for r in self.runs:
            if r.label == which:
                return r
        raise KeyError(f"no run labelled {which!r}; runs: {', '.join(r.label for r in self.runs)}")

    def compare(self) -> dict:
        """The runs as ``meshlab compare`` reports modes, keyed by run label — what
        :func:`~meshlab.viz.latency_figure`, :func:`~meshlab.viz.cost_figure` and
        :func:`~meshlab.viz.cost_scaling_figure` draw. Added latency is over the run whose data
        plane is ``none``, where there is one."""
        out = {}
        for r in self.runs:
            rep = r.report()
            rep["latency_samples_ms"] = [round(v, 3) for v in r.result.latencies_ms()]
            out[r.label] = add_cost(rep)
        if "none" in out:
            add_added_latency(out)
        return out

    def latency_runs(self) -> list[dict]:
        """Every run as :func:`~meshlab.viz.runs_figure` takes them."""
        out = []
        for r in self.runs:
            s = r.result.summary()["requests"]
            out.append(
                {"label": r.label, "latencies_ms": r.result.latencies_ms(), "ok": s["ok"], "sent": s["sent"]}
            )
        return out

    def captures(self):
        """The packet-capture recording this one refers to (:func:`meshlab.telemetry.pcap.load_recorded`), or None."""
        from .telemetry.pcap import load_recorded

        name = self.meta.get("captures")
        return load_recorded(name) if name else None


# -- writing --------------------------------------------------------------------------------------
def machine() -> str:
    import os

    return (
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )


def run_record(
    label: str,
    *,
    topology: Topology,
    mesh: dict,
    waypoint_of: dict,
    mode: str,
    data_plane: str,
    policies: str,
    facts: dict,
    result: LoadResult,
    spans,
    metrics: dict | None = None,
) -> dict:
    """One run as the file holds it (what :meth:`meshlab.Lab.load` keeps for :meth:`~meshlab.Lab.record`)."""
    return {
        "label": label,
        "topology": to_data(topology),
        "mesh": dict(mesh),
        "waypoints": sorted([ns, svc, pod] for (ns, svc), pod in waypoint_of.items()),
        "mode": mode,
        "data_plane": data_plane,
        "policies": policies,
        "facts": dict(facts),
        "load": {
            "source": result.source,
            "url": result.url,
            "settings": dict(result.settings),
            "wall_s": result.wall_s,
            "cpu_s": dict(result.cpu_s),
            "usage": list(result.usage),
            "outcomes": [dict(o, partial=list(o.get("partial", ()))) for o in result.outcomes],
        },
        "metrics": dict(metrics or {}),
        "spans": [s.to_dict() for s in spans],
    }


def dumps(
    runs: list[dict],
    *,
    backend: str,
    what: str = "",
    captures: str | None = None,
    recorded: str | None = None,
) -> dict:
    """The whole recording as data (see the module's docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "meshlab": __version__,
        "recorded": recorded or time.strftime("%Y-%m-%d"),
        "backend": backend,
        "machine": machine(),
        "what": what,
        "captures": captures,
        "runs": runs,
    }


def write(path, data: dict) -> FilePath:
    """Write ``data`` (:func:`dumps`) to ``path``: gzip-compressed where the name ends in ``.gz``."""
    path = FilePath(path)
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    if path.suffix == ".gz":
        text = gzip.compress(text, compresslevel=9, mtime=0)  # same run, same bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


# -- reading --------------------------------------------------------------------------------------
def load(path) -> Recording:
    """Read and check the recording at ``path`` (``.json`` or ``.json.gz``), or a shipped one by
    name (:func:`shipped`). Raises :class:`RecordingError` naming the file and the field at fault."""
    p = FilePath(path)
    if not p.exists() and not p.suffix and (RUNS_DIR / f"{p}.json.gz").exists():
        p = RUNS_DIR / f"{p}.json.gz"
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RecordingError(f"{p}: {size} bytes; a recording is at most {MAX_FILE_BYTES} bytes")
        raw = p.read_bytes()
    except OSError as e:
        raise RecordingError(f"{p}: cannot read it: {e.strerror or e}") from None
    return loads(raw, str(p))


def loads(raw: bytes, source: str = "<bytes>") -> Recording:
    """:func:`load` from the file's bytes."""
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                raw = f.read(MAX_JSON_BYTES + 1)
        except (OSError, EOFError, ValueError) as e:
            raise RecordingError(f"{source}: a damaged gzip file ({e})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise RecordingError(
            f"{source}: more than {MAX_JSON_BYTES} bytes of JSON; a recording is at most that"
        )
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        what = "not JSON" if raw.lstrip()[:1] not in (b"{", b"[") else "damaged JSON (cut short or edited?)"
        raise RecordingError(f"{source}: {what}: {str(e)[:200]}") from None
    try:
        return _read(data, source)
    except RecordError as e:
        raise RecordingError(f"{source}: {e}") from None
    except RecursionError:
        raise RecordingError(f"{source}: spans nest in a loop (a span is its own ancestor)") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a recording may hold")


def shipped() -> list[str]:
    """The recordings shipped in ``recordings/runs/`` (made on mininet by ``tools/record_runs.py``), by name."""
    return sorted(p.name.removesuffix(".json.gz") for p in RUNS_DIR.glob("*.json.gz"))


def _need(d: dict, key: str, tp, where: str):
    if not isinstance(d, dict):
        raise RecordError(f"{where}: expected an object, found {type(d).__name__}")
    if key not in d:
        raise RecordError(f"{where}: field {key!r} is missing")
    return from_data(tp, d[key], f"{where}.{key}" if where else key)


def _read(data, source: str) -> Recording:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordError(
            f"not a meshlab recording (no \"format\": \"{FORMAT}\" at the top; "
            "a packet-capture recording is a folder read by meshlab.telemetry.pcap.load_recorded)"
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(f"version: {version!r} is not a format version (1, 2, ...)")
    if version > VERSION:
        raise RecordError(
            f"format version {version} is newer than this meshlab reads (version {VERSION}, "
            f"meshlab {__version__}); it was written by meshlab {data.get('meshlab')!r}: "
            "update meshlab (pip install -U meshlab, or git pull)"
        )
    meta = {k: _need(data, k, str, "") for k in ("meshlab", "recorded", "backend", "machine")}
    meta["what"] = _need(data, "what", str, "") if "what" in data else ""
    meta["captures"] = _need(data, "captures", str | None, "") if "captures" in data else None
    runs = _need(data, "runs", list, "")
    if not runs:
        raise RecordError("runs: the recording holds no run")
    return Recording(source, meta, tuple(_run(r, f"runs[{i}]") for i, r in enumerate(runs)))


def _run(d, where: str) -> RecordedRun:
    topo = _need(d, "topology", Topology, where)
    pods = {p.name for p in topo.pods}
    mesh = _need(d, "mesh", dict[str, str | None], where)
    if set(mesh) != pods:
        extra = sorted(set(mesh) ^ pods)
        raise RecordError(f"{where}.mesh: names pods {extra[:3]} the topology has not, or leaves some out")
    bad = [m for m in mesh.values() if m not in (None, "sidecar", "ambient", "waypoint")]
    if bad:
        raise RecordError(
            f"{where}.mesh: {bad[0]!r}; a pod's mesh is null, 'sidecar', 'ambient' or 'waypoint'"
        )
    waypoints = _need(d, "waypoints", tuple[tuple[str, ...], ...], where)
    if any(len(w) != 3 for w in waypoints):
        raise RecordError(f"{where}.waypoints: each is [namespace, service, waypoint pod]")
    load_ = _need(d, "load", dict, where)
    at = f"{where}.load"
    outcomes = [_outcome(o, f"{at}.outcomes[{i}]") for i, o in enumerate(_need(load_, "outcomes", list, at))]
    spans = tuple(_span(s, f"{where}.spans[{i}]") for i, s in enumerate(_need(d, "spans", list, where)))
    result = LoadResult(
        source=_need(load_, "source", str, at),
        url=_need(load_, "url", str, at),
        outcomes=outcomes,
        paths=_paths(outcomes, spans),
        settings=_need(load_, "settings", dict[str, object], at),
        wall_s=_need(load_, "wall_s", float, at),
        cpu_s=_need(load_, "cpu_s", dict[str, float], at),
        usage=[_usage(u, f"{at}.usage[{i}]") for i, u in enumerate(_need(load_, "usage", list, at))],
    )
    facts = _need(d, "facts", dict[str, object], where)
    for key, tp in (
        ("backend", str),
        ("startup_s", float),
        ("h2_engine", str | None),
        ("pods", int),
        ("nodes", int),
    ):
        _need(facts, key, tp, f"{where}.facts")
    return RecordedRun(
        label=_need(d, "label", str, where),
        topology=topo,
        mesh=mesh,
        waypoints=waypoints,
        mode=_need(d, "mode", str, where),
        data_plane=_need(d, "data_plane", str, where),
        policies=_need(d, "policies", str, where),
        facts=facts,
        result=result,
        metrics=_need(d, "metrics", dict[str, str], where),
        spans=spans,
    )


_OUTCOME = {
    "index": int,
    "start": float,
    "end": float,
    "status": int | None,
    "error": str | None,
    "trace_id": str | None,
    "request_id": str | None,
    "connection": int,
    "partial": tuple[str, ...],
}
_USAGE = {"name": str, "role": str, "rss_mb": float, "uss_mb": float, "pss_mb": float, "cpu_s": float}


def _outcome(o, where: str) -> dict:
    out = {k: _need(o, k, tp, where) for k, tp in _OUTCOME.items()}
    if out["end"] < out["start"]:
        raise RecordError(f"{where}: ends ({out['end']}) before it starts ({out['start']})")
    return out


def _usage(u, where: str) -> dict:
    return {k: _need(u, k, tp, where) for k, tp in _USAGE.items()}


def _span(s, where: str) -> Span:
    return from_data(Span, s, where)


def _paths(outcomes: list[dict], spans: tuple[Span, ...]) -> dict[str, RequestPath]:
    """Each outcome's path, reassembled from the run's spans as :meth:`meshlab.Lab.load` does."""
    by_trace: dict[str, dict[str, Span]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, {})[s.span_id] = s
    l4 = L4Index(s for s in spans if s.layer == "L4")
    out = {}
    for o in outcomes:
        tid = o["trace_id"]
        if tid and tid in by_trace:
            p = path_of(tid, list(by_trace[tid].values()), l4)
            if p is not None:
                out[tid] = p
    return out
