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


# ------------------------------------------------------------------ the launch pipeline
WIDE = """\
task a {
    i: int
    output o = "o.txt"
    shell "true"
}
for i in range(6) { a(i=i) }
"""


class WatchingLauncher(MemoryLauncher):
    """Looks, at each wait, at the folders of the jobs not yet started: locked or not, with
    their definition written or not, recorded or not."""

    def __init__(self, ws, **kw):
        super().__init__(**kw)
        self.ws = ws
        self.seen = []              # per wait: {job dir: (locked, has command.sh, has state)}

    def wait(self, timeout):
        started = {h.job_dir for h in self.live} | {d for d in self.done_dirs()}
        look = {}
        for _t, _i, d in self.ws.all_job_dirs():
            if d not in started:
                look[d] = (self.ws.is_locked(d), os.path.exists(d + "/command.sh"),
                           os.path.exists(d + "/state.json"))
        self.seen.append(look)
        return super().wait(timeout)

    def done_dirs(self):
        return [d for _t, _i, d in self.ws.all_job_dirs() if os.path.exists(d + "/o.txt")]


def test_the_next_jobs_are_claimed_ahead_locked_and_defined_but_not_recorded(tmp_path):
    ws = Workspace(str(tmp_path / "ws"))
    launcher = WatchingLauncher(ws, slots=2)
    sched, _, nodes, _ = schedule(tmp_path, WIDE, launcher=launcher, ws=ws)
    assert all(n.status == "done" for n in nodes)
    ahead = [v for look in launcher.seen for v in look.values()]
    # while both slots were busy, the jobs next in line held their folders with their
    # definition written, and no record yet (their old record, here none, is untouched)
    assert (True, True, False) in ahead
    assert all(v in ((True, True, False),) for v in ahead), ahead
    assert not any(ws.is_locked(d) for _t, _i, d in ws.all_job_dirs())


def test_an_interrupt_releases_the_jobs_claimed_ahead_and_records_none(tmp_path):
    launcher = MemoryLauncher(slots=2, interrupt_after=1)
    with pytest.raises(Interrupted):
        schedule(tmp_path, WIDE, launcher=launcher)
    ws = Workspace(str(tmp_path / "ws"))
    dirs = [d for _t, _i, d in ws.all_job_dirs()]
    assert len(dirs) > 2                    # some were claimed ahead
    assert not any(ws.is_locked(d) for d in dirs)
    states = [ws.read_state(d) for d in dirs]
    assert not any(s and s["status"] in ("queued", "running") for s in states)
    never = [d for d, s in zip(dirs, states) if s is None]
    assert never and all(not os.path.exists(d + "/o.txt") for d in never)


def test_after_a_failure_nothing_new_starts_even_with_a_job_claimed_ahead(tmp_path):
    launcher = MemoryLauncher(slots=1, fail={"a"})
    sched, _, nodes, ws = schedule(tmp_path, WIDE, launcher=launcher)
    assert [e for e, _ in launcher.log] == ["start", "end"]
    assert sched.counts["failed"] == 1 and sched.counts["skipped"] == 5
    assert not any(ws.is_locked(d) for _t, _i, d in ws.all_job_dirs())


class HoldingLauncher(MemoryLauncher):
    """A launcher whose job holds its own folder's lock (as a local job does): the
    running record may come late (launching.RUNNING_RECORD_AFTER)."""
    job_holds_lock = True
    start_status = "queued"

    def __init__(self, ws, **kw):
        super().__init__(**kw)
        self.ws = ws
        self.records = []

    def wait(self, timeout):
        self.records += [self.ws.read_state(h.job_dir) for h in self.live]
        return super().wait(timeout)


@pytest.mark.parametrize("after", [0.0, 1e9])
def test_a_running_record_is_written_once_due_and_history_keeps_it(tmp_path, monkeypatch,
                                                                   after):
    from xpmbuild import launching
    monkeypatch.setattr(launching, "RUNNING_RECORD_AFTER", after)
    ws = Workspace(str(tmp_path / "ws"))
    launcher = HoldingLauncher(ws, slots=2)
    schedule(tmp_path, WIDE, launcher=launcher, ws=ws)
    seen = {r["status"] for r in launcher.records if r}
    if after == 0.0:        # due at once: every running job's record says so, with its id
        assert seen == {"running"}
        assert all(r["launcher_id"] is not None for r in launcher.records)
    else:                   # never due (short jobs): queued, then the end in one write
        assert seen == {"queued"}
    ws2 = Workspace(str(tmp_path / "ws"))
    for _t, _i, d in ws2.all_job_dirs():
        st = ws2.read_state(d)
        assert [s for s, _ in st["history"]] == ["queued", "running", "done"]
        assert st["launcher_id"] is not None
