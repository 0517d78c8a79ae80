"""The functions written for call sites (binding.fast_call) and for operators
(operators.compile_binop) give exactly what the general path gives (Calls.bind,
binop_value): the same values, identities, tags, dependencies, or the same error at the
same position, over a grid of values, sites and operand kinds."""
from __future__ import annotations

import copy
import itertools
import math

import pytest
from conftest import plan_of, write_xpm, xpm_error

from xpmbuild import model as M
from xpmbuild.language import evaluate
from xpmbuild.language import syntax as S
from xpmbuild.language import writing
from xpmbuild.language.binding import compile_call, fast_call
from xpmbuild.language.calls import Calls, Ctx
from xpmbuild.language.errors import Pos, XpmError
from xpmbuild.language.inputs import InputChecker
from xpmbuild.language.operators import _FAST, binop_value, compile_binop

DECLS = """\
config C {
    x: int = 1
    y: str = "a"
}
config D {
    z: int = 0
    zs: list[float] = [0.9, 0.999]
    m: dict[list[int]] = {"a": [1, 2]}
}
config E {
    n: int = 0
    ps: list[path] = ["data.txt"]
}
task up {
    k: int = 0
    output o = "o"
    shell "echo {k} > {o}"
}
task other {
    output o = "o"
    shell "echo > {o}"
}
task t {
    i: int
    f: float = 0.5
    s: str = "s"
    b: bool = False
    p: path? = None
    q: path = "data.txt"
    j: up? = None
    r: up
    c: C? = None
    ch: choice("dev", "test", 1, 2.5) = "dev"
    oi: int? = None
    option opt: str = "o"
    output out = "out"
    shell "echo {i} > {out}"
}
task agg {
    parts: list[up]
    more: list[up]? = None
    i: int = 0
    output out = "out"
    shell "cat {parts.o} > {out}"
}
task u {
    r: up
    i: int = 0
    lr: float
    option o: str = "x"
    output out = "out"
    shell "echo {i} > {out}"
}
"""
POS = Pos("main.xpm", 40, 3)


@pytest.fixture(autouse=True)
def written_at_once(monkeypatch):
    """Every place's function written before its first run (the tests compare it)."""
    from xpmbuild.language import writing
    monkeypatch.setattr(writing, "AFTER", 0)
VPOS = Pos("main.xpm", 40, 9)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A plan with the declarations, and values of every kind made the ordinary way."""
    tmp = tmp_path_factory.mktemp("binding")
    (tmp / "data.txt").write_text("x\n")
    (tmp / "other.txt").write_text("y\n")
    path = write_xpm(tmp, DECLS)
    plan = evaluate(str(path))
    calls = Calls(plan, Ctx(str(tmp), str(tmp)))
    up = plan.tasks["up"]
    k = {p.name: p for p in up.params.values()}["k"]
    up0 = calls.make_job(up, [], POS)
    up1 = calls.make_job(up, [(k, 1, VPOS)], POS)
    up1.tags["seed"] = 3                      # a dependency's tags are inherited
    other = calls.make_job(plan.tasks["other"], [], POS)
    cdef = plan.configs["C"]
    cx = {p.name: p for p in cdef.params.values()}["x"]
    c0 = calls.make_config(cdef, [], POS)
    c1 = calls.make_config(cdef, [(cx, M.Tagged(2), VPOS)], POS)     # a config's tags
    d0 = calls.make_config(plan.configs["D"], [], POS)
    pv = M.PRIMITIVES["path"].coerce("other.txt", calls.ctx)
    values = [0, 1, -1, 7, 2 ** 53, 2 ** 53 + 1, 2 ** 62, 10 ** 400, True, False,
              0.0, -0.0, 0.5, 2.5, 1e308, 1e-320, math.inf, -math.inf, math.nan,
              "", "a", "dev", "test", "data.txt", "missing.txt", 'é"\n', None,
              pv, M.OutputRef(up0, "o"), M.OutputRef(other, "o"), up0, up1, other,
              c0, c1, d0, [1], {"a": 1}, cdef, [], [up0], [up1, up0], [up0, up0, up1],
              [up0, other], [up0, 1], [up0, None], [M.Tagged(up0)], (up0,)]
    values += [M.Tagged(v) for v in (0, 2.5, "dev", None, up1, c1, "data.txt", [1], [up1],
                                      M.Tagged(1))]
    return tmp, plan, values


def _shown(v):
    t = type(v)
    if t is list:
        return ["list"] + [_shown(x) for x in v]
    if t is dict:
        return ["dict"] + [(k, _shown(x)) for k, x in v.items()]
    if v is None or t in (int, float, str, bool):
        return [t.__name__, M.encode(v)]
    return [t.__name__, v.enc]


def _outcome(f):
    """What a call gives: its value's every part, or its error."""
    try:
        v = f()
    except XpmError as err:
        return ("error", err.message, err.line, err.column)
    except Exception as err:        # noqa: BLE001 - the same failure either way
        return ("exception", type(err).__name__, str(err))
    if type(v) is M.Job:
        return ("job", v.task.name, v.id, [(k, _shown(x)) for k, x in v.values.items()],
                list(v.tags.items()), [d.id for d in v.deps], v.pos)
    return ("config", v.enc, [(k, _shown(x)) for k, x in v.values.items()],
            list(v.tags.items()), [d.id for d in v.deps])


def _both(plan, root, definition, names, vals, inputs, namespace=None):
    """The outcome of the written function, and of Calls.bind, for one call."""
    params = [definition.params[n] for n in names]
    out = []
    for written in (True, False):
        p2 = copy.copy(plan)
        p2.jobs = dict(plan.jobs)
        calls = Calls(p2, Ctx(root, root), InputChecker() if inputs else None, namespace)
        kwargs = [(p, (lambda v: lambda env: v)(v), VPOS) for p, v in zip(params, vals)]
        if written:
            call = compile_call(calls, definition, kwargs, POS)
        else:
            call = (lambda kw: lambda env: calls.new_job(
                definition, calls.bind(definition, [(p, f(env), vp) for p, f, vp in kw],
                                       POS), POS)
                if definition.kind == "task" else calls.new_config(
                    definition, calls.bind(definition, [(p, f(env), vp) for p, f, vp in kw],
                                           POS)))(kwargs)
        out.append(_outcome(lambda: call({})))
    return out


SITES = [["parts"], ["i", "more", "parts"], ["more", "parts"],
         ["r", "lr"], ["lr", "r"], ["r", "i", "lr"], ["i", "lr", "r", "o"],
         ["i", "r"], ["r", "i"], ["i", "r", "f", "s", "b"], ["b", "s", "f", "r", "i"],
         ["i", "r", "p", "q", "j", "c", "ch", "oi", "opt"],
         ["opt", "oi", "ch", "c", "j", "q", "p", "r", "i"],
         ["i", "r", "f", "s", "b", "p", "q", "j", "c", "ch", "oi", "opt"]]


@pytest.mark.parametrize("inputs", [False, True])
@pytest.mark.parametrize("site", SITES, ids="-".join)
def test_written_call_sites_agree_with_calls_bind(world, site, inputs):
    tmp, plan, values = world
    t = plan.tasks["u" if "lr" in site else "agg" if "parts" in site else "t"]
    ups = [v for v in values if type(v) is M.Job and v.task.name == "up"]
    base = {"parts": ups, "more": ups[::-1], "lr": 0.001, "o": "y", "i": 3, "r": ups[0],
            "f": 0.25, "s": "x", "b": True, "p": "data.txt", "q": "data.txt", "j": None,
            "c": None, "ch": "test", "oi": 4, "opt": "w"}
    assert fast_call(Calls(plan, Ctx(str(tmp), str(tmp))), t,
                     [(t.params[n], None, VPOS) for n in site], POS, None, None) is not None
    agreed = written_ok = 0
    for slot in range(len(site)):
        for v in values:
            vals = [base[n] for n in site]
            vals[slot] = v
            fast, slow = _both(plan, str(tmp), t, site, vals, inputs)
            assert fast == slow, (site, site[slot], v)
            agreed += 1
            written_ok += fast[0] == "job"
    assert agreed == len(site) * len(values) and written_ok > len(site) * 3


@pytest.mark.parametrize("namespace", [None, "team-a"])
def test_floats_zeros_and_namespaces(world, namespace):
    """Encodings of floats kept from call to call: a zero is never taken for the other
    zero; a namespace enters the ids the same way."""
    tmp, plan, _ = world
    u = plan.tasks["u"]
    up0 = next(j for j in plan.jobs.values() if j.task.name == "up")
    seen = []
    for lr in [0.0, -0.0, 0.0, 0.1, 0.1, -0.0, 1e-320, 0.1 + 0.2, 0.30000000000000004, 3]:
        fast, slow = _both(plan, str(tmp), u, ["r", "lr"], [up0, lr], False, namespace)
        assert fast == slow and fast[0] == "job", lr
        seen.append(dict(fast[3])["lr"][1])
    assert seen[:3] == ["0.0", "-0.0", "0.0"] and seen[-1] == "3.0"


def test_config_sites_and_tags_agree(world):
    tmp, plan, values = world
    c = plan.configs["C"]
    dd = plan.configs["D"]
    assert fast_call(Calls(plan, Ctx(str(tmp), str(tmp))), dd, [(dd.params["z"], None, VPOS)],
                     POS, None, None) is not None         # list and dict defaults taken
    for v in values:
        fast, slow = _both(plan, str(tmp), dd, ["z"], [v], True)
        assert fast == slow, v
    for names in (["x"], ["y", "x"], ["x", "y"], []):
        for v in values:
            for slot in range(len(names)):
                vals = [5, "b"][:len(names)]
                vals[slot] = v
                fast, slow = _both(plan, str(tmp), c, names, vals, True)
                assert fast == slow, (names, v)


def test_sites_left_to_calls_bind(world):
    tmp, plan, _ = world
    t = plan.tasks["t"]
    calls = Calls(plan, Ctx(str(tmp), str(tmp)))
    # a required parameter left out: Calls.bind reports it
    assert fast_call(calls, t, [(t.params["i"], None, VPOS)], POS, None, None) is None
    # a list of paths left out: checked by Calls.bind
    e = plan.configs["E"]
    assert fast_call(calls, e, [(e.params["n"], None, VPOS)], POS, None, None) is None
    # the defaults left out (a path's among them) are taken by the written function
    assert fast_call(calls, t, [(t.params[n], None, VPOS) for n in ("i", "r", "p")],
                     POS, None, None) is not None


AGGREGATE = """
task w {
    i: int
    output o = "o"
    shell "echo {i} > {o}"
}
task agg {
    parts: list[w]
    output o = "o"
    shell "cat {parts.o} > {o}"
}
agg(parts=[w(i=i) for i in range(3)])
"""


def test_a_list_parameter_leaves_its_sites_to_calls_bind(tmp_path):
    plan = plan_of(tmp_path, AGGREGATE)
    (agg,) = [j for j in plan.jobs.values() if j.task.name == "agg"]
    assert len(agg.deps) == 3 and len(plan.jobs) == 4


def test_errors_of_written_sites_keep_their_positions(tmp_path):
    head = 'task t {\n    i: int\n    f: float = 0.5\n    output o = "o"\n' \
           '    shell "echo {i} > {o}"\n}\n'
    err = xpm_error(tmp_path, head + 'if False {\n    x = 1\n}\nt(i=x)\n')
    assert (err.line, err.column) == (10, 5) and "used before it is assigned" in err.message
    err = xpm_error(tmp_path, head + 't(i=1, f="a")\n')
    assert (err.line, err.column) == (7, 10) and "t(f=...): expected float, got str" \
        in err.message
    err = xpm_error(tmp_path, head + 'for k in range(3) {\n    t(i=k, f=1e308 * 10)\n}\n')
    assert (err.line, err.column) == (8, 14) and "float overflow" in err.message
    err = xpm_error(tmp_path, head + 'for k in range(3) {\n    t(i=tag(k) + 1)\n}\n')
    assert (err.line, err.column) == (8, 9) and "tag(...)" in err.message
    err = xpm_error(tmp_path, head + 't(i=1)\nt(i=1, f=1 / 0)\n')
    assert (err.line, err.column) == (8, 10) and "division by zero" in err.message


# ----------------------------------------------------------------------------- operators
OPERANDS = [0, 1, -1, 3, 2 ** 61, 2 ** 62, -(2 ** 62), 2 ** 70, 10 ** 2200, 0.5, -0.0, 1e308,
            math.inf, math.nan, True, False, "a", "", [1], None, M.Tagged(1)]


def _op_outcome(f):
    try:
        r = f()
    except XpmError as err:
        return ("error", err.message, err.line, err.column)
    return ("value", type(r).__name__, repr(r))


@pytest.mark.parametrize("op", sorted(_FAST))
def test_written_operators_agree_with_binop_value(op):
    pos = Pos("f.xpm", 2, 7)
    checked = 0
    for a, b in itertools.product(OPERANDS, OPERANDS):
        want = _op_outcome(lambda: binop_value(op, a, b, pos))
        env = {"x": a, "y": b}
        for left, right in itertools.product(("const", "name", "closure"), repeat=2):
            nodes, fs = [], []
            for kind, v, var in ((left, a, "x"), (right, b, "y")):
                if kind == "const":
                    nodes.append(S.Const(v, pos))
                    fs.append(lambda env, v=v: v)
                elif kind == "name":
                    nodes.append(S.Name(var, pos))

                    def get(env, var=var):
                        return env[var]
                    get.env_name, get.unset = var, (lambda: pos.error("unset"))
                    fs.append(get)
                else:
                    nodes.append(S.Name(var, pos))
                    fs.append(lambda env, var=var: env[var])
            run = compile_binop(S.BinOp(op, nodes[0], nodes[1], pos), fs[0], fs[1])
            assert _op_outcome(lambda: run(env)) == want, (op, a, b, left, right)
            checked += 1
    assert checked == 9 * len(OPERANDS) ** 2


def test_an_unassigned_operand_is_reported_where_it_is_read(tmp_path):
    err = xpm_error(tmp_path, "if False {\n    x = 1\n}\ny = 2 * (x + 1)\n")
    assert (err.line, err.column) == (4, 10) and "used before it is assigned" in err.message
    err = xpm_error(tmp_path, "if False {\n    x = 1\n}\ny = x == 1\n")
    assert (err.line, err.column) == (4, 5) and "used before it is assigned" in err.message


def test_sites_of_one_shape_share_one_compiled_text(tmp_path):
    """A file of many literal calls compiles one text per shape, not one per call."""
    writing._CODE.clear()
    calls = "".join(f"t(i={k} + 1, f=0.5 * {k})\n" for k in range(300))
    plan = plan_of(tmp_path, 'task t {\n    i: int\n    f: float = 0.5\n    output o = "o"\n'
                             '    shell "echo {i} > {o}"\n}\n' + calls)
    assert len(plan.jobs) == 300
    assert sorted(j.values["i"] for j in plan.jobs.values()) == list(range(1, 301))
    assert len(writing._CODE) <= 3          # the call's text, and one per operator


NESTED = [0, 2, -1, 2 ** 62, 0.5, 1e308, math.nan, "a", None, True]


@pytest.mark.parametrize("outer", ["+", "*", "==", "<"])
def test_operators_written_into_one_function_agree(outer):
    """``(x op y) outer z`` and ``x outer (y op z)``, the inner operator written into the
    outer's function, give binop_value's value or error, each at its own position."""
    p_in, p_out = Pos("f.xpm", 3, 9), Pos("f.xpm", 3, 4)
    checked = 0
    for inner in ("+", "-", "*", "!="):
        for x, y, z in itertools.product(NESTED, repeat=3):
            env = {"x": x, "y": y, "z": z}
            names = {}
            for var in "xyz":
                def get(env, var=var):
                    return env[var]
                get.env_name, get.unset = var, (lambda: p_in.error("unset"))
                names[var] = (S.Name(var, p_in), get)
            for left_nested in (True, False):
                a, b, c = names["x"], names["y"], names["z"]
                if left_nested:
                    ie = S.BinOp(inner, a[0], b[0], p_in)
                    fi = compile_binop(ie, a[1], b[1])
                    e = S.BinOp(outer, ie, c[0], p_out)
                    run = compile_binop(e, fi, c[1])
                    want = _op_outcome(lambda: binop_value(
                        outer, binop_value(inner, x, y, p_in), z, p_out))
                else:
                    ie = S.BinOp(inner, b[0], c[0], p_in)
                    fi = compile_binop(ie, b[1], c[1])
                    e = S.BinOp(outer, a[0], ie, p_out)
                    run = compile_binop(e, a[1], fi)
                    want = _op_outcome(lambda: binop_value(
                        outer, x, binop_value(inner, y, z, p_in), p_out))
                assert _op_outcome(lambda: run(env)) == want, (inner, outer, x, y, z)
                checked += 1
    assert checked == 4 * 2 * len(NESTED) ** 3


def test_calls_with_operators_in_their_arguments(tmp_path):
    head = 'task t {\n    x: float\n    k: int = 0\n    output o = "o"\n' \
           '    shell "echo {x} > {o}"\n}\n'
    plan = plan_of(tmp_path, head + "for l in range(4) {\n"
                   "    t(x=0.001 * (l + 1), k=l * 2 - (l + 1))\n}\n")
    got = sorted((j.values["x"], j.values["k"]) for j in plan.jobs.values())
    assert got == [(0.001 * (l + 1), l * 2 - (l + 1)) for l in range(4)]
    big = "1" + "0" * 2200
    err = xpm_error(tmp_path, head + "for l in range(3) {\n"
                    f"    t(x=1.0, k=l * ({big} * {big}))\n}}\n")
    assert (err.line, err.column) == (8, 21) and "more than 4300 digits" in err.message
    err = xpm_error(tmp_path, head + 'for l in range(3) {\n    t(x=1.0 * (l + "a"))\n}\n')
    assert (err.line, err.column) == (8, 16) and "unsupported operand" in err.message


@pytest.mark.parametrize("after", [1, 5, 16])
def test_a_place_runs_its_general_closure_until_it_is_written(tmp_path, monkeypatch, after):
    """Before and after its function is written a place gives the same values; a call
    run once is never written (nothing compiled for it)."""
    monkeypatch.setattr(writing, "AFTER", after)
    writing._CODE.clear()
    text = ('task t {\n    i: int\n    f: float = 0.5\n    output o = "o"\n'
            '    shell "echo {i} > {o}"\n}\nt(i=-1, f=2.0 * 3)\n'
            'for k in range(40) {\n    t(i=k * 2, f=0.5 * (k + 1))\n}\n')
    plan = plan_of(tmp_path, text)
    got = [(j.values["i"], j.values["f"]) for j in plan.jobs.values()]
    assert got == [(-1, 6.0)] + [(k * 2, 0.5 * (k + 1)) for k in range(40)]
    # the loop's call and its operators were written; the literal call's text was not
    texts = [t for t in writing._CODE if "_WARM" not in t]
    # (the loop's operators are written too: they ran as often, under the general call)
    assert len(texts) == (4 if after > 1 else 6)
    assert sum("JOBS" in t for t in texts) == (1 if after > 1 else 2)
    monkeypatch.setattr(writing, "AFTER", 0)
    assert [j.id for j in plan_of(tmp_path, text).jobs.values()] == list(plan.jobs)


def test_a_call_given_a_list_of_jobs_is_written_at_its_first_run(tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "AFTER", 16)
    writing._CODE.clear()
    plan = plan_of(tmp_path, AGGREGATE)
    (agg,) = [j for j in plan.jobs.values() if j.task.name == "agg"]
    assert [d.values["i"] for d in agg.deps] == [0, 1, 2] == [p.values["i"]
                                                            for p in agg.values["parts"]]
    assert sum("for x in w0:" in t for t in writing._CODE) == 1
