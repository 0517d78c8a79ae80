"""Job identity (spec §3, §6): pinned golden ids, and property tests of its invariants.

The property tests generate .xpm text from Hypothesis strategies and evaluate it for real.
"""
from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xpmbuild import model as M
from xpmbuild.language import evaluate

HERE = Path(__file__).resolve().parent
GOLDEN_XPM = HERE / "data" / "golden.xpm"
GOLDEN_IDS = HERE / "golden_ids.json"

# Encodings of single values, pinned with the ids (model.encode).
GOLDEN_VALUES = [
    ("int", 1), ("negative int", -42), ("big int", 10 ** 30), ("float", 1.0),
    ("small float", 1e-3), ("tiny float", 5e-324), ("negative zero", -0.0),
    ("nan", math.nan), ("inf", math.inf), ("str", 'a "quoted" \\ ünï\n'), ("empty str", ""),
    ("true", True), ("false", False), ("none", None), ("list", [1, 2.5, "x", None, [True]]),
    ("dict", {"b": 1, "a": [2], "ü": {}}),
]


def golden_now():
    plan = evaluate(GOLDEN_XPM)
    return {
        "ids": [f"{j.task.name}/{j.id}" for j in plan.jobs.values()],
        "values": {name: M.encode(v) for name, v in GOLDEN_VALUES},
    }


def test_golden_ids():
    """The job ids of tests/data/golden.xpm never change.

    A job's id is the name of its folder in every user's workspace
    (WORKSPACE/jobs/TASK/ID). If this test fails, the identity encoding changed and every
    existing workspace silently loses all its finished jobs: that is only acceptable with
    a new ``model.ENCODING_VERSION`` (and ``ENCODING_PREFIX``), a migration of existing
    workspaces, and a CHANGELOG entry. Never "fix" this test by regenerating
    golden_ids.json otherwise. (To regenerate after such a bump:
    ``python tests/test_identity.py --regenerate``.)
    """
    golden = json.loads(GOLDEN_IDS.read_text(encoding="utf-8"))
    assert golden["encoding_version"] == M.ENCODING_VERSION
    assert golden["encoding_prefix"] == M.ENCODING_PREFIX.decode("latin-1")
    now = golden_now()
    assert now["values"] == golden["values"]
    assert now["ids"] == golden["ids"]


def test_identity_hash_is_xxh3_128_of_prefix_and_encoding():
    import xxhash
    enc = '{"task":"t","params":{}}'
    assert M.identity_hash(enc) == xxhash.xxh3_128_hexdigest(b"xpm-identity-v1\x00" + enc.encode())
    assert M.ENCODING_PREFIX == b"xpm-identity-v1\x00"


def test_golden_encoding_of_a_job(tmp_path):
    """The canonical encoding of a job, spelled out (docs/language.md, "Identity")."""
    (tmp_path / "main.xpm").write_text('''\
config Opt {
    lr: float = 0.1
    tags: list[str] = []
}
task prep {
    corpus: path
    output tokens = "t"
    shell "cat {corpus}"
}
task train {
    data: prep
    opt: Opt = Opt()
    seed: int = 0
    name: str? = None
    option device: str = "cpu"
    extra: dict[path] = {}
    shell "echo"
}
p = prep(corpus="data/c.txt")
train(data=p, opt=Opt(lr=1, tags=["a"]), seed=0, name="x", device="gpu",
      extra={"z": "sub/../up.txt", "a": p.tokens})
''', encoding="utf-8")
    plan = evaluate(tmp_path / "main.xpm")
    prep, train = plan.jobs.values()
    assert prep.id == M.identity_hash('{"task":"prep","params":{"corpus":{"path":"data/c.txt"}}}')
    expected = ('{"task":"train","params":{'
                '"data":{"job":"' + prep.id + '"},'
                '"extra":{"dict":{"a":{"output":["' + prep.id + '","tokens"]},'
                '"z":{"path":"up.txt"}}},'
                '"name":"x",'
                '"opt":{"config":"Opt","params":{"lr":1.0,"tags":["a"]}}}}')
    assert train.id == M.identity_hash(expected)


def test_paths_outside_the_experiment_folder_are_absolute(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "main.xpm").write_text('task t {\n    p: path\n    shell "cat {p}"\n}\n'
                                  't(p="../shared/data.txt")\nt(p="inside.txt")\n')
    outside, inside = evaluate(exp / "main.xpm").jobs.values()
    assert outside.values["p"].enc == json.dumps(
        {"path": str(tmp_path / "shared" / "data.txt")}, separators=(",", ":"))
    assert inside.values["p"].enc == '{"path":"inside.txt"}'


def test_moving_the_experiment_folder_keeps_ids(tmp_path):
    """Paths inside the experiment folder are encoded relative to it."""
    text = ('task t {\n    p: path\n    output o = "o"\n    shell "cat {p}"\n}\n'
            'task u {\n    d: t\n    shell "echo"\n}\nu(d=t(p="data/x.txt"))\n')
    ids = []
    for where in ("a", "b/c"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "main.xpm").write_text(text)
        ids.append(list(evaluate(tmp_path / where / "main.xpm").jobs))
    assert ids[0] == ids[1]


# ----------------------------------------------------------------------------- properties

_TMP = tempfile.TemporaryDirectory(prefix="xpm-identity-")
_COUNTER = itertools.count()

PROPERTY_SETTINGS = settings(max_examples=30, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def plan_of_text(text: str):
    """Write ``text`` to a fresh file (same folder each time) and evaluate it."""
    path = Path(_TMP.name) / f"p{next(_COUNTER)}.xpm"
    path.write_text(text, encoding="utf-8")
    return evaluate(path)


def ids_of_text(text: str, task: str | None = None) -> list[str]:
    return [j.id for j in plan_of_text(text).jobs.values() if task is None or j.task.name == task]


def literal(value) -> str:
    """``value`` written as an .xpm literal."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


finite = st.floats(allow_nan=False, allow_infinity=False)
# any text but NUL, which a string literal may not hold (docs/language.md §2)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
# (type, strategy of values of that type)
TYPED_VALUES = [
    ("int", st.integers(-10 ** 12, 10 ** 12)),
    ("float", finite),
    ("str", texts),
    ("bool", st.booleans()),
    ("list[int]", st.lists(st.integers(-100, 100), max_size=4)),
    ("dict[str]", st.dictionaries(texts.map(lambda t: t[:4]), texts, max_size=3)),
    ('choice("a", "b", "c")', st.sampled_from(["a", "b", "c"])),
    ("float?", st.none() | finite),
    ("list[list[float]]", st.lists(st.lists(finite, max_size=2), max_size=2)),
]
typed_value = st.sampled_from(TYPED_VALUES).flatmap(
    lambda tv: st.tuples(st.just(tv[0]), tv[1]))

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"import", "arg", "config", "task", "option", "output", "requires",
                        "shell", "python", "for", "in", "if", "else", "tag", "and", "or",
                        "not", "here", "range", "len", "str", "int", "float", "bool", "path",
                        "list", "dict", "choice"})


@st.composite
def tasks_with_args(draw, min_params=1, max_params=5):
    """(params: [(name, type, value)]) for a task ``t`` with distinct parameter names."""
    pnames = draw(st.lists(names, min_size=min_params, max_size=max_params, unique=True))
    return [(n, *draw(typed_value)) for n in pnames]


def task_decl(params, name="t", defaults=None, extra_lines=()):
    defaults = defaults or {}
    lines = [f"task {name} {{"]
    for n, typ, _ in params:
        lines.append(f"    {n}: {typ}" + (f" = {literal(defaults[n])}" if n in defaults else ""))
    lines.extend(extra_lines)
    lines += ['    shell "echo"', "}"]
    return "\n".join(lines) + "\n"


def call(params, name="t", order=None):
    items = [(n, v) for n, _, v in params]
    if order is not None:
        items = [items[i] for i in order]
    return f"{name}(" + ", ".join(f"{n}={literal(v)}" for n, v in items) + ")\n"


@PROPERTY_SETTINGS
@given(params=tasks_with_args(min_params=2), data=st.data())
def test_keyword_order_is_irrelevant(params, data):
    order = data.draw(st.permutations(range(len(params))))
    ids = ids_of_text(task_decl(params) + call(params) + call(params, order=order))
    assert len(ids) == 1


@PROPERTY_SETTINGS
@given(n=st.integers(-10 ** 15, 10 ** 15))
def test_int_and_float_spellings_of_a_float_are_the_same(n):
    text = task_decl([("x", "float", None)]) + f"t(x={n})\nt(x={float(n)!r})\n"
    assert len(ids_of_text(text)) == 1


@PROPERTY_SETTINGS
@given(params=tasks_with_args(), data=st.data())
def test_a_value_equal_to_its_default_is_omitted(params, data):
    defaults = {n: v for n, _, v in params}
    # each parameter either passed (with its default value) or left out
    passed = [p for p in params if data.draw(st.booleans())]
    ids = ids_of_text(task_decl(params, defaults=defaults) + call(passed) + "t()\n")
    assert len(ids) == 1
    assert ids[0] == M.identity_hash('{"task":"t","params":{}}')


@PROPERTY_SETTINGS
@given(params=tasks_with_args(), new=typed_value, data=st.data())
def test_adding_a_defaulted_parameter_keeps_ids(params, new, data):
    new_name = data.draw(names.filter(lambda n: n not in {p[0] for p in params}))
    before = ids_of_text(task_decl(params) + call(params))
    new_type, new_default = new
    added = [f"    {new_name}: {new_type} = {literal(new_default)}",
             f"    {new_name}_opt: int?"]        # an optional parameter defaults to None
    after = ids_of_text(task_decl(params, extra_lines=added) + call(params))
    assert before == after


@PROPERTY_SETTINGS
@given(params=tasks_with_args(), options=tasks_with_args(max_params=3))
def test_options_do_not_change_ids(params, options):
    pnames = {p[0] for p in params}
    options = [(f"o_{n}", typ, v) for n, typ, v in options if f"o_{n}" not in pnames]
    lines = [f"    option {n}: {typ}" for n, typ, _ in options]
    text = task_decl(params, extra_lines=lines)
    with_options = ids_of_text(text + call(params + options), "t")
    without = ids_of_text(task_decl(params) + call(params), "t")
    assert with_options == without


@PROPERTY_SETTINGS
@given(tv=st.sampled_from(TYPED_VALUES), data=st.data())
def test_different_values_give_different_ids(tv, data):
    typ, values = tv
    a = data.draw(values)
    b = data.draw(values)
    # values the type treats as equal are the same value (1 == 1.0 for a float)
    assume(literal(a) != literal(b) and M.encode(a) != M.encode(b))
    assume(not (typ.startswith("float") and a == b and a is not None and b is not None
                and str(a) != "-0.0" and str(b) != "-0.0"))
    text = task_decl([("x", typ, None)]) + f"t(x={literal(a)})\nt(x={literal(b)})\n"
    assert len(set(ids_of_text(text))) == 2


NESTED = '''\
config Enc {
    dim: int = 4
    act: choice("relu", "gelu") = "relu"
}
config Model {
    enc: Enc = Enc()
    depth: int = 2
}
task train {
    model: Model = Model()
    shell "echo {model.enc.dim}"
}
'''


@PROPERTY_SETTINGS
@given(dim=st.integers(0, 10 ** 6), depth=st.integers(0, 100),
       act=st.sampled_from(["relu", "gelu"]))
def test_nested_configs_are_encoded_recursively(dim, depth, act):
    ids = ids_of_text(NESTED + f'train(model=Model(enc=Enc(dim={dim}, act="{act}"), '
                               f'depth={depth}))\n'
                      f'train(model=Model(enc=Enc(dim={dim + 1}, act="{act}"), '
                      f'depth={depth}))\n'
                      "train()\n"
                      "train(model=Model())\n"
                      "train(model=Model(enc=Enc(dim=4)))\n")
    # the inner field changes the id; defaults two deep are still omitted
    default = ids_of_text(NESTED + "train()\n")[0]
    assert ids[0] != ids[1]
    assert default in ids
    assert len(ids) == len({ids[0], ids[1], default})
    assert (ids[0] == default) == (dim == 4 and depth == 2 and act == "relu")


PIPE = '''\
task prep {
    corpus: path
    lowercase: bool = True
    output tokens = "tokens.txt"
    shell "cat {corpus} > {tokens}"
}
task train {
    data: prep
    lr: float = 0.1
    output model = "m"
    shell "echo {data.tokens} > {model}"
}
task evaluate {
    model: train
    tokens: path? = None
    shell "echo {model.model}"
}
'''


@PROPERTY_SETTINGS
@given(corpus_a=st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.txt", fullmatch=True),
       corpus_b=st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.txt", fullmatch=True),
       lower=st.booleans(), lr=finite)
def test_dependency_identity_propagates(corpus_a, corpus_b, lower, lr):
    """Changing an upstream job's parameters changes every downstream id."""
    assume(corpus_a != corpus_b)

    def ids(corpus):
        return ids_of_text(PIPE + f'p = prep(corpus="{corpus}", lowercase={lower})\n'
                                  f"m = train(data=p, lr={lr!r})\n"
                                  "evaluate(model=m)\n"
                                  "evaluate(model=m, tokens=p.tokens)\n")
    a, b = ids(corpus_a), ids(corpus_b)
    assert len(a) == len(b) == 4
    assert not set(a) & set(b)


@PROPERTY_SETTINGS
@given(params=tasks_with_args(), times=st.integers(2, 4))
def test_the_same_call_twice_is_one_job(params, times):
    text = task_decl(params) + "".join(call(params) for _ in range(times))
    text += "for i in range(3) {\n    " + call(params) + "}\n"
    plan = plan_of_text(text)
    assert len(plan.jobs) == 1


def test_encode_distinguishes_types():
    """Values of different types never share an encoding."""
    values = [1, 1.5, "1", True, None, [1], {"1": 1}, "true", "null", [], {}, ""]
    encodings = [M.encode(v) for v in values]
    assert len(set(encodings)) == len(encodings)


if __name__ == "__main__":      # pragma: no cover - maintenance helper
    import sys
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_identity.py --regenerate   (after an "
                 "ENCODING_VERSION bump only; see test_golden_ids)")
    data = {"_comment": "job ids of tests/data/golden.xpm and encodings of single values; "
                        "see test_golden_ids before touching this file",
            "encoding_version": M.ENCODING_VERSION,
            "encoding_prefix": M.ENCODING_PREFIX.decode("latin-1"), **golden_now()}
    GOLDEN_IDS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    print(f"wrote {GOLDEN_IDS}")
