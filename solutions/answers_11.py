"""Wrong answers and solutions for the tasks of notebook 11 (observability and debugging): task ->
(wrong answer, solution). find-the-fault is a lab task (code that fixes the lab: which fix depends on
the fault the learner's variant seeded); let-the-waypoint-through gives the values of the skeleton's
blanks in order. A value in braces is the learner's parameter; a function is computed from them (see
meshlab.classroom.solutions)."""

SA = "cluster.local/ns/default/sa/"

#: the targeted fix of each seeded fault (meshlab.tasks.observability.BROKEN)
FIX = {
    # the ratings VirtualService aborts every request (fault injection, flag FI)
    "abort": "lab.delete(kind='VirtualService', name='ratings')",
    # the ratings route names a subset no DestinationRule defines (503, flag NC): route to v1, which exists
    "subset": "lab.apply(\"apiVersion: networking.istio.io/v1\\nkind: VirtualService\\nmetadata: {name: ratings}\\n"
    "spec:\\n  hosts: [ratings]\\n  http:\\n  - route:\\n    - destination: {host: ratings, subset: v1}\\n\")",
    # a DENY policy at details' sidecar for its only caller, productpage (403, RBAC: access denied)
    "deny": "lab.delete(kind='AuthorizationPolicy', name='details-access')",
    # details' DestinationRule tells its callers' sidecars not to use mutual TLS, under STRICT (503, flag UC)
    "tls": "lab.delete(kind='DestinationRule', name='details')",
}

ANSWERS = {
    # deleting everything makes the pages whole too, and takes the subsets, the split, the timeout and
    # STRICT with it (the solution runs after the wrong answer, on the same lab: it puts the task's
    # objects back first)
    "find-the-fault": ("lab.delete(all=True)", lambda p: "ex.begin(task, lab)\n" + FIX[p["fault"]]),
    # the caller listed twice leaves the waypoint's identity refused
    "let-the-waypoint-through": (
        ["{service}-callers", "{service}", SA + "{account}", SA + "{account}"],
        ["{service}-callers", "{service}", SA + "{account}", SA + "waypoint"],
    ),
}
