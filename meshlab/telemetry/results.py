"""What the lab hands back: one request's result, a load's results and their summary."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field

from .paths import RequestPath, format_path, path_html
from .stats import latency_summary


@dataclass(frozen=True)
class RequestResult:
    """One request: its status (or error), latency as the sender measured it, and its path."""

    source: str
    url: str
    status: int | None
    error: str | None
    latency_ms: float
    path: RequestPath | None
    body: str = ""
    headers: tuple = ()
    trace_id: str | None = None
    partial: tuple[str, ...] = ()  # the apps' own error texts in the answer (see LoadResult.summary)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400

    def __str__(self) -> str:
        return self.headline() + ("\n" + format_path(self.path) if self.path else "\n(no path recorded)")

    def gist(self, width: int = 70) -> str:
        """The answer's body in a line: its first line (or, for JSON, the whole of it on one line),
        cut at ``width`` characters with "…" — for a print beside the status."""
        text = " ".join(self.body.split()) if self.body.lstrip().startswith(("{", "[")) else self.body.strip()
        line = text.splitlines()[0] if text else ""
        return line if len(line) <= width and line == text else line[: width - 1].rstrip() + "…"

    def headline(self) -> str:
        head = f"{self.source} -> {self.url}: {self.status or self.error} in {self.latency_ms:.2f} ms"
        if self.partial:
            head += " (but it says: " + "; ".join(self.partial) + ")"
        return head

    def _repr_html_(self) -> str:
        """How Jupyter shows a result: the headline, then its path as a table (see :func:`path_html`)."""
        return (
            f"<div style='font-family:monospace;white-space:nowrap'>{html.escape(self.headline(), quote=False)}</div>"
            + (path_html(self.path) if self.path else "<div>(no path recorded)</div>")
        )


@dataclass
class LoadResult:
    """Every request's outcome of one load, the paths they took, and the run's settings."""

    source: str
    url: str
    outcomes: list[dict]
    paths: dict[str, RequestPath] = field(default_factory=dict)  # by trace id
    settings: dict = field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per process during the load
    usage: list[dict] = field(default_factory=list)  # each process's memory and CPU at the load's end

    def __len__(self) -> int:
        return len(self.outcomes)

    def latencies_ms(self, ok_only: bool = False) -> list[float]:
        return [(o["end"] - o["start"]) * 1000 for o in self.outcomes if not ok_only or _ok(o)]

    def by_status(self) -> dict[str, int]:
        return dict(
            Counter(
                str(o["status"]) if o["status"] is not None else (o["error"] or "error")
                for o in self.outcomes
            )
        )

    def path_groups(self) -> list[dict]:
        """Paths grouped by their hop sequence, most common first, with median per-hop times."""
        groups: dict[tuple, list[RequestPath]] = {}
        for o in self.outcomes:
            p = self.paths.get(o.get("trace_id"))
            if p is not None:
                groups.setdefault(p.signature, []).append(p)
        out = []
        for sig, ps in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            hops = []
            for i, h in enumerate(ps[0].hops):
                times = sorted(p.hops[i].ms for p in ps)
                hops.append(
                    {
                        "name": h.name,
                        "role": h.role,
                        "depth": h.depth,
                        "layer": h.layer,
                        "direction": h.direction,
                        "mtls": h.mtls,
                        "identity": h.identity,
                        "ms": round(times[len(times) // 2], 3),
                    }
                )
            out.append({"hops": hops, "count": len(ps)})
        return out

    def partial_failures(self) -> dict[str, int]:
        """HTTP successes that carry an app's own error text (a Bookinfo page saying that reviews
        are unavailable), counted by text. They stay in ``ok``: this says what ``ok`` hides."""
        return dict(Counter(t for o in self.outcomes if _ok(o) for t in o.get("partial", ())))

    def summary(self) -> dict:
        """``requests``: ``ok`` counts HTTP successes (2xx, 3xx) and ``failed`` the rest; of the ok
        ones, ``partial`` carried an app's error text, ``partial_failures`` counts them by text."""
        ok = sum(1 for o in self.outcomes if _ok(o))
        lat = latency_summary(self.latencies_ms())
        n = len(self.outcomes)
        return {
            "requests": {
                "sent": n,
                "ok": ok,
                "failed": n - ok,
                "success_rate": ok / n if n else None,
                "by_status": self.by_status(),
                "partial": sum(1 for o in self.outcomes if _ok(o) and o.get("partial")),
                "partial_failures": self.partial_failures(),
            },
            "latency_ms": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in lat.items()},
            "throughput_rps": round(n / self.wall_s, 1) if self.wall_s else None,
            "paths": self.path_groups(),
            "paths_recorded": sum(1 for o in self.outcomes if o.get("trace_id") in self.paths),
        }


def _ok(o: dict) -> bool:
    return o["status"] is not None and 200 <= o["status"] < 400
