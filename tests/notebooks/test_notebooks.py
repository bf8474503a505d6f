"""Every notebook runs top to bottom headless, on the loopback backend, without an error, and
within Binder's memory (2 GB for everything: the kernel, its labs' pods and proxies)."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from meshlab.telemetry.cost import PeakMemory

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
BINDER_MEMORY_MB = 2048


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, tmp_path):
    if os.environ.get("MESHLAB_REQUIRE_BROWSER") == "1":
        pytest.skip("the browser test runs every notebook here (MESHLAB_REQUIRE_BROWSER=1) and checks the same: "
                    "no error, every figure drawn, within Binder's memory")
    nb = nbformat.read(path, as_version=4)
    mem = PeakMemory()
    mem.start()
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        mem.stop()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # a matplotlib Figure shows as an image only where IPython knows how to draw it (meshlab.viz
    # registers that); without it Jupyter prints "<Figure size ...>" and the learner sees no plot
    blind = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.output_type in ("execute_result", "display_data")
             and o.data.get("text/plain", "").startswith("<Figure") and "image/png" not in o.data]
    assert not blind, f"figures shown as text, not images: {blind}"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert images >= 1 or path.stem == "00-start-here", "no figure drawn (every notebook after 00 draws one)"
    print(f"{path.name}: peak memory (PSS, kernel and lab) {mem.peak_mb:.0f} MB")
    assert mem.peak_mb < BINDER_MEMORY_MB


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_a_guided_exercise(path):
    """What every notebook has (the curriculum's rules): a goal first, what was learned last, a
    navigation line linking every other notebook, predict-then-run questions with hints; answers
    to check start as None (so a headless run says "not answered yet"), and solutions stay folded."""
    nb = nbformat.read(path, as_version=4)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "**Goal:**" in md[0] and md[-1].startswith("## What you learned")
    for other in NOTEBOOKS:
        assert other == path or f"]({other.name})" in md[0], f"no link to {other.name}"
    assert any("Predict" in m for m in md) and any("<summary>Hint</summary>" in m for m in md)
    questions = re.findall(r"^(my_q\d+) = (.*?)\s*(?:#|$)", code, flags=re.M)
    for name, value in questions:
        assert value == "None", f"{name} starts as {value}, not None"
        assert re.search(rf"check\('\w+', (?:None if {name} is None else \w+\()?{name}\b", code), \
            f"{name} is never checked"
    if questions:
        assert any("<summary>Solution</summary>" in m for m in md)


PANEL_NOTEBOOKS = [p for p in NOTEBOOKS if "ControlPanel(" in p.read_text()]


@pytest.mark.parametrize("path", PANEL_NOTEBOOKS, ids=[p.stem for p in PANEL_NOTEBOOKS])
def test_the_panel_cell_runs_alone_after_a_restart(path, tmp_path):
    """Issue 15 (1): a learner who restarts the kernel and runs only the panel's cell gets the
    panel, not a NameError for something an earlier section imported; the lab it started stops
    with the kernel."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "ControlPanel(" in c.source)
    alone = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell.source),
                                            nbformat.v4.new_code_cell("print(type(lab).__name__, lab.running)")])
    NotebookClient(alone, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in alone.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, [(o.ename, o.evalue) for o in errors]
    panel = [o for o in alone.cells[0].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert panel, "the panel cell showed no widget"
    assert "Lab True" in "".join(o.get("text", "") for o in alone.cells[1].outputs)


def test_the_notebooks_are_what_tools_make_notebooks_writes():
    """The notebooks are generated (tools/make_notebooks.py): an edit made to a .ipynb alone would
    be lost at the next regeneration, and one made to the script alone would never reach learners."""
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS[0].parents[1] / "tools" / "make_notebooks.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    assert sorted(mk.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for p in NOTEBOOKS:
        assert json.loads(nbformat.writes(mk.build(p.name))) == json.loads(p.read_text()), \
            f"{p.name} differs from what tools/make_notebooks.py writes: run it and commit both"
    for name in mk.APPS:                         # the Voilà dashboard, outside the numbered curriculum
        assert json.loads(nbformat.writes(mk.build(name))) == json.loads((NOTEBOOKS[0].parent / name).read_text()), \
            f"{name} differs from what tools/make_notebooks.py writes: run it and commit both"
