"""Tasks about circuit breaking and outlier detection (notebook 06), on the httpbin topology in
sidecar mode: cap the requests in flight to httpbin (a connection-pool limit, refused at once with
503 ``UO``), and eject a crashed httpbin pod (outlier detection) so the client barely notices.

Both verify by measuring: the app hops on each request's path (how many requests httpbin had at
once, which pod answered), the response flags on the proxies' spans, and the client sidecar's
outlier-detection state (Envoy's ``outlier_ejected``, ``outlier_ejections_overflow``)."""

from __future__ import annotations

from ..exercises import Result, Task, fails
from ..policy.routing import traffic_policy

SLOW = "http://httpbin:8000/delay/0.2"  # each request takes 200 ms in httpbin (configured)
GET = "http://httpbin:8000/get"
CRASHED = "httpbin-1"  # the pod whose app the outlier task stops
CLIENT_PROXY = "client-0/istio-proxy"


def at_once(res, service: str = "httpbin") -> int:
    """The most requests of a load that pods of ``service`` were handling at the same moment,
    read off the app hops of each request's path (their start and end times)."""
    edges = []
    for p in res.paths.values():
        for h in p.hops if p else ():
            if h.role == "app" and h.name.startswith(service + "-"):
                edges += [(h.start, 1), (h.end, -1)]
    most = now = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same time
        now += d
        most = max(most, now)
    return most


def flagged(lab, res, flag: str) -> int:
    """How many requests of a load a proxy answered with response flag ``flag`` (``UO``: a circuit
    breaker's overflow), read off the proxies' server spans."""
    ids = {o.get("trace_id") for o in res.outcomes}
    return len(
        {
            s.trace_id
            for s in lab.spans()
            if s.kind == "server"
            and s.trace_id in ids
            and s.role in ("sidecar", "waypoint")
            and flag in ((s.attrs or {}).get("response_flags") or "").split(",")
        }
    )


def answered_by(res) -> dict[str, int]:
    """For each request of a load, the pod whose sidecar received it (``httpbin-1``, even when its
    app was down), else ``none``: counts of (pod, status)."""
    out: dict[str, int] = {}
    for o in res.outcomes:
        p = res.paths.get(o.get("trace_id"))
        pod = next(
            (
                h.name.split("/")[0]
                for h in (p.hops if p else ())
                if h.role == "app" or (h.role == "sidecar" and h.direction == "inbound")
            ),
            "none",
        )
        key = f"{pod} {o.get('status') or o.get('error')}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _httpbin_rule(lab):
    return next(
        (
            o
            for o in lab.policies()
            if o.kind == "DestinationRule" and o.spec.get("host", "").split(".")[0] == "httpbin"
        ),
        None,
    )


# -- cap the requests in flight ----------------------------------------------------------------


def _verify_cap(lab, params: dict, before=None) -> Result:
    item, limit, c = "cap-requests-in-flight", params["limit"], params["concurrency"]
    problems = []
    if _httpbin_rule(lab) is None:
        problems.append("no DestinationRule for host httpbin is in force")
    calm = lab.load("client", SLOW, requests=2 * limit, concurrency=limit, progress=False)
    refused_calm = sum(o.get("status") != 200 for o in calm.outcomes)
    if refused_calm:
        problems.append(
            f"a client sending {limit} at a time got {refused_calm} of {len(calm)} requests refused; "
            f"expected none: {limit} at once must get through"
        )
    burst = lab.load("client", SLOW, requests=2 * c, concurrency=c, progress=False)
    most, uo = at_once(burst), flagged(lab, burst, "UO")
    ok = sum(o.get("status") == 200 for o in burst.outcomes)
    if most > limit:
        problems.append(
            f"httpbin had up to {most} of the client's requests at once; expected at most {limit}"
        )
    if uo == 0:
        problems.append(
            f"no request of {len(burst)} sent {c} at a time was refused by the circuit breaker "
            "(503, flag UO): the excess must be refused at once, not queued"
        )
    return fails(
        item,
        problems,
        f"sending {c} at a time, httpbin had at most {most} request{'s' if most != 1 else ''} at once; {uo} of "
        f"{len(burst)} were refused at once by the client's sidecar (503, UO), {ok} "
        f"served; sending {limit} at a time, none was refused",
    )


CAP_REQUESTS_IN_FLIGHT = Task(
    name="cap-requests-in-flight",
    goal="httpbin's /delay/0.2 takes 200 ms per request (configured). The client sends {concurrency} requests "
    "at a time. Protect httpbin with a DestinationRule: it must never have more than {limit} of the "
    "client's requests at once, and the excess must be refused at once by the client's sidecar (503, flag "
    "UO) rather than wait. A client sending {limit} at a time must see no 503.",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      http:
        ___: ___
""",
    verify=_verify_cap,
    variants=({"limit": 1, "concurrency": 3}, {"limit": 2, "concurrency": 5}, {"limit": 3, "concurrency": 6}),
)


# -- eject a crashed pod -----------------------------------------------------------------------


def crash(lab, pod: str = CRASHED) -> bool:
    """Stop ``pod``'s app process (its sidecar stays up and answers 503: connection refused).
    Returns True if it was running. ``lab.reset()`` starts it again."""
    w = lab.workers.get(pod)
    if w is None or not w.alive():
        return False
    w.stop()
    return True


def _verify_eject(lab, params: dict, before=None, n: int = 100) -> Result:
    item, most, within = "eject-the-crashed-pod", params["fails"], params["within"]
    restarted = crash(lab)  # the learner may have reset the lab: the pod is down again
    problems = []
    dr = _httpbin_rule(lab)
    od = traffic_policy(dr).outlier if dr is not None else None
    if od is None:
        problems.append("no DestinationRule with outlierDetection for host httpbin is in force")
    elif od.base_ejection > within:
        problems.append(
            f"baseEjectionTime is {od.base_ejection:g} s: an ejected pod waits that long for another "
            f"chance; expected at most {within:g} s"
        )
    res = lab.load("client", GET, requests=n, concurrency=1, progress=False)
    failed = sum(o.get("status") != 200 for o in res.outcomes)
    stats = lab.proxies[CLIENT_PROXY].call("stats") if CLIENT_PROXY in lab.proxies else {}
    ejected = sorted({p for v in (stats.get("outlier_ejected") or {}).values() for p in v})
    kept_in = sum((stats.get("outlier_ejections_overflow") or {}).values())
    if failed > most:
        why = ""
        if kept_in and not ejected:
            why = (
                f" — the client's sidecar found {CRASHED} an outlier {kept_in} times but ejected it none: "
                "maxEjectionPercent bounds the share of endpoints out, and 1 of 2 is 50%"
            )
        problems.append(f"{failed} of {n} requests failed; expected at most {most}{why}")
    if problems and restarted:
        problems[0] += f" ({CRASHED} was running again: the check stopped its app)"
    return fails(
        item,
        problems,
        f"{failed} of {n} requests failed: the client's sidecar ejected "
        f"{', '.join(ejected) or 'nothing'} after its first failures (out for "
        f"{od.base_ejection if od else 0:g} s at first, longer each time it is ejected again)",
    )


EJECT_THE_CRASHED_POD = Task(
    name="eject-the-crashed-pod",
    goal="httpbin-1's app has crashed: its sidecar is up and answers 503 to every request it gets (the "
    "connection to the app is refused), so about half the client's requests fail. Configure outlier "
    "detection for httpbin so that, of the next 100 requests the client sends one at a time, at most {fails} "
    "fail — and so that an ejected pod is tried again after at most {within:g} s (it may have restarted).",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: ___
      interval: 1s
      baseEjectionTime: ___
      maxEjectionPercent: ___
""",
    verify=_verify_eject,
    setup=lambda lab, params: crash(lab),
    variants=({"fails": 1, "within": 180}, {"fails": 3, "within": 30}, {"fails": 2, "within": 10}),
)

TASKS = {t.name: t for t in (CAP_REQUESTS_IN_FLIGHT, EJECT_THE_CRASHED_POD)}
