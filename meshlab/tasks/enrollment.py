"""Tasks about joining the mesh (notebooks 00 and 01): a namespace label, restarts or none, the data
plane a call crosses, a waypoint for one service."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import calls, pages


def _pids(lab) -> dict[str, int]:
    return {row["pod"]: row["pid"] for row in lab.pods()}


def _verify_no_restarts(lab, params: dict, before: dict, n: int = 10) -> Result:
    item = "mesh-without-restarts"
    res = pages(lab, n)
    problems = []
    restarted = sorted(p for p, pid in before.items() if _pids(lab).get(p) != pid)
    if restarted and lab.mode == "sidecar":
        problems.append(
            f"{len(restarted)} pods restarted ({', '.join(restarted)}): sidecar injection adds the "
            "proxy when a pod is created, so every pod is recreated. Which mode enrolls a running pod "
            "without touching it?"
        )
    elif restarted:
        problems.append(
            f"{len(restarted)} pods restarted ({', '.join(restarted)}): they had sidecars from an "
            "earlier answer, and a sidecar goes only when its pod is recreated. Rerun the task's first "
            "cell for a fresh lab, then apply your answer again"
        )
    all_calls = [c for p in res.paths.values() for c in calls(p)]
    bare = [c for c in all_calls if not c.proxies]
    plain = [c for c in all_calls if c.proxies and not any(h.mtls for h in c.proxies)]
    if bare:
        problems.append(
            f"{len(bare)} of {len(all_calls)} calls crossed no proxy at all (not in the mesh): "
            "the namespace is not enrolled"
        )
    elif plain:
        problems.append(f"{len(plain)} of {len(all_calls)} calls were not mutual TLS")
    if res.summary()["requests"]["ok"] != n:
        problems.append(f"only {res.summary()['requests']['ok']} of {n} pages were 200")
    return fails(
        item,
        problems,
        f"every one of {len(all_calls)} calls in {n} pages was mutual TLS, and no pod "
        f"restarted (the {len(before)} pods kept their processes)",
    )


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
    before=_pids,
)


def _verify_data_plane(lab, params: dict, before, n: int = 10) -> Result:
    item, hops, l7 = "panel-data-plane", params["hops"], params["l7"]
    res = pages(lab, n)
    to_reviews = [c for p in res.paths.values() for c in calls(p) if c.service == "reviews"]
    if not to_reviews:
        return fails(
            item, [f"no page of {n} called reviews (answers: {res.summary()['requests']['by_status']})"], ""
        )
    seen = sorted({(len(c.proxies), c.l7) for c in to_reviews})
    if seen == [(hops, l7)]:
        c = to_reviews[0]
        return fails(
            item,
            [],
            f"every call to reviews crossed {hops} proxies, {l7} of them parsing HTTP: "
            f"{' -> '.join(h.name for h in c.proxies) or 'none'} (data plane: {lab.data_plane})",
        )
    c = to_reviews[0]
    return fails(
        item,
        [
            f"calls to reviews crossed {' or '.join(f'{a} proxies, {b} parsing HTTP' for a, b in seen)} "
            f"({' -> '.join(h.name for h in c.proxies) or 'no proxy'}; data plane now: {lab.data_plane}); "
            f"expected {hops} proxies, {l7} parsing HTTP. Change the panel's mode (and waypoint), send "
            "traffic, then check again"
        ],
        "",
    )


PANEL_DATA_PLANE = Task(
    name="panel-data-plane",
    goal="With the control panel only (no code): put the lab in the data plane where a call from productpage "
    "to reviews crosses {hops} proxies, {l7} of which parse HTTP. Then run the check: it loads the page and "
    "counts the proxies on every call to reviews.",
    skeleton="(no YAML: the panel above is your answer; the check reads the running lab)",
    verify=_verify_data_plane,
    variants=({"hops": 3, "l7": 1}, {"hops": 2, "l7": 2}, {"hops": 2, "l7": 0}),
    answer="lab",
)


def _verify_waypoint_for(lab, params: dict, before, n: int = 10) -> Result:
    item, service = "waypoint-for-one-service", params["service"]
    res = pages(lab, n)
    by_service: dict[str, list] = {}
    for p in res.paths.values():
        for c in calls(p):
            by_service.setdefault(c.service, []).append(any(h.role == "waypoint" for h in c.proxies))
    problems = []
    mine = by_service.get(service, [])
    if not mine:
        problems.append(f"no call to {service} in {n} pages")
    elif not all(mine):
        problems.append(
            f"{mine.count(False)} of {len(mine)} calls to {service} crossed no waypoint"
            + (
                ""
                if lab.waypoint_of
                else ": no service uses a waypoint yet (is the Gateway's class the "
                "waypoint class, and does the label name the Gateway?)"
            )
        )
    others = sorted(s for s, ws in by_service.items() if s != service and any(ws))
    if others:
        problems.append(
            f"calls to {', '.join(others)} crossed the waypoint too: only {service} should use it "
            "(label the Service, not the namespace; a label applied earlier stays until you delete it: "
            f"lab.delete(kind='Service', name='{others[0]}'))"
        )
    return fails(
        item,
        problems,
        f"all {len(mine)} calls to {service} crossed the waypoint, calls to "
        f"{', '.join(sorted(s for s in by_service if s != service))} did not",
    )


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
    variants=({"service": "reviews"}, {"service": "ratings"}, {"service": "details"}),
)

TASKS = {t.name: t for t in (MESH_WITHOUT_RESTARTS, PANEL_DATA_PLANE, WAYPOINT_FOR_ONE_SERVICE)}
