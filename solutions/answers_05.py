"""Wrong answers and solutions for the tasks of notebook 05 (kept apart from the notebook and from
meshlab.tasks): task -> (wrong answer, solution), the values of the skeleton's blanks in order, for
each task's first variant (Istio's own numbers)."""

ANSWERS = {
    # v2 instead of v3: the canary goes to the wrong version
    "canary-step": (["v1", "50", "v2", "50"], ["v1", "50", "v3", "50"]),
    # the weights swapped: 80% to the canary
    "tester-and-canary-through-the-waypoint": (["waypoint", "end-user", "jason", "v2", "v1", "20", "v3", "80"],
                                               ["waypoint", "end-user", "jason", "v2", "v1", "80", "v3", "20"]),
}
