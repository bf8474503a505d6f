"""What the lab's processes cost: memory (RSS, USS, PSS) and CPU time, read with psutil.

USS is the memory only that process holds (what killing it would free); PSS shares pages among
the processes that map them; RSS counts shared pages in full. CPU is the time the process ran:
from the scheduler's nanosecond count (``/proc/<pid>/schedstat``) for a single-threaded process —
every pod and proxy of the lab is one — else user + system seconds, which Linux counts in clock
ticks (10 ms: summed over 30 proxies for a short load, that rounding alone could be a third of the
figure).
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

MB = 2**20


@dataclass(frozen=True)
class Usage:
    name: str
    role: str  # app | sidecar | ztunnel | waypoint
    pid: int
    rss_mb: float
    uss_mb: float
    pss_mb: float
    cpu_s: float  # since the process started

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def usage(name: str, role: str, pid: int) -> Usage | None:
    import psutil  # here, not at the top: a recording's cost figures need no psutil

    try:
        p = psutil.Process(pid)
        with p.oneshot():
            m = p.memory_full_info()
            cpu = process_cpu_s(p)
    except psutil.Error:
        return None
    return Usage(name, role, pid, m.rss / MB, m.uss / MB, getattr(m, "pss", 0) / MB, cpu)


def process_cpu_s(p) -> float:
    """CPU seconds a ``psutil.Process`` has used: the scheduler's nanosecond count when it runs one
    thread (:func:`ran_s`), else user + system time (10 ms ticks). Raises ``psutil.Error``."""
    t = p.cpu_times()
    return (ran_s(p.pid) if p.num_threads() == 1 else None) or t.user + t.system


def ran_s(pid: int) -> float | None:
    """Seconds a (single-threaded) process has run, from the scheduler's own nanosecond count; None
    where Linux does not expose it (the caller falls back to user + system time)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def cpu_delta(before: dict[str, Usage], after: dict[str, Usage]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots (by name)."""
    return {n: max(0.0, a.cpu_s - before[n].cpu_s) for n, a in after.items() if n in before}


def scaled(mode_result: dict, pods: int, pods_per_node: float | None = None) -> dict:
    """What a mode's proxies would cost at ``pods`` application pods, from what was measured at
    the lab's size (``mode_result`` is one mode of ``meshlab compare``): each proxy role's
    measured mean USS, times how many of that role the mesh would run — a sidecar per pod, a
    ztunnel per node (nodes grow with pods at the lab's ``pods_per_node``), and the lab's
    waypoints as they are (one per namespace or service: they grow with namespaces, not pods).
    An extrapolation, not a measurement: a real Envoy's memory also grows with the mesh's size
    (its configuration), which this ignores. Returns ``{"pods", "proxies", "uss_mb",
    "by_role": {role: (count, mean_uss_mb)}}``."""
    by_role: dict[str, list[float]] = {}
    for p in mode_result.get("proxies", []):
        by_role.setdefault(p["role"], []).append(p["uss_mb"])
    if pods_per_node is None:
        if not mode_result.get("pods") or not mode_result.get("nodes"):
            raise ValueError(
                "the result does not say how many pods and nodes the lab had ('pods', 'nodes'; "
                "meshlab compare writes them): pass pods_per_node"
            )
        pods_per_node = mode_result["pods"] / mode_result["nodes"]
    per_node = pods_per_node
    counts = {"sidecar": pods, "ztunnel": max(1, math.ceil(pods / per_node))}
    out = {}
    for role, values in by_role.items():
        n = counts.get(role, len(values))  # waypoints: as many as the lab has
        out[role] = (n, sum(values) / len(values))
    return {
        "pods": pods,
        "proxies": sum(n for n, _ in out.values()),
        "uss_mb": round(sum(n * m for n, m in out.values()), 1),
        "by_role": out,
    }


class PeakMemory(threading.Thread):
    """While it runs, samples the summed PSS of a group of processes every ``every`` seconds and keeps
    the peak: ``roots`` and all their descendants (a notebook's kernel, its labs' fork servers, pods
    and proxies), or with no ``roots`` this process's descendants — the figure Binder's memory limit
    applies to. ``start()``, then ``stop()`` returns the peak in MB."""

    def __init__(self, roots=None, every: float = 0.5):
        super().__init__(daemon=True)
        self.roots, self.every = None if roots is None else set(roots), every
        self.peak_mb, self._done = 0.0, threading.Event()

    def _processes(self) -> list:
        import psutil

        if self.roots is None:
            return psutil.Process().children(recursive=True)
        out = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                out += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        return out

    def run(self) -> None:
        import psutil

        while not self._done.wait(self.every):
            total = 0
            for p in self._processes():
                try:
                    total += p.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / MB)

    def stop(self) -> float:
        self._done.set()
        self.join(5)
        return self.peak_mb
