"""The control panel in a real JupyterLab, driven by a real browser (headless Chromium through
Playwright): the widgets render, a click sends traffic through the lab, a mode change reaches the
lab, and the panel shows what came back. This is what a learner on Binder does with a mouse.

Skipped with the reason where Chromium or Playwright is missing — unless
``MESHLAB_REQUIRE_BROWSER=1`` (set by ``scripts/test`` where it installed Chromium, as in CI),
where such a skip is a failure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from browser_support import CHROMIUM, launch_chromium, need, need_browser, running_jupyterlab
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.integration

TOKEN = "meshlab-browser-test"


@pytest.fixture()
def jupyterlab(tmp_path):
    need_browser()
    nb = new_notebook(
        cells=[
            new_code_cell(
                "from meshlab import Lab\n"
                "from meshlab.widgets import ControlPanel\n"
                "lab = Lab('minimal', verbose=False).start()\n"
                "panel = ControlPanel(lab)\n"
                "panel.requests.value = 20\n"
                "panel"
            )
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "panel.ipynb")
    env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with running_jupyterlab(tmp_path, TOKEN, tmp_path / "server.log", env, ("--LabApp.news_url=",)) as url:
        yield f"{url}/lab/tree/panel.ipynb?token={TOKEN}"


def test_the_control_panel_works_in_a_real_browser(jupyterlab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            idle = page.get_by_text("Python 3 (ipykernel) | Idle")
            for attempt in range(3):  # a busy machine can make JupyterLab's first load miss a stylesheet
                page.goto(jupyterlab, timeout=60_000)
                try:
                    expect(idle).to_be_visible(timeout=60_000)  # kernel up
                    if not page.get_by_role("dialog").count():
                        break
                except AssertionError:
                    if attempt == 2:
                        raise
            page.get_by_role("menuitem", name="Run").click()
            page.get_by_text("Run All Cells", exact=True).click()  # as a learner would
            send = page.get_by_role("button", name="send traffic")
            send.wait_for(timeout=90_000)  # the widgets rendered: ipywidgets' JS works
            send.click()
            expect(page.get_by_text("20/20 ok")).to_be_visible(timeout=60_000)

            mode = page.locator(".widget-dropdown", has_text="mesh mode").locator("select")
            mode.select_option("sidecar")
            expect(page.get_by_text("restarted 2 pods")).to_be_visible(timeout=90_000)
            expect(page.get_by_text("20/20 ok")).to_be_visible(timeout=60_000)  # sent again, through sidecars
            plots = page.locator(".jp-OutputArea-output img")  # the path and latency plots, drawn
            expect(plots).to_have_count(2, timeout=30_000)
            page.screenshot(path=str(tmp_path / "panel.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
            print(f"screenshot of the failure: {tmp_path / 'failed.png'}")
            raise
        finally:
            browser.close()
    assert (tmp_path / "panel.png").stat().st_size > 10_000


def test_chromium_is_where_the_test_expects_it():
    """Keeps the reason visible in the report when the browser test skips."""
    need(shutil.which("chromium") is not None or Path(CHROMIUM).exists(), "no chromium on PATH")
