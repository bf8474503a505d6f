"""Wrong answers and solutions for notebook 08's tasks (kept apart from the notebook and from
meshlab.tasks), for the first variant of each: a YAML task's blanks in order; for a task whose answer
is the lab itself, code that starts the learner's lab."""

ANSWERS = {
    "l7-on-a-budget": (["istio-injection", "enabled", "reviews", "waypoint"],
                       ["istio.io/dataplane-mode", "ambient", "reviews", "waypoint"]),
    "proxies-by-nodes": ("lab = Lab('gen:services=12,replicas=1,nodes=2', mode='sidecar', verbose=False).start()",
                         "lab.stop()\nlab = Lab('gen:services=4,replicas=3,nodes=3', mode='ambient', verbose=False).start()"),
    "connections-not-requests": (["4", "false"], ["4", "true"]),
}
