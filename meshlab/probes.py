"""What tasks and notebooks measure on a running lab: Bookinfo pages from the client pod, which
version of a service served each request, the calls of one request's path and the proxies each
crossed, how many times a request reached an app, and whether a service's traffic has a waypoint.
Read off the paths a load recorded (:mod:`meshlab.telemetry.paths`); used by the tasks
(:mod:`meshlab.tasks`) and by notebook cells."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .modes import PROXY_ROLES

PAGE = "http://productpage:9080/productpage"


def pages(lab, n: int, **kw):
    """``n`` loads of Bookinfo's product page from the client pod (quietly): a task's traffic."""
    return lab.load("client", PAGE, requests=n, progress=False, **kw)


def served_by(res, service: str = "reviews") -> dict[str, int]:
    """How many requests of a load each version of ``service`` served (``reviews-v2``), read off
    each request's path; ``none`` where no pod of it served (or no path was recorded)."""

    def version(path) -> str:
        for h in path.hops if path else ():
            if h.role == "app" and h.name.startswith(service + "-"):
                return h.name.rsplit("-", 1)[0]
        return "none"

    counts = Counter(version(res.paths.get(o.get("trace_id"))) for o in res.outcomes)
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Call:
    """One service-to-service call read off a path: the service called, the proxies it crossed (in
    order) and the app hop that answered (None: it reached no app)."""

    service: str
    proxies: tuple
    app: object | None

    @property
    def l7(self) -> int:
        return sum(1 for h in self.proxies if h.layer == "L7")


def calls(path) -> list[Call]:
    """The calls of one request's path: the load client's call, then every call an app made (the
    proxies before an app hop carried the call to it; a retry is a call of its own)."""
    out, pending = [], []
    for h in path.hops if path else ():
        if h.role in PROXY_ROLES:
            pending.append(h)
        elif h.role in ("app", "unreached"):
            first = pending[0] if pending else h
            service = (first.target or h.name).split(":")[0].split("/")[0]
            out.append(Call(service, tuple(pending), h if h.role == "app" else None))
            pending = []
    return out


def tries(res) -> list[int]:
    """For each request of a load, how many times it reached an app (0: stopped in a proxy)."""
    return [sum(h.role == "app" for h in p.hops) for p in res.paths.values()]


def behind_waypoint(lab, service: str) -> bool:
    return lab.mode == "ambient" and any(s == service for (_, s) in lab.waypoint_of)


def waypoint_hint(lab, service: str) -> str:
    if lab.mode == "ambient" and not behind_waypoint(lab, service):
        return (
            f" In ambient mode no L7 rule for {service} applies until a waypoint carries its traffic "
            "(ztunnel never parses HTTP): give it one."
        )
    return ""
