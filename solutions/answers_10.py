"""Wrong answers and solutions for the tasks of notebook 10 (migrating to ambient): task -> (wrong
answer, solution), the values of the skeleton's blanks in order. A value in braces is the learner's
parameter (see meshlab.classroom.solutions)."""

ANSWERS = {
    # the waypoint deployed in the wrong namespace: reviews' label names a waypoint backend does not have.
    # The same for every variant: the learner's version is the route's, already in force
    "migrate-without-losing-the-route": (
        ["frontend", "waypoint", "ambient", "disabled"],
        ["backend", "waypoint", "ambient", "disabled"],
    ),
    # bound to the wrong service (no variant has ratings): the learner's service is left with no policy
    "l7-policy-to-the-waypoint": (["Service", "ratings", "GET"], ["Service", "{service}", "GET"]),
}
