"""Linear accumulation (spec §9): list comprehensions, ``+=``, and ``xs = xs + [y]``
extended in place only when no other value can see the list (aliasing never shows)."""
from __future__ import annotations

import pytest

from conftest import jobs_of, plan_of, run_cli, write_xpm, xpm_error

PROBE = '''\
task probe {
    value: str
    shell "echo {value}"
}
task leaf {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
'''


def values(tmp_path, text, defines=None):
    """The ``value`` of every probe job, in creation order."""
    plan = plan_of(tmp_path, PROBE + text, defines=defines)
    return [j.values["value"] for j in jobs_of(plan, "probe")]


def test_comprehension_with_condition_and_nested_for(tmp_path):
    assert values(tmp_path, '''
xs = [i * 10 for i in range(5) if i != 2]
ys = [a * 10 + b for a in range(3) for b in range(a) if b != 1]
zs = [c for c in "abc"]
ks = [k for k in {"x": 1, "y": 2}]
probe(value=str(xs))
probe(value=str(ys))
probe(value=str(zs))
probe(value=str(ks))
''') == ["[0, 10, 30, 40]", "[10, 20]", "['a', 'b', 'c']", "['x', 'y']"]


def test_comprehension_makes_jobs_and_its_variable_does_not_leak(tmp_path):
    plan = plan_of(tmp_path, PROBE + '''
i = 7
jobs = [leaf(i=i) for i in range(4)]
probe(value=str(i))
probe(value=str(len(jobs)))
''')
    assert sorted(j.values["i"] for j in jobs_of(plan, "leaf")) == [0, 1, 2, 3]
    assert [j.values["value"] for j in jobs_of(plan, "probe")] == ["7", "4"]


def test_comprehension_variable_unknown_outside(tmp_path):
    err = xpm_error(tmp_path, PROBE + "xs = [j for j in range(3)]\nprobe(value=str(j))\n")
    assert (err.line, err.column) == (11, 17) and "unknown name 'j'" in err.message


def test_comprehension_names_checked_statically(tmp_path):
    # in a branch that never runs, the misspelt name is still an error, at its place
    err = xpm_error(tmp_path, PROBE + "if False {\n    xs = [leaf(i=k) for i in range(3)]\n}\n")
    assert (err.line, err.column) == (11, 18) and "unknown name 'k'" in err.message


@pytest.mark.parametrize("text, line, column, fragment", [
    ("xs = [i for i in 3]\n", 10, 18, "cannot loop over"),
    ("xs = [tag(i) for i in range(3)]\n", 10, 7, "tag(...) marks a parameter"),
    ("xs = [i for range in range(3)]\n", 10, 13, "cannot use range"),
    ("xs = [i for i in range(3) if]\n", 10, 29, "unexpected ']'"),
    ("xs = [i for in range(3)]\n", 10, 13, "unexpected 'in'"),
])
def test_comprehension_errors(tmp_path, text, line, column, fragment):
    err = xpm_error(tmp_path, PROBE + text)
    assert (err.line, err.column) == (line, column), err.render()
    assert fragment in err.message, err.render()


def test_aliasing_is_never_observable(tmp_path):
    assert values(tmp_path, '''
xs = []
for i in range(3) {
    xs = xs + [i]
}
ys = xs
xs = xs + [100]
xs += [101]
probe(value=str(ys))
probe(value=str(xs))
''') == ["[0, 1, 2]", "[0, 1, 2, 100, 101]"]


def test_aliasing_through_calls_loops_and_lists(tmp_path):
    assert values(tmp_path, '''
xs = [1]
xs = xs + [2]
nested = [xs]
xs += [3]
seen = []
for x in xs {
    xs = xs + [x * 10]
    seen += [len(xs)]
}
first = probe(value=str(nested))
xs += [4]
probe(value=str(xs))
probe(value=str(seen))
''') == ["[[1, 2]]", "[1, 2, 3, 10, 20, 30, 4]", "[4, 5, 6]"]


def test_accumulation_reading_itself(tmp_path):
    assert values(tmp_path, '''
xs = [1]
for i in range(3) {
    xs = xs + [len(xs)] + xs
}
ys = []
for i in range(3) {
    ys = ys + [xs[i]]
    ys += ys
}
probe(value=str(len(xs)))
probe(value=str(ys))
''') == ["15", str([1] * 14)]


def test_plus_equals_on_numbers_and_strings(tmp_path):
    assert values(tmp_path, '''
n = 1
n += 2
s = "a"
for c in ["b", "c"] {
    s += c
}
probe(value=str(n) + s)
''') == ["3abc"]


@pytest.mark.parametrize("text, line, column, fragment", [
    ("xs = [1]\nxs += 2\n", 11, 1, "unsupported operand types for +"),
    ("xs = [1]\nxs = xs + tag(1)\n", 11, 6, "tag(...) marks a parameter"),
    ("for i in range(2) {\n    zs += [i]\n}\n", 11, 5, "used before it is assigned"),
    ("xs = [1]\nxs + = [2]\n", 11, 6, "unexpected '='"),
])
def test_accumulation_errors(tmp_path, text, line, column, fragment):
    err = xpm_error(tmp_path, PROBE + text)
    assert (err.line, err.column) == (line, column), err.render()
    assert fragment in err.message, err.render()


def test_accumulation_is_bounded(tmp_path):
    err = xpm_error(tmp_path, PROBE + '''
xs = [0]
for i in range(30) {
    xs += range(600000)
}
''')
    assert err.limit and "the list would have" in err.message and err.line == 13


def test_accumulated_jobs_are_the_jobs_of_the_list(tmp_path):
    """The in-place path keeps the same jobs and ids as the copying path."""
    body = '''
xs = []
for i in range(50) {
    xs = xs + [leaf(i=i)]
}
for x in xs {
    probe(value=str(x.i))
}
'''
    fast = plan_of(tmp_path / "a", PROBE + body)
    copying = plan_of(tmp_path / "b", PROBE + body.replace("xs = xs + [leaf(i=i)]",
                                                           "ys = xs\n    xs = ys + [leaf(i=i)]"))
    assert [j.id for j in fast.jobs.values()] == [j.id for j in copying.jobs.values()]


def test_cli_check_reports_comprehension_error(tmp_path):
    f = write_xpm(tmp_path, PROBE + "xs = [leaf(i=i) for i in range(3) if nope]\n")
    code, out, err = run_cli("check", f)
    assert code == 2
    assert err.splitlines()[0].endswith("main.xpm:10:38: error: unknown name 'nope'")
