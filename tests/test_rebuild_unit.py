"""The rebuilder alone: recorded states in, decisions out (rebuild.py). Plans come from real
.xpm text and outputs are real files; the states are the records a build would leave."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import plan_of, write_xpm  # noqa: E402

from xpmbuild.hashing import HashCache  # noqa: E402
from xpmbuild.rebuild import Rebuilder, record_end  # noqa: E402
from xpmbuild.workspace import Workspace  # noqa: E402

TEXT = """\
task prepare {
    corpus: path
    output tokens = "tokens.txt"
    shell "python3 {here}/tok.py {corpus} > {tokens}"
}
task train {
    data: prepare
    lr: float
    output model = "model.bin"
    shell "echo {lr} > {model}"
}
train(data=prepare(corpus="corpus.txt"), lr=0.1)
"""


class World:
    """A plan, a workspace with a fresh hash cache, and helpers to record builds."""

    def __init__(self, tmp_path, text=TEXT, **rebuilder):
        write_xpm(tmp_path, "hello\n", "corpus.txt")
        write_xpm(tmp_path, "print('tok')\n", "tok.py")
        self.tmp = tmp_path
        self.plan = plan_of(tmp_path, text)
        self.ws = Workspace(str(tmp_path / "ws"))
        self.ws.hashes, self.ws._rows = HashCache(), None
        self.rb = Rebuilder(self.ws, **rebuilder)
        self.jobs = {j.task.name: j for j in self.plan.jobs.values()}
        self.states: dict = {}

    def dir(self, task):
        j = self.jobs[task]
        d = self.ws.job_dir(j.task.name, j.id)
        os.makedirs(d, exist_ok=True)
        return d

    def decide(self, task):
        j = self.jobs[task]
        deps = {d.id: self.states.get(d.task.name) for d in j.deps}
        return self.rb.decide(j, self.dir(task), self.states.get(task), deps, self.plan.root)

    def build(self, task, content="x", code=0):
        """Record a build of ``task`` as the scheduler would."""
        decision = self.decide(task)
        j = self.jobs[task]
        for rel in j.task.outputs.values():
            with open(os.path.join(self.dir(task), rel), "w") as f:
                f.write(content)
        started = {"status": "running", "fingerprint": decision.fingerprint,
                   "trace": decision.trace}
        state = record_end(self.ws, self.dir(task), j.id, j.task.outputs, started, code,
                           dep_state=lambda d: None)
        self.states[task] = state
        self.rb.forget_inputs()
        self.rb._code_memo.clear()
        return state


def test_never_built_then_up_to_date(tmp_path):
    w = World(tmp_path)
    d = w.decide("prepare")
    assert d.stale and d.reasons == ["never built"]
    w.build("prepare")
    d = w.decide("prepare")
    assert not d.stale and d.reasons == []


def test_a_failed_build_is_stale_with_its_reason(tmp_path):
    w = World(tmp_path)
    w.build("prepare", code=3)
    d = w.decide("prepare")
    assert d.stale and d.reasons == ["last build failed (exit code 3)"]


def test_an_output_changed_or_missing(tmp_path):
    w = World(tmp_path)
    w.build("prepare")
    out = os.path.join(w.dir("prepare"), "tokens.txt")
    with open(out, "w") as f:
        f.write("tampered")
    assert w.decide("prepare").reasons == ["output tokens.txt changed since its build"]
    os.unlink(out)
    assert w.decide("prepare").reasons == ["output tokens.txt is missing"]


def test_input_and_code_changes_are_named(tmp_path):
    w = World(tmp_path)
    w.build("prepare")
    write_xpm(tmp_path, "hello world\n", "corpus.txt")
    w.rb.forget_inputs()
    assert w.decide("prepare").reasons == ["input corpus.txt changed"]
    write_xpm(tmp_path, "print('tok2')\n", "tok.py")
    w.rb._code_memo.clear()
    assert w.decide("prepare").reasons == ["code tok.py changed", "input corpus.txt changed"]


def test_dependency_outputs_and_early_cut_off(tmp_path):
    w = World(tmp_path)
    w.build("prepare", content="tokens v1")
    w.build("train")
    assert not w.decide("train").stale
    w.build("prepare", content="tokens v1")            # rebuilt to the same bytes
    assert not w.decide("train").stale
    w.build("prepare", content="tokens v2")
    d = w.decide("train")
    dep = w.jobs["prepare"].id[:8]
    assert d.stale and d.reasons == [f"dependency prepare/{dep}… changed its output tokens"]


def test_forced(tmp_path):
    w = World(tmp_path, force_tasks={"prepare"})
    w.build("prepare")
    d = w.decide("prepare")
    assert d.stale and d.reasons == ["forced (--force prepare)"]
