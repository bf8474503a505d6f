"""Tasks about request routing (notebooks 00 and 02): subsets, a route for one user."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import pages, served_by, waypoint_hint


#: reviews' three versions as subsets (Istio's destination-rule-all.yaml, for reviews): both routing skeletons start
#: from it
_REVIEWS_SUBSETS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"""


def _verify_one_version(lab, params: dict, before, n: int = 20) -> Result:
    item, version = "reviews-to-one-version", params["version"]
    got = served_by(pages(lab, n))
    want = f"reviews-{version}"
    if got.get(want, 0) == n:
        return fails(item, [], f"all {n} pages came from {want}")
    msg = f"{want} served {got.get(want, 0)} of {n} pages; expected all {n} (served: {got})."
    if lab.mode == "none":
        msg += (
            " No pod is in the mesh, so no proxy reads your VirtualService: kube-proxy picks a reviews pod at "
            "random. Which namespace label puts a proxy that parses HTTP in front of every pod?"
        )
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
"""
    + _REVIEWS_SUBSETS
    + """---
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
    variants=({"version": "v3"}, {"version": "v2"}),
)


def _verify_user_route(lab, params: dict, before=None, n: int = 20) -> Result:
    item = "jason-to-reviews-v2"
    user, version = params["user"], params["version"]
    j = served_by(pages(lab, n, headers={"cookie": f"user={user}"}))
    o = served_by(pages(lab, n))
    problems = []
    if j.get(f"reviews-{version}", 0) != n:
        problems.append(
            f"reviews-{version} served {j.get(f'reviews-{version}', 0)} of {n} pages for {user}; "
            f"expected all {n} (served: {j})"
        )
    if o.get("reviews-v1", 0) != n:
        problems.append(
            f"reviews-v1 served {o.get('reviews-v1', 0)} of {n} pages for everyone else; expected all "
            f"{n} (served: {o})"
        )
    if problems:
        problems[-1] += waypoint_hint(lab, "reviews")
    return fails(
        item,
        problems,
        f"{user}'s {n} pages all came from reviews-{version}, everyone else's {n} from reviews-v1",
    )


JASON_TO_V2 = Task(
    name="jason-to-reviews-v2",
    goal="Send user {user} to reviews {version} and everyone else to reviews v1 (Istio's request-routing task; "
    "its own user is jason, and v2).",
    skeleton=_REVIEWS_SUBSETS
    + """---
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
    variants=(
        {"user": "jason", "version": "v2"},
        {"user": "ada", "version": "v3"},
        {"user": "grace", "version": "v2"},
        {"user": "linus", "version": "v3"},
    ),
)

TASKS = {t.name: t for t in (REVIEWS_TO_ONE_VERSION, JASON_TO_V2)}
