"""Wrong answers and solutions for the tasks of notebook 07 (kept apart from the notebook and from
meshlab.tasks): task -> (wrong answer, solution), the values of the skeleton's blanks in order, for
the parameters a learner with no id gets (each task's first variant)."""

PRODUCTPAGE = "cluster.local/ns/default/sa/bookinfo-productpage"

ANSWERS = {
    # the forbidden method listed next to GET: productpage's POST passes
    "read-only-through-the-waypoint": (["Service", "reviews", PRODUCTPAGE, "GET, POST"],
                                       ["Service", "reviews", PRODUCTPAGE, "GET"]),
    # a second ALLOW cannot take away what reviews-callers gives
    "deny-wins-over-allow": (["ALLOW", "POST"], ["DENY", "POST"]),
    # the waypoint's policy denies GET: the pages lose their reviews, and POST passes in ambient mode
    "no-writes-in-both-modes": (["selector", "POST", "targetRefs", "GET"], ["selector", "POST", "targetRefs", "POST"]),
}
