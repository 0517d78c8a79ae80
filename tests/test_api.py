"""The Python API (api.md) and `xpmbuild results`, on a real sweep with tags and seeds:
load, plan, run, the workspace's jobs with typed params back from their folders, results
rows, groups, CSV round trip, missing jobs, a plot — through the API and the CLI."""
from __future__ import annotations

import csv
import io
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, xpmbuild as cli  # noqa: E402

import xpmbuild  # noqa: E402

SWEEP = """\
arg seeds: int = 3
config Optimizer {
    lr: float = 0.1
    betas: list[float] = [0.9, 0.999]
}
task prepare {
    corpus: path
    output tokens = "tokens.txt"
    shell "wc -w < {corpus} > {tokens}"
}
task train {
    data: prepare
    opt: Optimizer = Optimizer()
    seed: int
    output model = "model.txt"
    shell "echo {opt.lr} {seed} > {model}"
}
task evaluate {
    model: train
    fail: bool = False
    output metrics = "metrics.json"
    shell "test {fail} = False; python3 -c 'import sys; lr, seed = open(sys.argv[1]).read().split(); print(\\"{{\\\\\\"acc\\\\\\": %s, \\\\\\"loss\\\\\\": {{\\\\\\"train\\\\\\": %s}}}}\\" % (1 - float(lr) * (1 + int(seed)), int(seed) + 1))' {model.model} > {metrics}"
}
data = prepare(corpus="corpus.txt")
for lr in [0.1, 0.01] {
    for seed in range(seeds) {
        evaluate(model=train(data=data, opt=Optimizer(lr=tag(lr)), seed=tag(seed)))
    }
}
"""


@pytest.fixture
def sweep(tmp_path):
    proj = Project(tmp_path, SWEEP, files={"corpus.txt": "a b c d\n"})
    return proj


def test_load_plan_run_through_the_api(sweep):
    xp = xpmbuild.load(sweep.file, args={"seeds": 2})
    assert xp.name == "exp" and len(xp.jobs) == 1 + 4 + 4
    ev = xp.select("evaluate[lr=0.01]")
    assert sorted(j.task for j in ev) == ["evaluate", "evaluate", "prepare", "train", "train"]
    train = [j for j in xp.jobs if j.task == "train"][0]
    assert type(train.params.opt).__name__ == "Optimizer" and train.params.opt.lr == 0.1
    assert train.deps[0].task == "prepare" and train.tags == {"lr": 0.1, "seed": 0}
    plan = xp.plan(workspace=sweep.ws)
    assert all(r.will_run and r.status == "new" for r in plan)
    assert "<table" in plan._repr_html_()
    result = xp.run(workspace=sweep.ws, jobs=2)
    assert result.ok and result.counts["ran"] == 9
    assert all(r.status == "done" for r in xp.plan(workspace=sweep.ws))


def test_a_language_error_is_an_xpmerror_with_its_position(tmp_path):
    p = tmp_path / "bad.xpm"
    p.write_text("task t {\n    x: int\n    shell \"echo {y}\"\n}\n")
    with pytest.raises(xpmbuild.XpmError) as info:
        xpmbuild.load(p)
    e = info.value
    assert e.file == str(p) and e.line == 3 and e.col > 1 and "y" in e.message
    assert e.render().startswith(f"{p}:3:")


def test_workspace_jobs_typed_params_and_reading_outputs(sweep):
    xpmbuild.load(sweep.file).run(workspace=sweep.ws, jobs=2)
    ws = xpmbuild.Workspace(sweep.ws)
    (exp,) = ws.experiments()
    assert exp == "exp" and exp.counts == {"done": 13} and exp.time
    jobs = ws.jobs(experiment="exp", task="evaluate", status="done", tags={"lr": 0.01})
    assert len(jobs) == 3 and "<table" in jobs._repr_html_()
    job = jobs[0]
    assert job.tags["lr"] == 0.01 and job.status == "done" and job.duration >= 0
    model = job.params.model                       # a dependency: a Job
    assert isinstance(model, xpmbuild.Job) and model.task == "train"
    assert model.params.opt.lr == 0.01 and type(model.params.opt).__name__ == "Optimizer"
    data = model.params.data
    assert data.outputs["tokens"].read_text().strip() == "4"
    assert data.params.corpus == sweep.path("corpus.txt") or \
        str(data.params.corpus) == os.path.realpath(sweep.path("corpus.txt"))
    m = job.read("metrics")
    assert set(m) == {"acc", "loss"} and m["loss"]["train"] == int(model.params.seed) + 1
    assert job.read() == m                          # the only output
    # the same job from its folder alone
    again = xpmbuild.open_job(job.dir / "metrics.json")
    assert again == job and again.config_dict()["model"] == {"task": "train", "id": model.id}
    assert json.dumps(model.config_dict())


def test_results_rows_groups_and_csv_round_trip(sweep, tmp_path):
    xpmbuild.load(sweep.file).run(workspace=sweep.ws, jobs=2)
    ws = xpmbuild.Workspace(sweep.ws)
    table = ws.results("evaluate", experiment="exp")
    assert len(table) == 6 and table.missing == []
    assert table.columns[:3] == ["id", "lr", "seed"]
    assert {"acc", "loss.train"} <= set(table.columns)
    by = table.by("lr")
    assert [r["lr"] for r in by.rows] == [0.01, 0.1] and all(r["n"] == 3 for r in by.rows)
    row = by.rows[1]
    assert row["acc.mean"] == pytest.approx(1 - 0.1 * 2) and row["acc.std"] > 0
    path = tmp_path / "r.csv"
    table.to_csv(path)
    back = list(csv.DictReader(open(path)))
    assert len(back) == 6 and sorted(float(r["acc"]) for r in back) == \
        pytest.approx(sorted(r["acc"] for r in table.rows))
    assert table.to_markdown().startswith("| id | lr | seed |")
    assert table.where(seed=0).rows and all(r["seed"] == 0 for r in table.where(seed=0).rows)


def test_jobs_not_done_are_missing_not_dropped(sweep):
    sweep.write_xpm(SWEEP.replace("evaluate(model=train(", "evaluate(fail=seed == 1, model=train("))
    sweep.run("-k", expect=1)
    table = xpmbuild.Workspace(sweep.ws).results("evaluate", experiment="exp")
    assert len(table.rows) == 4 and len(table.missing) == 2
    assert all(job.status == "failed" for job, _why in table.missing)
    r = cli("results", sweep.file, "evaluate", "-w", sweep.ws, cwd=sweep.root, env=sweep.env)
    assert r.returncode == 0 and r.stdout.count("missing evaluate/") == 2, describe(r)


def test_results_command_formats_plot_and_errors(sweep, tmp_path):
    sweep.run("-j", "2")
    base = ("results", sweep.file, "evaluate", "-w", sweep.ws)
    r = cli(*base, "--format", "csv", cwd=sweep.root, env=sweep.env)
    assert r.returncode == 0, describe(r)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 6 and {"lr", "seed", "acc"} <= set(rows[0])
    r = cli(*base, "--by", "lr", "--format", "json", cwd=sweep.root, env=sweep.env)
    doc = json.loads(r.stdout)
    assert [row["n"] for row in doc["rows"]] == [3, 3]
    r = cli(*base, "--where", "lr=0.1", "--format", "markdown", cwd=sweep.root, env=sweep.env)
    assert r.returncode == 0 and r.stdout.count("\n") == 2 + 3
    png = tmp_path / "acc.png"
    r = cli(*base, "--by", "lr", "--plot", "lr:acc", "-o", png, cwd=sweep.root, env=sweep.env)
    assert r.returncode == 0, describe(r)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    png2 = tmp_path / "lines.png"
    r = cli(*base, "--plot", "lr:acc", "-o", png2, cwd=sweep.root, env=sweep.env)
    assert r.returncode == 0 and png2.stat().st_size > 10_000, describe(r)
    # errors: one line, no traceback
    for args, code, words in ((("nosuch",), 1, "no job of task"),
                              (("evaluate", "--by", "nope"), 2, "no tag"),
                              (("evaluate", "--read", "nope"), 1, "no output"),
                              (("evaluate", "--plot", "lr:nope", "-o", png), 2, "no column")):
        r = cli("results", *args, "-w", sweep.ws, cwd=sweep.root, env=sweep.env)
        assert r.returncode == code and words in r.stderr and "Traceback" not in r.stderr, \
            (args, describe(r))
