"""The launcher contract (launchers/base.py, launchers/__init__.py): every capability is
stated with a default, types are registered with their settings schema, and a request a
launcher cannot do is refused before anything is submitted."""
from __future__ import annotations

import ast
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe  # noqa: E402

from xpmbuild.launchers import TYPES, launcher_class, make_launcher  # noqa: E402
from xpmbuild.launchers.base import Launcher  # noqa: E402
from xpmbuild.settings import SettingsError, validate  # noqa: E402

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "xpmbuild")


def test_every_registered_type_is_a_launcher_with_its_settings_schema():
    assert set(TYPES) >= {"local", "slurm", "oar"}
    for name, t in TYPES.items():
        cls = launcher_class(name, {})
        assert issubclass(cls, Launcher) and cls.type == name
        assert "type" in t.settings
    assert launcher_class("slurm", {}).can_detach
    assert not launcher_class("oar", {}).can_detach
    assert not launcher_class("local", {}).can_detach


def test_settings_are_checked_against_the_registered_schema():
    validate({"launchers": {"gpu": {"type": "slurm", "partition": "gpu"}}}, "x.toml")
    with pytest.raises(SettingsError, match="unknown key 'partition'"):
        validate({"launchers": {"here": {"type": "local", "partition": "gpu"}}}, "x.toml")
    with pytest.raises(SettingsError, match="expected one of"):
        validate({"launchers": {"x": {"type": "pbs"}}}, "x.toml")


def test_launchers_never_import_the_language_nor_read_scheduler_nodes():
    for name in os.listdir(os.path.join(PACKAGE, "launchers")):
        if not name.endswith(".py"):
            continue
        path = os.path.join(PACKAGE, "launchers", name)
        with open(path) as f:
            text = f.read()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert "language" not in mod and "scheduler" not in mod, (name, mod)
                assert mod not in ("..model", "..rebuild"), (name, mod)
        assert ".job.task" not in text, name
        assert "basename(os.path.dirname" not in text, name


def test_the_base_launcher_states_defaults_for_every_capability():
    class Minimal(Launcher):
        def wait(self, timeout):
            return []

        def running(self):
            return 0

    m = Minimal()
    assert m.slots() is None and m.can_start({}) and m.check({}) is None
    assert m.kill_after(0.01) == [] and m.pop_transitions() == [] and m.record_fields() == {}
    assert not m.can_detach and not m.can_tell_live


@pytest.mark.parametrize("launcher", ["local"])
def test_detach_on_a_launcher_that_cannot_is_refused_before_anything_runs(tmp_path, launcher):
    proj = Project(tmp_path, """\
task t {
    output o = "o.txt"
    shell "echo ran >> {here}/runs.log; echo x > {o}"
}
t()
""")
    r = proj.run("-l", launcher, "--detach", expect=2)
    assert "--detach needs" in r.stderr and "local" in r.stderr, describe(r)
    assert "Traceback" not in r.stderr
    assert proj.executions() == [] and proj.job_dirs("t") == []


def test_a_job_the_launcher_can_never_run_fails_before_it_starts(tmp_path):
    proj = Project(tmp_path, """\
task big {
    requires gpus=64
    output o = "o.txt"
    shell "echo ran >> {here}/runs.log; echo x > {o}"
}
task small {
    output o = "o.txt"
    shell "echo small >> {here}/runs.log; echo x > {o}"
}
big()
small()
""")
    doc = proj.run_json("-k", expect=1)
    big = proj.node("big", doc)
    assert big["status"] == "failed" and "64 GPUs" in big["reasons"][0], big
    assert proj.executions() == ["small"]
    d = proj.job_dirs("big")[0]                # recorded failed, never prepared nor started
    assert proj.state(d)["status"] == "failed"
    assert not os.path.exists(os.path.join(d, "command.sh"))


def test_make_launcher_names_unknown_types():
    with pytest.raises(SettingsError):
        make_launcher("pbs", {"launchers": {"pbs": {"type": "pbs"}}})
