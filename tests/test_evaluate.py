"""Plan evaluation (spec §4): statements, expressions, builtins, jobs, tags, deps, -D."""
from __future__ import annotations

import os

import pytest

from conftest import jobs_of, plan_of, write_xpm, xpm_error
from xpmbuild import model as M
from xpmbuild.language import evaluate

TASKS = '''\
config Opt {
    lr: float = 0.1
    betas: list[float] = [0.9, 0.999]
}
task prep {
    corpus: path
    output tokens = "tokens.txt"
    shell "cat {corpus} > {tokens}"
}
task train {
    data: prep
    opt: Opt = Opt()
    seed: int = 0
    option device: str = "cpu"
    output model = "model.bin"
    shell "echo {data.tokens} {opt.lr} {seed} > {model}"
}
task score {
    model: train
    files: list[path] = []
    split: choice("dev", "test") = "dev"
    output metrics = "metrics.json"
    shell "echo {model.model} {split} > {metrics}"
}
task probe {
    value: str
    shell "echo {value}"
}
'''


def probe_values(plan):
    """The `value` of every probe job, in creation order."""
    return [j.values["value"] for j in jobs_of(plan, "probe")]


def run_probes(tmp_path, body: str, defines=None):
    return probe_values(plan_of(tmp_path, TASKS + body, defines=defines))


# ----------------------------------------------------------------------------- statements


def test_for_loops_nest_and_iterate_lists_ranges_dicts_strings(tmp_path):
    values = run_probes(tmp_path, '''\
for a in ["x", "y"] {
    for i in range(2) {
        probe(value=a + str(i))
    }
}
for k in {"k1": 1, "k2": 2} {
    probe(value=k)
}
for c in "ab" {
    probe(value="char " + c)
}
''')
    assert values == ["x0", "x1", "y0", "y1", "k1", "k2", "char a", "char b"]


def test_if_else_chains(tmp_path):
    values = run_probes(tmp_path, '''\
for n in range(4) {
    if n == 0 {
        probe(value="zero")
    } else if n == 1 {
        probe(value="one")
    }
    else {
        if n % 2 == 0 { probe(value="even " + str(n)) } else { probe(value="odd " + str(n)) }
    }
}
if [] { probe(value="empty list is true?") }
if not "" and 0 == 0.0 { probe(value="falsy string") }
''')
    assert values == ["zero", "one", "even 2", "odd 3", "falsy string"]


def test_loop_variables_and_assignments_persist(tmp_path):
    values = run_probes(tmp_path, '''\
total = 0
for i in range(1, 5) {
    total = total + i
}
probe(value=str(total) + " " + str(i))
''')
    assert values == ["10 4"]


@pytest.mark.parametrize("expr, expected", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 // 2", 3), ("7 % 3", 1), ("7 / 2", 3.5),
    ("-3 + +2", -1), ("2 - -1", 3), ("1e-3 * 10", 0.01), ("1_000 + 1", 1001),
    ('"ab" + "cd"', "abcd"), ('"ab" * 2', "abab"), ("[1] + [2, 3]", [1, 2, 3]),
    ("[0] * 3", [0, 0, 0]), ('"n=%d" % 3', "n=3"),
    ("1 < 2", True), ("2 <= 1", False), ('"a" < "b"', True), ("[1, 2] == [1, 2]", True),
    ("1 != 1.0", False), ("1 == True", True),
    ("1 and 2", 2), ("0 and 2", 0), ("0 or 3", 3), ("not 0", True), ("None or 5", 5),
    ("[10, 20, 30][1]", 20), ("[10, 20, 30][-1]", 30), ('{"a": 1}["a"]', 1),
    ('"abc"[0]', "a"), ("range(3)", [0, 1, 2]), ("range(2, 5)", [2, 3, 4]),
    ("range(10, 0, -3)", [10, 7, 4, 1]), ("len([1, 2, 3])", 3), ('len({"a": 1})', 1),
    ('len("abcd")', 4), ("str(1.5)", "1.5"), ("str(True)", "True"), ("str([1])", "[1]"),
    ("str(None)", "None"),
])
def test_expressions_and_builtins(tmp_path, expr, expected):
    plan = plan_of(tmp_path, f"arg v: list[int] = []\nx = {expr}\n"
                             "task t {\n    x: str\n    shell \"echo {x}\"\n}\n"
                             "t(x=str([x]))\n")
    (job,) = plan.jobs.values()
    assert job.values["x"] == str([expected])


def test_arg_defaults_are_expressions_over_earlier_args(tmp_path):
    plan = plan_of(tmp_path, "arg n: int = 2\narg m: int = n * 10\narg f: float = 1\n")
    assert plan.args == {"n": 2, "m": 20, "f": 1.0}
    assert type(plan.args["f"]) is float


# ----------------------------------------------------------------------------- jobs


def test_calling_a_task_makes_a_job_with_all_values(tmp_path):
    plan = plan_of(tmp_path, TASKS + 'p = prep(corpus="data/c.txt")\nm = train(data=p, seed=3)\n')
    prep_job, train_job = plan.jobs.values()
    assert train_job.task.name == "train" and train_job.task is plan.tasks["train"]
    assert list(train_job.values) == ["data", "opt", "seed", "device"]   # declaration order
    assert train_job.values["data"] is prep_job
    assert train_job.values["opt"].values == {"lr": 0.1, "betas": [0.9, 0.999]}
    assert train_job.values["device"] == "cpu"
    assert train_job.deps == (prep_job,)
    assert len(train_job.id) == 32 and int(train_job.id, 16) >= 0
    assert train_job.name == f"train/{train_job.id}"
    assert train_job.short == f"train/{train_job.id[:8]}"
    assert (train_job.pos.line, train_job.pos.column) == (30, 5)


def test_same_call_twice_is_one_job(tmp_path):
    plan = plan_of(tmp_path, TASKS + '''\
p = prep(corpus="data/c.txt")
a = train(data=p, seed=1, device="gpu")
b = train(data=prep(corpus="data/./c.txt"), device="tpu", seed=tag(1), opt=Opt(lr=0.1))
score(model=a)
score(model=b)
''')
    assert [j.task.name for j in plan.jobs.values()] == ["prep", "train", "score"]
    (job,) = jobs_of(plan, "train")
    assert job.values["device"] == "gpu"          # the first call's options win
    assert job.tags == {"seed": 1}                 # tags of later calls are merged in


def test_a_parameter_of_a_job_is_readable(tmp_path):
    values = run_probes(tmp_path, '''\
p = prep(corpus="data/c.txt")
m = train(data=p, seed=4, opt=Opt(lr=0.5))
probe(value=str(m.seed) + " " + str(m.opt.lr) + " " + m.device + " " + str(m.data.corpus))
''')
    assert values == [f"4 0.5 cpu {tmp_path / 'data' / 'c.txt'}"]


def test_dependencies_through_task_typed_parameters(tmp_path):
    plan = plan_of(tmp_path, TASKS + '''\
p = prep(corpus="a.txt")
m = train(data=p)
s = score(model=m)
''')
    p, m, s = plan.jobs.values()
    assert (p.deps, m.deps, s.deps) == ((), (p,), (m,))


def test_dependencies_through_output_references(tmp_path):
    """`job.output` passed to a path parameter makes that job a dependency too."""
    plan = plan_of(tmp_path, TASKS + '''\
task concat {
    first: path
    rest: list[path] = []
    output all = "all.txt"
    shell "cat {first} > {all}"
}
p1 = prep(corpus="a.txt")
p2 = prep(corpus="b.txt")
p3 = prep(corpus="c.txt")
c = concat(first=p1.tokens, rest=[p2.tokens, p3.tokens, p1.tokens, "plain.txt"])
''')
    p1, p2, p3, c = plan.jobs.values()
    assert c.deps == (p1, p2, p3)
    first = c.values["first"]
    assert isinstance(first, M.OutputRef) and first.job is p1 and first.name == "tokens"
    assert first.relpath == "tokens.txt"
    assert isinstance(c.values["rest"][3], M.PathValue)


def test_dependencies_through_configs_and_collections(tmp_path):
    plan = plan_of(tmp_path, TASKS + '''\
config Bundle {
    model: train
    extra: dict[path] = {}
}
task report {
    bundles: list[Bundle]
    shell "echo report"
}
p = prep(corpus="a.txt")
m1 = train(data=p, seed=1)
m2 = train(data=p, seed=2)
s = score(model=m1)
report(bundles=[Bundle(model=m1, extra={"s": s.metrics}), Bundle(model=m2)])
''')
    p, m1, m2, s, r = plan.jobs.values()
    assert r.deps == (m1, s, m2)


# ----------------------------------------------------------------------------- tags


def test_tags_are_own_plus_configs_plus_dependencies(tmp_path):
    plan = plan_of(tmp_path, TASKS + '''\
p = prep(corpus=tag("a.txt"))
m = train(data=p, opt=Opt(lr=tag(0.01)), seed=tag(2))
s = score(model=m, split=tag("test"))
''')
    p, m, s = plan.jobs.values()
    corpus = str(tmp_path / "a.txt")
    assert p.tags == {"corpus": corpus}
    assert m.tags == {"corpus": corpus, "lr": 0.01, "seed": 2}
    assert s.tags == {"corpus": corpus, "lr": 0.01, "seed": 2, "split": "test"}


def test_own_tags_win_over_inherited_ones(tmp_path):
    plan = plan_of(tmp_path, TASKS + '''\
config Wrap {
    seed: int = 0
}
task both {
    model: train
    w: Wrap
    seed: int
    shell "echo {seed}"
}
m = train(data=prep(corpus="a"), seed=tag(1))
a = both(model=m, w=Wrap(seed=tag(2)), seed=3)
b = both(model=m, w=Wrap(seed=tag(2)), seed=tag(4))
''')
    a, b = jobs_of(plan, "both")
    assert a.tags == {"seed": 2}        # a config's tags win over a dependency's
    assert b.tags == {"seed": 4}        # the call's own tags win over both


def test_tags_do_not_change_identity(tmp_path):
    plan = plan_of(tmp_path, TASKS + 'p = prep(corpus="a")\na = train(data=p, seed=1)\n'
                                     'b = train(data=p, seed=tag(1))\n')
    assert len(jobs_of(plan, "train")) == 1


def test_tag_outside_an_argument_is_an_error(tmp_path):
    err = xpm_error(tmp_path, "x = tag(1)\n")
    assert "pass it directly as an argument" in err.message


# ----------------------------------------------------------------------------- -D values


def test_define_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    write_xpm(tmp_path, '''\
        arg n: int = 1
        arg lr: float = 0.1
        arg name: str = "base"
        arg label: str = "x"
        arg lrs: list[float] = [0.1]
        arg opts: dict[int] = {}
        arg flag: bool = False
        arg split: choice("dev", "test") = "dev"
        arg corpus: path = "data/corpus.txt"
        arg limit: int? = 5
        ''', "exp/main.xpm")
    plan = evaluate(tmp_path / "exp" / "main.xpm", defines={
        "n": "3", "lr": "1", "name": "other words", "label": "123", "lrs": "[1, 2.5]",
        "opts": '{"a": -1}', "flag": "True", "split": "test", "corpus": "../other/c.txt",
        "limit": "None"})
    args = plan.args
    assert (args["n"], args["lr"], args["name"], args["label"]) == (3, 1.0, "other words", "123")
    assert type(args["lr"]) is float
    assert args["lrs"] == [1.0, 2.5] and args["opts"] == {"a": -1}
    assert args["flag"] is True and args["split"] == "test" and args["limit"] is None
    # a -D path is relative to the current directory, not to the file
    assert args["corpus"].path == str(tmp_path / "other" / "c.txt")
    defaults = evaluate(tmp_path / "exp" / "main.xpm").args
    assert defaults["corpus"].path == str(tmp_path / "exp" / "data" / "corpus.txt")
    assert defaults["limit"] == 5


def test_define_changes_the_plan(tmp_path):
    text = TASKS + 'arg seeds: int = 2\np = prep(corpus="a")\n' \
                   'for s in range(seeds) {\n    train(data=p, seed=s)\n}\n'
    assert len(plan_of(tmp_path, text).jobs) == 3
    assert len(plan_of(tmp_path, text, defines={"seeds": "5"}).jobs) == 6


# ----------------------------------------------------------------------------- paths


def test_path_values_are_normalized_and_absolute(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    plan = plan_of(tmp_path, TASKS + f'''\
prep(corpus="data/./raw/../c.txt")
prep(corpus="data//c.txt")
prep(corpus="{tmp_path}/data/c.txt")
prep(corpus="~/corpus.txt")
prep(corpus="../outside.txt")
''')
    paths = [j.values["corpus"] for j in plan.jobs.values()]
    assert len(paths) == 3                      # the first three are one path: one job
    assert paths[0].path == str(tmp_path / "data" / "c.txt")
    assert paths[1].path == str(tmp_path / "home" / "corpus.txt")
    assert paths[2].path == str(tmp_path.parent / "outside.txt")
    assert str(paths[0]) == paths[0].path


def test_path_defaults_resolve_against_the_declaring_file(tmp_path):
    plan = plan_of(tmp_path, 'import "lib/defs.xpm"\nt()\n', files={"lib/defs.xpm": '''\
        task t {
            src: path = "assets/words.txt"
            shell "cat {src}"
        }
        '''})
    (job,) = plan.jobs.values()
    assert job.values["src"].path == str(tmp_path / "lib" / "assets" / "words.txt")


def test_str_of_a_path(tmp_path):
    values = run_probes(tmp_path, 'arg corpus: path = "d/c.txt"\nprobe(value=str(corpus))\n')
    assert values == [str(tmp_path / "d" / "c.txt")]


# ----------------------------------------------------------------------------- values


def test_int_is_accepted_for_float(tmp_path):
    plan = plan_of(tmp_path, TASKS + 'train(data=prep(corpus="a"), opt=Opt(lr=1, betas=[1, 0]))\n')
    opt = jobs_of(plan, "train")[0].values["opt"]
    assert opt.values == {"lr": 1.0, "betas": [1.0, 0.0]}
    assert all(type(v) is float for v in [opt.values["lr"], *opt.values["betas"]])


def test_optional_parameters_default_to_none(tmp_path):
    plan = plan_of(tmp_path, 'task t {\n    a: int?\n    b: str? = "x"\n    shell "echo"\n}\n'
                             "t()\nt(a=1, b=None)\n")
    first, second = plan.jobs.values()
    assert first.values == {"a": None, "b": "x"}
    assert second.values == {"a": 1, "b": None}


def test_config_defaults_are_evaluated_once_in_order(tmp_path):
    plan = plan_of(tmp_path, '''\
        config Inner {
            n: int = 2
        }
        config Outer {
            inner: Inner = Inner(n=3)
            many: list[Inner] = [Inner(), Inner(n=4)]
        }
        task t {
            o: Outer = Outer()
            shell "echo {o.inner.n}"
        }
        t()
        ''')
    (job,) = plan.jobs.values()
    o = job.values["o"]
    assert o.values["inner"].values == {"n": 3}
    assert [i.values["n"] for i in o.values["many"]] == [2, 4]


def test_a_default_cannot_make_a_job(tmp_path):
    err = xpm_error(tmp_path, TASKS + "config C {\n    p: prep = prep(corpus=\"a\")\n}\n")
    assert "a default value cannot make a job" in err.message


def test_cannot_assign_to_a_declared_name(tmp_path):
    err = xpm_error(tmp_path, TASKS + "prep = 1\n")
    assert "cannot assign to prep" in err.message


def test_plan_metadata(tmp_path):
    plan = plan_of(tmp_path, 'import "lib.xpm"\narg n: int = 1\nC()\n',
                   files={"lib.xpm": "config C {\n}\nx = ignored_name_in_imports\n"},
                   name="exp.xpm")
    assert plan.name == "exp" and plan.file == str(tmp_path / "exp.xpm")
    assert plan.root == str(tmp_path)
    assert plan.sources == [str(tmp_path / "lib.xpm"), str(tmp_path / "exp.xpm")]
    assert set(plan.configs) == {"C"} and plan.tasks == {} and len(plan) == 0
    assert os.path.isabs(plan.file)


@pytest.mark.parametrize("n", [10, 11, 123])
def test_the_benchmark_generator_makes_exactly_n_jobs(tmp_path, n):
    """bench/plan_scale.py plans exactly N jobs from one generated file."""
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location("plan_scale", REPO / "bench" / "plan_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    plan = plan_of(tmp_path, bench.generate(n))
    assert len(plan.jobs) == n
    assert {j.task.name for j in plan.jobs.values()} == {"prepare", "train", "evaluate"}
