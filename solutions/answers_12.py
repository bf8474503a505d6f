"""Wrong answers and solutions for notebook 12's tasks (the capstone). make-the-mesh-healthy is a lab
task (code that fixes the lab: which fixes depends on the three faults the learner's variant seeded);
export-it gives the folder's path. A function is computed from the learner's parameters (see
meshlab.classroom.solutions)."""

#: the targeted fix of each seeded fault (meshlab.tasks.capstone.FAULTS)
FIX = {
    # the team's DestinationRule for reviews, with its v3 subset, back in place of the one that lost it
    "subset": "lab.apply(BASELINE.split('---')[0])",
    # the L4 DENY at details' ztunnel is no part of what the team meant
    "deny": "lab.delete(kind='AuthorizationPolicy', name='details-deny', namespace='backend')",
    # nor is the client's DestinationRule that turns mutual TLS off
    "plaintext": "lab.delete(kind='DestinationRule', name='productpage', namespace='frontend')",
    # ratings' ALLOW policy corrected (reviews' account in backend), not deleted: deleting it lets anyone in
    "identity": "lab.apply(BASELINE.split('---')[3])",
}


def _fixes(p: dict) -> str:
    return "ex.begin(task, lab)\nfrom meshlab.tasks.capstone import BASELINE\n" + "\n".join(
        FIX[f] for f in p["faults"]
    )


ANSWERS = {
    # deleting everything makes the pages whole and takes the team's route, STRICT and the ratings policy
    # (the solution runs after the wrong answer, on the same lab: it seeds the task again first)
    "make-the-mesh-healthy": ("lab.delete(all=True)", _fixes),
    # the notebook's own folder is not an export; the folder the cell above wrote is
    "export-it": (["."], ["capstone-export"]),
}
