"""The fast paths of binary operators (expressions._FAST) give exactly what binop_value
gives, or step aside (``_SLOW``) for it; they never raise where it reports an error."""
from __future__ import annotations

import itertools

from conftest import plan_of, xpm_error

from xpmbuild.language import expressions as E
from xpmbuild.language.errors import Pos

VALUES = [0, 1, -1, 7, 2 ** 61, 2 ** 62, -(2 ** 62), 2 ** 70, 10 ** 400, 0.5, -0.0, 1e308,
          float("inf"), float("nan"), True, False, "a", "b", "", [1], [], None]


def test_fast_operators_agree_with_the_checked_ones():
    pos = Pos("f.xpm", 1, 1)
    seen_fast = 0
    for op, fast in E._FAST.items():
        for a, b in itertools.product(VALUES, VALUES):
            r = fast(a, b)              # never raises
            if r is E._SLOW:
                continue
            seen_fast += 1
            want = E.binop_value(op, a, b, pos)
            assert type(r) is type(want) and (r == want or r != r and want != want), \
                (op, a, b, r, want)
    assert seen_fast > 100


def test_a_plan_computes_with_them_and_errors_keep_their_position(tmp_path):
    plan = plan_of(tmp_path, """
task t {
    x: float
    ok: bool
    output o = "o"
    shell "echo {x} {ok} > {o}"
}
for l in range(3) {
    t(x=0.001 * (l + 1), ok=l == 1)
}
""")
    got = sorted((j.values["x"], j.values["ok"]) for j in plan.jobs.values())
    assert got == [(0.001, False), (0.002, True), (0.003, False)]
    big = "1" + "0" * 400
    err = xpm_error(tmp_path, f"""
task t {{
    x: float
    output o = "o"
    shell "echo {{x}} > {{o}}"
}}
t(x={big} * 0.5)
""")
    assert (err.line, err.column) == (7, 5) and "too large" in err.message
    err = xpm_error(tmp_path, "x = 1e308 * 10.0\n")
    assert err.line == 1 and "float overflow" in err.message
