"""Wrong answers and solutions for notebook 08's tasks (kept apart from the notebook and from
meshlab.tasks): a YAML or value task's blanks in order; for a task whose answer is the lab itself,
code that starts the learner's lab. A value in braces is the learner's parameter; a function is
computed from them (see meshlab.classroom.solutions)."""


def _cluster(p: dict) -> str:
    """A generated cluster of p["pods"] service pods (services x replicas) on p["proxies"] nodes, in
    ambient mode: one ztunnel per node is all its mesh runs (sidecar mode would run one per pod, the
    client's too)."""
    services, replicas = (4, p["pods"] // 4) if p["pods"] % 4 == 0 else (p["pods"] // 2, 2)
    assert services * replicas == p["pods"], p
    return (
        f"lab.stop()\nlab = Lab('gen:services={services},replicas={replicas},nodes={p['proxies']}', "
        "mode='ambient', verbose=False).start()"
    )


ANSWERS = {
    # sidecars for every pod: the mesh runs 7 proxies, over the budget (and the label recreates the pods)
    "l7-on-a-budget": (
        ["istio-injection", "enabled", "{service}", "waypoint"],
        ["istio.io/dataplane-mode", "ambient", "{service}", "waypoint"],
    ),
    # the right pods, in sidecar mode: one proxy per pod and one for the client
    "proxies-by-nodes": (
        "lab = Lab('gen:services={pods},replicas=1,nodes=2', mode='sidecar', verbose=False).start()",
        _cluster,
    ),
    # a new connection per request: the ztunnels open one per request
    "connections-not-requests": (["{connections}", "false"], ["{connections}", "true"]),
}
