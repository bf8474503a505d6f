"""Tasks about retries and timeouts (notebook 04): a retry budget, a deadline for the page."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import PAGE, tries


#: the retry policy the retry-storm task starts from (applied by the notebook's task cell)
RETRY_STORM = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin}
    retries:
      attempts: 10
      retryOn: 5xx
"""


def _verify_retry_budget(lab, params: dict, before=None, n: int = 300, down_n: int = 12) -> Result:
    item = "stop-the-retry-storm"
    flaky_url = f"http://httpbin:8000/status/{params['codes']}"
    flaky = lab.load("client", flaky_url, requests=n, concurrency=4, progress=False)
    ok = flaky.summary()["requests"]["ok"]
    down = lab.load(
        "client", "http://httpbin:8000/status/503", requests=down_n, concurrency=4, progress=False
    )
    worst = max(tries(down), default=0)
    problems = []
    if ok < 0.9 * n:
        problems.append(
            f"only {ok} of {n} requests to the flaky endpoint succeeded ({100 * ok / n:.0f}%); expected "
            "at least 90% — a request fails only when every try fails"
        )
    if worst > params["max_tries"]:
        problems.append(
            f"during the outage a request reached httpbin up to {worst} times; expected at most "
            f"{params['max_tries']} (does `attempts` count tries or retries?)"
        )
    return fails(
        item,
        problems,
        f"{ok} of {n} flaky requests succeeded ({100 * ok / n:.0f}%), and an outage costs "
        f"at most {worst} tries per request (the starting policy: 11)",
    )


STOP_THE_RETRY_STORM = Task(
    name="stop-the-retry-storm",
    goal="httpbin's /status/{codes} fails {fail}% of requests with 503 (configured: the app's own randomness). "
    "The VirtualService in force retries up to 10 times on any 5xx: the flaky endpoint looks healthy, but "
    "when httpbin is down every request becomes 11. Change the retry policy so that an outage costs at "
    "most {max_tries} tries per request, while at least 90% of requests to the flaky endpoint still succeed.",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin}
    retries:
      attempts: ___
      retryOn: ___
""",
    verify=_verify_retry_budget,
    setup=lambda lab, params: lab.apply(RETRY_STORM),
    variants=(
        {"codes": "200:3,503:1", "fail": 25, "max_tries": 2},
        {"codes": "200:3,503:2", "fail": 40, "max_tries": 3},
        {"codes": "200:4,503:1", "fail": 20, "max_tries": 2},
    ),
)


def _deadline_setup(lab, params: dict) -> None:
    """Every page through reviews v2, every ratings call delayed ``params['delay']`` seconds."""
    from ..topology.loader import TOPOLOGY_DIR

    lab.apply(
        [
            TOPOLOGY_DIR / "samples" / "bookinfo" / "destination-rule-all.yaml",
            PAGE_DEADLINE.skeleton.replace("    timeout: ___\n", ""),
            ratings_delay(params["delay"]),
        ]
    )


def ratings_delay(seconds: float) -> str:
    """A fault delaying every ratings call ``seconds``."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings}}
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percentage: {{value: 100}}
        fixedDelay: {seconds:g}s
    route:
    - destination: {{host: ratings, subset: v1}}
"""


def _verify_deadline(lab, params: dict, before=None, n: int = 6) -> Result:
    item, limit = "page-deadline", params["limit"]
    res = lab.load("client", PAGE, requests=n, concurrency=3, progress=False)
    slowest = max(res.latencies_ms(), default=0) / 1000
    problems = []
    if slowest > limit:
        problems.append(
            f"the slowest page took {slowest:.2f} s; expected at most {limit:g} s. productpage's own "
            "code retries reviews once: how long can a page wait for two tries?"
        )
    subsets = {
        (d.get("destination") or {}).get("subset")
        for o in lab.policies()
        if o.kind == "VirtualService" and o.name == "reviews"
        for r in o.spec.get("http") or ()
        for d in r.get("route") or ()
    }
    if subsets != {"v2"}:
        problems.append(
            f"the reviews route goes to {sorted(map(str, subsets)) or 'no subset'}; keep it on v2 (the "
            "task is to bound the wait for ratings, not to avoid it)"
        )
    return fails(
        item,
        problems,
        f"the slowest of {n} pages took {slowest:.2f} s (limit {limit:g} s), its reviews "
        "cut off by the timeout, as in Istio's task",
    )


PAGE_DEADLINE = Task(
    name="page-deadline",
    goal="Every page goes through reviews v2, and every call to ratings is delayed {delay:g} s (configured, an "
    "injected fault). Put a timeout on the reviews route so that no page takes longer than {limit:g} s "
    "(Istio's request-timeouts task).",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
    timeout: ___
""",
    verify=_verify_deadline,
    setup=_deadline_setup,
    variants=({"delay": 2, "limit": 1.5}, {"delay": 3, "limit": 2.5}),
)

TASKS = {t.name: t for t in (STOP_THE_RETRY_STORM, PAGE_DEADLINE)}
