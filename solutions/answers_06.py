"""Wrong answers and solutions for the tasks of notebook 06 (circuit breaking and outlier detection),
kept apart from the notebook and from meshlab.tasks: task -> (wrong answer, solution), the values of
the skeleton's blanks in order, for each task's first variant (Istio's own numbers)."""

ANSWERS = {
    # the limit as high as the client's concurrency: nothing is refused, httpbin gets 3 at once
    "cap-requests-in-flight": (["http2MaxRequests", "3"], ["http2MaxRequests", "1"]),
    # Istio's task's outlier detection without maxEjectionPercent 100: the default 10% ejects nothing
    "eject-the-crashed-pod": (["1", "3m", "10"], ["1", "3m", "100"]),
}
