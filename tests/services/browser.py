"""Headless Chromium for the monitor's browser tests: Debian's ``chromium``, driven by
playwright (no ``playwright install`` download: the system browser is launched by path).

    from tests.services.browser import launch_browser
    browser = launch_browser()      # skips the test when no Chromium can be had (fails in CI)

``chromium`` is installed with apt-get when it is missing and the tests run as root.
"""
from __future__ import annotations

import os
import shutil
import subprocess

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-proxy-server"]


class BrowserUnavailable(RuntimeError):
    pass


def ensure_chromium() -> str:
    """The path of Debian's chromium, installed (apt-get, as root) when missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable("chromium is not installed and cannot be installed here "
                                 "(needs root and apt-get: apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if r.returncode != 0 and cmd[1] == "install":
            raise BrowserUnavailable("apt-get install chromium failed:\n" + r.stderr[-2000:])
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserUnavailable("apt-get installed no /usr/bin/chromium")
    return CHROMIUM


def _unavailable(why: str):
    import pytest
    if os.environ.get("CI") == "true":
        pytest.fail(f"headless Chromium is needed in CI: {why}")
    pytest.skip(why)


def launch_browser(playwright):
    """A headless Chromium browser (playwright's ``Browser``) or skip/fail the test."""
    try:
        path = ensure_chromium()
    except BrowserUnavailable as err:
        _unavailable(str(err))
    return playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
