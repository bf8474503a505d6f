"""The notebooks' tasks (issue 16): each a goal, a skeleton and a ``verify`` that checks the running
lab — the objects in force and traffic it sends and measures — with a message that names what is
wrong. The mechanism (:class:`~meshlab.exercises.Task`, results, the progress file) is in
:mod:`meshlab.exercises`; the notebooks take a task by name from :data:`TASKS`.

Every task is tested blank, wrong and solved on a running lab (``tests/integration/test_exercise_tasks.py``).
"""

from __future__ import annotations

from .policy.loader import ROOT_NAMESPACE
from .exercises import PAGE, Result, Task, behind_waypoint, calls, fails, served_by, tries, waypoint_hint

__all__ = ["TASKS"]


def _pids(lab) -> dict[str, int]:
    return {row["pod"]: row["pid"] for row in lab.pods()}


def _pages(lab, n: int, **kw):
    return lab.load("client", PAGE, requests=n, progress=False, **kw)


# -- 00 start here -----------------------------------------------------------------------------------

def _verify_one_version(lab, params: dict, before, n: int = 20) -> Result:
    item, version = "reviews-to-one-version", params["version"]
    got = served_by(_pages(lab, n))
    want = f"reviews-{version}"
    if got.get(want, 0) == n:
        return fails(item, [], f"all {n} pages came from {want}")
    msg = f"{want} served {got.get(want, 0)} of {n} pages; expected all {n} (served: {got})."
    if lab.mode == "none":
        msg += (" No pod is in the mesh, so no proxy reads your VirtualService: kube-proxy picks a reviews pod at "
                "random. Which namespace label puts a proxy that parses HTTP in front of every pod?")
    else:
        msg += waypoint_hint(lab, "reviews")
    return fails(item, [msg], "")


REVIEWS_TO_ONE_VERSION = Task(
    name="reviews-to-one-version",
    goal="Send every call to reviews to reviews {version} (Istio's virtual-service-reviews-v3.yaml does it for "
         "v3). The lab has no mesh yet, and a VirtualService is read by the mesh's proxies: label the namespace "
         "so that a proxy which parses HTTP applies your route.",
    skeleton="""\
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: {___: ___}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ___}
""",
    verify=_verify_one_version,
    variants=({"version": "v3"}, {"version": "v2"}))


def _verify_no_restarts(lab, params: dict, before: dict, n: int = 10) -> Result:
    item = "mesh-without-restarts"
    res = _pages(lab, n)
    problems = []
    restarted = sorted(p for p, pid in before.items() if _pids(lab).get(p) != pid)
    if restarted and lab.mode == "sidecar":
        problems.append(f"{len(restarted)} pods restarted ({', '.join(restarted)}): sidecar injection adds the "
                        "proxy when a pod is created, so every pod is recreated. Which mode enrolls a running pod "
                        "without touching it?")
    elif restarted:
        problems.append(f"{len(restarted)} pods restarted ({', '.join(restarted)}): they had sidecars from an "
                        "earlier answer, and a sidecar goes only when its pod is recreated. Rerun the task's first "
                        "cell for a fresh lab, then apply your answer again")
    all_calls = [c for p in res.paths.values() for c in calls(p)]
    bare = [c for c in all_calls if not c.proxies]
    plain = [c for c in all_calls if c.proxies and not any(h.mtls for h in c.proxies)]
    if bare:
        problems.append(f"{len(bare)} of {len(all_calls)} calls crossed no proxy at all (not in the mesh): "
                        "the namespace is not enrolled")
    elif plain:
        problems.append(f"{len(plain)} of {len(all_calls)} calls were not mutual TLS")
    if res.summary()["requests"]["ok"] != n:
        problems.append(f"only {res.summary()['requests']['ok']} of {n} pages were 200")
    return fails(item, problems, f"every one of {len(all_calls)} calls in {n} pages was mutual TLS, and no pod "
                                 f"restarted (the {len(before)} pods kept their processes)")


MESH_WITHOUT_RESTARTS = Task(
    name="mesh-without-restarts",
    goal="Bring the default namespace into the mesh so that every call between pods is mutual TLS, without "
         "restarting a single pod (Istio enrolls a namespace with one label).",
    skeleton="""\
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: {___: ___}
""",
    verify=_verify_no_restarts,
    before=_pids)


# -- 01 sidecar vs ambient ---------------------------------------------------------------------------

def _verify_data_plane(lab, params: dict, before, n: int = 10) -> Result:
    item, hops, l7 = "panel-data-plane", params["hops"], params["l7"]
    res = _pages(lab, n)
    to_reviews = [c for p in res.paths.values() for c in calls(p) if c.service == "reviews"]
    if not to_reviews:
        return fails(item, [f"no page of {n} called reviews (answers: {res.summary()['requests']['by_status']})"], "")
    seen = sorted({(len(c.proxies), c.l7) for c in to_reviews})
    if seen == [(hops, l7)]:
        c = to_reviews[0]
        return fails(item, [], f"every call to reviews crossed {hops} proxies, {l7} of them parsing HTTP: "
                               f"{' -> '.join(h.name for h in c.proxies) or 'none'} (data plane: {lab.data_plane})")
    c = to_reviews[0]
    return fails(item, [f"calls to reviews crossed {' or '.join(f'{a} proxies, {b} parsing HTTP' for a, b in seen)} "
                        f"({' -> '.join(h.name for h in c.proxies) or 'no proxy'}; data plane now: {lab.data_plane}); "
                        f"expected {hops} proxies, {l7} parsing HTTP. Change the panel's mode (and waypoint), send "
                        "traffic, then check again"], "")


PANEL_DATA_PLANE = Task(
    name="panel-data-plane",
    goal="With the control panel only (no code): put the lab in the data plane where a call from productpage "
         "to reviews crosses {hops} proxies, {l7} of which parse HTTP. Then run the check: it loads the page and "
         "counts the proxies on every call to reviews.",
    skeleton="(no YAML: the panel above is your answer; the check reads the running lab)",
    verify=_verify_data_plane,
    variants=({"hops": 3, "l7": 1}, {"hops": 2, "l7": 2}, {"hops": 2, "l7": 0}),
    answer="lab")


def _verify_waypoint_for(lab, params: dict, before, n: int = 10) -> Result:
    item, service = "waypoint-for-one-service", params["service"]
    res = _pages(lab, n)
    by_service: dict[str, list] = {}
    for p in res.paths.values():
        for c in calls(p):
            by_service.setdefault(c.service, []).append(any(h.role == "waypoint" for h in c.proxies))
    problems = []
    mine = by_service.get(service, [])
    if not mine:
        problems.append(f"no call to {service} in {n} pages")
    elif not all(mine):
        problems.append(f"{mine.count(False)} of {len(mine)} calls to {service} crossed no waypoint"
                        + ("" if lab.waypoint_of else ": no service uses a waypoint yet (is the Gateway's class the "
                                                      "waypoint class, and does the label name the Gateway?)"))
    others = sorted(s for s, ws in by_service.items() if s != service and any(ws))
    if others:
        problems.append(f"calls to {', '.join(others)} crossed the waypoint too: only {service} should use it "
                        "(label the Service, not the namespace; a label applied earlier stays until you delete it: "
                        f"lab.delete(kind='Service', name='{others[0]}'))")
    return fails(item, problems, f"all {len(mine)} calls to {service} crossed the waypoint, calls to "
                                 f"{', '.join(sorted(s for s in by_service if s != service))} did not")


WAYPOINT_FOR_ONE_SERVICE = Task(
    name="waypoint-for-one-service",
    goal="Give {service} a waypoint, in YAML — what `istioctl waypoint apply` and `kubectl label service` write: "
         "a waypoint Gateway, and the {service} Service labelled to use it. Calls to {service} then cross three "
         "proxies (ztunnel, waypoint, ztunnel); calls to every other service still cross two.",
    skeleton="""\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: my-waypoint
  labels: {istio.io/waypoint-for: service}
spec:
  gatewayClassName: ___
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
---
apiVersion: v1
kind: Service
metadata:
  name: ___
  labels: {istio.io/use-waypoint: ___}
""",
    verify=_verify_waypoint_for,
    variants=({"service": "reviews"}, {"service": "ratings"}, {"service": "details"}))


# -- 02 waypoints ------------------------------------------------------------------------------------

def _verify_user_route(lab, params: dict, before=None, n: int = 20) -> Result:
    item = "jason-to-reviews-v2"
    user, version = params["user"], params["version"]
    j = served_by(_pages(lab, n, headers={"cookie": f"user={user}"}))
    o = served_by(_pages(lab, n))
    problems = []
    if j.get(f"reviews-{version}", 0) != n:
        problems.append(f"reviews-{version} served {j.get(f'reviews-{version}', 0)} of {n} pages for {user}; "
                        f"expected all {n} (served: {j})")
    if o.get("reviews-v1", 0) != n:
        problems.append(f"reviews-v1 served {o.get('reviews-v1', 0)} of {n} pages for everyone else; expected all "
                        f"{n} (served: {o})")
    if problems:
        problems[-1] += waypoint_hint(lab, "reviews")
    return fails(item, problems, f"{user}'s {n} pages all came from reviews-{version}, everyone else's {n} from "
                                 "reviews-v1")


JASON_TO_V2 = Task(
    name="jason-to-reviews-v2",
    goal="Send user {user} to reviews {version} and everyone else to reviews v1 (Istio's request-routing task; "
         "its own user is jason, and v2).",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        ___: {exact: ___}
    route:
    - destination: {host: reviews, subset: ___}
  - route:
    - destination: {host: reviews, subset: ___}
""",
    verify=_verify_user_route,
    variants=({"user": "jason", "version": "v2"}, {"user": "ada", "version": "v3"},
              {"user": "grace", "version": "v2"}, {"user": "linus", "version": "v3"}))


def _only_one_caller(item: str):
    def verify(lab, params: dict, before=None, n: int = 10) -> Result:
        service, caller = params["service"], params["caller"]
        pages = _pages(lab, n)
        s = pages.summary()["requests"]
        broken = pages.partial_failures()
        problems = []
        if s["ok"] != n or broken:
            problems.append(f"the pages lost what {service} gives them: {s['ok']} of {n} pages were 200, "
                            f"{sum(broken.values())} said a service failed ({', '.join(broken) or 'none'}); "
                            f"{caller} must still reach {service}")
            if behind_waypoint(lab, service):
                problems[-1] += (f". Behind a waypoint, {service}'s ztunnel sees the *waypoint's* identity, not "
                                 f"{caller}'s: bind the policy to the waypoint (targetRefs: the {service} Service)")
        direct = lab.request("client", f"http://{service}:9080/{service}/0", timeout=5)
        if direct.status is not None and direct.status < 400:
            problems.append(f"the client pod (identity curl) reached {service} directly ({direct.status}); expected "
                            "it to be refused")
        return fails(item, problems, f"{n} of {n} pages were whole ({caller} reached {service}), and the client's "
                                     f"direct call to {service} was refused ({direct.status or direct.error})")
    return verify


_PRINCIPAL_RULE = """\
  action: ___
  rules:
  - from:
    - source:
        principals: [___]
"""

#: who may call whom: Bookinfo's own call graph (productpage -> details, reviews; reviews -> ratings)
_CALLERS = ({"service": "reviews", "caller": "productpage", "account": "bookinfo-productpage"},
            {"service": "ratings", "caller": "reviews", "account": "bookinfo-reviews"},
            {"service": "details", "caller": "productpage", "account": "bookinfo-productpage"})

ONLY_ONE_CALLER = Task(
    name="only-one-caller",
    goal="Allow only {caller} (service account {account}) to call {service}: the client pod's direct calls to "
         "{service} are refused, and the product page stays whole. (Istio's own example: only productpage may "
         "call reviews.)",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-one-caller}
spec:
  selector:
    matchLabels: {app: ___}
""" + _PRINCIPAL_RULE,
    verify=_only_one_caller("only-one-caller"),
    variants=_CALLERS)

ONLY_ONE_CALLER_AT_WAYPOINT = Task(
    name="only-one-caller-through-the-waypoint",
    goal="{service} has a waypoint. Allow only {caller} (service account {account}) to call {service}, enforced "
         "where {caller}'s identity is still seen: the client pod's direct calls to {service} are refused, and the "
         "product page stays whole.",
    skeleton="""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-one-caller}
spec:
  targetRefs:
  - {kind: ___, group: "", name: ___}
""" + _PRINCIPAL_RULE,
    verify=_only_one_caller("only-one-caller-through-the-waypoint"),
    variants=_CALLERS,
    setup=lambda lab, params: lab.set_waypoints([params["service"]]))


# -- 03 mTLS -----------------------------------------------------------------------------------------

def _verify_strict(lab, params: dict, before=None, tries_each: int = 3) -> Result:
    item, strict, permissive = "permissive-to-strict", params["strict"], params["permissive"]
    problems = []

    def outcomes(src: str, target_ns: str) -> list:
        return [lab.request(src, f"http://httpbin.{target_ns}:8000/ip", timeout=5) for _ in range(tries_each)]

    mesh_wide = [o for o in lab.policies() if o.kind == "PeerAuthentication" and o.namespace == ROOT_NAMESPACE
                 and not (o.spec.get("selector") or {}) and ((o.spec.get("mtls") or {}).get("mode") == "STRICT")]
    if not mesh_wide:
        problems.append(f"no mesh-wide STRICT policy is in force: a PeerAuthentication with no selector in "
                        f"{ROOT_NAMESPACE} covers every namespace that has none of its own")
    for src in ("sleep-foo", "sleep-bar"):
        for ns in (strict, permissive):
            bad = [r for r in outcomes(src, ns) if r.status != 200]
            if bad:
                problems.append(f"meshed client {src} -> httpbin.{ns} failed {len(bad)} of {tries_each} times "
                                f"({bad[0].status or bad[0].error}): the meshed clients must keep working")
    legacy_in = [r for r in outcomes("sleep-legacy", strict) if r.status is not None and r.status < 400]
    if legacy_in:
        problems.append(f"sleep-legacy (outside the mesh, plaintext) still reached httpbin.{strict} "
                        f"{len(legacy_in)} of {tries_each} times; expected it refused")
    legacy_kept = [r for r in outcomes("sleep-legacy", permissive) if r.status != 200]
    if legacy_kept:
        problems.append(f"sleep-legacy was refused by httpbin.{permissive} ({len(legacy_kept)} of {tries_each}): "
                        f"{permissive} must stay PERMISSIVE — the narrowest policy wins, so a policy of its own "
                        "beats the mesh-wide one")
    return fails(item, problems, f"the mesh is STRICT except {permissive}: the meshed clients reach both httpbins "
                                 f"over mutual TLS, sleep-legacy is refused by httpbin.{strict} and still served by "
                                 f"httpbin.{permissive}")


_PEER_AUTHN = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: ___
spec:
  mtls:
    mode: ___
"""

PERMISSIVE_TO_STRICT = Task(
    name="permissive-to-strict",
    goal="Istio's mutual TLS migration, one step further: make the whole mesh STRICT with one policy in the root "
         "namespace, except namespace {permissive}, whose legacy clients have not moved yet: it stays PERMISSIVE. "
         "The meshed clients (sleep-foo, sleep-bar) keep reaching both httpbins; sleep-legacy, outside the mesh, is "
         "refused by httpbin.{strict} and still served by httpbin.{permissive}.",
    skeleton=_PEER_AUTHN + "---\n" + _PEER_AUTHN,
    verify=_verify_strict,
    variants=({"strict": "foo", "permissive": "bar"}, {"strict": "bar", "permissive": "foo"}))


# -- 04 retries and timeouts -------------------------------------------------------------------------

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
    down = lab.load("client", "http://httpbin:8000/status/503", requests=down_n, concurrency=4, progress=False)
    worst = max(tries(down), default=0)
    problems = []
    if ok < 0.9 * n:
        problems.append(f"only {ok} of {n} requests to the flaky endpoint succeeded ({100 * ok / n:.0f}%); expected "
                        "at least 90% — a request fails only when every try fails")
    if worst > params["max_tries"]:
        problems.append(f"during the outage a request reached httpbin up to {worst} times; expected at most "
                        f"{params['max_tries']} (does `attempts` count tries or retries?)")
    return fails(item, problems, f"{ok} of {n} flaky requests succeeded ({100 * ok / n:.0f}%), and an outage costs "
                                 f"at most {worst} tries per request (the starting policy: 11)")


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
    variants=({"codes": "200:3,503:1", "fail": 25, "max_tries": 2},
              {"codes": "200:3,503:2", "fail": 40, "max_tries": 3},
              {"codes": "200:4,503:1", "fail": 20, "max_tries": 2}))


def _deadline_setup(lab, params: dict) -> None:
    """Every page through reviews v2, every ratings call delayed ``params['delay']`` seconds."""
    from .topology.loader import TOPOLOGY_DIR
    lab.apply([TOPOLOGY_DIR / "samples" / "bookinfo" / "destination-rule-all.yaml", PAGE_DEADLINE.skeleton.replace(
        "    timeout: ___\n", ""), ratings_delay(params["delay"])])


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
        problems.append(f"the slowest page took {slowest:.2f} s; expected at most {limit:g} s. productpage's own "
                        "code retries reviews once: how long can a page wait for two tries?")
    subsets = {(d.get("destination") or {}).get("subset") for o in lab.policies()
               if o.kind == "VirtualService" and o.name == "reviews"
               for r in o.spec.get("http") or () for d in r.get("route") or ()}
    if subsets != {"v2"}:
        problems.append(f"the reviews route goes to {sorted(map(str, subsets)) or 'no subset'}; keep it on v2 (the "
                        "task is to bound the wait for ratings, not to avoid it)")
    return fails(item, problems, f"the slowest of {n} pages took {slowest:.2f} s (limit {limit:g} s), its reviews "
                                 "cut off by the timeout, as in Istio's task")


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
    variants=({"delay": 2, "limit": 1.5}, {"delay": 3, "limit": 2.5}))


TASKS = {t.name: t for t in (REVIEWS_TO_ONE_VERSION, MESH_WITHOUT_RESTARTS, PANEL_DATA_PLANE, WAYPOINT_FOR_ONE_SERVICE,
                             JASON_TO_V2, ONLY_ONE_CALLER_AT_WAYPOINT, ONLY_ONE_CALLER, PERMISSIVE_TO_STRICT,
                             STOP_THE_RETRY_STORM, PAGE_DEADLINE)}
