"""End-to-end tests of failures: exit codes, dependents, -k, missing outputs, reruns after
a fix, and hostile parameter values that must reach the command verbatim."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read, read_bytes  # noqa: E402

# `a` fails (exit 3) until a file named `fixed` exists next to the .xpm (not an input of
# the job: "fixing the cause" outside the experiment); `b` needs `a`; `c` jobs are
# independent; every execution appends a line to runs.log.
EXPERIMENT = """\
task a {
    x: int = 0
    output o = "o.txt"
    shell "echo a >> {here}/runs.log; if [ -e {here}/fixed ]; then echo A > {o}; else echo 'first stderr line' >&2; echo 'the real cause: disk on fire' >&2; exit 3; fi"
}
task b {
    dep: a
    output o = "o.txt"
    shell "echo b >> {here}/runs.log; cat {dep.o} > {o}; echo B >> {o}"
}
task c {
    i: int
    output o = "o.txt"
    shell "echo c{i} >> {here}/runs.log; echo {i} > {o}"
}
b(dep=a())
c(i=1)
c(i=2)
"""



@pytest.fixture
def proj(tmp_path):
    return Project(tmp_path, EXPERIMENT)


def test_failing_job_fails_the_run_and_skips_its_dependents(proj):
    r = proj.run("-k", expect=1)
    out = r.stdout + r.stderr
    # the failing job's stderr tail is shown, with its folder
    assert "the real cause: disk on fire" in out, describe(r)
    a_dir = proj.job_dir("a")
    assert a_dir in "".join(out.split()), describe(r)     # (rich may wrap a long path)

    st = proj.state(a_dir)
    assert st["status"] == "failed" and st["exit_code"] == 3, st
    assert "first stderr line" in read(os.path.join(a_dir, "stderr.log"))
    # the dependent never ran, and is reported as skipped because of `a`
    assert proj.job_dirs("b") == [] or proj.state(proj.job_dir("b")) is None
    assert "skipped" in out and "dependency a/" in out, describe(r)
    assert proj.executions() == ["a", "c1", "c2"]

    doc = proj.run_json("-k", expect=1)
    a = proj.node("a")
    assert a["status"] == "failed" and any("3" in x for x in a["reasons"]), a
    b = proj.node("b")
    assert b["status"] == "failed" and not b["will_run"], b
    assert b["reasons"] == [f"dependency a/{a['id'][:8]}… failed"], b
    assert doc["summary"]["failed"] >= 1
    assert all(n["status"] == "done" for n in proj.nodes("c"))
    assert proj.executions() == ["a"]          # only the failed job is tried again


def test_without_keep_going_no_new_job_starts_after_a_failure(proj):
    doc = proj.run_json("-j", "1", expect=1)
    assert proj.executions() == ["a"]
    for n in proj.nodes("c"):
        assert n["status"] != "done" and not os.path.exists(os.path.join(n["dir"], "o.txt"))
        assert any("not started" in r or "stopped" in r for r in n["reasons"]), n
    assert proj.node("b")["status"] == "failed"

    # -k: the independent jobs run, the run still fails
    doc = proj.run_json("-j", "1", "-k", expect=1)
    assert proj.executions() == ["a", "c1", "c2"]
    assert [n["status"] for n in proj.nodes("c")] == ["done", "done"]
    assert proj.node("a")["status"] == "failed"


def test_rerun_after_fixing_the_cause_runs_the_failed_job_only(proj):
    proj.run("-k", expect=1)
    assert proj.executions() == ["a", "c1", "c2"]
    proj.plan_json()
    assert proj.node("a")["reasons"] == ["last build failed (exit code 3)"]
    assert proj.node("a")["status"] == "failed"
    assert proj.ran() == ["a", "b"]

    proj.write("fixed", "")
    doc = proj.run_json()
    assert proj.executions() == ["a", "b"]
    assert all(n["status"] == "done" for n in doc["nodes"])
    assert proj.output("b", "o.txt") == b"A\nB\n"
    st = proj.state(proj.job_dir("a"))
    assert st["status"] == "done" and st["exit_code"] == 0 and "reason" not in st
    proj.run()
    assert proj.executions() == []


def test_a_declared_output_that_is_not_created_fails_the_job(tmp_path):
    proj = Project(tmp_path, """\
        task m {
            output made = "made.txt"
            output forgotten = "sub/forgotten.txt"
            shell "echo m >> {here}/runs.log; echo yes > {made}"
        }
        task after {
            dep: m
            output o = "o.txt"
            shell "cat {dep.made} > {o}"
        }
        after(dep=m())
        """)
    r = proj.run(expect=1)
    assert "missing output" in r.stdout + r.stderr, describe(r)
    doc = proj.run_json(expect=1)
    m = proj.node("m")
    assert m["status"] == "failed"
    assert any("missing output" in x and "sub/forgotten.txt" in x for x in m["reasons"]), m
    st = proj.state(m["dir"])
    assert st["status"] == "failed" and st["exit_code"] == 0
    assert "missing output" in st.get("reason", ""), st
    assert proj.node("after")["status"] == "failed"
    assert not os.path.exists(os.path.join(proj.node("after")["dir"], "o.txt"))
    assert proj.executions() == ["m", "m"]       # a failed job is retried by every run


HOSTILE = [
    "\"; touch PWNED; echo $(touch PWNED2) `touch PWNED3` '\\\" {x} $HOME ${IFS} \\\\",
    "line one\nline two; touch PWNED4\n\ttab & touch PWNED5 | cat > PWNED6",
    "-n",          # looks like an option of echo/printf
    "",
    "ünïcödé ✓ 'single' \"double\" %s %n",
]


def xpm_string(value: str) -> str:
    """A Python-style double-quoted literal for the .xpm file."""
    return json.dumps(value, ensure_ascii=False)


def no_pwned_files(root):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [os.path.join(dirpath, f) for f in filenames + dirnames if f.startswith("PWNED")]
    return found


def test_hostile_strings_reach_the_command_verbatim(tmp_path):
    calls = "\n".join(f"echo(i={i}, msg={xpm_string(s)})" for i, s in enumerate(HOSTILE))
    text = textwrap.dedent("""\
        arg extra: str = "none"
        task echo {
            i: int
            msg: str
            output o = "o.txt"
            shell "printf '%s' {msg} > {o}"
        }
        task file {
            src: path
            msg: str
            output o = "o.txt"
            shell "cat {src} > {o}; printf '%s' {msg} >> {o}"
        }
        echo(i=100, msg=extra)
        file(src="we ird $(touch PWNED7) `x`.txt", msg="ok")
        """) + calls + "\n"
    proj = Project(tmp_path, text, files={"we ird $(touch PWNED7) `x`.txt": "odd name\n"})
    hostile_d = "a b; touch PWNED8 $(touch PWNED9) `touch PWNED10` \"q\" 'q'"
    doc = proj.run_json("-D", f"extra={hostile_d}")
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    for n in proj.nodes("echo"):
        i = json.loads(read(os.path.join(n["dir"], "params.json")))["params"]["i"]
        expected = hostile_d if i == 100 else HOSTILE[i]
        assert read_bytes(os.path.join(n["dir"], "o.txt")) == expected.encode(), i
        assert json.loads(read(os.path.join(n["dir"], "params.json")))["params"]["msg"] == expected
    assert proj.output("file", "o.txt") == b"odd name\nok"
    assert no_pwned_files(tmp_path) == []
    assert no_pwned_files(proj.ws) == []

    # command.sh run by hand is just as safe
    for n in proj.nodes("echo"):
        r = subprocess.run(["bash", "command.sh"], cwd=n["dir"], capture_output=True)
        assert r.returncode == 0, r.stderr
    assert no_pwned_files(tmp_path) == []

    # and a second run is a no-op (the hostile values hash and compare stably)
    doc = proj.run_json("-D", f"extra={hostile_d}")
    assert doc["summary"]["ran"] == 0


def test_a_job_killed_by_a_signal_says_so(tmp_path):
    proj = Project(tmp_path, """\
        task k {
            output o = "o.txt"
            shell "echo partial > {o}; kill -KILL $$"
        }
        k()
        """)
    doc = proj.run_json(expect=1)
    n = proj.node("k")
    assert n["status"] == "failed"
    assert any("SIGKILL" in r for r in n["reasons"]), n
    st = proj.state(n["dir"])
    assert st["status"] == "failed" and "SIGKILL" in st.get("reason", ""), st
    proj.plan_json()
    assert proj.node("k")["will_run"]          # a partial output is not a build


def test_project_and_workspace_in_folders_with_odd_names(tmp_path):
    root = tmp_path / "my exp $(touch PWNED11) `touch PWNED12` 'q' \"dq\""
    root.mkdir()
    proj = Project(root, """\
        task prepare {
            corpus: path
            output tokens = "out put/tokens.txt"
            shell "cat {corpus} > {tokens}; cat {here}/extra.txt >> {tokens}"
        }
        task train {
            data: prepare
            output model = "model.txt"
            python "mod:main"
        }
        train(data=prepare(corpus="in $(x).txt"))
        """, files={"in $(x).txt": "in\n", "extra.txt": "extra\n",
                    "mod.py": "def main(data, model):\n"
                              "    model.write_text(data.tokens.read_text() + 'trained\\n')\n"})
    proj.ws = str(root / "work space $(touch PWNED13)")
    doc = proj.run_json()
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.output("train", "model.txt") == b"in\nextra\ntrained\n"
    assert no_pwned_files(tmp_path) == []
    doc = proj.run_json()
    assert doc["summary"]["ran"] == 0
