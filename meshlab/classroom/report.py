"""``meshlab classroom report``: the class at a glance, from a grades CSV (``meshlab classroom grade``).

- a PNG: learners x tasks, passed or not — in colours told apart in every common colour-vision
  deficiency (Okabe-Ito blue and vermillion) *and* a mark in each cell (✓, ✗) — and the pass rate of
  each task as bars with their percentages. The grid it drew is also in the PNG's metadata
  (``meshlab-grid``: learners, tasks, the 0/1 matrix and each cell's pixel), so it can be checked
  against the grades by its data.
- an HTML page: the same picture, then each task's pass rate and, for the tasks most failed, their
  commonest messages.
- a CSV beside them: one row per task (passed, learners, pass rate, commonest failure message).
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import Counter
from pathlib import Path

from .grade import COLUMNS
from .roster import ClassroomError

PASS, FAIL = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion


def read_grades(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ClassroomError(f"{path}: cannot read the grades: {e.strerror or e}") from None
    missing = [c for c in COLUMNS if rows and c not in rows[0]] if rows else COLUMNS
    if missing:
        raise ClassroomError(
            f"{path}:1: not a grades file from `meshlab classroom grade` (no column "
            f"{', '.join(missing)}; expected {', '.join(COLUMNS)})"
        )
    for n, r in enumerate(rows, start=2):
        if r["pass"] not in ("True", "False"):
            raise ClassroomError(f"{path}:{n}: pass: {r['pass']!r}; allowed: True, False")
    return rows


def summary(rows: list[dict]) -> dict:
    """learners, tasks ("notebook:task"), grid[learner][task] (1, 0 or None: not submitted), and per
    task: passed, of, rate, the commonest failure messages."""
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    tasks = list(dict.fromkeys(f"{r['notebook']}:{r['task']}" for r in rows))
    grid = {lr: {t: None for t in tasks} for lr in learners}
    fails: dict[str, Counter] = {t: Counter() for t in tasks}
    for r in rows:
        t = f"{r['notebook']}:{r['task']}"
        grid[r["learner"]][t] = int(r["pass"] == "True")
        if r["pass"] != "True":
            fails[t][r["message"]] += 1
    per_task = {}
    for t in tasks:
        got = [grid[lr][t] for lr in learners if grid[lr][t] is not None]
        per_task[t] = {
            "passed": sum(got),
            "of": len(got),
            "rate": sum(got) / len(got) if got else 0.0,
            "messages": fails[t].most_common(3),
        }
    return {"learners": learners, "tasks": tasks, "grid": grid, "per_task": per_task}


def figure(s: dict):
    """The heatmap and the pass-rate bars (a matplotlib Figure) and each grid cell's centre in
    figure pixels, from the top left, as the PNG saved at the figure's dpi has it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    learners, tasks = s["learners"], s["tasks"]
    w = max(6.0, 1.0 + 0.45 * len(tasks))
    h = 2.6 + 0.32 * len(learners) + 0.1 * max(len(t) for t in tasks)
    fig = Figure(figsize=(w, h + 2.2), dpi=100, layout="constrained")
    ax, bars = fig.subplots(2, 1, height_ratios=[h, 2.2])
    data = [[-1 if s["grid"][lr][t] is None else s["grid"][lr][t] for t in tasks] for lr in learners]
    cmap = ListedColormap(["#BBBBBB", FAIL, PASS])
    ax.imshow(data, cmap=cmap, vmin=-1.5, vmax=1.5, aspect="auto", interpolation="nearest")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, {1: "✓", 0: "✗", -1: "–"}[v], ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks([x - 0.5 for x in range(1, len(tasks))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(learners))], minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(len(tasks)), tasks, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(learners)), learners, fontsize=9)
    ax.set_title(
        f"{len(learners)} learners x {len(tasks)} tasks: ✓ passed (blue), ✗ not passed (vermillion), "
        "– not submitted (grey)",
        fontsize=9,
    )
    rates = [100 * s["per_task"][t]["rate"] for t in tasks]
    bars.bar(range(len(tasks)), rates, color=PASS)
    for j, v in enumerate(rates):
        bars.text(j, v + 2, f"{v:.0f}%", ha="center", fontsize=7)
    bars.set_ylim(0, 115)
    bars.set_ylabel("pass rate (%)")
    bars.set_xticks(range(len(tasks)), [t.split(":")[1] for t in tasks], rotation=60, ha="right", fontsize=7)
    FigureCanvasAgg(fig).draw()
    height = fig.bbox.height
    centres = [
        [
            [round(x), round(height - y)]
            for x, y in (ax.transData.transform((j, i)) for j in range(len(tasks)))
        ]
        for i in range(len(learners))
    ]
    return fig, centres


def report(grades: str | Path, out: str | Path, force: bool = False) -> list[Path]:
    """Write OUT (.png), OUT's .html and OUT's -tasks.csv; returns their paths."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ClassroomError(f"{out}: -o takes a .png file (the .html and -tasks.csv are written beside it)")
    paths = [out, out.with_suffix(".html"), out.with_name(out.stem + "-tasks.csv")]
    for p in paths:
        if p.exists() and not force:
            raise ClassroomError(
                f"{p} exists; meshlab will not overwrite it. Choose another -o, or pass --force"
            )
    rows = read_grades(grades)
    if not rows:
        raise ClassroomError(f"{grades}: no grades in it")
    s = summary(rows)
    fig, centres = figure(s)
    grid = {
        "learners": s["learners"],
        "tasks": s["tasks"],
        "passed": [[s["grid"][lr][t] for t in s["tasks"]] for lr in s["learners"]],
        "pixels": centres,
    }
    fig.savefig(out, dpi=100, metadata={"meshlab-grid": json.dumps(grid)})
    with open(paths[2], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "passed", "learners", "pass_rate", "most_common_failure"])
        for t in s["tasks"]:
            p = s["per_task"][t]
            w.writerow(
                [t, p["passed"], p["of"], round(p["rate"], 3), p["messages"][0][0] if p["messages"] else ""]
            )
    png = base64.b64encode(out.read_bytes()).decode()
    worst = sorted(s["tasks"], key=lambda t: s["per_task"][t]["rate"])
    items = "".join(
        f"<li><b>{html.escape(t)}</b>: {s['per_task'][t]['passed']} of {s['per_task'][t]['of']} passed<ul>"
        + "".join(f"<li>{n} x {html.escape(m)}</li>" for m, n in s["per_task"][t]["messages"])
        + "</ul></li>"
        for t in worst
        if s["per_task"][t]["messages"]
    )
    table = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{s['per_task'][t]['passed']}/{s['per_task'][t]['of']}</td>"
        f"<td>{100 * s['per_task'][t]['rate']:.0f}%</td></tr>"
        for t in s["tasks"]
    )
    paths[1].write_text(
        "<!doctype html><meta charset='utf-8'><title>meshlab: the class</title>"
        f"<h1>The class: {len(s['learners'])} learners, {len(s['tasks'])} tasks</h1>"
        f"<img alt='learners x tasks: passed or not' src='data:image/png;base64,{png}'>"
        f"<h2>Pass rate per task</h2><table><tr><th>task</th><th>passed</th><th>rate</th></tr>{table}</table>"
        f"<h2>The tasks most failed, and what their checks said</h2><ol>{items}</ol>",
        encoding="utf-8",
    )
    return paths
