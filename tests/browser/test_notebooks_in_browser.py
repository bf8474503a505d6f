"""Every notebook, as a learner runs it: opened in JupyterLab in a real browser (headless Chromium
through Playwright), *Run All*, then looked at (issue 15).

For each notebook: no news popup over the plots, every cell ran with no error output, every
figure drawn as an image (none left as ``<Figure size …>`` text), the notebook's kernel and
everything it started stayed within Binder's 2 GB (PSS), and — where the notebook has a
control panel — a send after Run All succeeds and redraws the plots; on 01's panel (the one with
the guided task: the same ControlPanel as 04's) a rapid sequence of clicks (mode, send, mode back)
leaves the controls showing the lab's real mode with no traceback, and the guided task is done
with the panel alone. Screenshots of each notebook after Run All (scrolled through, top to bottom) are kept
in ``test-artifacts/browser/`` (or ``$MESHLAB_ARTIFACTS``).

Skipped with the reason where Chromium or Playwright is missing — unless
``MESHLAB_REQUIRE_BROWSER=1`` (set by ``scripts/test`` where it installed Chromium, as in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser_support import launch_chromium, need_browser, notebook_kernel_pids, running_jupyterlab

from meshlab.telemetry.cost import PeakMemory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TOKEN = "meshlab-notebooks-test"
RUN_ALL_TIMEOUT_S = 480
BINDER_MEMORY_MB = 2048
ARTIFACTS = Path(os.environ.get("MESHLAB_ARTIFACTS") or REPO / "test-artifacts") / "browser"
#: The notebook on screen: JupyterLab keeps the tabs of earlier notebooks in the DOM, hidden.
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"


@pytest.fixture(scope="module")
def notebook_root(tmp_path_factory) -> Path:
    """A copy of the notebooks, which JupyterLab serves and saves to."""
    root = tmp_path_factory.mktemp("notebooks")
    for nb in NOTEBOOKS:
        shutil.copy(nb, root / nb.name)
    for extra in ("topologies",):  # what the notebooks read by relative path, if anything
        if (REPO / extra).exists():
            os.symlink(REPO / extra, root / extra)
    return root


@pytest.fixture(scope="module")
def jupyterlab(notebook_root):
    """JupyterLab as ``scripts/lab`` runs it (the settings scripts/setup installs: no news popup),
    on a copy of the notebooks; one cell per notebook rendered at a time would hide outputs from
    the checks, so the test's own user settings turn JupyterLab's notebook windowing off."""
    need_browser()
    root = notebook_root
    settings = root.parent / "user-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    env = {
        "JUPYTER_CONFIG_DIR": str(root.parent / "config"),
        "JUPYTER_RUNTIME_DIR": str(root.parent / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / "workspaces"),
    }
    with running_jupyterlab(root, TOKEN, root.parent / "server.log", env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(jupyterlab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _running(page) -> bool:
    """A cell still queued or running ("[*]:"), or the kernel busy."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-InputPrompt')]
                                .some(e => e.textContent.includes('*'))
                            || !document.body.innerText.includes('| Idle')""")


def _wait_done(page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while quiet < 3:  # idle three polls in a row (1.5 s): nothing is left queued
        if time.monotonic() > deadline:
            raise AssertionError(f"cells still running after {timeout_s:.0f} s")
        quiet = 0 if _running(page) else quiet + 1
        time.sleep(0.5)


def _wait_started(page, timeout_s: float = 30.0) -> None:
    """Until Run All has queued its cells (a prompt shows "[*]" or the kernel is busy), at most
    ``timeout_s`` (a busy machine can take seconds to show it; a notebook that finished between
    two polls is done anyway, and the saved file's execution counts are checked after)."""
    deadline = time.monotonic() + timeout_s
    while not _running(page) and time.monotonic() < deadline:
        time.sleep(0.1)


def _saved_after_run(path: Path, timeout_s: float = 15.0) -> dict:
    """The notebook as saved after Run All (Control+S), read from the file JupyterLab saves to
    (not through its contents API: a read there while the save is written can make the server
    restore its backup copy over the file, and answers 400 or 500): polled until every code cell
    of the saved file has run, or ``timeout_s`` passes (then the test's own check says which did
    not). A read that finds the file half written is tried again, for up to 30 s."""
    deadline = time.monotonic() + timeout_s
    read_deadline = time.monotonic() + max(timeout_s, 30.0)
    while True:
        try:
            nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)  # (lines joined, as the API)
        except (OSError, ValueError) as e:  # being written
            if time.monotonic() > read_deadline:
                raise AssertionError(f"the saved {path.name} could not be read: {e!r}") from e
            time.sleep(0.25)
            continue
        if (
            all(c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")
            or time.monotonic() > deadline
        ):
            return nb
        time.sleep(0.25)


def _screenshots(page, stem: str) -> list[Path]:
    """The notebook, scrolled through from the top, one screenshot per screenful: the first
    ``$MESHLAB_SCREENSHOTS`` (10 unless set: enough to look at what a learner sees first; each
    costs the suite a fraction of a second)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{stem}-*.png"):
        old.unlink()
    scroller = f"{SHOWN} .jp-WindowedPanel-outer"
    page.evaluate(f"() => document.querySelector('{scroller}').scrollTo(0, 0)")
    shots = []
    for i in range(int(os.environ.get("MESHLAB_SCREENSHOTS", "10"))):
        time.sleep(0.1)  # (the scroll's repaint)
        shot = ARTIFACTS / f"{stem}-{i:02d}.png"
        page.screenshot(path=str(shot))
        shots.append(shot)
        moved = page.evaluate(f"""() => {{ const s = document.querySelector('{scroller}');
                                  const before = s.scrollTop; s.scrollBy(0, s.clientHeight * 0.9);
                                  return s.scrollTop > before; }}""")
        if not moved:
            break
    return shots


def _run_in_new_cell(page, source: str, marker: str) -> str:
    """Append a code cell at the end, run it, and return the text of its output, found by
    ``marker`` (Shift+Enter adds another empty cell below, so the last output area is not it)."""
    page.locator(f"{SHOWN} .jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # command mode: a new cell below, selected
    page.keyboard.press("Enter")  # edit it
    page.keyboard.type(source)
    page.keyboard.press("Shift+Enter")
    _wait_done(page, 60)
    return page.locator(f"{SHOWN} .jp-Notebook .jp-OutputArea-output", has_text=marker).last.inner_text()


@pytest.mark.parametrize("notebook", [p.name for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_a_learner_runs_the_notebook_in_a_real_browser(jupyterlab, notebook_root, browser, notebook):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    stem = Path(notebook).stem
    mem = None
    try:
        for attempt in range(3):  # a busy machine can make JupyterLab's first load miss a stylesheet
            page.goto(f"{jupyterlab}/lab/tree/{notebook}?token={TOKEN}", timeout=60_000)
            try:
                expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        time.sleep(2)  # (JupyterLab settles its focus a moment after it loads)
        deadline = time.monotonic() + 30  # a busy machine: the session's kernel may show a moment later
        while not (mine := notebook_kernel_pids(jupyterlab, TOKEN, notebook)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert mine, "no kernel started for the notebook"
        mem = PeakMemory(mine)
        mem.start()
        page.get_by_role("menuitem", name="Run").click()
        page.get_by_text("Run All Cells", exact=True).click()  # as a learner would
        _wait_started(page)
        _wait_done(page, RUN_ALL_TIMEOUT_S)
        peak = mem.stop()
        # (JupyterLab asks about news a moment after it loads: by the end of Run All it would show)
        assert page.get_by_text("notified about official Jupyter news").count() == 0, (
            "the news popup is shown"
        )
        print(f"{notebook}: peak memory (PSS, its kernel and labs) {peak:.0f} MB")
        assert 0 < peak < BINDER_MEMORY_MB
        page.keyboard.press("Control+s")
        saved = _saved_after_run(notebook_root / notebook, 5.0)
        if not all(c.get("execution_count") for c in saved["cells"] if c["cell_type"] == "code"):
            page.locator(f"{SHOWN} .jp-Notebook").first.click()  # focus the notebook, save again
            page.keyboard.press("Control+s")
            saved = _saved_after_run(notebook_root / notebook)
        cells = [c for c in saved["cells"] if c["cell_type"] == "code"]
        not_run = ["".join(c["source"])[:80] for c in cells if not c.get("execution_count")]
        assert not not_run, f"{len(not_run)} of {len(cells)} code cells did not run, the first: {not_run[:2]}"
        errors = [
            (c["source"][:60], o.get("ename"), o.get("evalue"))
            for c in cells
            for o in c.get("outputs", [])
            if o["output_type"] == "error"
        ]
        assert not errors, errors
        outputs = [o for c in cells for o in c.get("outputs", [])]
        blind = [
            o
            for o in outputs
            if o.get("data", {}).get("text/plain", "").startswith("<Figure")
            and "image/png" not in o.get("data", {})
        ]
        assert not blind, "a figure shown as text, not drawn"
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        assert page.locator(".jp-OutputArea-output img").count() >= images  # every one drawn on the page
        if stem != "00-start-here":
            assert images >= 1, f"{notebook}: no figure drawn"
        _screenshots(page, stem)

        source = "".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)
        if "ControlPanel(" not in source:
            return
        # the panel, after Run All: a send succeeds and redraws its plots
        send = page.get_by_role("button", name="send traffic")
        send.scroll_into_view_if_needed()
        panel = page.locator(".widget-vbox", has=send).last
        send.click()
        expect(panel.get_by_text("100/100 ok")).to_be_visible(timeout=90_000)
        expect(panel.locator("img")).to_have_count(2, timeout=30_000)
        if "TASKS['panel-data-plane']" not in source:
            return  # the quick clicks and the guided task are tried on 01's panel (the same ControlPanel)
        # quick clicks: mode, send, mode back, send — the controls end up showing the lab's real state
        mode = panel.locator(".widget-dropdown", has_text="mesh mode").locator("select")
        mode.select_option("sidecar")
        send.click()
        mode.select_option("ambient")
        send.click()
        _wait_done(page, 240)
        time.sleep(1)
        shown = mode.input_value()
        real = (
            _run_in_new_cell(page, "print('LAB MODE', lab.mode)", "LAB MODE").split("LAB MODE", 1)[-1].strip()
        )
        assert shown == real, f"the panel shows {shown!r}, the lab runs {real!r}"
        assert "Traceback" not in panel.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"{stem}-panel-after-clicks.png"))
        # the panel's guided task, done as a learner does it: with the panel only (the default goal is
        # ambient with a waypoint for reviews: 3 proxies on a call to reviews, 1 parsing HTTP)
        mode.select_option("ambient")
        _wait_done(page, 120)
        panel.locator(".widget-select-multiple", has_text="waypoint for").locator("select").select_option(
            "reviews"
        )
        _wait_done(page, 120)
        verdict = _run_in_new_cell(
            page,
            "answer = 'done'\nprint('VERDICT', ex.task(TASKS['panel-data-plane'], lab, answer))",
            "VERDICT",
        )
        assert "✔ panel-data-plane" in verdict, verdict
        page.screenshot(path=str(ARTIFACTS / f"{stem}-panel-task-done.png"))
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{stem}-FAILED.png"))
        raise
    finally:
        page.close()
        _shut_down_kernel(jupyterlab, notebook)


def _shut_down_kernel(url: str, notebook: str) -> None:
    """Close the notebook's session, as a learner's *Shut Down Kernel* does: its labs stop."""
    with urllib.request.urlopen(f"{url}/api/sessions?token={TOKEN}", timeout=30) as r:
        sessions = json.load(r)
    for s in sessions:
        if s.get("path", "").endswith(notebook):
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/api/sessions/{s['id']}?token={TOKEN}", method="DELETE"),
                timeout=30,
            )
