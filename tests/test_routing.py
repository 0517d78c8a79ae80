"""The right launcher for each job (routing.py), max_jobs per launcher (lanes.py), and what
the local launcher sees of the machine (machine.py) — through the real CLI.

Routing is tested with several launchers of type local under different names: the
launcher a job ran on is visible in its record (``state.json``'s ``launcher``).
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import XPMBUILD, Project, describe, read  # noqa: E402

STAMP = "date +%s.%N > t_start; sleep 0.3; date +%s.%N > t_end"

PIPELINE = f"""\
task prepare {{
    output data = "data.txt"
    shell "{STAMP}; echo data > {{data}}"
}}
task train {{
    data: prepare
    requires cpus=2
    output model = "model.txt"
    shell "{STAMP}; cat {{data.data}} > {{model}}"
}}
task evaluate {{
    model: train
    output metrics = "m.txt"
    shell "{STAMP}; cat {{model.model}} > {{metrics}}"
}}
task report {{
    m: evaluate
    requires launcher="side"
    output o = "o.txt"
    shell "{STAMP}; cat {{m.metrics}} > {{o}}"
}}
report(m=evaluate(model=train(data=prepare())))
"""

ROUTES = """\
[launchers.big]
type = "local"
cpus = 2
[launchers.ev]
type = "local"
[launchers.side]
type = "local"

[[route]]
when = "cpus >= 2 and gpus == 0"
launcher = "big"

[tasks.evaluate]
launcher = "ev"
"""


def times(d):
    return float(read(os.path.join(d, "t_start"))), float(read(os.path.join(d, "t_end")))


def test_jobs_go_to_their_routed_launchers_with_dependencies_across_them(tmp_path):
    proj = Project(tmp_path, PIPELINE)
    proj.write("xpmbuild.toml", ROUTES)
    expected = {"prepare": "local", "train": "big", "evaluate": "ev", "report": "side"}
    plan = proj.plan_json()
    assert {n["task"]: n["launcher"] for n in plan["nodes"]} == expected
    text = proj.plan().stdout
    assert "big" in text and "ev" in text and "side" in text, text
    proj.run(timeout=120)
    order = ["prepare", "train", "evaluate", "report"]
    for task in order:
        st = proj.state(proj.job_dir(task))
        assert st["status"] == "done" and st["launcher"] == expected[task], st
    # each job started after its dependency (on another launcher) was done
    for before, after in zip(order, order[1:]):
        assert times(proj.job_dir(after))[0] >= times(proj.job_dir(before))[1], (before, after)
    assert read(os.path.join(proj.job_dir("report"), "o.txt")) == "data\n"


def test_the_default_launcher_and_l_are_used_when_no_route_applies(tmp_path):
    proj = Project(tmp_path, PIPELINE.replace('    requires launcher="side"\n', ""))
    proj.write("xpmbuild.toml", 'launcher = "ev"\n' + ROUTES)
    plan = proj.plan_json()
    assert {n["task"]: n["launcher"] for n in plan["nodes"]} == \
        {"prepare": "ev", "train": "big", "evaluate": "ev", "report": "ev"}
    plan = proj.plan_json("-l", "side")
    assert {n["task"]: n["launcher"] for n in plan["nodes"]} == \
        {"prepare": "side", "train": "big", "evaluate": "ev", "report": "side"}


def bad_settings(tmp_path, settings):
    proj = Project(tmp_path, PIPELINE)
    proj.write("xpmbuild.toml", settings)
    return proj.run(expect=2)


def test_bad_routing_expressions_are_clear_errors(tmp_path):
    cases = [('[[route]]\nwhen = "gpus >>= 1"\nlauncher = "local"\n', "route[0].when"),
             ('[[route]]\nwhen = "vram >= 1"\nlauncher = "local"\n', "unknown key 'vram'"),
             ('[[route]]\nwhen = "mem >= lots"\nlauncher = "local"\n', "expected a size"),
             ('[[route]]\nlauncher = "local"\n', "route[0].when: expected a string"),
             ('[tasks.train]\nlaunchr = "x"\n', "tasks.train: unknown key 'launchr'")]
    for i, (settings, message) in enumerate(cases):
        r = bad_settings(tmp_path / str(i), settings)
        assert "xpmbuild.toml" in r.stderr and message in r.stderr, describe(r)
        assert "Traceback" not in r.stderr


def test_a_route_to_an_unknown_launcher_is_an_error_naming_the_setting(tmp_path):
    r = bad_settings(tmp_path / "a", '[[route]]\nwhen = "cpus >= 2"\nlauncher = "gpu"\n')
    assert "route[0]" in r.stderr and "unknown launcher 'gpu'" in r.stderr, describe(r)
    r = bad_settings(tmp_path / "b", "")        # report's requires launcher="side"
    assert 'requires launcher="side" of task report' in r.stderr, describe(r)
    assert not os.path.exists(os.path.join(tmp_path, "b", "ws", "jobs", "prepare")), \
        "a job was prepared before the error"


MANY = f"""\
task work {{
    i: int
    output o = "o.txt"
    shell "{STAMP}; echo {{i}} > {{o}}"
}}
for i in range(3) {{
    work(i=i)
}}
"""


def intervals(proj):
    return sorted(times(d) for d in proj.job_dirs("work"))


def test_max_jobs_limits_the_jobs_running_at_once_on_a_launcher(tmp_path):
    proj = Project(tmp_path, MANY)
    proj.write("xpmbuild.toml", '[launchers.one]\ntype = "local"\nmax_jobs = 1\n')
    proj.run("-l", "one", "-j", "4", timeout=120)
    spans = intervals(proj)
    assert len(spans) == 3
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0, f"two jobs ran at once on a max_jobs=1 launcher: {spans}"


def run_pinned(proj, cpu_list, *args):
    """``xpmbuild run`` with its affinity restricted to ``cpu_list`` (taskset)."""
    return subprocess.run(["taskset", "-c", cpu_list] + XPMBUILD + ["run", proj.file, "-w",
                          proj.ws, *args], cwd=proj.root, env=proj.env, capture_output=True,
                          text=True, timeout=120)


def test_local_cpus_default_to_the_affinity_mask(tmp_path):
    proj = Project(tmp_path, MANY)
    r = run_pinned(proj, "0")
    assert r.returncode == 0, describe(r)
    spans = intervals(proj)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0, f"one CPU allowed, yet jobs ran at once: {spans}"


def test_a_job_needing_more_cpus_than_allowed_fails_naming_the_setting(tmp_path):
    proj = Project(tmp_path, PIPELINE.replace('    requires launcher="side"\n', ""))
    r = run_pinned(proj, "0")
    assert r.returncode == 1, describe(r)
    out = r.stdout + r.stderr
    assert "needs 2 CPUs" in out and "sched_getaffinity" in out, describe(r)
    assert "launchers.local.cpus" in out, describe(r)
    st = proj.state(proj.job_dir("train"))
    assert st["status"] == "failed" and not os.path.exists(
        os.path.join(proj.job_dir("train"), "t_start"))
    # the setting raises the limit
    proj.write("xpmbuild.toml", '[launchers.local]\ntype = "local"\ncpus = 2\n')
    r = run_pinned(proj, "0")
    assert r.returncode == 0, describe(r)


GPU = """\
task g {
    i: int
    requires gpus=GPUS
    output o = "o.txt"
    shell "echo $CUDA_VISIBLE_DEVICES > {o}"
}
for i in range(2) {
    g(i=i)
}
"""


def test_gpus_from_cuda_visible_devices(tmp_path):
    proj = Project(tmp_path / "one", GPU.replace("GPUS", "1"))
    proj.env["CUDA_VISIBLE_DEVICES"] = "3,5"
    doc = proj.run_json("-j", "2")
    seen = sorted(read(os.path.join(n["dir"], "o.txt")).strip() for n in doc["nodes"])
    assert seen == ["3", "5"], seen
    proj = Project(tmp_path / "three", GPU.replace("GPUS", "3"))
    proj.env["CUDA_VISIBLE_DEVICES"] = "3,5"
    r = proj.run(expect=1)
    out = r.stdout + r.stderr
    assert "needs 3 GPUs" in out and "has 2" in out and "CUDA_VISIBLE_DEVICES" in out, out
    assert "launchers.local.gpus" in out, out


def test_detach_on_the_local_launcher_exits_2_before_submitting(tmp_path):
    proj = Project(tmp_path, MANY)
    r = proj.run("--detach", expect=2)
    assert "--detach" in r.stderr and "local" in r.stderr, describe(r)
    assert proj.job_dirs("work") == []
