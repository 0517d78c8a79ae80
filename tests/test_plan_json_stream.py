"""`plan --json` / `run --json` written node by node (BuildResult.write_json) is the same
text as the whole document encoded at once (the public contract, spec §8)."""
from __future__ import annotations

import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project  # noqa: E402

from xpmbuild.build import build  # noqa: E402
from xpmbuild.language import evaluate  # noqa: E402

TEXT = """\
task t {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
task u {
    d: t
    output o = "o.txt"
    shell "cat {d.o} > {o}"
}
for i in range(7) { u(d=t(i=tag(i))) }
"""


def test_streamed_json_is_the_document(tmp_path):
    proj = Project(tmp_path, TEXT)
    plan = evaluate(proj.file)
    result = build(plan, proj.ws, dry_run_only=True)
    for chunk in (1, 3, 2000):
        out = io.StringIO()
        result.write_json(out, chunk=chunk)
        assert out.getvalue() == json.dumps(result.to_json()) + "\n"
    r = proj.plan("--json")
    assert r.stdout == json.dumps(result.to_json()) + "\n"
    assert json.loads(r.stdout)["summary"] == {"new": 14, "jobs": 14, "will_run": 14}


def test_streamed_json_of_an_empty_selection(tmp_path):
    proj = Project(tmp_path, TEXT.replace("for i in range(7) { u(d=t(i=tag(i))) }", ""))
    plan = evaluate(proj.file)
    result = build(plan, proj.ws, dry_run_only=True)
    out = io.StringIO()
    result.write_json(out)
    assert out.getvalue() == json.dumps(result.to_json()) + "\n"
    assert json.loads(out.getvalue())["nodes"] == []
