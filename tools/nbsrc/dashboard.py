"""The dashboard notebook (a Voilà app, outside the numbered curriculum): the cells
``tools/make_notebooks.py`` writes to ``notebooks/dashboard/dashboard.ipynb``."""

from nbformat.v4 import new_code_cell, new_markdown_cell

NAME = "dashboard/dashboard"


def cells() -> list:
    return [
        new_markdown_cell(
            "# meshlab dashboard\n\nRecorded runs of the lab, and a live lab. **Recordings**: pick one (they were "
            "recorded on the mininet backend; each says where and when), a run and a request, and see its path on "
            "the topology, hop by hop, the latency of every run and what the proxies cost — no lab needed. "
            "Open your own with *open a file* (`meshlab run ... --record run.json.gz`). **Live lab**: start "
            "Bookinfo here and drive it with the control panel.\n\n"
            "As an app: `voila notebooks/dashboard/dashboard.ipynb`; the guided exercises start at "
            "[00 Start here](../00-start-here.ipynb)."
        ),
        new_code_cell("from meshlab.dashboard import Dashboard\n\nDashboard()"),
    ]
