"""``meshlab bench fuzz``: a bounded flood of malformed inputs at every listener kind of a running
lab, with figures, never pass/fail (issue 13's long fuzz run).

The lab and its listeners are :mod:`meshlab.fuzztargets`'s; the inputs (:mod:`meshlab.fuzzgen`,
seeded) go, many connections in parallel, in batches. After every batch each listener must still
serve a good request, and the spans the proxies recorded are drained (a tracing collector's job)
and dropped. At the end: did any proxy process die or restart, and what each holds in memory (RSS)
before and after. Bounded by ``inputs`` and ``seconds``; loopback lab addresses only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil

from . import fuzzgen as gen
from .fuzztargets import FAKE_UPSTREAM_PORT, FakeUpstream, Prober, Target, fuzz_topology


class Tally:
    def __init__(self):
        self.inputs, self.connections, self.outcomes = Counter(), Counter(), Counter()
        self.by_target, self.by_target_outcome = Counter(), Counter()

    def add(self, t: Target, outcomes: list[str], connections: int):
        self.inputs[t.kind] += len(outcomes)
        self.by_target[f"{t.kind}: {t.name}"] += len(outcomes)
        self.connections[t.kind] += connections
        for o in outcomes:
            self.outcomes[(t.kind, o)] += 1
            self.by_target_outcome[(f"{t.kind}: {t.name}", o)] += 1

    def merge(self, other: "Tally"):
        for a, b in (
            (self.inputs, other.inputs),
            (self.connections, other.connections),
            (self.outcomes, other.outcomes),
            (self.by_target, other.by_target),
            (self.by_target_outcome, other.by_target_outcome),
        ):
            a.update(b)


class _Budget:
    """How many inputs may still be sent."""

    def __init__(self, n: int):
        self.left, self.lock = n, threading.Lock()

    def take(self, n: int) -> bool:
        with self.lock:
            if self.left < n:
                return False
            self.left -= n
            return True


def _rss(lab) -> dict[str, float]:
    out = {}
    for name, w in {**lab.proxies, **lab.workers}.items():
        try:
            out[name] = round(psutil.Process(w.pid).memory_info().rss / 2**20, 1)
        except psutil.Error:
            out[name] = None
    return out


def _identity(lab) -> dict[str, tuple]:
    """Each proxy's and app's process: (pid, start time), to tell a restart from a survivor."""
    out = {}
    for name, w in {**lab.proxies, **lab.workers}.items():
        try:
            out[name] = (w.pid, psutil.Process(w.pid).create_time())
        except psutil.Error:
            out[name] = (w.pid, None)
    return out


def _drain_spans(lab) -> None:
    """What a tracing collector does: take the spans every process recorded (and drop them here)."""
    for w in [*lab.proxies.values(), *lab.workers.values()]:
        if w.alive():
            w.call("spans", timeout=30)


def run_fuzz(
    inputs: int = 1_000_000,
    seconds: float = 2700.0,
    seed: int = 0,
    workers: int = 32,
    batch: int = 400,
    progress: bool = True,
) -> dict:
    """Start the fuzz lab, throw at most ``inputs`` inputs for at most ``seconds`` (batches of
    ``batch`` inputs per listener, times its weight, ``workers`` connections at a time), check
    every listener after every batch; the figures."""
    from .lab import Lab

    t_start = time.monotonic()
    with Lab(fuzz_topology(), waypoints="namespace", verbose=False) as lab:
        up_ip = lab.net.pod("up-0").ip
        upstream = FakeUpstream(up_ip, FAKE_UPSTREAM_PORT, seed ^ 0x5EED)
        try:
            prober = Prober(lab, up_ip)
            targets, checks = prober.targets(), prober.checks()
            failed = {k: v for k, v in ((k, fn()) for k, fn in checks.items()) if not v}
            if failed:
                raise RuntimeError(f"the fuzz lab does not serve before any input: {sorted(failed)}")
            before_ids, rss_before = _identity(lab), _rss(lab)
            tally, unserved, batches, budget, rss_trace = Tally(), [], 0, _Budget(inputs), []
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=inputs, desc="fuzz", unit="input", file=sys.stderr, smoothing=0.05, mininterval=2
                )
            t0 = time.monotonic()
            deadline = t0 + seconds
            with ThreadPoolExecutor(workers) as pool:
                while budget.left >= min(t.per_probe for t in targets) and time.monotonic() < deadline:
                    per = [max(1, round(batch * t.weight / 8)) for t in targets]
                    jobs = [
                        (t, gen.RandomDraw(hash((seed, batches, ti, j)) & 0xFFFFFFFF))  # round robin
                        for j in range(max(per))
                        for ti, t in enumerate(targets)
                        if j < per[ti]
                    ]

                    def chunk(t, d, deadline=deadline):
                        part = Tally()
                        for _ in range(8):
                            if time.monotonic() >= deadline or not budget.take(t.per_probe):
                                break
                            words, conns = t.probe(d)
                            part.add(t, words, conns)
                        return part

                    for part in pool.map(lambda job: chunk(*job), jobs):
                        before = sum(tally.inputs.values())
                        tally.merge(part)
                        if bar is not None:
                            bar.update(sum(tally.inputs.values()) - before)
                    batches += 1
                    for name, fn in checks.items():
                        if not fn():
                            time.sleep(1.0)  # once more, a second later: then it counts
                            unserved.append({"batch": batches, "check": name, "served_a_second_later": fn()})
                    _drain_spans(lab)
                    if batches % 10 == 1:
                        rss_trace.append(
                            {
                                "inputs": sum(tally.inputs.values()),
                                "elapsed_s": round(time.monotonic() - t0, 1),
                                "proxies_mb": {n: v for n, v in _rss(lab).items() if n in lab.proxies},
                            }
                        )
            elapsed = time.monotonic() - t0
            if bar is not None:
                bar.close()
            after_ids, rss_after = _identity(lab), _rss(lab)
            dead = sorted(n for n, w in {**lab.proxies, **lab.workers}.items() if not w.alive())
            restarted = sorted(n for n in before_ids if after_ids.get(n) != before_ids[n] and n not in dead)
            final = {k: fn() for k, fn in checks.items()}
        finally:
            upstream.close()
    total = sum(tally.inputs.values())
    return {
        "benchmark": "fuzz",
        "backend": "loopback",
        "seed": seed,
        "bound": {"inputs": inputs, "seconds": seconds},
        "inputs": total,
        "inputs_by_kind": dict(tally.inputs),
        "inputs_by_listener": dict(tally.by_target),
        "connections": sum(tally.connections.values()),
        "connections_by_kind": dict(tally.connections),
        "outcomes": {
            k: {o: n for (kk, o), n in sorted(tally.outcomes.items()) if kk == k} for k in tally.inputs
        },
        "fake_upstream_responses": upstream.served,
        "batches": batches,
        "unserved_checks": unserved,
        "served_at_the_end": final,
        "crashes": len(dead) + len(restarted),
        "dead": dead,
        "restarted": restarted,
        "outcomes_by_listener": {
            k: {o: n for (kk, o), n in sorted(tally.by_target_outcome.items()) if kk == k}
            for k in tally.by_target
        },
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
        "rss_mb_every_10_batches": rss_trace,
        "elapsed_s": round(elapsed, 1),
        "inputs_per_s": round(total / elapsed, 1) if elapsed else None,
        "total_s": round(time.monotonic() - t_start, 1),
        "cpus": psutil.cpu_count(),
    }


def bench_fuzz(inputs: int = 1_000_000, seconds: float = 2700.0, as_json: bool = False, seed: int = 0) -> int:
    out = run_fuzz(inputs, seconds, seed, progress=True)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"\nfuzz benchmark · loopback · {out['inputs']:,} inputs in {out['elapsed_s']:.0f} s "
        f"({out['inputs_per_s']:,.0f}/s) · {out['connections']:,} connections · {out['batches']} batches · seed {seed}"
    )
    for kind, n in out["inputs_by_kind"].items():
        print(
            f"  {kind:<14} {n:>10,} inputs  "
            + ", ".join(f"{o} {c:,}" for o, c in out["outcomes"][kind].items())
        )
    print(
        f"  crashes        {out['crashes']}   (dead: {out['dead'] or 'none'}; restarted: {out['restarted'] or 'none'})"
    )
    print(
        f"  good request not served after a batch: {len(out['unserved_checks'])}"
        + "".join(
            f"\n    batch {u['batch']}: {u['check']} (a second later: {u['served_a_second_later']})"
            for u in out["unserved_checks"][:10]
        )
    )
    print(
        "  served at the end: "
        + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in out["served_at_the_end"].items())
    )
    print("  RSS MB before -> after:")
    for name, b in out["rss_mb_before"].items():
        print(f"    {name:<26} {b} -> {out['rss_mb_after'].get(name)}")
    return 0
