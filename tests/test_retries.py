"""Retries (launchers.md v1 "Retries and resumable jobs"), through the real CLI and the
local launcher, which enforces ``requires time=`` itself: a job over its time is stopped
and ends as TIMEOUT, as on a cluster.

Each job appends its ``XPM_ATTEMPT``, ``XPM_DEADLINE`` and start time to ``attempts.log``
next to the .xpm, and counts its attempts in a checkpoint file of its own folder (which
must survive between attempts).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read, xpmbuild  # noqa: E402

RECORD = ("echo $XPM_ATTEMPT ${{XPM_DEADLINE:-none}} $(date +%s) >> {here}/attempts.log; "
          "n=$(cat ckpt 2>/dev/null || echo 0); echo $((n+1)) > ckpt; echo attempt $XPM_ATTEMPT")

# attempt 1 hangs; attempt 2 needs 3 s, more than the first limit (2 s) and less than the
# escalated one (6 s): it succeeds only if the time really was escalated
TIMEOUT_THEN_OK = f"""\
task train {{
    output model = "model.txt"
    requires time="2s", retries=2, on_retry={{"time": 3}}
    shell "{RECORD}; if [ $XPM_ATTEMPT = 1 ]; then sleep 60; else sleep 3; fi; cat ckpt > {{model}}"
}}
train()
"""


def attempts_log(proj):
    return [line.split() for line in read(proj.path("attempts.log")).splitlines()]


def test_timed_out_job_is_retried_with_escalated_time_and_succeeds(tmp_path):
    proj = Project(tmp_path, TIMEOUT_THEN_OK)
    proj.run(timeout=120)
    d = proj.job_dir("train")
    st = proj.state(d)
    assert st["status"] == "done", st
    lines = attempts_log(proj)
    assert [x[0] for x in lines] == ["1", "2"], lines
    # XPM_DEADLINE: epoch seconds, the attempt's start plus its (escalated) limit
    (a1, dl1, t1), (a2, dl2, t2) = lines
    assert 0 <= int(dl1) - int(t1) <= 2, lines
    assert 4 <= int(dl2) - int(t2) <= 6, lines
    # the folder was kept: the checkpoint counted both attempts
    assert read(os.path.join(d, "model.txt")).strip() == "2"
    # each attempt's logs kept
    assert read(os.path.join(d, "stdout.1.log")).strip() == "attempt 1"
    assert read(os.path.join(d, "stdout.log")).strip() == "attempt 2"
    assert os.path.exists(os.path.join(d, "stderr.1.log"))
    # state.json: the attempts and why each ended
    att = st["attempts"]
    assert [a["attempt"] for a in att] == [1, 2]
    assert att[0]["status"] == "failed" and att[0]["cause"] == "TIMEOUT", att
    assert "time limit" in att[0]["reason"], att
    assert att[1]["status"] == "done" and att[1]["requires"] == {"time": "6s"}, att
    assert st["attempt"] == 2 and st["requires"] == {"time": "6s"}
    assert "resources" in att[0] and "resources" in att[1]
    # a later run: up to date, not retried again
    proj.run()
    assert len(attempts_log(proj)) == 2


def test_timeout_without_retries_fails_as_timeout(tmp_path):
    proj = Project(tmp_path, f"""\
        task train {{
            output model = "model.txt"
            requires time="1s"
            shell "{RECORD}; sleep 60; touch {{model}}"
        }}
        train()
        """.replace("\n        ", "\n"))
    r = proj.run(expect=1, timeout=60)
    st = proj.state(proj.job_dir("train"))
    assert st["status"] == "failed" and st["cause"] == "TIMEOUT", st
    assert "time limit reached (TIMEOUT)" in st["reason"]
    assert "attempts" not in st
    assert "TIMEOUT" in r.stdout + r.stderr, describe(r)
    assert len(attempts_log(proj)) == 1


def failing(requires):
    return f"""\
task bad {{
    output o = "o.txt"
    requires {requires}
    shell "{RECORD}; exit 3"
}}
bad()
"""


def test_exit_codes_are_not_retried_by_default(tmp_path):
    proj = Project(tmp_path, failing("retries=2"))
    proj.run(expect=1)
    assert len(attempts_log(proj)) == 1
    st = proj.state(proj.job_dir("bad"))
    assert st["status"] == "failed" and st["exit_code"] == 3
    assert [a["exit_code"] for a in st["attempts"]] == [3]


def test_retry_on_exit_retries_the_listed_codes(tmp_path):
    proj = Project(tmp_path, failing("retries=2, retry_on_exit=[3, 75]"))
    proj.run(expect=1)
    assert [x[0] for x in attempts_log(proj)] == ["1", "2", "3"]
    st = proj.state(proj.job_dir("bad"))
    assert st["status"] == "failed"
    assert [(a["attempt"], a["exit_code"]) for a in st["attempts"]] == [(1, 3), (2, 3), (3, 3)]
    d = proj.job_dir("bad")
    assert sorted(f for f in os.listdir(d) if f.startswith("stdout")) == \
        ["stdout.1.log", "stdout.2.log", "stdout.log"]
    assert read(os.path.join(d, "ckpt")).strip() == "3"


def test_retries_from_the_launcher_settings(tmp_path):
    proj = Project(tmp_path, failing("time=\"1s\"").replace("exit 3", "sleep 60"))
    proj.write("xpmbuild.toml", "[launchers.local]\ntype = \"local\"\nretries = 1\n")
    proj.run(expect=1, timeout=60)
    assert [x[0] for x in attempts_log(proj)] == ["1", "2"]
    st = proj.state(proj.job_dir("bad"))
    assert [a["cause"] for a in st["attempts"]] == ["TIMEOUT", "TIMEOUT"]


def test_bad_retry_requirements_are_language_errors(tmp_path):
    cases = {"retries=-1": "retries must be a whole number >= 0",
             'on_retry={"cpus": 2}': "on_retry: cannot escalate 'cpus'",
             'on_retry={"time": 0.5}': "the factor of time must be a number >= 1",
             "on_retry=2": "on_retry must be a dict",
             "retry_on_exit=[0]": "retry_on_exit must be a list of exit codes",
             "launcher=3": "launcher must be the name of a launcher"}
    for text, message in cases.items():
        proj = Project(tmp_path / text.split("=")[0].replace("_", ""), failing(text))
        r = xpmbuild("check", proj.file, cwd=proj.root, env=proj.env)
        assert r.returncode == 2, describe(r)
        assert "exp.xpm:3:" in r.stderr and message in r.stderr, describe(r)
        assert "Traceback" not in r.stderr
