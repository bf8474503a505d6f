"""Wrong answers and solutions for the tasks of notebook 07 (kept apart from the notebook and from
meshlab.tasks): task -> (wrong answer, solution), the values of the skeleton's blanks in order. A
value in braces is the learner's parameter (see meshlab.classroom.solutions)."""

CALLER = "cluster.local/ns/default/sa/{account}"  # the service account of the one caller allowed

ANSWERS = {
    # the forbidden method listed next to GET: the caller's write passes
    "read-only-through-the-waypoint": (
        ["Service", "{service}", CALLER, "GET, {method}"],
        ["Service", "{service}", CALLER, "GET"],
    ),
    # a second ALLOW cannot take away what reviews-callers gives
    "deny-wins-over-allow": (["ALLOW", "{method}"], ["DENY", "{method}"]),
    # the waypoint's policy denies GET: the pages lose their reviews, and the write passes in ambient mode
    "no-writes-in-both-modes": (
        ["selector", "{method}", "targetRefs", "GET"],
        ["selector", "{method}", "targetRefs", "{method}"],
    ),
}
