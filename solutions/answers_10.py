"""Wrong answers and solutions for the tasks of notebook 10 (migrating to ambient): task -> (wrong
answer, solution), the values of the skeleton's blanks in order, for the first variant."""

ANSWERS = {
    # the waypoint deployed in the wrong namespace: reviews' label names a waypoint backend does not have
    "migrate-without-losing-the-route": (["frontend", "waypoint", "ambient", "disabled"],
                                         ["backend", "waypoint", "ambient", "disabled"]),
    # bound to the wrong service: reviews is left with no policy at all
    "l7-policy-to-the-waypoint": (["Service", "ratings", "GET"], ["Service", "reviews", "GET"]),
}
