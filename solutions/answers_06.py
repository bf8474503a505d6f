"""Wrong answers and solutions for the tasks of notebook 06 (circuit breaking and outlier detection),
kept apart from the notebook and from meshlab.tasks: task -> (wrong answer, solution), the values of
the skeleton's blanks in order. A value in braces is the learner's parameter; a function is computed
from them (see meshlab.classroom.solutions)."""


def _duration(p: dict) -> str:
    """The longest baseEjectionTime the learner may set, as a duration (180 s: Istio's task's 3m)."""
    s = p["within"]
    return f"{s // 60}m" if s % 60 == 0 else f"{s}s"


ANSWERS = {
    # the limit as high as the client's concurrency: nothing is refused, httpbin gets them all at once
    "cap-requests-in-flight": (["http2MaxRequests", "{concurrency}"], ["http2MaxRequests", "{limit}"]),
    # Istio's task's outlier detection without maxEjectionPercent 100: the default 10% ejects nothing
    "eject-the-crashed-pod": (["1", _duration, "10"], ["1", _duration, "100"]),
}
