"""The examples/ folders: each checks, graphs and (through the real engine) runs.

Each example is copied alone to a temporary folder first, which also shows that it is
self-contained; its scripts use the Python standard library only.
"""
from __future__ import annotations

import ast
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_cli

# folder, experiment file, {task: number of jobs}
EXAMPLE_PLANS = [
    ("sweep", "sweep.xpm", {"prepare": 1, "train": 6, "evaluate": 6}),
    ("pipeline", "pipeline.xpm", {"split": 1, "vocab": 1, "train": 5, "evaluate": 5,
                                  "compare": 2}),
    ("python_action", "wordcount.xpm", {"count": 4, "summarize": 4}),
    ("tensorboard", "tensorboard.xpm", {"train": 6}),
]
IDS = [e[0] for e in EXAMPLE_PLANS]


@pytest.fixture
def example(request, tmp_path):
    folder, xpm, counts = request.param
    copy = tmp_path / folder
    shutil.copytree(EXAMPLES / folder, copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy, xpm, counts


def test_every_example_folder_is_listed():
    folders = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert folders == set(IDS)
    for folder in folders:
        assert (EXAMPLES / folder / "README.md").is_file()


@pytest.mark.parametrize("example", EXAMPLE_PLANS, ids=IDS, indirect=True)
def test_example_checks(example):
    folder, xpm, counts = example
    code, out, err = run_cli("check", xpm, cwd=folder)
    assert (code, err) == (0, ""), err
    total = sum(counts.values())
    detail = ", ".join(f"{n} {t}" for t, n in counts.items())
    services = ", service tensorboard" if xpm == "tensorboard.xpm" else ""
    assert out.strip() == f"{xpm}: ok — {total} jobs ({detail}){services}"


@pytest.mark.parametrize("example", EXAMPLE_PLANS, ids=IDS, indirect=True)
def test_example_graphs(example):
    folder, xpm, counts = example
    code, out, err = run_cli("graph", xpm, "--format", "json", cwd=folder)
    assert (code, err) == (0, ""), err
    nodes = json.loads(out)["nodes"]
    by_task = {}
    for node in nodes:
        by_task[node["task"]] = by_task.get(node["task"], 0) + 1
    assert by_task == counts
    for fmt, first in (("text", None), ("dot", "digraph xpm {"), ("mermaid", "graph LR")):
        code, out, err = run_cli("graph", xpm, "--format", fmt, cwd=folder)
        assert (code, err) == (0, ""), err
        assert len(out.strip().splitlines()) >= sum(counts.values())
        if first:
            assert out.splitlines()[0] == first


@pytest.mark.parametrize("example", EXAMPLE_PLANS, ids=IDS, indirect=True)
def test_example_scripts_use_only_the_standard_library(example):
    folder, _, _ = example
    local = {p.stem for p in folder.rglob("*.py")}
    for script in folder.rglob("*.py"):
        tree = ast.parse(script.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                assert top in sys.stdlib_module_names or top in local or top == "__future__", \
                    f"{script.name} imports {mod}"


def _outputs(workspace: Path, task: str, name: str):
    return sorted((workspace / "jobs" / task).glob(f"*/{name}"))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_PLANS, ids=IDS, indirect=True)
def test_example_runs(example, tmp_path):
    """Built by the real engine: every job done, outputs where the spec puts them."""
    folder, xpm, counts = example
    ws = tmp_path / "ws"
    code, out, err = run_cli("run", xpm, "-w", ws, cwd=folder, timeout=120,
                             env={"XPM_SETTINGS_USER": "/nonexistent/settings.toml"})
    assert code == 0, out + err
    for task, n in counts.items():
        assert len(list((ws / "jobs" / task).iterdir())) == n
    if folder.name == "sweep":
        metrics = [json.loads(p.read_text()) for p in _outputs(ws, "evaluate", "metrics.json")]
        assert len(metrics) == 6
        assert {(m["lr"], m["seed"]) for m in metrics} == {
            (lr, s) for lr in (1e-3, 1e-4) for s in range(3)}
        assert all(m["split"] == "test" and m["perplexity"] > 1 for m in metrics)
    elif folder.name == "pipeline":
        reports = [p.read_text() for p in _outputs(ws, "compare", "report.txt")]
        assert len(reports) == 2 and all("candidate is" in r for r in reports)
        accuracies = [json.loads(p.read_text())["accuracy"]
                      for p in _outputs(ws, "evaluate", "metrics.json")]
        assert min(accuracies) > 0.7          # the toy task is learnable
    elif folder.name == "tensorboard":
        models = [json.loads(p.read_text()) for p in _outputs(ws, "train", "model.json")]
        assert len(models) == 6 and min(m["loss"] for m in models) < 0.2   # it learns
        assert len(_outputs(ws, "train", "events.out.tfevents.xpm")) == 6
    else:
        summaries = [p.read_text() for p in _outputs(ws, "summarize", "summary.md")]
        assert len(summaries) == 4
        assert all(s.startswith("| word | count |\n|---|---|\n") for s in summaries)
        assert all(len(s.splitlines()) == 5 for s in summaries)    # top=3
    # a second run has nothing to do: every job up to date, none ran, no output touched
    before = {p: p.stat().st_mtime_ns for p in (ws / "jobs").rglob("*") if p.is_file()}
    for args in (("run", "--json"), ("plan", "--json")):
        code, out, err = run_cli(args[0], xpm, "-w", ws, args[1], cwd=folder, timeout=120,
                                 env={"XPM_SETTINGS_USER": "/nonexistent/settings.toml"})
        assert code == 0, out + err
        doc = json.loads(out)
        assert doc["nodes"] and all(n["status"] == "done" and not n["will_run"]
                                    for n in doc["nodes"]), doc["nodes"]
        assert doc["summary"].get("ran", doc["summary"].get("will_run")) == 0, doc["summary"]
    # and the full path (no fast-path manifest) agrees
    for m in (ws / ".xpm").glob("noop-*"):
        m.unlink()
    code, out, err = run_cli("run", xpm, "-w", ws, "--json", cwd=folder, timeout=120,
                             env={"XPM_SETTINGS_USER": "/nonexistent/settings.toml"})
    assert code == 0, out + err
    assert json.loads(out)["summary"]["ran"] == 0
    after = {p: p.stat().st_mtime_ns for p in (ws / "jobs").rglob("*") if p.is_file()
             and p.name != "state.json"}
    assert all(before[p] == t for p, t in after.items() if p in before)


def test_python_action_function_contract(tmp_path, monkeypatch):
    """wordcount.count/summarize called as the spec says the engine calls them."""
    sys.path.insert(0, str(EXAMPLES / "python_action"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    try:
        import wordcount
    finally:
        sys.path.pop(0)

    class ReadOnly:
        def __init__(self, **fields):
            self.__dict__.update(fields)

    job1, job2 = tmp_path / "count", tmp_path / "summarize"
    job1.mkdir()
    job2.mkdir()
    monkeypatch.chdir(job1)
    wordcount.count(text=(EXAMPLES / "python_action" / "data" / "alice.txt").resolve(),
                    filter=ReadOnly(min_length=4, stopwords=["with"], lowercase=True),
                    verbose=True, counts=Path("counts.json"))
    counts = json.loads((job1 / "counts.json").read_text())
    assert counts["alice"] == 2 and "with" not in counts and min(map(len, counts)) >= 4
    monkeypatch.chdir(job2)
    wordcount.summarize(counts=ReadOnly(counts=job1 / "counts.json"), top=2,
                        summary=Path("summary.md"))
    lines = (job2 / "summary.md").read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith("| ")
