"""Long lists of literals in big files (parser.literal_runs): the same values and positions
as the normal path, and a 2 MB one-line list checked without hanging."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import run_cli, write_xpm  # noqa: E402

from xpmbuild.language import XpmError, evaluate  # noqa: E402
from xpmbuild.language.parser import FAST_PATH_BYTES  # noqa: E402

INTS = ["-3", "0", "17", "1_000", "-42"] * 8
FLOATS = ["2.5", "-1e3", "0.001", ".5", "7e-3", "-0.0"] * 8
STRS = ['"a,b]"', "'c'", '"\\u00e9"', '"x\\"y"', "'#no comment'"] * 8


def lists_text(pad: int) -> str:
    i, f, s = (", ".join(x) for x in (INTS, FLOATS, STRS))
    return ("# " + "x" * pad + "\n" +
            "task t {\n    i: list[int]\n    f: list[float]\n    s: list[str]\n"
            "    b: list[bool?]\n    shell \"true\"\n}\n"
            f"ints = [{i}]\n"
            f"floats = [\n    {f},\n    # a comment [1, 2, 3] (no fast path here)\n    {f},\n]\n"
            f"strs = [\n  {s},\n  {s}]\n"
            f"bools = [{', '.join(['True', 'False', 'None'] * 12)},]\n"
            f'text = "[{", ".join(["1"] * 40)}]"\n'
            "t(i=ints, f=floats, s=strs + [text], b=bools)\n")


def test_fast_and_normal_paths_agree(tmp_path):
    small = write_xpm(tmp_path, lists_text(10), "small.xpm")
    big = write_xpm(tmp_path, lists_text(FAST_PATH_BYTES), "big.xpm")
    assert os.path.getsize(big) > FAST_PATH_BYTES > os.path.getsize(small)
    (a,), (b,) = evaluate(str(small)).jobs.values(), evaluate(str(big)).jobs.values()
    assert a.values == b.values and a.id == b.id
    assert a.values["s"][-1].startswith("[1, 1")
    from xpmbuild.language.parser import literal_runs
    text, runs = literal_runs(open(big).read())
    assert len(runs) == 3 and len(text) == len(open(big).read())   # not the commented one
    assert text.count("\n") == open(big).read().count("\n")


def test_errors_inside_and_after_a_run_keep_their_positions(tmp_path):
    pad = "# " + "x" * FAST_PATH_BYTES + "\n"
    body = ", ".join(["1"] * 40 + ["1" * 5000] + ["2"] * 40)
    f = write_xpm(tmp_path, pad + f"xs = [\n  {body}]\n", "e1.xpm")
    try:
        evaluate(str(f))
    except XpmError as e:
        assert (e.line, e.column) == (3, 3 + 3 * 40), (e.line, e.column, e.message)
    else:
        raise AssertionError("a 5000-digit int must be refused")
    f = write_xpm(tmp_path, pad + "xs = [" + ", ".join(["1"] * 50) + "]\nys = xs +\n", "e2.xpm")
    code, out, err = run_cli("check", f)
    assert code == 2 and ":3:10: error:" in err, err


def test_a_2mb_one_line_list_does_not_hang(tmp_path):
    f = tmp_path / "big.xpm"
    f.write_text("x = [" + ", ".join("0" for _ in range(700_000)) + "]\ny = len(x)\n")
    code, out, err = run_cli("check", f, timeout=120)
    assert code == 0 and "ok" in out, err
