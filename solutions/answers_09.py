"""Wrong answers and solutions for notebook 09's tasks (kept apart from the notebook and from
meshlab.tasks), for the first variant of each: the skeleton's blanks in order."""

ANSWERS = {
    # sidecar injection recreates backend's pods (the check then moves backend back to no mesh)
    "enroll-under-load": (["backend", "istio-injection", "enabled"],
                          ["backend", "istio.io/dataplane-mode", "ambient"]),
    # reviews-v2-0's identity is bookinfo-reviews: node-1's ztunnel holds it too (reviews-v1 runs there)
    "key-holders": (["ztunnel-node-2"], ["ztunnel-node-1, ztunnel-node-2"]),
}
