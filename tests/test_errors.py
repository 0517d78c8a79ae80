"""Language errors (spec §5): every class, with its file, line, column and message.

Each test writes a real .xpm file to tmp_path and evaluates it. The last tests go
through the real command line: exit status 2, ``FILE:LINE:COL: error: MESSAGE``, the
source line, a caret under the column, and never a traceback.
"""
from __future__ import annotations

import os

import pytest

from conftest import run_cli, write_xpm, xpm_error

TASK_T = '''\
task t {
    x: int
    s: choice("a", "b") = "a"
    output o = "o.txt"
    shell "echo {x} {s} > {o}"
}
'''


def assert_error(err, file, line, column, *fragments):
    """``err`` is at file:line:column and its message contains every fragment."""
    assert (err.file, err.line, err.column) == (str(file), line, column), err.render()
    for fragment in fragments:
        assert fragment in err.message, err.render()
    rendered = err.render().splitlines()
    assert rendered[0].endswith(f":{line}:{column}: error: {err.message}")
    assert len(rendered) == 3, "the source line and a caret follow the message"
    caret = rendered[2]
    assert caret.rstrip().endswith("^") and len(caret.rstrip()) == 4 + column


# ----------------------------------------------------------------------------- syntax


@pytest.mark.parametrize("text, line, column, fragments", [
    # a missing closing brace: reported just after the last text of the file
    ('task t {\n    x: int\n    shell "echo {x}"\n', 3, 21,
     ["unexpected end of file", "'}'"]),
    ('config C {\n    a: int\n\n\n', 2, 11, ["unexpected end of file", "'}'"]),
    ('x = f(a=1\ny = 2\n', 2, 1, ["unexpected 'y'", "')'"]),
    # a character that is no token
    ("x = 1 $ 2\n", 1, 7, ["unexpected character '$'"]),
    ("x = 1\ny = x @ 2\n", 2, 7, ["unexpected character '@'"]),
    # a token where it cannot be
    ("x = 1 y = 2\n", 1, 7, ["unexpected 'y'", "end of line"]),
    ("x = = 2\n", 1, 5, ["unexpected '='", "an expression"]),
    ("config { a: int }\n", 1, 8, ["unexpected '{'", "a name"]),
    ('task t {\n    x int\n    shell "echo"\n}\n', 2, 7, ["unexpected 'int'"]),
    # unterminated strings
    ('x = "abc\ny = 2\n', 1, 5, ["unterminated string"]),
    ("x = 'abc\n", 1, 5, ["unterminated string"]),
    ('x = 1\nx = """never\nclosed\n', 2, 7, ["unterminated string"]),
    # newlines end statements (outside brackets)
    ("x = 1 +\n    2\n", 1, 8, ["unexpected end of line", "an expression"]),
    ("t(x=1) t(x=2)\n", 1, 8, ["unexpected 't'", "end of line"]),
    ("x = [1, 2\ny = 3\n", 2, 1, ["unexpected 'y'", "']'"]),
])
def test_syntax_errors(tmp_path, text, line, column, fragments):
    err = xpm_error(tmp_path, text)
    assert_error(err, tmp_path / "main.xpm", line, column, *fragments)
    # "expected" lists never offer a bracket that is not open here
    if "')'" not in fragments and "']'" not in fragments:
        assert "')'" not in err.message and "']'" not in err.message


def test_declaration_inside_a_block(tmp_path):
    err = xpm_error(tmp_path, "if True {\n    arg n: int = 1\n}\n")
    assert_error(err, tmp_path / "main.xpm", 2, 9, "only allowed at the top level")


def test_task_without_action(tmp_path):
    err = xpm_error(tmp_path, "task t {\n    x: int\n}\n")
    assert_error(err, tmp_path / "main.xpm", 1, 6, "task t has no action")


# ----------------------------------------------------------------------------- names


def test_unknown_name_in_plan(tmp_path):
    err = xpm_error(tmp_path, TASK_T + "seed = 1\nt(x=sed)\n")
    assert_error(err, tmp_path / "main.xpm", 8, 5, "unknown name 'sed'",
                 "did you mean 'seed'?")


def test_unknown_name_in_a_branch_that_does_not_run(tmp_path):
    """Names are checked before anything runs: a dead branch is still checked."""
    err = xpm_error(tmp_path, TASK_T + "if False {\n    t(x=nope)\n} else {\n    t(x=1)\n}\n")
    assert_error(err, tmp_path / "main.xpm", 8, 9, "unknown name 'nope'")


def test_unknown_function(tmp_path):
    err = xpm_error(tmp_path, "x = 1\ny = rnge(3)\n")
    assert_error(err, tmp_path / "main.xpm", 2, 5, "unknown name 'rnge'", "'range'")


def test_unknown_type(tmp_path):
    err = xpm_error(tmp_path, "config C {\n    a: list[floot]\n}\n")
    assert_error(err, tmp_path / "main.xpm", 2, 13, "unknown type floot",
                 "did you mean 'float'?")


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("call, column, fragments", [
    ('t(x="1")', 5, ["t(x=...)", "expected int, got str"]),
    ("t(x=1.5)", 5, ["expected int, got float"]),
    ("t(x=True)", 5, ["expected int, got bool"]),
    ("t(x=[1])", 5, ["expected int, got list"]),
])
def test_wrong_argument_type(tmp_path, call, column, fragments):
    err = xpm_error(tmp_path, TASK_T + call + "\n")
    assert_error(err, tmp_path / "main.xpm", 7, column, *fragments)


def test_wrong_argument_type_nested(tmp_path):
    err = xpm_error(tmp_path, """\
        config Enc {
            sizes: list[int] = [1]
        }
        config Model {
            enc: Enc
        }
        m = Model(enc=Enc(sizes=[1, 2, "three"]))
        """)
    assert_error(err, tmp_path / "main.xpm", 7, 25, "Enc(sizes=...)", "item 2",
                 "expected int, got str")


def test_job_of_the_wrong_task(tmp_path):
    err = xpm_error(tmp_path, TASK_T + 'task u {\n    dep: t\n    shell "echo {dep.o}"\n}\n'
                              "a = u(dep=t(x=1))\nu(dep=a)\n")
    assert_error(err, tmp_path / "main.xpm", 12, 7, "expected a job of task t",
                 "got job of task u")


def test_missing_argument(tmp_path):
    err = xpm_error(tmp_path, TASK_T + 'ok = t(x=1)\nt(s="b")\n')
    assert_error(err, tmp_path / "main.xpm", 8, 1, "task t: missing argument x")


def test_unknown_keyword_argument(tmp_path):
    err = xpm_error(tmp_path, TASK_T + "t(x=1, ss=2)\n")
    assert_error(err, tmp_path / "main.xpm", 7, 8, "task t has no parameter or option 'ss'",
                 "did you mean 's'?")


def test_positional_argument(tmp_path):
    err = xpm_error(tmp_path, TASK_T + "t(1)\n")
    assert_error(err, tmp_path / "main.xpm", 7, 3, "keyword arguments only")


def test_choice_violation(tmp_path):
    err = xpm_error(tmp_path, TASK_T + 't(x=1, s="c")\n')
    assert_error(err, tmp_path / "main.xpm", 7, 10, "'c' is not one of 'a', 'b'")


def test_choice_violation_in_a_default(tmp_path):
    err = xpm_error(tmp_path, 'config C {\n    s: choice("a", "b") = "z"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 2, 27, "default of C.s", "'z' is not one of")


# ----------------------------------------------------------------------------- declarations


def test_duplicate_declaration_same_file(tmp_path):
    err = xpm_error(tmp_path, "config C {\n    a: int\n}\n\ntask C {\n    shell \"echo\"\n}\n")
    assert_error(err, tmp_path / "main.xpm", 5, 6, "task C is already declared at",
                 "main.xpm:1")


def test_duplicate_declaration_across_an_import(tmp_path):
    """The error is at the importing file's declaration and names the imported file."""
    err = xpm_error(tmp_path, 'import "lib/common.xpm"\n\nconfig Optimizer {\n    lr: float\n}\n',
                    files={"lib/common.xpm": "# shared\nconfig Optimizer {\n    lr: float\n}\n"})
    assert_error(err, tmp_path / "main.xpm", 3, 8, "config Optimizer is already declared at",
                 os.path.join("lib", "common.xpm") + ":2")


def test_duplicate_declaration_between_two_imports(tmp_path):
    err = xpm_error(tmp_path, 'import "a.xpm"\nimport "b.xpm"\n',
                    files={"a.xpm": "config C {\n}\n", "b.xpm": "\n\ntask C {\n  shell \"x\"\n}\n"})
    assert_error(err, tmp_path / "b.xpm", 3, 6, "task C is already declared at", "a.xpm:1")


def test_duplicate_parameter(tmp_path):
    err = xpm_error(tmp_path, "config C {\n    a: int\n    a: str\n}\n")
    assert_error(err, tmp_path / "main.xpm", 3, 5, "parameter a is declared twice")


def test_import_cycle(tmp_path):
    err = xpm_error(tmp_path, 'import "a.xpm"\n',
                    files={"a.xpm": 'import "b.xpm"\n', "b.xpm": '# b\nimport "a.xpm"\n'})
    assert_error(err, tmp_path / "b.xpm", 2, 1, "import cycle: a.xpm -> b.xpm -> a.xpm")


def test_import_of_itself(tmp_path):
    err = xpm_error(tmp_path, 'import "main.xpm"\n')
    assert_error(err, tmp_path / "main.xpm", 1, 1, "import cycle: main.xpm -> main.xpm")


def test_missing_import_file(tmp_path):
    err = xpm_error(tmp_path, '# header\nimport "lib/nope.xpm"\n')
    assert_error(err, tmp_path / "main.xpm", 2, 1, "imported file not found: lib/nope.xpm",
                 str(tmp_path / "lib" / "nope.xpm"))


@pytest.mark.parametrize("lib, line, column, fragments", [
    ("config C {\n    a: int\n", 2, 11, ["unexpected end of file"]),          # syntax
    ("config C {\n    a: intt\n}\n", 2, 8, ["unknown type intt"]),             # type
    ('config C {\n    a: int = "x"\n}\n', 2, 14, ["default of C.a", "expected int"]),
    ('task t {\n    a: int\n    shell "echo {b}"\n}\n', 3, 17, ["unknown name 'b'"]),
])
def test_error_inside_an_imported_file(tmp_path, lib, line, column, fragments):
    """Reported with the imported file's own name and line, not the importer's."""
    err = xpm_error(tmp_path, 'import "sub/lib.xpm"\nx = 1\n', files={"sub/lib.xpm": lib})
    assert_error(err, tmp_path / "sub" / "lib.xpm", line, column, *fragments)
    assert err.source_line() == lib.splitlines()[line - 1]


def test_call_error_uses_the_importing_files_position(tmp_path):
    err = xpm_error(tmp_path, 'import "lib.xpm"\n\nc = C(a="no")\n',
                    files={"lib.xpm": "config C {\n    a: int\n}\n"})
    assert_error(err, tmp_path / "main.xpm", 3, 9, "C(a=...)", "expected int, got str")


# ----------------------------------------------------------------------------- templates


def test_unknown_template_name(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    x: int\n    output o = "o"\n'
                              '    shell "run {x} --flag {y} > {o}"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 4, 27, "unknown name 'y' in shell template",
                 "known: x, o, here")


def test_unknown_template_name_in_a_triple_quoted_template(tmp_path):
    """The caret points into the template string, on its own line."""
    err = xpm_error(tmp_path, '''\
        config Opt {
            lr: float = 0.1
        }
        task t {
            opt: Opt = Opt()
            output o = "o.txt"
            shell """
                echo {opt.lr} \\
                    {opt.rate} > {o}
            """
        }
        ''')
    assert_error(err, tmp_path / "main.xpm", 9, 13, "config Opt (opt) has no field 'rate'")


def test_template_field_of_a_dependency(tmp_path):
    err = xpm_error(tmp_path, TASK_T + 'task u {\n    dep: t\n    shell "cat {dep.out}"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 9, 16, "task t (dep) has no output or parameter "
                 "'out'")


def test_template_field_of_a_primitive(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    x: int\n    shell "echo {x.y}"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 3, 17, "x has type int and no field 'y'")


def test_unmatched_brace_in_template(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    shell "awk \'{print $1}\' {{ok}} }"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 2, 17, "invalid placeholder {print $1}")


# ----------------------------------------------------------------------------- cycles


def test_dependency_cycle_between_task_types(tmp_path):
    err = xpm_error(tmp_path, """\
        task a {
            up: c
            shell "echo"
        }
        task b {
            up: a
            shell "echo"
        }
        config Wrap {
            inner: b
        }
        task c {
            w: Wrap
            shell "echo"
        }
        """)
    # found from a: a.up needs c, c.w (a Wrap) needs b, and b.up needs a: at b.up
    assert_error(err, tmp_path / "main.xpm", 6, 5, "dependency cycle between tasks: "
                 "a -> c -> b -> a", "no job of these tasks could ever be made")


def test_task_that_needs_itself(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    prev: t\n    shell "echo"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 2, 5, "dependency cycle between tasks: t -> t")


def test_optional_self_dependency_is_fine(tmp_path):
    from conftest import plan_of
    plan = plan_of(tmp_path, 'task t {\n    prev: t?\n    n: int\n    shell "echo {n}"\n}\n'
                             "a = t(n=1)\nb = t(n=2, prev=a)\n")
    assert len(plan.jobs) == 2


# ----------------------------------------------------------------------------- -D values


def test_bad_define_value(tmp_path):
    """Reported at the arg's declaration, whose type the value must fit."""
    err = xpm_error(tmp_path, "# args\narg seeds: int = 3\n", defines={"seeds": "three"})
    assert_error(err, tmp_path / "main.xpm", 2, 5, "-D seeds=three", "expected int, got str")


@pytest.mark.parametrize("decl, value, fragment", [
    ('arg split: choice("dev", "test") = "dev"', "train", "'train' is not one of"),
    ("arg lrs: list[float] = [0.1]", "[0.1, 'x']", "item 1: expected float, got str"),
    ("arg flag: bool = False", "yes", "expected bool, got str"),
    ('arg p: path = "a"', "", "empty string"),
])
def test_bad_define_values_by_type(tmp_path, decl, value, fragment):
    err = xpm_error(tmp_path, decl + "\n", defines={decl.split()[1][:-1]: value})
    assert_error(err, tmp_path / "main.xpm", 1, 5, fragment)


def test_unknown_define_name(tmp_path):
    err = xpm_error(tmp_path, "# args\narg seeds: int = 3\narg corpus: str = \"c\"\n",
                    defines={"seed": "1"})
    assert_error(err, tmp_path / "main.xpm", 2, 5, "-D seed: the experiment has no arg 'seed'",
                 "did you mean 'seeds'?", "args: corpus, seeds")


def test_unknown_define_name_without_args(tmp_path):
    """No arg to point at: the error names the file only."""
    err = xpm_error(tmp_path, "x = 1\n", defines={"n": "1"})
    assert (err.file, err.line) == (str(tmp_path / "main.xpm"), 0)
    assert "has no arg 'n'" in err.message and "args: (none)" in err.message
    assert err.render().splitlines()[0].endswith("main.xpm: error: " + err.message)


# ----------------------------------------------------------------------------- task bodies


def test_output_parameter_name_clash(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    model: str\n    output model = "model.bin"\n'
                              '    shell "echo > {model}"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 3, 12, "output model has the name of a parameter",
                 "may not share a name")


@pytest.mark.parametrize("line, column, fragment", [
    ("requires cpus=0", 19, "cpus must be a whole number >= 1"),
    ('requires cpus="2"', 19, "cpus must be a whole number"),
    ("requires gpus=-1", 19, "gpus must be a whole number >= 0"),
    ("requires mem=4", 18, 'mem must be a string such as "4G"'),
    ('requires mem="lots"', 18, "mem must be a string"),
    ('requires time="forever"', 19, "time must be a string such as"),
    ("requires disk=1", 14, "unknown requirement disk; expected one of cpus, gpus, mem, time"),
    ("requires cpus=1, cpus=2", 22, "requirement cpus is given twice"),
])
def test_bad_requires(tmp_path, line, column, fragment):
    err = xpm_error(tmp_path, f'task t {{\n    {line}\n    shell "echo"\n}}\n')
    assert_error(err, tmp_path / "main.xpm", 2, column, fragment)


def test_bad_output_path(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    output o = "../escape.txt"\n    shell "echo"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 2, 12, "must be a relative path inside the job")


def test_bad_python_action(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    python "module.function"\n}\n')
    assert_error(err, tmp_path / "main.xpm", 2, 12, 'python action must be "module:function"')


# ----------------------------------------------------------------------------- run time


def test_plan_evaluation_errors(tmp_path):
    err = xpm_error(tmp_path, "xs = [1, 2]\ny = xs[2]\n")
    assert_error(err, tmp_path / "main.xpm", 2, 8, "index 2 out of range")
    err = xpm_error(tmp_path, 'x = 1\ny = "a" + x\n')
    assert_error(err, tmp_path / "main.xpm", 2, 5, "unsupported operand types for +: str and int")
    err = xpm_error(tmp_path, "for i in 3 {\n}\n")
    assert_error(err, tmp_path / "main.xpm", 1, 10, "cannot loop over int")


# ----------------------------------------------------------------------------- the CLI


def assert_cli_error(tmp_path, args, first_line, source_line, column, cwd=None):
    code, out, err = run_cli(*args, cwd=cwd or tmp_path)
    assert code == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert lines[0] == first_line, err
    assert lines[1] == "    " + source_line
    assert lines[2] == "    " + " " * (column - 1) + "^"
    return err


def test_cli_syntax_error(tmp_path):
    write_xpm(tmp_path, "x = 1\ny = (2 +\n")
    assert_cli_error(tmp_path, ["check", "main.xpm"],
                     "main.xpm:2:9: error: unexpected end of file; expected an expression",
                     "y = (2 +", 9)


def test_cli_error_in_imported_file(tmp_path):
    write_xpm(tmp_path, "config C {\n    a: int = 1\n    b: lst[int]\n}\n", "lib/common.xpm")
    write_xpm(tmp_path, 'import "lib/common.xpm"\nc = C()\n')
    for command in ("check", "graph"):
        assert_cli_error(tmp_path, [command, "main.xpm"],
                         os.path.join("lib", "common.xpm") +
                         ":3:8: error: unknown type lst (did you mean 'list'?)",
                         "    b: lst[int]", 8)


def test_cli_template_error_absolute_path_outside_cwd(tmp_path):
    """A file outside the current directory is shown with its absolute path; tabs are
    kept in the caret line so that it lines up under the source."""
    path = write_xpm(tmp_path / "exp", 'task t {\n\tshell "echo {nope}"\n}\n')
    (tmp_path / "elsewhere").mkdir()
    code, out, err = run_cli("check", path, cwd=tmp_path / "elsewhere")
    assert code == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == (f"{path}:2:14: error: unknown name 'nope' in shell template of "
                        "task t; known: here")
    assert lines[1] == '    \tshell "echo {nope}"'
    assert lines[2] == "    \t" + " " * 12 + "^"


def test_cli_bad_define(tmp_path):
    write_xpm(tmp_path, "arg seeds: int = 3\n")
    assert_cli_error(tmp_path, ["check", "main.xpm", "-D", "seeds=many"],
                     "main.xpm:1:5: error: -D seeds=many: expected int, got str (arg seeds: int)",
                     "arg seeds: int = 3", 5)
    code, out, err = run_cli("graph", "main.xpm", "-D", "sedes=1", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert err.startswith("main.xpm:1:5: error: -D sedes: the experiment has no arg 'sedes' "
                          "(did you mean 'seeds'?)")


def test_cli_missing_file(tmp_path):
    code, out, err = run_cli("check", "absent.xpm", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "absent.xpm" in err


def test_cli_ok(tmp_path):
    write_xpm(tmp_path, TASK_T + "t(x=1)\nt(x=2)\n")
    code, out, err = run_cli("check", "main.xpm", cwd=tmp_path)
    assert (code, err) == (0, "")
    assert out.startswith("main.xpm: ok") and "2 jobs" in out


# ----------------------------------------------------------------------------- input bounds


@pytest.mark.parametrize("text, line, column, fragment", [
    ('x = "a\\qb"\n', 1, 7, "invalid escape sequence \\q"),
    ('task t {\n    shell "grep \\d x"\n}\n', 2, 17, "invalid escape sequence \\d"),
    ('task t {\n    python "m\\N{NOPE}:f"\n}\n', 2, 14, "invalid \\N escape"),
    ('task t {\n    output o = "o\\x4"\n    shell "echo"\n}\n', 2, 18, "invalid \\x escape"),
    ('import "a\\zb.xpm"\n', 1, 10, "invalid escape sequence \\z"),
    ('config C {\n    """doc\n    \\u12 here"""\n}\n', 3, 5, "invalid \\u escape"),
    ('x = "ab\\x00"\n', 1, 8, "NUL character"),
    ('x = """\n    a\n    \\0"""\n', 3, 5, "NUL character"),
    ('x = "\\ud800"\n', 1, 6, "lone surrogate"),
    ("x = " + "9" * 4301 + "\n", 1, 5, "integer literal too large: 4301 digits"),
    ("x = 1e999\n", 1, 5, "float literal out of range"),
    ("x = " + " + ".join(["1"] * 300) + "\n", 1, 5, "too deeply nested"),
])
def test_input_errors_at_their_position(tmp_path, text, line, column, fragment):
    err = xpm_error(tmp_path, text)
    assert_error(err, tmp_path / "main.xpm", line, column, fragment)


def test_valid_escapes_are_python_s(tmp_path):
    from xpmbuild.language.parser import parse_text
    text = r'x = "\\ \' \" \a\b\f\n\r\t\v \101\0101 \x41 \u00e9 \U0001F600 \N{BULLET}"' + "\n"
    (stmt,) = parse_text(text, "t.xpm").stmts
    assert stmt.value.value == eval(text[4:])  # noqa: S307 - a literal we wrote


@pytest.mark.parametrize("text, line, column, fragment", [
    ("x = [0] * 2000000000\n", 1, 5, "the list would have 2,000,000,000 items"),
    ('x = "abc" * 100000000000\n', 1, 5, "at most 100,000,000"),
    ("x = range(1000000000)\n", 1, 5, "range() would have more than 10,000,000 items"),
    ('x = "%999999999d" % 1\n', 1, 5, "the string would have"),
    ("x = 1e308 * 10\n", 1, 5, "float overflow"),
    ("x = 10\nfor i in range(20) {\n    x = x * x\n}\n", 3, 9, "more than 4300 digits"),
    ("x = []\nfor i in range(100000) {\n    x = [x]\n}\ny = str(x)\n", 5, 1,
     "too deeply nested"),
])
def test_resource_bounds(tmp_path, text, line, column, fragment):
    err = xpm_error(tmp_path, text)
    assert_error(err, tmp_path / "main.xpm", line, column, fragment)


def test_huge_define_is_an_error_at_the_arg(tmp_path):
    err = xpm_error(tmp_path, "x = 1\narg n: int = 1\n", defines={"n": "7" * 5000})
    assert_error(err, tmp_path / "main.xpm", 2, 5, "integer literal too large")


@pytest.mark.parametrize("breaks", ["\f", "\v", "\x85", "\u2028", "\u2029", "\f\v\x85\u2028"])
def test_caret_under_the_named_line_after_other_line_breaks(tmp_path, breaks):
    err = xpm_error(tmp_path, f'x = "{breaks}"\n# {breaks}\ny = nope\n')
    assert_error(err, tmp_path / "main.xpm", 3, 5, "unknown name 'nope'")
    assert err.render().split("\n")[1] == "    y = nope"


def test_control_characters_in_the_shown_line_keep_the_caret_in_place(tmp_path):
    err = xpm_error(tmp_path, 'x = "\v\u2028" + nope\n')
    shown, caret = err.render().split("\n")[1:]
    assert shown == '    x = "\ufffd\ufffd" + nope' and caret == "    " + " " * 11 + "^"


def test_nesting_is_refused_at_the_bracket_opening_level_101(tmp_path):
    err = xpm_error(tmp_path, "x = 1\ny = " + "(" * 200 + "1" + ")" * 200 + "\n")
    assert (err.line, err.column) == (2, 105) and "too deeply nested" in err.message
    shown, caret = err.render().split("\n")[1:]
    assert shown.startswith("    ...(((") and caret.endswith("^")


def test_long_line_is_shown_as_a_window(tmp_path):
    err = xpm_error(tmp_path, "x = [" + "1, " * 2000 + "$]\n")
    assert (err.line, err.column) == (1, 6006)
    shown, caret = err.render().split("\n")[1:]
    assert shown.startswith("    ...") and shown.endswith("1, $]") and len(shown) < 200
    assert shown[len(caret) - 1] == "$"


def test_error_in_an_imported_file_nested_too_deep(tmp_path):
    err = xpm_error(tmp_path, 'import "lib.xpm"\n', files={
        "lib.xpm": "config C {\n    a: list[int] = " + "[" * 300 + "]" * 300 + "\n}\n"})
    # the config's block is the first level: the 100th "[" opens level 101
    assert (err.file, err.line, err.column) == (str(tmp_path / "lib.xpm"), 2, 119)
    assert "too deeply nested" in err.message


def test_invalid_utf8_at_the_bad_byte(tmp_path):
    path = tmp_path / "main.xpm"
    path.write_bytes(b'x = 1\ny = "caf\xe9"\n')
    code, out, err = run_cli("check", "main.xpm", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert err.startswith("main.xpm:2:9: error: not UTF-8 text: byte 0xe9")


@pytest.mark.parametrize("template, column, brace", [
    ('"echo {x} }"', 21, "}"),
    ('"echo {{x}} {x} {"', 27, "{"),
    ('"\\N{BULLET} {x}} "', 26, "}"),
    ('"a\\tb {x}{"', 20, "{"),
])
def test_unmatched_template_brace_points_at_the_brace(tmp_path, template, column, brace):
    err = xpm_error(tmp_path, f"task t {{\n    x: int\n    shell {template}\n}}\n")
    assert_error(err, tmp_path / "main.xpm", 3, column, f"unmatched {brace!r}")


def test_unmatched_brace_in_a_triple_quoted_template(tmp_path):
    err = xpm_error(tmp_path, 'task t {\n    x: int\n    shell """\n        echo {{x}} \\\n'
                              '          {x} }\n    """\n}\n')
    assert_error(err, tmp_path / "main.xpm", 5, 15, "unmatched '}'")
