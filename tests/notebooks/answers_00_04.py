"""Wrong answers and solutions for the tasks of notebooks 00-04 (kept apart from the notebooks and
from meshlab.tasks): task -> (wrong answer, solution), for the parameters a learner with no id gets
(each task's first variant). A YAML task's answers are the values of its blanks, in order; a task
whose answer is the lab itself (the panel) gets code that sets the lab up."""

PRODUCTPAGE = "cluster.local/ns/default/sa/bookinfo-productpage"

ANSWERS = {
    "reviews-to-one-version": (["istio.io/dataplane-mode", "ambient", "v3"], ["istio-injection", "enabled", "v3"]),
    "mesh-without-restarts": (["istio.io/dataplane-mode", "none"], ["istio.io/dataplane-mode", "ambient"]),
    "panel-data-plane": ("lab.set_mode('sidecar')", "lab.set_mode('ambient'); lab.set_waypoints(['reviews'])"),
    "waypoint-for-one-service": (["istio", "reviews", "my-waypoint"], ["istio-waypoint", "reviews", "my-waypoint"]),
    "jason-to-reviews-v2": (["end-user", "jason", "v1", "v2"], ["end-user", "jason", "v2", "v1"]),
    "only-one-caller-through-the-waypoint": (["Service", "reviews", "ALLOW", "cluster.local/ns/default/sa/curl"],
                                             ["Service", "reviews", "ALLOW", PRODUCTPAGE]),
    "only-one-caller": (["reviews", "ALLOW", "cluster.local/ns/default/sa/curl"], ["reviews", "ALLOW", PRODUCTPAGE]),
    "permissive-to-strict": (["istio-system", "STRICT", "foo", "STRICT"],
                             ["istio-system", "STRICT", "bar", "PERMISSIVE"]),
    "stop-the-retry-storm": (["2", "5xx"], ["1", "5xx"]),
    "page-deadline": (["1s"], ["0.5s"]),
}
