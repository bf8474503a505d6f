"""Tasks about canary releases (notebook 05): a weighted canary step, and a user route beside a split
in ambient mode through a waypoint.

A measured share is judged with the binomial spread: n pages, each sent to the canary with
probability p, give ``n p`` of them on average, give or take ``sqrt(n p (1 - p))``; a verify accepts
four of those either side (a right answer fails about once in 16 000 checks) and also reads the
weights in force, so that a near miss (25 for 20) is named even when chance hides it.
"""

from __future__ import annotations

from math import sqrt

from ..exercises import Result, Task, fails

from ..probes import behind_waypoint, pages, served_by

SIGMAS = 4


def spread(n: int, share: float) -> float:
    """The binomial standard deviation of how many of ``n`` requests go to a destination of ``share``."""
    return sqrt(n * share * (1 - share))


def configured_split(lab, service: str = "reviews") -> dict[str, float]:
    """The share of ``service``'s default route (its VirtualService's last rule with no match) that
    each subset gets, from the weights in force (``weight / sum(weights)``; a lone destination gets
    everything). Empty when no such rule is in force."""
    for o in lab.policies():
        if o.kind == "VirtualService" and service in (o.spec.get("hosts") or ()):
            rules = [r for r in o.spec.get("http") or () if not r.get("match")]
            if not rules:
                return {}
            route = rules[0].get("route") or []
            if len(route) == 1:
                return {str((route[0].get("destination") or {}).get("subset")): 1.0}
            total = sum(int(d.get("weight") or 0) for d in route)
            out: dict[str, float] = {}
            for d in route:
                subset = str((d.get("destination") or {}).get("subset"))
                out[subset] = out.get(subset, 0) + (int(d.get("weight") or 0) / total if total else 0)
            return out
    return {}


def _share_problems(got: dict, n: int, canary: str, share: float, stable: str, who: str) -> list[str]:
    """What is wrong with a measured split of ``n`` pages (``served_by``): a version outside
    ``stable``/``canary``, or the canary's count outside the binomial tolerance."""
    problems, who = [], f" {who}" if who else ""
    others = {k: v for k, v in got.items() if k not in (f"reviews-{canary}", f"reviews-{stable}")}
    if others:
        problems.append(
            f"{sum(others.values())} of {n} pages{who} came from {', '.join(sorted(others))}; expected "
            f"only reviews-{stable} and reviews-{canary}"
        )
    k, want, sd = got.get(f"reviews-{canary}", 0), n * share, spread(n, share)
    if abs(k - want) > SIGMAS * sd:
        problems.append(
            f"reviews-{canary} served {k} of {n} pages{who} ({100 * k / n:.0f}%); expected about "
            f"{want:.0f} ({100 * share:g}%), give or take {sd:.0f}: this far off by chance less than "
            "once in 10 000 runs"
        )
    if problems:
        problems[-1] += f" (served: {got})"
    return problems


def _weights_problem(lab, canary: str, share: float, stable: str) -> str | None:
    cfg = configured_split(lab)
    want = {stable: 1 - share, canary: share} if 0 < share < 1 else {canary if share else stable: 1.0}
    if {k: round(v, 6) for k, v in cfg.items() if v} == {k: round(v, 6) for k, v in want.items() if v}:
        return None
    said = ", ".join(f"{k} {100 * v:g}%" for k, v in cfg.items()) or "no default route for reviews"
    return (
        f"the weights in force send {said}; expected {stable} {100 * (1 - share):g}% and {canary} "
        f"{100 * share:g}% (each destination gets weight / sum of the weights)"
    )


# -- a canary step, in sidecar mode ----------------------------------------------------------------


def _canary_setup(lab, params: dict) -> None:
    """Istio's request-routing starting point: subsets for every service, every service on v1."""
    from ..topology.loader import TOPOLOGY_DIR

    samples = TOPOLOGY_DIR / "samples" / "bookinfo"
    lab.apply([samples / "destination-rule-all.yaml", samples / "virtual-service-all-v1.yaml"])


def _verify_canary_step(lab, params: dict, before=None, n: int = 400) -> Result:
    item, share = "canary-step", params["weight"] / 100
    got = served_by(pages(lab, n, concurrency=4))
    problems = _share_problems(got, n, "v3", share, "v1", "")
    wrong = _weights_problem(lab, "v3", share, "v1")
    if wrong:
        problems.append(wrong)
    if problems and lab.mode == "none":
        problems[-1] += (
            ". No pod is in the mesh, so no proxy reads your VirtualService: which mode puts a "
            "proxy that parses HTTP on the path?"
        )
    k = got.get("reviews-v3", 0)
    return fails(
        item,
        problems,
        f"reviews-v3 served {k} of {n} pages ({100 * k / n:.1f}%; configured "
        f"{params['weight']}%, expected spread ±{100 * spread(n, share) / n:.1f} points), "
        f"reviews-v1 the other {got.get('reviews-v1', 0)}",
    )


CANARY_STEP = Task(
    name="canary-step",
    goal="Every service runs v1 (Istio's virtual-service-all-v1.yaml is in force). Start the canary of reviews "
    "v3: send {weight}% of reviews traffic to v3 and the rest to v1 (Istio's traffic-shifting task starts "
    "at 50%). The check loads 400 pages and accepts the measured share of v3 within 4 binomial standard "
    "deviations of {weight}%; it also reads the weights in force.",
    skeleton="""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ___}
      weight: ___
    - destination: {host: reviews, subset: ___}
      weight: ___
""",
    verify=_verify_canary_step,
    setup=_canary_setup,
    variants=({"weight": 50}, {"weight": 20}, {"weight": 10}, {"weight": 30}, {"weight": 25}),
)


# -- a user route beside a split, in ambient mode through a waypoint -------------------------------


def _split_setup(lab, params: dict) -> None:
    """Istio's DestinationRules and a waypoint that no service uses yet (what ``istioctl waypoint
    apply`` writes, named as it names it)."""
    from ..policy.builder import waypoint_gateway
    from ..topology.loader import TOPOLOGY_DIR

    lab.apply([TOPOLOGY_DIR / "samples" / "bookinfo" / "destination-rule-all.yaml", waypoint_gateway()])


def _verify_user_and_split(lab, params: dict, before=None, n_user: int = 20, n: int = 300) -> Result:
    item = "tester-and-canary-through-the-waypoint"
    user, share = params["user"], params["canary"] / 100
    mine = served_by(pages(lab, n_user, headers={"cookie": f"user={user}"}))
    rest = served_by(pages(lab, n, concurrency=4))
    problems = []
    if mine.get("reviews-v2", 0) != n_user:
        problems.append(
            f"reviews-v2 served {mine.get('reviews-v2', 0)} of {n_user} pages for {user}; expected all "
            f"{n_user} (served: {mine})"
        )
    problems += _share_problems(rest, n, "v3", share, "v1", "for everyone else")
    wrong = _weights_problem(lab, "v3", share, "v1")
    if wrong:
        problems.append(wrong)
    if problems and not behind_waypoint(lab, "reviews"):
        problems.insert(
            0,
            "no waypoint carries reviews' traffic, so nothing applies your VirtualService: ztunnel "
            "never parses HTTP (no header to match, no request to weigh) and spreads connections "
            "over every reviews pod. Label the reviews Service to use the waypoint (its "
            "Gateway is named 'waypoint')",
        )
    return fails(
        item,
        problems,
        f"all {n_user} of {user}'s pages came from reviews-v2, through the waypoint; "
        f"everyone else's {n}: {rest.get('reviews-v3', 0)} from reviews-v3 "
        f"({100 * rest.get('reviews-v3', 0) / n:.1f}%, configured {params['canary']}%), "
        f"{rest.get('reviews-v1', 0)} from reviews-v1",
    )


USER_AND_SPLIT = Task(
    name="tester-and-canary-through-the-waypoint",
    goal="Ambient mode; a waypoint named 'waypoint' is deployed, and no service uses it yet. The tester {user} "
    "must always get reviews v2, while everyone else's traffic is split: {stable}% to v1, {canary}% to v3 "
    "(a canary). Route it at the waypoint: have the reviews Service use it, and write the VirtualService. "
    "The check loads 20 pages as {user} and 300 as nobody in particular (the share of v3 within 4 binomial "
    "standard deviations of {canary}%).",
    skeleton="""\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  labels: {istio.io/use-waypoint: ___}
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
      weight: ___
    - destination: {host: reviews, subset: ___}
      weight: ___
""",
    verify=_verify_user_and_split,
    setup=_split_setup,
    variants=(
        {"user": "jason", "stable": 80, "canary": 20},
        {"user": "ada", "stable": 70, "canary": 30},
        {"user": "grace", "stable": 90, "canary": 10},
        {"user": "linus", "stable": 60, "canary": 40},
    ),
)

TASKS = {t.name: t for t in (CANARY_STEP, USER_AND_SPLIT)}
