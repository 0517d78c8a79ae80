"""The scheduler alone, with an in-memory launcher: order, slots, failure propagation, -k,
early cut-off, interruption. Plans come from real .xpm text; the workspace is real (the
scheduler records through it); only the launcher is in memory: it "runs" a job by writing
its outputs itself, ending jobs when the test says so."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import plan_of  # noqa: E402

from xpmbuild.build import make_nodes  # noqa: E402
from xpmbuild.launchers.base import Ended, Handle, Launcher  # noqa: E402
from xpmbuild.rebuild import Rebuilder  # noqa: E402
from xpmbuild.scheduler import Interrupted, Scheduler  # noqa: E402
from xpmbuild.workspace import Workspace  # noqa: E402


class MemoryLauncher(Launcher):
    """Jobs end in the order they started, one per ``wait``; ``fail`` names tasks that exit 1,
    ``content`` gives what a task writes (default: its job id, so outputs differ per job)."""

    name = type = "memory"
    start_status = "running"

    def __init__(self, slots=2, fail=(), content=None, interrupt_after=None):
        self.n = slots
        self.fail = set(fail)
        self.content = content or {}
        self.live: list[Handle] = []
        self.log: list[tuple[str, str]] = []         # (event, task)
        self.max_live = 0
        self.interrupt_after = interrupt_after
        self.cancelled: list = []

    def slots(self):
        return self.n

    def start_many(self, requests):
        out = []
        for r in requests:
            h = Handle(r.key, r.job_dir, len(self.log), {"task": r.task})
            self.live.append(h)
            self.log.append(("start", r.task))
            out.append(h)
        self.max_live = max(self.max_live, len(self.live))
        return out

    def wait(self, timeout):
        if not self.live:
            return []
        if self.interrupt_after is not None and \
                sum(1 for e, _ in self.log if e == "end") >= self.interrupt_after:
            raise KeyboardInterrupt
        h = self.live.pop(0)
        task = h.extra["task"]
        self.log.append(("end", task))
        if task in self.fail:
            return [Ended(h, 1)]
        with open(os.path.join(h.job_dir, "o.txt"), "w") as f:
            f.write(self.content.get(task, h.key))
        return [Ended(h, 0)]

    def running(self):
        return len(self.live)

    def cancel(self, handles=None):
        self.cancelled += [h.key for h in (handles or self.live)]
        self.live = []

    def kill_after(self, grace=5.0):
        return []


CHAIN = """\
task a {
    i: int
    output o = "o.txt"
    shell "true"
}
task b {
    x: a
    output o = "o.txt"
    shell "true"
}
task c {
    x: b
    output o = "o.txt"
    shell "true"
}
for i in range(4) { c(x=b(x=a(i=i))) }
"""


def schedule(tmp_path, text=CHAIN, launcher=None, keep_going=False, ws=None):
    plan = plan_of(tmp_path, text)
    ws = ws or Workspace(str(tmp_path / "ws"))
    ws.create()
    ws.load_index()
    nodes = make_nodes(plan, ws)
    launcher = launcher or MemoryLauncher()
    sched = Scheduler(ws, Rebuilder(ws), launcher, nodes, plan.root, keep_going=keep_going)
    try:
        sched.run()
    finally:
        ws.close()
    return sched, launcher, nodes, ws


def test_dependencies_first_and_never_more_than_the_slots(tmp_path):
    sched, launcher, nodes, _ = schedule(tmp_path, launcher=MemoryLauncher(slots=2))
    assert all(n.status == "done" for n in nodes)
    assert launcher.max_live <= 2
    # a job starts only after each of its dependencies ended
    ended = {}
    order = [e for e in launcher.log]
    assert sched.counts["ran"] == 12
    starts = [t for e, t in order if e == "start"]
    assert starts.count("a") == starts.count("b") == starts.count("c") == 4
    for n in nodes:
        ended[n.job.id] = n
    first_c = starts.index("c")
    assert starts[:first_c].count("b") >= 1 and starts[:starts.index("b")].count("a") >= 1


def test_a_failure_skips_dependents_and_stops_without_keep_going(tmp_path):
    sched, launcher, nodes, _ = schedule(tmp_path, launcher=MemoryLauncher(slots=1, fail={"b"}))
    by_task = {}
    for n in nodes:
        by_task.setdefault(n.job.task.name, []).append(n)
    assert sum(n.status == "failed" and not n.skipped for n in nodes) == 1
    assert all(n.status != "done" for n in by_task["c"])
    assert not any(t == "c" for e, t in launcher.log if e == "start")
    assert sched.counts["failed"] == 1


def test_keep_going_runs_everything_that_does_not_depend_on_a_failure(tmp_path):
    sched, launcher, nodes, _ = schedule(tmp_path, launcher=MemoryLauncher(fail={"b"}),
                                         keep_going=True)
    assert [n.status for n in nodes if n.job.task.name == "a"] == ["done"] * 4
    skipped = [n for n in nodes if n.job.task.name == "c"]
    assert all(n.skipped and "dependency" in n.reasons[0] for n in skipped)
    assert sched.counts["failed"] == 4 and sched.counts["skipped"] == 4


def test_early_cut_off_a_dependency_rebuilt_to_the_same_output(tmp_path):
    launcher = MemoryLauncher(content={"a": "same", "b": "same", "c": "same"})
    schedule(tmp_path, launcher=launcher)
    # force the a jobs: they rebuild to the same bytes, so b and c stay up to date
    plan = plan_of(tmp_path, CHAIN)
    ws = Workspace(str(tmp_path / "ws"))
    ws.load_index()
    nodes = make_nodes(plan, ws)
    again = MemoryLauncher(content={"a": "same"})
    Scheduler(ws, Rebuilder(ws, force_tasks={"a"}), again, nodes, plan.root).run()
    ws.close()
    assert [t for e, t in again.log if e == "start"] == ["a"] * 4
    assert all(n.status == "done" for n in nodes)


def test_an_interrupt_cancels_and_records_the_running_jobs(tmp_path):
    launcher = MemoryLauncher(slots=2, interrupt_after=1)
    with pytest.raises(Interrupted):
        schedule(tmp_path, launcher=launcher)
    assert launcher.cancelled
    ws = Workspace(str(tmp_path / "ws"))
    states = [ws.read_state(d) for _t, _i, d in ws.all_job_dirs()]
    assert sum(1 for s in states if s and s["status"] == "cancelled") == len(launcher.cancelled)
    assert not any(s and s["status"] in ("queued", "running") for s in states)
