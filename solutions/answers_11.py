"""Wrong answers and solutions for the tasks of notebook 11 (observability and debugging): task ->
(wrong answer, solution), for the first variant. find-the-fault is a lab task (code that fixes the
lab); let-the-waypoint-through gives the values of the skeleton's blanks in order."""

ANSWERS = {
    # variant 0: the ratings VirtualService aborts every request (FI). Deleting everything makes the
    # pages whole too, and takes the subsets, the split, the timeout and STRICT with it
    # (the solution runs after the wrong answer, on the same lab: it puts the task's objects back first)
    "find-the-fault": ("lab.delete(all=True)",
                       "ex.begin(task, lab)\nlab.delete(kind='VirtualService', name='ratings')"),
    # variant 0: productpage, called by the client (curl); the caller listed twice leaves the
    # waypoint's identity refused
    "let-the-waypoint-through": (["productpage-callers", "productpage", "cluster.local/ns/default/sa/curl",
                                  "cluster.local/ns/default/sa/curl"],
                                 ["productpage-callers", "productpage", "cluster.local/ns/default/sa/curl",
                                  "cluster.local/ns/default/sa/waypoint"]),
}
