"""The load client: N requests or a duration, at a fixed rate or as fast as possible, over C
concurrent keep-alive connections (like fortio's ``-n``/``-t``, ``-qps`` and ``-c``).

:func:`run_load` is the whole accounting: every request index it hands out gets exactly one
:class:`Outcome`, whatever the transport does. The transport is a parameter (``send``), so the
accounting is tested without sockets.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass
from typing import Awaitable, Callable

MAX_REQUESTS = 100_000
MAX_DURATION = 600.0
MAX_CONCURRENCY = 512


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class LoadPlan:
    """What to send. Exactly one of ``requests`` and ``duration`` bounds the run (both may be
    given: whichever comes first). ``rate`` is requests per second overall; None = as fast as
    the connections allow."""

    requests: int | None = None
    duration: float | None = None
    rate: float | None = None
    concurrency: int = 1

    def __post_init__(self):
        if self.requests is None and self.duration is None:
            raise ValueError("give requests=N or duration=seconds (or both)")
        if self.requests is not None and not (_is_int(self.requests) and 1 <= self.requests <= MAX_REQUESTS):
            raise ValueError(f"requests must be an integer from 1 to {MAX_REQUESTS}; got {self.requests!r}")
        if self.duration is not None and not (_is_num(self.duration) and 0 < self.duration <= MAX_DURATION):
            raise ValueError(
                f"duration must be more than 0 and at most {MAX_DURATION:g} s; got {self.duration!r}"
            )
        if self.rate is not None and not (_is_num(self.rate) and 0 < self.rate <= 100_000):
            raise ValueError(
                f"rate must be more than 0 and at most 100000 requests/s (or None for "
                f"as fast as possible); got {self.rate!r}"
            )
        if not (_is_int(self.concurrency) and 1 <= self.concurrency <= MAX_CONCURRENCY):
            raise ValueError(
                f"concurrency must be an integer from 1 to {MAX_CONCURRENCY}; got {self.concurrency!r}"
            )

    def send_time(self, index: int) -> float:
        """Seconds after the start at which request ``index`` is due (0 when there is no rate)."""
        return index / self.rate if self.rate else 0.0

    def expected(self) -> int | None:
        """How many requests the plan will send, when that is known in advance."""
        n = self.requests
        if self.duration is not None and self.rate:
            # exactly the indexes run_load will take: those due before the duration ends
            by_time = max(0, math.ceil(self.duration * self.rate) - 1)
            while self.send_time(by_time) < self.duration:
                by_time += 1
            n = by_time if n is None else min(n, by_time)
        return n


@dataclass(frozen=True)
class Outcome:
    """One request's outcome. ``partial``: the apps' own error texts its answer carries (a
    Bookinfo page that says reviews are unavailable is a 200 all the same)."""

    index: int
    start: float
    end: float
    status: int | None
    error: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    connection: int = 0
    partial: tuple[str, ...] = ()

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000.0

    def to_dict(self) -> dict:
        return asdict(self)


Send = Callable[[int, int], Awaitable[Outcome]]  # (index, connection number) -> Outcome


async def run_load(
    plan: LoadPlan,
    send: Send,
    clock: Callable[[], float],
    on_progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], Awaitable] = asyncio.sleep,
) -> list[Outcome]:
    """Run ``plan`` with ``plan.concurrency`` workers; returns one outcome per request, by index."""
    t0 = clock()
    outcomes: dict[int, Outcome] = {}
    next_index = 0

    def take() -> int | None:
        nonlocal next_index
        if plan.requests is not None and next_index >= plan.requests:
            return None
        if plan.duration is not None and (
            clock() - t0 >= plan.duration or plan.send_time(next_index) >= plan.duration
        ):
            return None
        i = next_index
        next_index += 1
        return i

    async def worker(conn_no: int):
        while (i := take()) is not None:
            wait = t0 + plan.send_time(i) - clock()
            if wait > 0:
                await sleep(wait)
            start = clock()
            try:
                out = await send(i, conn_no)
            except asyncio.CancelledError:
                outcomes[i] = Outcome(i, start, clock(), None, "cancelled", connection=conn_no)
                raise
            except Exception as e:  # noqa: BLE001 - a transport bug still yields an outcome
                out = Outcome(i, start, clock(), None, f"{type(e).__name__}: {e}", connection=conn_no)
            outcomes[i] = out
            if on_progress is not None:
                on_progress(len(outcomes))

    await asyncio.gather(*(worker(c) for c in range(plan.concurrency)))
    return [outcomes[i] for i in range(next_index)]
