"""The job graph: targets with tag filters, networkx, and text/dot/mermaid/json exports."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import jobs_of, plan_of, run_cli, write_xpm
from xpmbuild.graph import TargetError, export, parse_target, select, to_networkx

SWEEP = '''\
config Optimizer {
    lr: float = 1e-3
}
task prepare {
    corpus: path
    output tokens = "tokens.txt"
    shell "cat {corpus} > {tokens}"
}
task train {
    data: prepare
    opt: Optimizer = Optimizer()
    seed: int = 0
    fast: bool = False
    output model = "model.bin"
    shell "echo {data.tokens} > {model}"
}
task evaluate {
    model: train
    split: choice("dev", "test") = "dev"
    note: str = ""
    output metrics = "metrics.json"
    shell "echo {model.model} > {metrics}"
}
data = prepare(corpus="data/corpus.txt")
for lr in [1e-3, 1e-4] {
    for seed in range(2) {
        m = train(data=data, opt=Optimizer(lr=tag(lr)), seed=tag(seed), fast=tag(seed == 1))
        evaluate(model=m, split=tag("test"))
    }
}
'''


@pytest.fixture
def plan(tmp_path):
    return plan_of(tmp_path, SWEEP)


# ----------------------------------------------------------------------------- targets


@pytest.mark.parametrize("text, parsed", [
    ("evaluate", ("evaluate", {})),
    ("evaluate[lr=0.001]", ("evaluate", {"lr": "0.001"})),
    (" evaluate[ lr = 0.001 , seed=1, ] ", ("evaluate", {"lr": "0.001", "seed": "1"})),
    ("train[]", ("train", {})),
    ("t[name=a=b]", ("t", {"name": "a=b"})),
])
def test_parse_target(text, parsed):
    assert parse_target(text) == parsed


@pytest.mark.parametrize("text", ["", "1task", "evaluate[lr]", "evaluate[lr=1", "a b",
                                  "evaluate(lr=1)"])
def test_malformed_targets(text):
    with pytest.raises(TargetError):
        parse_target(text)


def test_no_target_selects_every_job(plan):
    assert select(plan, []) == list(plan.jobs.values())


def test_a_task_target_brings_what_it_needs(plan):
    jobs = select(plan, ["train"])
    assert [j.task.name for j in jobs] == ["prepare"] + ["train"] * 4
    assert select(plan, ["prepare"]) == jobs_of(plan, "prepare")


@pytest.mark.parametrize("target, expected", [
    ("evaluate[lr=0.001]", {(0.001, 0), (0.001, 1)}),
    ("evaluate[lr=1e-3]", {(0.001, 0), (0.001, 1)}),        # numbers compare as numbers
    ("evaluate[lr=0.0001,seed=1]", {(0.0001, 1)}),
    ("evaluate[seed=1.0]", {(0.001, 1), (0.0001, 1)}),
    ("evaluate[fast=true]", {(0.001, 1), (0.0001, 1)}),     # True, true
    ("evaluate[fast=False]", {(0.001, 0), (0.0001, 0)}),
    ("evaluate[split=test]", {(lr, s) for lr in (0.001, 0.0001) for s in (0, 1)}),
    ("evaluate[lr=0.5]", set()),
    ("evaluate[missing=1]", set()),
])
def test_tag_filters(plan, target, expected):
    jobs = select(plan, [target])
    evaluations = [j for j in jobs if j.task.name == "evaluate"]
    assert {(j.tags["lr"], j.tags["seed"]) for j in evaluations} == expected
    # each selected evaluation comes with its train job and the prepare job, in plan order
    if expected:
        assert jobs[0].task.name == "prepare"
        assert len(jobs) == 1 + 2 * len(expected)
        order = list(plan.jobs)
        assert [order.index(j.id) for j in jobs] == sorted(order.index(j.id) for j in jobs)
    else:
        assert jobs == []


def test_several_targets_are_united(plan):
    jobs = select(plan, ["evaluate[lr=0.001,seed=0]", "train[lr=0.0001]", "prepare"])
    assert [j.task.name for j in jobs].count("train") == 3
    assert len({j.id for j in jobs}) == len(jobs)


def test_unknown_task_target(plan):
    with pytest.raises(TargetError, match="unknown task 'evaluat'.*tasks: evaluate, prepare, "
                                          "train"):
        select(plan, ["evaluat[lr=1]"])


# ----------------------------------------------------------------------------- networkx


def test_to_networkx(plan):
    import networkx as nx
    g = to_networkx(plan.jobs.values())
    assert set(g.nodes) == set(plan.jobs)
    assert g.number_of_edges() == 8
    assert nx.is_directed_acyclic_graph(g)
    prep = jobs_of(plan, "prepare")[0]
    assert set(g.successors(prep.id)) == {j.id for j in jobs_of(plan, "train")}
    order = list(nx.topological_sort(g))
    for job in plan.jobs.values():
        for dep in job.deps:
            assert order.index(dep.id) < order.index(job.id)


def test_to_networkx_of_a_selection(plan):
    g = to_networkx(select(plan, ["evaluate[lr=0.001,seed=1]"]))
    assert g.number_of_nodes() == 3 and g.number_of_edges() == 2


# ----------------------------------------------------------------------------- exports


def test_json_export(plan):
    doc = json.loads(export(list(plan.jobs.values()), "json"))
    assert [n["id"] for n in doc["nodes"]] == list(plan.jobs)
    for node in doc["nodes"]:
        assert set(node) == {"id", "task", "deps", "tags"}
        job = plan.jobs[node["id"]]
        assert node["task"] == job.task.name and node["deps"] == [d.id for d in job.deps]
    last = doc["nodes"][-1]
    assert last["tags"] == {"lr": 0.0001, "seed": 1, "fast": True, "split": "test"}


def test_text_export(plan):
    lines = export(list(plan.jobs.values()), "text").splitlines()
    assert len(lines) == len(plan.jobs)
    prep = jobs_of(plan, "prepare")[0]
    assert lines[0] == prep.short
    train = jobs_of(plan, "train")[0]
    assert lines[1] == f"{train.short} [lr=0.001, seed=0, fast=False]  <- {prep.short}"


def _dot_of(tmp_path, note):
    text = SWEEP.replace('evaluate(model=m, split=tag("test"))',
                         f'evaluate(model=m, note=tag({json.dumps(note)}))')
    p = plan_of(tmp_path, text)
    return p, export(list(p.jobs.values()), "dot")


WEIRD = 'say "hi" \\ back\\slash {braces} <b>&amp; ünï\nnewline'


def test_dot_export_structure(tmp_path):
    plan, dot = _dot_of(tmp_path, WEIRD)
    lines = dot.splitlines()
    assert lines[0] == "digraph xpm {" and lines[-1] == "}"
    nodes = [ln for ln in lines if re.fullmatch(r'  "[0-9a-f]{32}" \[label=".*"\];', ln)]
    edges = [ln for ln in lines if re.fullmatch(r'  "[0-9a-f]{32}" -> "[0-9a-f]{32}";', ln)]
    assert len(nodes) == len(plan.jobs) and len(edges) == 8
    # labels are valid DOT strings: every quote inside is escaped
    for ln in nodes:
        label = ln.split('[label="', 1)[1][:-3]
        assert re.fullmatch(r'(?:[^"\\]|\\.)*', label), label


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_dot_export_renders_with_graphviz(tmp_path):
    plan, dot = _dot_of(tmp_path, WEIRD)
    out = subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stderr, out.stderr
    rendered = json.loads(out.stdout)
    names = {o["name"] for o in rendered["objects"]}
    assert names == set(plan.jobs)
    assert len(rendered["edges"]) == 8
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True,
                         timeout=60).stdout
    # the label is drawn as written: quotes and backslashes survive the escaping
    assert 'note=say &quot;hi&quot; \\ back\\slash {braces} &lt;b&gt;' in svg


MERMAID_NODE = re.compile(r'  (j[0-9a-f]{16})\["([^"\n]*)"\]')
MERMAID_EDGE = re.compile(r"  (j[0-9a-f]{16}) --> (j[0-9a-f]{16})")


def assert_mermaid_well_formed(text: str, n_nodes: int, n_edges: int):
    lines = text.splitlines()
    assert lines[0] == "graph LR"
    declared, edges = [], []
    for ln in lines[1:]:
        m = MERMAID_NODE.fullmatch(ln)
        if m:
            assert not edges, "nodes are declared before edges"
            declared.append(m.group(1))
            continue
        m = MERMAID_EDGE.fullmatch(ln)
        assert m, f"not a mermaid node or edge line: {ln!r}"
        edges.append(m.groups())
    assert len(declared) == len(set(declared)) == n_nodes
    assert len(edges) == n_edges
    assert all(a in declared and b in declared for a, b in edges)


def test_mermaid_export(tmp_path):
    plan, _ = _dot_of(tmp_path, WEIRD)
    text = export(list(plan.jobs.values()), "mermaid")
    assert_mermaid_well_formed(text, len(plan.jobs), 8)
    assert "<br/>lr=0.001, seed=0" in text


def test_unknown_format(plan):
    with pytest.raises(ValueError, match="unknown format"):
        export([], "svg")


def test_empty_plan_exports(tmp_path):
    plan = plan_of(tmp_path, "x = 1\n")
    assert export([], "text") == ""
    assert json.loads(export([], "json")) == {"nodes": []}
    assert export([], "dot").splitlines()[0] == "digraph xpm {"
    assert export([], "mermaid") == "graph LR"
    assert len(plan.jobs) == 0


# ----------------------------------------------------------------------------- the CLI


def test_cli_graph_formats_and_targets(tmp_path):
    write_xpm(tmp_path, SWEEP)
    code, out, err = run_cli("graph", "main.xpm", "evaluate[lr=0.001]", "--format", "json",
                             cwd=tmp_path)
    assert (code, err) == (0, "")
    nodes = json.loads(out)["nodes"]
    assert [n["task"] for n in nodes] == ["prepare", "train", "evaluate", "train", "evaluate"]
    assert all(n["tags"]["lr"] == 0.001 for n in nodes[1:])
    code, out, err = run_cli("graph", "main.xpm", "train[seed=1]", "--format", "mermaid",
                             cwd=tmp_path)
    assert code == 0, err
    assert_mermaid_well_formed(out, 3, 2)
    code, out, err = run_cli("graph", "main.xpm", cwd=tmp_path)
    assert code == 0 and len(out.splitlines()) == 9


def test_cli_graph_unknown_target(tmp_path):
    write_xpm(tmp_path, SWEEP)
    code, out, err = run_cli("graph", "main.xpm", "evaluat", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "unknown task 'evaluat'" in err
    code, out, err = run_cli("graph", "main.xpm", "evaluate[lr]", cwd=tmp_path)
    assert code == 2 and "invalid tag filter 'lr'" in err and "Traceback" not in err


def test_cli_graph_dot_renders(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("graphviz (dot) is not installed")
    write_xpm(tmp_path, SWEEP)
    code, out, err = run_cli("graph", "main.xpm", "--format", "dot", cwd=tmp_path)
    assert code == 0
    svg = subprocess.run(["dot", "-Tsvg"], input=out, capture_output=True, text=True,
                         timeout=60)
    assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr
