"""What the lab's processes cost: memory (RSS, USS, PSS) and CPU time, read with psutil.

USS is the memory only that process holds (what killing it would free); PSS shares pages among
the processes that map them; RSS counts shared pages in full. CPU is user + system seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psutil

MB = 2 ** 20


@dataclass(frozen=True)
class Usage:
    name: str
    role: str           # app | sidecar | ztunnel | waypoint
    pid: int
    rss_mb: float
    uss_mb: float
    pss_mb: float
    cpu_s: float        # since the process started

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def usage(name: str, role: str, pid: int) -> Usage | None:
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            m = p.memory_full_info()
            t = p.cpu_times()
    except psutil.Error:
        return None
    return Usage(name, role, pid, m.rss / MB, m.uss / MB, getattr(m, "pss", 0) / MB, t.user + t.system)


def cpu_delta(before: dict[str, Usage], after: dict[str, Usage]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots (by name)."""
    return {n: max(0.0, a.cpu_s - before[n].cpu_s) for n, a in after.items() if n in before}
