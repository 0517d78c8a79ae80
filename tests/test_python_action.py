"""End-to-end tests of ``python "module:function"`` actions: what the function receives,
where and how it runs, failures, and rebuilds when the module changes."""
from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read  # noqa: E402

EXPERIMENT = """\
arg device: str = "cpu"

config Optimizer {
    lr: float = 0.1
    betas: list[float] = [0.9, 0.999]
    name: str = "adam"
}

task prepare {
    corpus: path
    output tokens = "tokens.txt"
    output vocab = "vocab/words.txt"
    shell "tr a-z A-Z < {corpus} > {tokens}; echo w > {vocab}; echo prepare >> {here}/runs.log"
}

task train {
    data: prepare
    corpus: path
    opt: Optimizer = Optimizer()
    seed: int = 0
    option device: str = "cpu"
    output model = "model.json"
    output ckpt = "ckpt/last.txt"
    python "trainer:main"
}

p = prepare(corpus="data/corpus.txt")
train(data=p, corpus="data/corpus.txt", opt=Optimizer(lr=0.5), seed=tag(1), device=device)
train(data=p, corpus="data/corpus.txt", seed=tag(2), device=device)
"""

TRAINER = '''\
import json, os, pathlib, sys

CALLS = 0          # module state: a fresh process per job sees 1


def main(data, corpus, opt, seed, device, model, ckpt):
    global CALLS
    CALLS += 1
    with open(os.path.join(os.path.dirname(__file__), "runs.log"), "a") as f:
        f.write(f"train-{seed}\\n")
    try:
        opt.lr = 3.0
        assigned = "assignment allowed"
    except AttributeError as e:
        assigned = "AttributeError"
    doc = {
        "seed": seed, "seed_type": type(seed).__name__,
        "device": device,
        "corpus": str(corpus), "corpus_is_path": isinstance(corpus, pathlib.Path),
        "lr": opt.lr, "betas": list(opt.betas), "name": opt.name,
        "opt_assignment": assigned,
        "data_tokens": str(data.tokens), "tokens_is_path": isinstance(data.tokens, pathlib.Path),
        "data_vocab": str(data.vocab),
        "tokens_content": data.tokens.read_text(),
        "model": str(model), "model_is_path": isinstance(model, pathlib.Path),
        "ckpt": str(ckpt),
        "cwd": os.getcwd(), "pid": os.getpid(), "calls": CALLS,
        "here_on_path": os.path.dirname(os.path.abspath(__file__)) in sys.path,
    }
    model.write_text(json.dumps(doc))
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_text("ok")
'''



@pytest.fixture
def proj(tmp_path):
    return Project(tmp_path, EXPERIMENT, {"data/corpus.txt": "hello\n", "trainer.py": TRAINER})


def test_function_receives_typed_arguments_in_a_fresh_process(proj):
    doc = proj.run_json()
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.executions() == ["prepare", "train-1", "train-2"]
    prep = proj.node("prepare")
    pids = set()
    for seed, lr in ((1, 0.5), (2, 0.1)):
        n = proj.node("train", seed=seed)
        got = json.loads(open(os.path.join(n["dir"], "model.json")).read())
        assert got["seed"] == seed and got["seed_type"] == "int"
        assert got["device"] == "cpu"
        # paths as pathlib.Path, absolute
        assert got["corpus_is_path"] and got["corpus"] == proj.path("data/corpus.txt")
        # configs: attribute access, read-only
        assert got["lr"] == lr and got["betas"] == [0.9, 0.999] and got["name"] == "adam"
        assert got["opt_assignment"] == "AttributeError"
        # dependencies: attributes are their outputs' absolute paths
        assert got["tokens_is_path"]
        assert got["data_tokens"] == os.path.join(prep["dir"], "tokens.txt")
        assert got["data_vocab"] == os.path.join(prep["dir"], "vocab", "words.txt")
        assert got["tokens_content"] == "HELLO\n"
        # its own outputs: absolute Paths inside its own folder
        assert got["model_is_path"] and got["model"] == os.path.join(n["dir"], "model.json")
        assert got["ckpt"] == os.path.join(n["dir"], "ckpt", "last.txt")
        # a fresh process, in the job folder, with the .xpm's folder on sys.path
        assert got["cwd"] == n["dir"]
        assert got["calls"] == 1
        assert got["here_on_path"]
        pids.add(got["pid"])
        st = proj.state(n["dir"])
        assert st["status"] == "done" and set(st["outputs"]) == {"model", "ckpt"}
    assert len(pids) == 2

    doc = proj.run_json()
    assert doc["summary"]["ran"] == 0
    assert proj.executions() == []


def test_changing_an_option_of_a_python_action_runs_nothing(proj):
    proj.run()
    proj.executions()
    proj.plan_json("-D", "device=cuda")
    assert proj.ran() == []
    proj.run("-D", "device=cuda")
    assert proj.executions() == []


def test_an_exception_fails_the_job_with_its_traceback(proj):
    proj.write("trainer.py", TRAINER.replace(
        "    global CALLS\n",
        "    global CALLS\n    if seed == 2:\n        raise ValueError('bad seed 2: boom')\n"))
    r = proj.run("-k", expect=1)
    doc = proj.run_json("-k", expect=1)
    bad = proj.node("train", seed=2)
    assert bad["status"] == "failed", bad
    st = proj.state(bad["dir"])
    assert st["status"] == "failed" and st["exit_code"] not in (0, None), st
    err = read(os.path.join(bad["dir"], "stderr.log"))
    assert "Traceback (most recent call last)" in err
    assert "trainer.py" in err and "ValueError: bad seed 2: boom" in err
    assert "ValueError: bad seed 2: boom" in r.stdout + r.stderr, describe(r)
    assert proj.node("train", seed=1)["status"] == "done"


def test_editing_the_module_reruns_its_jobs(proj):
    proj.run()
    assert proj.executions() == ["prepare", "train-1", "train-2"]

    # touching it without a change: nothing
    st = os.stat(proj.path("trainer.py"))
    os.utime(proj.path("trainer.py"), ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    proj.run()
    assert proj.executions() == []

    proj.write("trainer.py", TRAINER + "\n# a comment changes the module\n")
    proj.plan_json()
    assert proj.ran() == ["train", "train"]
    for seed in (1, 2):
        reasons = proj.node("train", seed=seed)["reasons"]
        assert reasons == ["code trainer.py changed"], reasons
    proj.run()
    assert proj.executions() == ["train-1", "train-2"]
    proj.run()
    assert proj.executions() == []
