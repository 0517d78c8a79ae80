"""Shared fixtures and helpers of the test suite.

- ``write_xpm(tmp_path, text, name="main.xpm")`` writes a (dedented) .xpm file, making
  parent folders, and returns its path;
- ``run_cli(*args, cwd=None)`` runs the real command line (``python -m xpmbuild.cli``)
  in a subprocess and returns ``(exit_code, stdout, stderr)``;
- ``plan_of(tmp_path, text, defines=None, files=None)`` writes and evaluates a file;
- ``xpm_error(tmp_path, text, defines=None, files=None)`` expects an :class:`XpmError`
  and returns it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def write_xpm(tmp_path, text: str, name: str = "main.xpm") -> Path:
    """Write ``text`` (dedented) to ``tmp_path/name`` and return the path."""
    path = Path(tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_cli(*args, cwd=None, env=None, timeout=60):
    """Run ``python -m xpmbuild.cli ARGS`` and return (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.setdefault("COLUMNS", "200")     # rich-click: no wrapping of usage errors
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "xpmbuild.cli", *map(str, args)],
                          cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def _write_files(tmp_path, files):
    for name, text in (files or {}).items():
        write_xpm(tmp_path, text, name)


def plan_of(tmp_path, text: str, defines=None, files=None, name="main.xpm"):
    """Write ``text`` (and the extra ``files``, name → text) and evaluate it."""
    from xpmbuild.language import evaluate
    _write_files(tmp_path, files)
    return evaluate(write_xpm(tmp_path, text, name), defines=defines)


def xpm_error(tmp_path, text: str, defines=None, files=None, name="main.xpm"):
    """Write and evaluate ``text``; it must raise an XpmError, which is returned."""
    from xpmbuild.language import XpmError
    with pytest.raises(XpmError) as info:
        plan_of(tmp_path, text, defines=defines, files=files, name=name)
    return info.value


def jobs_of(plan, task: str):
    """The jobs of one task, in creation order."""
    return [j for j in plan.jobs.values() if j.task.name == task]


def pytest_sessionfinish(session, exitstatus):
    """Stop the services (Slurm, OAR, sshd) this test run started; those it found running
    are left alone (tests/services/harness.py)."""
    if hasattr(session.config, "workerinput"):
        return          # a pytest-xdist worker: the services are the controller's to stop
    from tests.services.harness import stop_all
    stop_all()
