"""Wrong answers and solutions for notebook 09's tasks (kept apart from the notebook and from
meshlab.tasks): the skeleton's blanks in order. A value in braces is the learner's parameter; a
function is computed from them (see meshlab.classroom.solutions)."""

#: who holds each variant's workload key in the task's lab (bookinfo-two-namespaces: frontend on
#: sidecars, backend in ambient mode; node-1 runs productpage, client, details, reviews-v1; node-2
#: reviews-v2, reviews-v3, ratings): a ztunnel holds the key of every service account it serves a pod of
HOLDERS = {
    "reviews-v2-0": "ztunnel-node-1, ztunnel-node-2",  # reviews-v1 runs on node-1
    "details-v1-0": "ztunnel-node-1",
    "productpage-v1-0": "productpage-v1-0/istio-proxy",  # frontend keeps its sidecars
    "ratings-v1-0": "ztunnel-node-2",
}

#: a common wrong answer for each: only the pod's own node (reviews), every ztunnel (details, ratings),
#: the node's ztunnel for a pod with a sidecar (productpage)
GUESSES = {
    "reviews-v2-0": "ztunnel-node-2",
    "details-v1-0": "ztunnel-node-1, ztunnel-node-2",
    "productpage-v1-0": "ztunnel-node-1",
    "ratings-v1-0": "ztunnel-node-1, ztunnel-node-2",
}

ANSWERS = {
    # sidecar injection recreates the namespace's pods (the check then moves it back to no mesh)
    "enroll-under-load": (
        ["{namespace}", "istio-injection", "enabled"],
        ["{namespace}", "istio.io/dataplane-mode", "ambient"],
    ),
    "key-holders": ([lambda p: GUESSES[p["workload"]]], [lambda p: HOLDERS[p["workload"]]]),
}
