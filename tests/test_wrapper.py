"""The job wrapper (launchers/base.job_wrapper) run for real by bash: the job's own exit
status survives whatever happens to the recorder that the wrapper hands over to."""
from __future__ import annotations

import subprocess
import sys

import pytest

from xpmbuild.launchers.base import job_wrapper


@pytest.mark.parametrize("code", [0, 3])
def test_an_interpreter_without_xpmbuild_keeps_the_jobs_exit_status(tmp_path, code):
    # Regression: the wrapper exec-s the recorder; a `python` setting naming an interpreter
    # that runs but has no xpmbuild (a cluster node's other python) turned every job into
    # exit 1, so the batch system said FAILED for a job that succeeded.
    (tmp_path / "command.sh").write_text(f"echo hi > out.txt\nexit {code}\n")
    bare = f"{sys.executable} -I -S"          # runs, but finds no xpmbuild
    r = subprocess.run(["bash", "-c", job_wrapper(str(tmp_path), python=bare)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == code, r.stderr
    assert (tmp_path / ".xpm-exit").read_text().strip() == str(code)
    assert (tmp_path / "out.txt").read_text() == "hi\n"


def test_an_interpreter_that_cannot_start_keeps_the_jobs_exit_status(tmp_path):
    (tmp_path / "command.sh").write_text("exit 0\n")
    r = subprocess.run(["bash", "-c", job_wrapper(str(tmp_path), python="/nonexistent/python")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
