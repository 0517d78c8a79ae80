"""The monitor's pages in headless Chromium (Debian's, driven by playwright), on a live
run: the token, live counts, a failure found in two clicks, the log following, kill.
Screenshots go to the test's tmp folder; with XPM_DOCS_SCREENSHOTS=1 they also refresh
docs/img/ (the docs show them), so an ordinary test run leaves the checkout clean."""
from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monitorutil import EXPERIMENT, LiveRun  # noqa: E402

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from services.browser import launch_browser  # noqa: E402

DOCS_IMG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "docs", "img")
WAIT = 60_000       # ms: every wait is for a condition, with a generous deadline


def shot(page, tmp_path, name):
    path = str(tmp_path / f"monitor-{name}.png")
    page.screenshot(path=path, full_page=True)
    if os.environ.get("XPM_DOCS_SCREENSHOTS") == "1" and os.path.isdir(DOCS_IMG):
        shutil.copy(path, os.path.join(DOCS_IMG, f"monitor-{name}.png"))
    return path


@pytest.fixture
def live(tmp_path):
    lr = LiveRun(tmp_path, text=EXPERIMENT.replace("[1, 2, 3]", "[1, 2, 3, 4]"),
                 jobs=(1, 2, 3, 4))
    yield lr
    lr.close()


@pytest.mark.slow
def test_pages_in_a_browser(live, tmp_path):
    mon = live.mon

    def work(n):
        return mon.job(lambda j: j["task"] == "work" and j["tags"] == {"n": n}
                       and j["status"] == "running", f"work n={n} running")
    jobs = {n: work(n) for n in (1, 2, 3, 4)}
    with sync_api.sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(WAIT)
            # without the token: refused, no page
            r = page.goto(mon.base + "/")
            assert r.status == 401 and "token" in page.content()
            assert page.query_selector("#view") is None
            # with it (the printed address): the experiments, then one click to the experiment
            page.goto(mon.line.split(": ", 1)[1].strip())
            page.wait_for_selector("#experiments tr[data-experiment=exp]")
            assert "token=" not in page.url         # dropped from the address bar
            page.click("#experiments tr[data-experiment=exp]")
            summary = page.locator("#summary")
            sync_api.expect(summary).to_contain_text("running 4", timeout=WAIT)
            page.wait_for_selector("#graph [data-task=work]")
            page.evaluate("window.__sameDocument = true")
            # a job ends: the counts change, without a reload
            live.release(1)
            sync_api.expect(summary).to_contain_text(re.compile(r"done [12]"), timeout=WAIT)
            sync_api.expect(page.locator("#graph [data-task=work]")).to_contain_text(
                "done 1", timeout=WAIT)
            assert page.evaluate("window.__sameDocument") is True
            # a job fails: the experiment page lists it with its error
            live.release(2)
            failures = page.locator("#failures")
            sync_api.expect(failures).to_contain_text("ValueError: bad n", timeout=WAIT)
            sync_api.expect(failures).to_contain_text("exit code 3")
            shot(page, tmp_path, "experiment")
            # second click: the job page, with its stderr
            page.click(f"#failures tr[data-job='{jobs[2]['id']}']")
            sync_api.expect(page.locator("#log-stderr")).to_contain_text("ValueError: bad n",
                                                                         timeout=WAIT)
            sync_api.expect(page.locator("#failure")).to_contain_text("ValueError: bad n")
            sync_api.expect(page.locator("#history")).to_contain_text("failed")
            shot(page, tmp_path, "job")
            # a running job's log follows it
            page.goto(f"{mon.base}/#/job/{jobs[3]['id']}")
            out = page.locator("#log-stdout")
            sync_api.expect(out).to_contain_text("out-3", timeout=WAIT)
            page.evaluate("window.__sameDocument = true")
            live.release(3)
            sync_api.expect(out).to_contain_text("more-3", timeout=WAIT)
            sync_api.expect(page.locator("h1 .badge")).to_have_text("done", timeout=WAIT)
            assert page.evaluate("window.__sameDocument") is True
            # the kill button
            page.goto(f"{mon.base}/#/job/{jobs[4]['id']}")
            page.on("dialog", lambda d: d.accept())
            kill = page.locator("#kill")
            sync_api.expect(kill).to_be_enabled(timeout=WAIT)
            kill.click()
            sync_api.expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=WAIT)
            sync_api.expect(kill).to_be_disabled()
            assert mon.get_json(f"/api/jobs/{jobs[4]['id']}")["status"] == "cancelled"
            page.goto(f"{mon.base}/#/")
            page.wait_for_selector("#experiments tr[data-experiment=exp]")
            shot(page, tmp_path, "experiments")
        finally:
            browser.close()
