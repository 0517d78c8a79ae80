"""The documentation site builds with ``mkdocs build --strict`` (mkdocs.yml at the root):
every page of the nav exists, no link or anchor is broken, and the CLI reference,
generated from the click commands by mkdocs-click, lists every command."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PAGES = ["index.html", "tutorial/index.html", "language/index.html", "workspace/index.html",
         "launchers/index.html", "monitor/index.html", "api/index.html", "cli/index.html", "design/index.html"]
COMMANDS = ["check", "graph", "plan", "run", "status", "jobs", "gc", "launchers", "results",
            "doc", "monitor"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for module in ("mkdocs", "material", "mkdocs_click"):    # the test extra has them
        __import__(module)
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}{proc.stderr}"
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert not warnings, "\n".join(warnings)
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", PAGES)
def test_page_exists(site, page):
    html = (site / page).read_text(encoding="utf-8")
    assert "<h1" in html


def _ids(html: str) -> set:
    return set(re.findall(r'id="([^"]+)"', html))


def test_cli_reference_lists_every_command(site):
    from xpmbuild.cli import main
    html = (site / "cli" / "index.html").read_text(encoding="utf-8")
    ids = _ids(html)
    assert set(COMMANDS) <= set(main.commands), "a command of the list is not in the CLI"
    for name in main.commands:           # every command the code has, not only the list
        assert f"xpmbuild-{name}" in ids, f"the CLI reference has no section for {name}"
    jobs = main.commands["jobs"]
    for sub in getattr(jobs, "commands", {}):
        assert f"xpmbuild-jobs-{sub}" in ids, f"the CLI reference has no `jobs {sub}`"
    # the options come from the code: a few that must be there
    for option in ("--workspace", "--by", "--where", "--format", "--detach", "--dry-run"):
        assert option in html, option
    assert "UNSET" not in html, "a click sentinel shown as a default (docs/hooks/)"


def test_cli_reference_is_generated(site):
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "::: mkdocs-click" in text and ":module: xpmbuild.cli" in text


def test_nav_pages_and_titles(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    for title in ("Tutorial", "Language", "Workspace", "Launchers & settings", "Monitor",
                  "Python API", "CLI reference", "Design"):
        assert title in html, title
    tutorial = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "sweep.xpm" in tutorial and "5-results" in _ids(tutorial)


def test_examples_reference_pages(site):
    """Each example's page: its README, then what `xpmbuild doc FILE` writes (docs/hooks/)."""
    folders = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "README.md").exists())
    assert folders
    for name in folders:
        html = (site / "examples" / name / "index.html").read_text(encoding="utf-8")
        assert "Reference of" in html, name
    sweep = (site / "examples" / "sweep" / "index.html").read_text(encoding="utf-8")
    assert "config-optimizer" in _ids(sweep) and "task-train" in _ids(sweep)
