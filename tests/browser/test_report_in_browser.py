"""``meshlab report`` opened in headless Chromium with the network cut off: every figure is in the
page itself (it loads, and draws at full size) and the page asks the network for nothing.
Skipped with the reason where Chromium or Playwright is missing, unless ``MESHLAB_REQUIRE_BROWSER=1``."""

from __future__ import annotations

import os
from pathlib import Path

from browser_support import launch_chromium, need_browser

from meshlab.cli import main

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("MESHLAB_ARTIFACTS") or REPO / "test-artifacts") / "browser"


def test_the_report_of_a_shipped_recording_opens_offline_with_every_figure(tmp_path):
    need_browser()
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "three-flows.html"
    assert main(["report", "three-flows", "-o", str(page_file)]) == 0
    expected = page_file.read_text().count("<img ")
    assert expected == 4 * 2 + 3  # per run: map and waterfall; then runs, latency, cost
    requests = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
            assert "recorded on the mininet backend" in page.inner_text("p.label")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-three-flows.png"))
        finally:
            browser.close()
    assert len(sizes) == expected and all(done and width > 400 for done, width in sizes), sizes
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not outside, f"the report asked the network for {outside}"
