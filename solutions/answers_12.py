"""Wrong answers and solutions for notebook 12's tasks (the capstone), for the first variant of each.
make-the-mesh-healthy is a lab task (code that fixes the lab: variant 0 seeds subset, deny and
plaintext); export-it gives the folder's path."""

ANSWERS = {
    # deleting everything makes the pages whole and takes the team's route, STRICT and the ratings policy
    # (the solution runs after the wrong answer, on the same lab: it seeds the task again first)
    "make-the-mesh-healthy": (
        "lab.delete(all=True)",
        "ex.begin(task, lab)\n"
        "from meshlab.tasks.capstone import BASELINE\n"
        "lab.apply(BASELINE.split('---')[0])\n"
        "lab.delete(kind='AuthorizationPolicy', name='details-deny', namespace='backend')\n"
        "lab.delete(kind='DestinationRule', name='productpage', namespace='frontend')"),
    # the notebook's own folder is not an export; the folder the cell above wrote is
    "export-it": (["."], ["capstone-export"]),
}
