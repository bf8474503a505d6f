"""Wrong answers and solutions for the tasks of notebooks 00-04 (kept apart from the notebooks and
from meshlab.tasks): task -> (wrong answer, solution). A YAML task's answers are the values of its
blanks, in order; a task whose answer is the lab itself (the panel) gets code that sets the lab up.
A value in braces is the learner's parameter, a function is computed from the learner's parameters
(meshlab.classroom.solutions fills both in); other values are the same for every variant."""

CALLER = "cluster.local/ns/default/sa/{account}"  # the service account of the one allowed caller

#: panel-data-plane: (proxies on a call to reviews, how many parse HTTP) -> (a neighbouring data plane,
#: the data plane that gives them)
PANEL = {
    (3, 1): ("lab.set_mode('sidecar')", "lab.set_mode('ambient'); lab.set_waypoints(['reviews'])"),
    (2, 2): (
        "lab.set_mode('ambient'); lab.set_waypoints(['reviews'])",
        "lab.set_waypoints(None); lab.set_mode('sidecar')",
    ),
    (2, 0): ("lab.set_mode('sidecar')", "lab.set_waypoints(None); lab.set_mode('ambient')"),
}

ANSWERS = {
    "reviews-to-one-version": (
        ["istio.io/dataplane-mode", "ambient", "{version}"],
        ["istio-injection", "enabled", "{version}"],
    ),
    "mesh-without-restarts": (["istio.io/dataplane-mode", "none"], ["istio.io/dataplane-mode", "ambient"]),
    # the panel's answer is the lab: code that puts it in the data plane of the learner's numbers
    "panel-data-plane": (lambda p: PANEL[p["hops"], p["l7"]][0], lambda p: PANEL[p["hops"], p["l7"]][1]),
    "waypoint-for-one-service": (
        ["istio", "{service}", "my-waypoint"],
        ["istio-waypoint", "{service}", "my-waypoint"],
    ),
    "jason-to-reviews-v2": (
        ["end-user", "{user}", "v1", "{version}"],
        ["end-user", "{user}", "{version}", "v1"],
    ),
    "only-one-caller-through-the-waypoint": (
        ["Service", "{service}", "ALLOW", "cluster.local/ns/default/sa/curl"],
        ["Service", "{service}", "ALLOW", CALLER],
    ),
    "only-one-caller": (
        ["{service}", "ALLOW", "cluster.local/ns/default/sa/curl"],
        ["{service}", "ALLOW", CALLER],
    ),
    "permissive-to-strict": (
        ["istio-system", "STRICT", "{strict}", "STRICT"],
        ["istio-system", "STRICT", "{permissive}", "PERMISSIVE"],
    ),
    # attempts counts retries, not tries: attempts = max_tries allows one try too many in an outage
    "stop-the-retry-storm": (["{max_tries}", "5xx"], [lambda p: str(p["max_tries"] - 1), "5xx"]),
    # productpage retries reviews once, so a page can wait two timeouts: a timeout under the limit but
    # over half of it is too long; half of (limit - 0.5 s) leaves the page 0.5 s (Istio's task: 0.5s)
    "page-deadline": ([lambda p: f"{p['limit'] - 0.5:g}s"], [lambda p: f"{(p['limit'] - 0.5) / 2:g}s"]),
}
