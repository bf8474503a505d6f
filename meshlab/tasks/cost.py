"""Tasks about what the mesh costs (notebook 08): L7 where it is needed within a budget of proxies,
a cluster whose proxies are counted by nodes, not pods, and a load that a ztunnel pays for per
connection, not per request."""

from __future__ import annotations

from ..exercises import Result, Task, fails

from ..probes import calls, pages
from ..modes import PROXY_ROLES


def proxy_processes(lab) -> dict[str, int]:
    """How many proxy processes the lab runs, by role (what a cluster's bill counts)."""
    out: dict[str, int] = {}
    for u in lab.usage().values():
        if u.role in PROXY_ROLES:
            out[u.role] = out.get(u.role, 0) + 1
    return out


def _verify_l7_budget(lab, params: dict, before=None, n: int = 8) -> Result:
    item, service, budget = "l7-on-a-budget", params["service"], params["budget"]
    res = pages(lab, n)
    problems = []
    running = proxy_processes(lab)
    if sum(running.values()) > budget:
        problems.append(
            f"the cluster runs {sum(running.values())} proxy processes "
            f"({', '.join(f'{k} {v}' for k, v in sorted(running.items()))}); the budget is {budget}"
        )
    all_calls = [c for p in res.paths.values() for c in calls(p)]
    plain = [c for c in all_calls if not any(h.mtls for h in c.proxies)]
    if plain:
        problems.append(
            f"{len(plain)} of {len(all_calls)} calls were not mutual TLS (e.g. to {plain[0].service})"
        )
    mine = [c for c in all_calls if c.service == service]
    no_l7 = [c for c in mine if c.l7 == 0]
    if not mine:
        problems.append(f"no call to {service} in {n} pages")
    elif no_l7:
        problems.append(
            f"{len(no_l7)} of {len(mine)} calls to {service} crossed no proxy that parses HTTP "
            f"({' -> '.join(h.name for h in no_l7[0].proxies) or 'no proxy'}): its VirtualService's "
            "retries apply nowhere"
        )
    if res.summary()["requests"]["ok"] != n:
        problems.append(f"only {res.summary()['requests']['ok']} of {n} pages were 200")
    return fails(
        item,
        problems,
        f"{sum(running.values())} proxy processes (budget {budget}), every call mutual TLS, "
        f"and every call to {service} parsed by an L7 proxy "
        f"({' -> '.join(h.name for h in mine[0].proxies)})",
    )


def _retries_for(lab, params: dict) -> None:
    """The L7 feature the budget task is about: a retry policy for the learner's service."""
    s = params["service"]
    lab.apply(f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {s}}}
spec:
  hosts: [{s}]
  http:
  - route:
    - destination: {{host: {s}}}
    retries: {{attempts: 2, retryOn: 5xx}}
""")


L7_ON_A_BUDGET = Task(
    name="l7-on-a-budget",
    goal="Bookinfo runs with no mesh; a VirtualService gives {service} a retry policy, which only a proxy that "
    "parses HTTP can apply. Bring the namespace into the mesh so that every call is mutual TLS and every "
    "call to {service} crosses an L7 proxy, with at most {budget} proxy processes in the whole cluster "
    "(it has 2 nodes and 7 pods).",
    skeleton="""\
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: {___: ___}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  labels: {istio.io/waypoint-for: service}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
---
apiVersion: v1
kind: Service
metadata:
  name: ___
  labels: {istio.io/use-waypoint: ___}
""",
    verify=_verify_l7_budget,
    setup=_retries_for,
    variants=(
        {"service": "reviews", "budget": 3},
        {"service": "ratings", "budget": 3},
        {"service": "details", "budget": 3},
    ),
)


def _verify_per_node(lab, params: dict, before=None, n: int = 3) -> Result:
    item, want_pods, want_proxies = "proxies-by-nodes", params["pods"], params["proxies"]
    running = proxy_processes(lab)
    service_pods = [row["pod"] for row in lab.pods() if not row["pod"].startswith("client-")]
    problems = []
    if len(service_pods) != want_pods:
        problems.append(
            f"the cluster has {len(service_pods)} service pods (besides the client); expected {want_pods}: "
            "a generated cluster has services x replicas of them"
        )
    if sum(running.values()) != want_proxies:
        why = (
            " (one sidecar in every pod, the client's too)"
            if running.get("sidecar")
            else " (one ztunnel per node)"
            if running.get("ztunnel")
            else ""
        )
        problems.append(f"it runs {sum(running.values())} proxy processes{why}; expected {want_proxies}")
    res = pages(lab, n)
    plain = [c for p in res.paths.values() for c in calls(p) if not any(h.mtls for h in c.proxies)]
    if plain:
        problems.append(f"{len(plain)} calls were not mutual TLS: the cluster must be in the mesh")
    return fails(
        item,
        problems,
        f"{len(service_pods)} service pods, {sum(running.values())} proxy processes "
        f"({', '.join(f'{k} {v}' for k, v in sorted(running.items()))}), every call mutual TLS",
    )


PROXIES_BY_NODES = Task(
    name="proxies-by-nodes",
    goal="Start a generated Bookinfo cluster with {pods} service pods, all in the mesh (every call mutual TLS), "
    "whose mesh runs exactly {proxies} proxy processes. Write the Lab line in the check cell, run it, set "
    "answer = 'done' and run the cell.",
    skeleton="lab = Lab('gen:services=___,replicas=___,nodes=___', mode='___', verbose=False).start()",
    verify=_verify_per_node,
    variants=({"pods": 12, "proxies": 3}, {"pods": 16, "proxies": 4}, {"pods": 10, "proxies": 5}),
    answer="lab",
)


def _opened_by_ztunnels(lab) -> int:
    """Connections the ztunnels opened on their source side so far (istio_tcp_connections_opened_total)."""
    from prometheus_client.parser import text_string_to_metric_families

    n = 0
    for z in (p for p in lab.proxies if p.startswith("ztunnel-")):
        for fam in text_string_to_metric_families(lab.metrics(z)):
            n += sum(
                int(x.value)
                for x in fam.samples
                if x.name == "istio_tcp_connections_opened_total" and x.labels.get("reporter") == "source"
            )
    return n


def _verify_per_connection(lab, params: dict, answer, requests: int = 400) -> Result:
    item, most = "connections-not-requests", params["connections"]
    if not isinstance(answer, dict) or not {"concurrency", "keep_alive"} <= set(answer):
        return fails(item, ["the answer needs concurrency: and keep_alive: (the skeleton's two lines)"], "")
    c, keep = answer["concurrency"], answer["keep_alive"]
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 64:
        return fails(item, [f"concurrency must be a whole number from 1 to 64; got {c!r}"], "")
    if not isinstance(keep, bool):
        return fails(item, [f"keep_alive must be true or false; got {keep!r}"], "")
    if not getattr(lab, "running", False) or lab.mode != "ambient":
        return fails(item, ["run the task's first cell: the check needs its ambient lab running"], "")
    before = _opened_by_ztunnels(lab)
    res = lab.load(
        "client",
        requests=requests,
        concurrency=c,
        progress=False,
        headers=None if keep else {"connection": "close"},
    )
    opened = _opened_by_ztunnels(lab) - before
    ok = res.summary()["requests"]["ok"]
    problems = []
    if ok != requests:
        problems.append(f"only {ok} of {requests} requests were answered 200")
    if opened > most:
        problems.append(
            f"the ztunnels opened {opened} connections for {requests} requests; the budget is {most}. A "
            "ztunnel pays for every new connection (an HBONE stream, a TCP connection to the app), "
            "and a new connection per request makes it pay per request"
            if not keep
            else f"the ztunnels opened {opened} connections for {requests} requests; the budget is {most}: each "
            "of the load's connections is one the ztunnels carry"
        )
    return fails(
        item,
        problems,
        f"{requests} requests over {opened} connections: the ztunnels paid for {opened} "
        "connections and then only moved bytes",
    )


CONNECTIONS_NOT_REQUESTS = Task(
    name="connections-not-requests",
    goal="A ztunnel pays per connection, a sidecar per request. Send 400 requests from the client to the server "
    "(ambient mode) so that the ztunnels open at most {connections} connections in all: choose the load's "
    "concurrency and whether it keeps its connections alive.",
    skeleton="""\
concurrency: ___     # connections the load uses at once (1 to 64)
keep_alive: ___      # true: each connection carries many requests; false: a new connection for every request
""",
    verify=_verify_per_connection,
    answer="value",
    variants=({"connections": 4}, {"connections": 8}, {"connections": 2}),
)


TASKS = {t.name: t for t in (L7_ON_A_BUDGET, PROXIES_BY_NODES, CONNECTIONS_NOT_REQUESTS)}
