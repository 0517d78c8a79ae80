"""`service` declarations in the language (monitor.md "Services"): what a call attaches,
the static errors (FILE:LINE:COL), and the folder of links a list of jobs renders as."""
from __future__ import annotations

import json
import os

import pytest

from conftest import plan_of, run_cli, write_xpm, xpm_error

TRAIN = '''
task train {
    seed: int = 0
    lr: float = 0.1
    width: int = 8
    name: str = ""
    output log = "log.txt"
    shell "echo {seed} > {log}"
}
'''

BOARD = '''
service board {
    """A board over the runs."""
    runs: list[train]
    title: str = "my runs"
    shell "serve --port {port} --dir {runs} --title {title}"
    url "http://127.0.0.1:{port}/?t={title}"
}
'''


def test_a_call_attaches_the_service_and_makes_no_job(tmp_path):
    plan = plan_of(tmp_path, TRAIN + BOARD + '''
ms = [train(seed=tag(0)), train(seed=tag(1))]
board(runs=ms)
''')
    assert len(plan.jobs) == 2                      # the service is no job
    call = plan.services["board"]
    assert [j.tags for j in call.values["runs"]] == [{"seed": 0}, {"seed": 1}]
    assert call.values["title"] == "my runs"
    assert call.definition.doc == "A board over the runs."
    # ids do not change because a service is declared or attached
    plain = plan_of(tmp_path / "b", TRAIN + "ms = [train(seed=tag(0)), train(seed=tag(1))]\n")
    assert set(plain.jobs) == set(plan.jobs)


def test_check_accepts_a_file_with_a_service(tmp_path):
    path = write_xpm(tmp_path, TRAIN + BOARD + "board(runs=[train()])\n")
    code, out, err = run_cli("check", path)
    assert code == 0, err
    assert out.strip() == f"{path}: ok — 1 job (1 train), service board"


@pytest.mark.parametrize("plan, line, col, fragment", [
    ("board(runs=[train()], nope=1)", 18, 23, "service board has no parameter or option 'nope'"),
    ("board(runs=[1])", 18, 12, "board(runs=...): item 0: expected a job of task train"),
    ("x = board(runs=[])", 18, 5, "service board(...) has no value"),
    ("train(seed=board(runs=[]))", 18, 12, "service board(...) has no value"),
    ("board(runs=[])\nboard(runs=[train()])", 19, 1, "already attached"),
    ("board()", 18, 1, "missing argument runs"),
])
def test_call_errors(tmp_path, plan, line, col, fragment):
    err = xpm_error(tmp_path, TRAIN + BOARD + plan + "\n")
    assert (err.line, err.column) == (line, col), err.render()
    assert fragment in err.message, err.render()


@pytest.mark.parametrize("body, line, col, fragment", [
    ('runs: list[train]\n    shell "serve 8000"\n    url "http://x/"', 12, 11,
     "must pass {port}"),
    ('output o = "x"\n    shell "s {port}"\n    url "u"', 11, 12, "`output` is not allowed in a service"),
    ('python "m:f"\n    url "u"', 11, 5, "a python action is not allowed in a service"),
    ('requires cpus=2\n    shell "s {port}"\n    url "u"', 11, 5, "`requires` is not allowed"),
    ('shell "s {port}"', 10, 9, "service board has no url"),
    ('url "u"', 10, 9, "service board has no shell"),
    ('shell "s {port} {nope}"\n    url "u"', 11, 21, "unknown name 'nope' in template of service board"),
    ('shell "s {port}"\n    url "http://h:{port}/{nope}"', 12, 26, "unknown name 'nope'"),
    ('port: int = 1\n    shell "s {port}"\n    url "u"', 11, 5, "`port` is reserved"),
    ('shell "s {port}"\n    url "u"\n    url "v"', 13, 5, "already has a url"),
])
def test_declaration_errors(tmp_path, body, line, col, fragment):
    err = xpm_error(tmp_path, TRAIN + "service board {\n    " + body + "\n}\n")
    assert (err.line, err.column) == (line, col), err.render()
    assert fragment in err.message, err.render()


def test_a_service_is_not_a_type_and_url_is_only_for_services(tmp_path):
    err = xpm_error(tmp_path, BOARD.replace("list[train]", "list[int]") +
                    "task t {\n    b: board\n    shell \"x\"\n}\n")
    assert "board is a service, not a type" in err.message and err.line == 10
    err = xpm_error(tmp_path / "u", "task t {\n    url \"x\"\n    shell \"x\"\n}\n")
    assert "`url` is only allowed in a service" in err.message and (err.line, err.column) == (2, 5)


def test_the_cli_reports_a_service_error_with_its_position(tmp_path):
    path = write_xpm(tmp_path, TRAIN + BOARD + "x = board(runs=[])\n")
    code, out, err = run_cli("check", path)
    assert code == 2
    assert f"{path}:18:5: error: service board(...) has no value" in err
    assert "Traceback" not in err


def _render(tmp_path, text):
    from xpmbuild.servicefolder import record_services
    plan = plan_of(tmp_path, text)
    ws = tmp_path / "ws"
    record_services(str(ws), "main", plan)
    folder = ws / "experiments" / "main" / "services" / "board"
    return plan, ws, folder, json.loads((folder / "service.json").read_text())


def test_a_list_of_jobs_is_a_folder_of_links_named_by_tags(tmp_path):
    plan, ws, folder, doc = _render(tmp_path, TRAIN + BOARD + '''
ms = []
for s in range(2) {
    for lr in [0.001, 0.01] {
        ms = ms + [train(seed=tag(s), lr=tag(lr))]
    }
}
board(runs=ms, title="it's \\"mine\\"")
''')
    links = folder / "runs"
    names = sorted(os.listdir(links))
    assert names == ["seed=0,lr=0.001", "seed=0,lr=0.01", "seed=1,lr=0.001", "seed=1,lr=0.01"]
    by_tags = {f"seed={j.tags['seed']},lr={j.tags['lr']}": j for j in plan.jobs.values()}
    for name in names:
        target = os.path.normpath(os.path.join(links, os.readlink(links / name)))
        assert target == str(ws / "jobs" / "train" / by_tags[name].id)
        assert not os.path.isabs(os.readlink(links / name))     # relative: the ws can move
    # the shell text: the port left open, values quoted (the title is one word)
    assert len(doc["command"]) == 2
    import shlex
    words = shlex.split("8123".join(doc["command"]))
    assert words == ["serve", "--port", "8123", "--dir", str(links), "--title", 'it\'s "mine"']
    assert "8123".join(doc["url"]) == "http://127.0.0.1:8123/?t=it's \"mine\""
    assert doc["doc"] == "A board over the runs."


def test_link_names_fall_back_to_ids_and_are_filesystem_safe(tmp_path):
    plan, ws, folder, doc = _render(tmp_path, TRAIN + BOARD.replace(
        'shell "serve', 'shell "serve {runs} ') + '''
a = train(seed=1)
b = train(seed=2)
c = train(seed=3, lr=tag(0.5), width=1)
d = train(seed=4, lr=tag(0.5), width=2)
e = train(name=tag("../x/.y"))
board(runs=[a, b, c, d, e, a])
''')
    names = sorted(os.listdir(folder / "runs"))
    ids = {j.id[:12] for j in plan.jobs.values() if j.tags.get("lr") is not None or not j.tags}
    assert set(names) - {"name=.._x_.y"} == ids     # untagged, and clashing lr=0.5: by id
    assert "name=.._x_.y" in names                  # no "/" in a link name
    assert len(names) == 5                          # a job given twice: one link


def test_a_single_job_is_its_folder_and_outputs_are_absolute(tmp_path):
    plan, ws, folder, doc = _render(tmp_path, TRAIN + '''
service board {
    run: train
    shell "serve {port} {run} {run.log}"
    url "http://127.0.0.1:{port}/"
}
m = train(seed=tag(3))
board(run=m)
''')
    job = next(iter(plan.jobs.values()))
    import shlex
    assert shlex.split("1".join(doc["command"])) == [
        "serve", "1", str(ws / "jobs" / "train" / job.id),
        str(ws / "jobs" / "train" / job.id / "log.txt")]
