"""Latency statistics: percentiles as numpy's default (linear interpolation), and a summary."""

from __future__ import annotations

import math
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0 and 100; got {q}")
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return xs[lo]
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: Sequence[float]) -> dict:
    return {
        "count": len(ms),
        "min": min(ms) if ms else None,
        "mean": sum(ms) / len(ms) if ms else None,
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else None,
    }


#: A percentile is estimated only from a sample with at least this many requests beyond it:
#: p50 needs 10 requests, p90 50, p99 500 (with fewer, "p99" is the slowest request or two).
MIN_TAIL = 5
CONFIDENCE = 0.95
RESAMPLES = 2000


def min_samples(q: float) -> int:
    """How many requests the ``q``-th percentile needs (see :data:`MIN_TAIL`)."""
    return math.ceil(MIN_TAIL / (1 - q / 100) - 1e-9)


METHOD = (
    f"difference of percentiles, mesh minus no mesh, with a {CONFIDENCE:.0%} bootstrap interval "
    f"({RESAMPLES} resamples of each mode's requests); a percentile needs {MIN_TAIL} requests beyond "
    f"it (p90: {min_samples(90)}, p99: {min_samples(99)}); '≈0': the interval "
    "includes 0, so this run cannot tell the two apart"
)


def added_latency(
    base: Sequence[float],
    mesh: Sequence[float],
    q: float,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict:
    """What a mesh added to latency at the ``q``-th percentile, with how sure this run can be of it.

    ``base`` and ``mesh`` are the request latencies (ms) without and with the mesh, measured
    independently. Returns ``difference`` (percentile of mesh minus percentile of base: what a
    table of percentiles would suggest), and, when both samples have :func:`min_samples`,
    ``estimate`` (the same difference) with a percentile-bootstrap interval ``low``..``high``;
    otherwise ``estimate`` is None. ``verdict`` is ``"added"`` (interval above 0), ``"≈0"``
    (interval includes 0: not distinguishable), ``"less"`` (interval below 0) or
    ``"too few requests"``. Deterministic for given inputs (``seed``).
    """
    import numpy as np

    b, m = np.asarray(base, dtype=float), np.asarray(mesh, dtype=float)
    need = min_samples(q)
    out = {
        "q": q,
        "n_base": len(b),
        "n_mesh": len(m),
        "needs": need,
        "confidence": confidence,
        "difference": (
            round(float(np.percentile(m, q) - np.percentile(b, q)), 3) if len(b) and len(m) else None
        ),
        "estimate": None,
        "low": None,
        "high": None,
        "verdict": "too few requests",
    }
    if len(b) < need or len(m) < need:
        return out
    rng = np.random.default_rng(seed)
    boot_b = np.percentile(b[rng.integers(0, len(b), (resamples, len(b)))], q, axis=1)
    boot_m = np.percentile(m[rng.integers(0, len(m), (resamples, len(m)))], q, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot_m - boot_b, [alpha, 1 - alpha])
    out.update(
        estimate=out["difference"],
        low=round(float(low), 3),
        high=round(float(high), 3),
        verdict="added" if low > 0 else ("less" if high < 0 else "≈0"),
    )
    return out


def added_cell(report: dict, q: str) -> str | None:
    """One mode's added latency at ``q`` (``"p99"``) from a ``compare`` report, in one line for a
    table cell or a bar: "+1.20 [+0.80, +1.60]", "≈0 [-0.50, +0.30]", "needs n≥500"; an older
    report without latency samples gives its bare difference, "+1.20 (no CI)"; None if neither."""
    a = report.get("added_latency", {}).get(q)
    if a is not None:
        return describe_added(a, short=True).replace("\n", " ").replace(" to ", ", ")
    bare = report.get("added_latency_ms", {}).get(q)
    return None if bare is None else f"{bare:+.2f} (no CI)"


def describe_added(a: dict, short: bool = False) -> str:
    """One :func:`added_latency` result as text: ``+1.20 ms (95% CI +0.80 to +1.60)``,
    ``≈0 ms (not distinguishable; 95% CI -0.50 to +0.30 ms)``, or ``not estimated (p99 needs ≥500
    requests per mode, have 150)``; ``short``: ``+1.20\n[+0.80 to +1.60]``, ``≈0\n[...]`` or ``needs n≥500``."""
    if a["estimate"] is None:
        have = min(a["n_base"], a["n_mesh"])
        return (
            f"needs n≥{a['needs']}"
            if short
            else f"not estimated (p{a['q']:g} needs ≥{a['needs']} requests per mode, have {have})"
        )
    ci = f"{a['low']:+.2f} to {a['high']:+.2f}"
    if short:
        head = "≈0" if a["verdict"] == "≈0" else f"{a['estimate']:+.2f}"
        return f"{head}\n[{ci}]"
    pct = f"{a['confidence']:.0%} CI"
    if a["verdict"] == "≈0":
        return f"≈0 ms (not distinguishable; {pct} {ci} ms)"
    more = "; less than without the mesh in this run" if a["verdict"] == "less" else ""
    return f"{a['estimate']:+.2f} ms ({pct} {ci} ms{more})"
