"""``{xs.f}`` in a template: the field ``f`` of each item of a list of jobs or configs, one
shell word per item (language.md, task bodies). An aggregate reads every output with one
command (``cat {parts.out}``), not one process per item."""
from __future__ import annotations

import json
import os
import shlex

from buildutil import Project
from conftest import plan_of, xpm_error

PARTS = '''
task part {
    i: int
    output out = "out.txt"
    shell "echo {i} > {out}"
}
task agg {
    parts: list[part]
    output out = "all.txt"
    shell "cat {parts.out} > {out}"
}
'''


def _agg_output(proj):
    doc = proj.last
    node = next(n for n in doc["nodes"] if n["task"] == "agg")
    with open(os.path.join(node["dir"], "all.txt")) as f:
        return f.read().split()


def test_an_aggregate_reads_each_output_in_one_command(tmp_path):
    proj = Project(tmp_path, PARTS + "agg(parts=[part(i=i) for i in [0, 1, 2, 3, 4]])\n")
    proj.run_json()
    assert _agg_output(proj) == ["0", "1", "2", "3", "4"]
    agg = next(n for n in proj.last["nodes"] if n["task"] == "agg")
    with open(os.path.join(agg["dir"], "command.sh")) as f:
        line = f.read().strip().splitlines()[-1]
    words = shlex.split(line)
    assert words[0] == "cat" and len(words) == 5 + 3          # cat, 5 paths, >, all.txt
    assert all(w.startswith("../../part/") and w.endswith("/out.txt") for w in words[1:6])
    # up to date, then one part changed: the aggregate reads the new output
    assert proj.run_json()["summary"]["ran"] == 0
    proj.write_xpm(PARTS + "agg(parts=[part(i=i) for i in [0, 1, 2, 3, 8]])\n")
    doc = proj.run_json()
    assert doc["summary"]["ran"] == 2
    assert _agg_output(proj) == ["0", "1", "2", "3", "8"]


HOSTILE = ["$(touch PWNED)", "a b", "it's", "*", '"; touch PWNED; "', "ünï"]


def test_a_field_of_each_config_is_one_quoted_word_each(tmp_path):
    names = "[" + ", ".join(json.dumps(n) for n in HOSTILE) + "]"
    proj = Project(tmp_path, f'''
config who {{
    name: str
}}
task say {{
    people: list[who]
    output out = "names.txt"
    shell "printf '%s\\n' {{people.name}} > {{out}}; printf '<%s>' \\"{{people.name}}\\" >> {{out}}"
}}
say(people=[who(name=n) for n in {names}])
''')
    proj.run_json()
    node = proj.last["nodes"][0]
    with open(os.path.join(node["dir"], "names.txt"), encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    assert lines[:len(HOSTILE)] == HOSTILE
    assert lines[len(HOSTILE)] == "<" + " ".join(HOSTILE) + ">"    # inside "": one word
    assert not os.path.exists(os.path.join(node["dir"], "PWNED"))
    assert not os.path.exists(tmp_path / "PWNED")


def test_an_empty_list_gives_no_words(tmp_path):
    proj = Project(tmp_path, PARTS.replace("cat {parts.out} > {out}",
                                           "echo x {parts.out} > {out}") + "agg(parts=[])\n")
    proj.run_json()
    assert _agg_output(proj) == ["x"]


def test_errors_name_the_placeholder(tmp_path):
    err = xpm_error(tmp_path, PARTS.replace("{parts.out}", "{parts.ou}")
                    + "agg(parts=[])\n")
    assert (err.line, err.column) == (10, 16)
    assert "task part (parts) has no output or parameter 'ou'" in err.message
    assert "did you mean 'out'?" in err.message
    err = xpm_error(tmp_path, '''
task t {
    xs: list[int]
    output out = "o"
    shell "echo {xs.real} > {out}"
}
t(xs=[1])
''')
    assert (err.line, err.column) == (5, 17)
    assert "a field of each item needs a list of configs or jobs" in err.message
    err = xpm_error(tmp_path, '''
config c {
    vs: list[int]
}
task t {
    cs: list[c]
    output out = "o"
    shell "echo {cs.vs} > {out}"
}
t(cs=[c(vs=[1])])
''')
    assert (err.line, err.column) == (8, 17)
    assert "a list of lists or dicts has no words" in err.message


def test_a_service_gets_each_jobs_output_as_an_absolute_path(tmp_path):
    from xpmbuild.servicefolder import record_services
    plan = plan_of(tmp_path, PARTS + '''
service board {
    runs: list[part]
    shell "serve --port {port} --logs {runs.out}"
    url "http://127.0.0.1:{port}/"
}
ps = [part(i=i) for i in range(3)]
board(runs=ps)
''')
    ws = tmp_path / "ws"
    record_services(str(ws), "main", plan)
    doc = json.loads((ws / "experiments" / "main" / "services" / "board" /
                      "service.json").read_text())
    words = shlex.split("1".join(doc["command"]))
    assert words[:4] == ["serve", "--port", "1", "--logs"]
    assert words[4:] == [str(ws / "jobs" / "part" / j.id / "out.txt")
                         for j in plan.jobs.values()]
