"""The Voilà dashboard in a real browser (headless Chromium through Playwright): it renders with
no lab, shows a shipped recording's figures with its label, and picking another recording changes
the plots — what a learner on a phone or a class projector does; its live-lab tab starts
Bookinfo, sends traffic through the control panel, and the lab stops once the page is closed; and
it renders the same way served by JupyterLab, as the README's Binder badge opens it. Screenshots in
``test-artifacts/browser/``. Skipped with the reason where Chromium or Playwright is missing,
unless ``MESHLAB_REQUIRE_BROWSER=1``."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from browser_support import launch_chromium, need_browser, running_jupyterlab, running_voila

from meshlab.backends.state import _alive, _read_processes

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "notebooks" / "dashboard" / "dashboard.ipynb"
ARTIFACTS = Path(os.environ.get("MESHLAB_ARTIFACTS") or REPO / "test-artifacts") / "browser"
#: A shipped recording's label, as the dashboard shows it (the page's intro says "recorded on the
#: mininet backend" too, with no date)
RECORDED_LABEL = re.compile(r"recorded on the mininet backend, \d{4}-\d\d-\d\d")


@contextlib.contextmanager
def _dashboard(tmp_path: Path, name: str, env: dict | None = None, args: tuple = ()):
    """The dashboard served by Voilà and opened in Chromium, loaded (a shipped recording's label shown);
    yields the page. If the test fails, a screenshot ``dashboard-<name>-failed.png`` and the tail
    of Voilà's log are kept."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        **(env or {}),
    }
    with running_voila(DASHBOARD, tmp_path / "voila.log", env, args) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        try:
            page.goto(url, timeout=90_000)
            expect(page.get_by_text(RECORDED_LABEL).first).to_be_visible(timeout=90_000)
            yield page
        except Exception:
            if not page.is_closed():
                page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-failed.png"), full_page=True)
            print("voila log:\n" + (tmp_path / "voila.log").read_text()[-3000:])
            raise
        finally:
            browser.close()


def test_the_dashboard_renders_and_a_picked_recording_changes_the_plots(tmp_path):
    need_browser()
    from playwright.sync_api import expect

    with _dashboard(tmp_path, "recordings") as page:
        images = page.locator(".widget-image")
        expect(images).to_have_count(4, timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-image')]"
            ".slice(0, 3).every(i => i.naturalWidth > 100)",
            timeout=30_000,
        )
        before = [images.nth(i).get_attribute("src") for i in range(3)]
        page.screenshot(path=str(ARTIFACTS / "dashboard-three-flows.png"), full_page=True)
        page.locator(".widget-dropdown", has_text="recording").locator("select").select_option("retry-storm")
        expect(page.get_by_text("attempts: 10, retryOn: 5xx").first).to_be_attached(timeout=60_000)
        page.wait_for_function(
            "(old) => [...document.querySelectorAll('.widget-image')].slice(0, 3)"
            ".every((img, i) => img.src !== old[i] && img.naturalWidth > 100)",
            arg=before,
            timeout=60_000,
        )
        page.screenshot(path=str(ARTIFACTS / "dashboard-retry-storm.png"), full_page=True)


def test_the_dashboard_renders_as_binder_serves_it(tmp_path):
    """The README's Binder badge opens the dashboard through JupyterLab's server
    (``voila/render/notebooks/dashboard/dashboard.ipynb``), not the Voilà app: the same page,
    its shipped recording shown and drawn."""
    need_browser()
    from playwright.sync_api import expect, sync_playwright

    token = "meshlab-dashboard-test"
    env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with running_jupyterlab(REPO, token, tmp_path / "server.log", env) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        try:
            page.goto(f"{url}/voila/render/notebooks/dashboard/dashboard.ipynb?token={token}", timeout=90_000)
            expect(page.locator(".widget-image")).to_have_count(4, timeout=90_000)
            expect(page.get_by_text(RECORDED_LABEL).first).to_be_visible()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-image')]"
                ".slice(0, 3).every(i => i.naturalWidth > 100)",
                timeout=60_000,
            )
            page.screenshot(path=str(ARTIFACTS / "dashboard-as-binder-serves-it.png"), full_page=True)
        except Exception:
            print("server log:\n" + (tmp_path / "server.log").read_text()[-3000:])
            raise
        finally:
            browser.close()


def _lab_processes(state: Path) -> list[dict]:
    """Every process the labs under ``state`` started, as their ``processes.jsonl`` recorded it."""
    return [proc for lab_dir in state.glob("labs/*") for proc in _read_processes(lab_dir)]


def _running(proc: dict) -> bool:
    return _alive(proc["pid"], proc["create_time"])  # (pid and start time, as meshlab clean checks)


def test_the_dashboards_live_lab_starts_bookinfo_sends_traffic_and_stops_after_the_page_closes(tmp_path):
    """The second tab: *start a live lab* runs Bookinfo (sidecar mode, loopback) in the app's
    kernel and shows the control panel; a send gets every request through and draws its plots.
    The page is then closed, as a learner closes a tab (no ``beforeunload``: Voilà's shutdown
    request from there is refused anyway, voila-dashboards/voila#1458): the shipped settings
    (``binder/jupyter-config/voila.json``) cull the kernel once it has no page and is idle, and
    every process the lab started stops with it. Here the idle time is 5 s, not the shipped 60 s."""
    need_browser()
    from playwright.sync_api import expect

    state = tmp_path / "state"
    quick_cull = ("--MappingKernelManager.cull_idle_timeout=5", "--MappingKernelManager.cull_interval=2")
    with _dashboard(tmp_path, "live", {"MESHLAB_STATE_DIR": str(state)}, quick_cull) as page:
        page.get_by_text("live lab", exact=True).click()
        page.get_by_role("button", name="start a live lab").click()
        expect(page.get_by_text("A live lab: Bookinfo in sidecar mode").first).to_be_visible(timeout=90_000)
        started = _lab_processes(state)
        assert started and all(_running(proc) for proc in started), started
        assert {"app", "sidecar"} <= {proc["role"] for proc in started}
        send = page.get_by_role("button", name="send traffic")
        panel = page.locator(".widget-vbox", has=send).last
        send.click()
        expect(panel.get_by_text("100/100 ok")).to_be_visible(timeout=90_000)
        expect(panel.locator("img")).to_have_count(2, timeout=30_000)
        assert "Traceback" not in panel.inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-live-lab.png"), full_page=True)
        page.close()
        deadline = time.monotonic() + 60
        while (left := [proc for proc in started if _running(proc)]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not left, f"still running 60 s after the page closed: {left}"
        assert not list(state.glob("labs/*")), "the lab's state was left behind"
