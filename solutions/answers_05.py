"""Wrong answers and solutions for the tasks of notebook 05 (kept apart from the notebook and from
meshlab.tasks): task -> (wrong answer, solution), the values of the skeleton's blanks in order. A
value in braces is the learner's parameter; a function is computed from them (see
meshlab.classroom.solutions)."""


def _rest(p: dict) -> str:
    """What v1 keeps of the canary step: the weights of one route add up to 100, as in Istio's task."""
    return str(100 - p["weight"])


ANSWERS = {
    # v2 instead of v3: the canary goes to the wrong version
    "canary-step": (["v1", _rest, "v2", "{weight}"], ["v1", _rest, "v3", "{weight}"]),
    # the weights swapped: the canary's share to v1, the stable share to the canary
    "tester-and-canary-through-the-waypoint": (
        ["waypoint", "end-user", "{user}", "v2", "v1", "{canary}", "v3", "{stable}"],
        ["waypoint", "end-user", "{user}", "v2", "v1", "{stable}", "v3", "{canary}"],
    ),
}
