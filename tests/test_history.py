"""A job's record keeps its status changes with their times (``history``), and
``xpmbuild jobs kill`` of a job a run watches is recorded as cancelled (not as a failure
by SIGTERM): the kill leaves a mark the run reads when it records the end."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, wait_for, write  # noqa: E402

from xpmbuild.workspace import state_problem  # noqa: E402

BLOCKING = """\
task hold {
    n: int
    output o = "o.txt"
    shell "echo {n} > {o}; while [ ! -e {here}/go ]; do sleep 0.05; done"
}
hold(n=1)
"""


def test_history_has_queued_running_done_in_order(tmp_path):
    proj = Project(tmp_path, BLOCKING)
    write(proj.path("go"), "")
    proj.run()
    st = proj.state(proj.job_dir("hold"))
    hist = st["history"]
    assert [h[0] for h in hist] == ["queued", "running", "done"], hist
    times = [h[1] for h in hist]
    assert times == sorted(times), hist
    assert state_problem(st) is None
    # a second, up-to-date run writes nothing: the history stays
    proj.run()
    assert proj.state(proj.job_dir("hold"))["history"] == hist


def test_records_without_history_and_damaged_history():
    old = {"status": "done", "fingerprint": "x"}
    assert state_problem(old) is None
    assert "history" in state_problem(dict(old, history=[["done"]]))
    assert "history" in state_problem(dict(old, history="done"))


def test_jobs_kill_of_a_watched_job_records_cancelled(tmp_path):
    proj = Project(tmp_path, BLOCKING)
    p = proj.popen()
    try:
        def running():
            assert p.poll() is None, p.stderr.read()
            dirs = proj.job_dirs("hold")
            st = proj.state(dirs[0]) if dirs else None
            return st if st and st.get("status") == "running" else None
        st = wait_for(running, 60, what="the job to run")
        r = proj_cmd(proj, "jobs", "kill", f"hold/{st['id'][:8]}")
        assert r.returncode == 0 and "cancelled" in r.stdout, describe(r)
        p.communicate(timeout=60)
        assert p.returncode == 1
        final = proj.state(proj.job_dir("hold"))
        assert final["status"] == "cancelled", final
        assert [h[0] for h in final["history"]] == ["queued", "running", "cancelled"]
        # the next run starts afresh: the mark is gone, the job runs and is done
        write(proj.path("go"), "")
        proj.run()
        final = proj.state(proj.job_dir("hold"))
        assert final["status"] == "done"
        assert not os.path.exists(os.path.join(proj.job_dir("hold"), ".xpm-cancel"))
    finally:
        if p.poll() is None:
            p.kill()


def proj_cmd(proj, *args):
    from buildutil import xpmbuild
    return xpmbuild(*args, "-w", proj.ws, cwd=proj.root, env=proj.env)
