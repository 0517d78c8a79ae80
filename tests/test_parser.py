"""The parser: lexical rules (spec §2) and the syntax tree of declarations and statements."""
from __future__ import annotations

import pytest

from conftest import plan_of, write_xpm
from xpmbuild.language import XpmError
from xpmbuild.language import syntax as S
from xpmbuild.language.parser import parse_file, parse_text


def parse(text: str) -> S.Module:
    return parse_text(text, "t.xpm")


def value_of(text: str):
    """The constant value of ``x = <text>``."""
    module = parse(f"x = {text}\n")
    (stmt,) = module.stmts
    assert isinstance(stmt, S.Assign)
    return stmt.value


# ----------------------------------------------------------------------------- literals


@pytest.mark.parametrize("text, value", [
    ("10", 10), ("1_000", 1000), ("0", 0), ("1e-3", 1e-3), ("0.5", 0.5), (".5", 0.5),
    ("5.", 5.0), ("2E+2", 200.0), ("1_000.5", 1000.5),
])
def test_numbers(text, value):
    node = value_of(text)
    assert isinstance(node, S.Const)
    assert node.value == value and type(node.value) is type(value)


@pytest.mark.parametrize("text, value", [
    ('"abc"', "abc"), ("'abc'", "abc"), ('"it\'s"', "it's"), (r'"a\"b"', 'a"b'),
    (r'"tab\tnew\nline"', "tab\tnew\nline"), ('"ünïcödé ✓"', "ünïcödé ✓"),
    ('"# not a comment"', "# not a comment"), ('""', ""),
])
def test_strings(text, value):
    assert value_of(text).value == value


def test_triple_quoted_strings_lose_common_indentation():
    module = parse('x = """\n    first\n      second\n    third\n    """\n'
                   "y = '''one line'''\n")
    x, y = (s.value.value for s in module.stmts)
    assert x == "first\n  second\nthird\n"
    assert y == "one line"


def test_triple_quoted_string_with_backslash_newline_continues_the_line():
    module = parse('x = """\n    echo a \\\n      b\n    """\n')
    assert module.stmts[0].value.value == "echo a       b\n"


def test_true_false_none():
    assert [value_of(t).value for t in ("True", "False", "None")] == [True, False, None]


def test_lists_and_dicts_span_lines_with_trailing_commas_and_comments():
    module = parse('x = [\n  1,  # one\n  2,\n]\n'
                   'y = {\n  "a": 1,\n  # a comment line\n  "b": [3,\n 4],\n}\n'
                   'z = f(\n  a=1,\n  b=2,\n)\n')
    x, y, z = (s.value for s in module.stmts)
    assert isinstance(x, S.ListExpr) and [i.value for i in x.items] == [1, 2]
    assert isinstance(y, S.DictExpr) and [k.value for k, _ in y.pairs] == ["a", "b"]
    assert isinstance(z, S.Call) and [k.name for k in z.kwargs] == ["a", "b"]


def test_comments_blank_lines_and_no_final_newline():
    module = parse("# header\n\n\nx = 1  # trailing\n\n# between\ny = 2")
    assert [s.name for s in module.stmts] == ["x", "y"]


def test_crlf_line_endings(tmp_path):
    path = tmp_path / "crlf.xpm"
    path.write_bytes(b'task t {\r\n  x: int\r\n  shell "echo {x}"\r\n}\r\nt(x=1)\r\n')
    module = parse_file(path)
    assert [d.name for d in module.decls] == ["t"] and len(module.stmts) == 1


def test_backslash_continues_a_line():
    module = parse("x = 1 + \\\n    2\n")
    assert isinstance(module.stmts[0].value, S.BinOp)


def test_names_that_start_with_keywords_are_names():
    text = "".join(f"{n} = 1\n" for n in ("format", "index", "tagged", "options", "outputs",
                                           "imported", "elsewhere", "iffy", "nothing",
                                           "android", "order", "shellfish", "python3",
                                           "Trueish", "None_", "requires_x", "configs"))
    module = parse(text)
    assert len(module.stmts) == 17


# ----------------------------------------------------------------------------- declarations


def test_declarations_and_positions():
    module = parse('import "lib/common.xpm"\n'
                   'arg seeds: int = 3\n'
                   'config Optimizer {\n'
                   '    """Adam."""\n'
                   '    lr: float = 1e-3\n'
                   '    betas: list[float] = [0.9, 0.999]\n'
                   '}\n'
                   'task train {\n'
                   '    data: prepare\n'
                   '    opt: Optimizer = Optimizer()\n'
                   '    option device: str = "cpu"\n'
                   '    note: str?\n'
                   '    split: choice("dev", "test", 3, -1.5, True, None) = "dev"\n'
                   '    extra: dict[list[int]] = {}\n'
                   '    requires cpus=2, mem="4G", time="1h"\n'
                   '    output model = "model.bin"\n'
                   '    python "trainer:main"\n'
                   '}\n')
    (imp,) = module.imports
    assert imp.path == "lib/common.xpm" and (imp.pos.line, imp.pos.column) == (1, 1)
    (arg,) = module.args
    assert (arg.name, arg.type.name, arg.default.value) == ("seeds", "int", 3)
    assert (arg.pos.line, arg.pos.column) == (2, 5)
    config, task = module.decls
    assert (config.kind, config.name, config.doc) == ("config", "Optimizer", "Adam.")
    assert [p.name for p in config.params] == ["lr", "betas"]
    assert config.params[1].type.name == "list" and config.params[1].type.param.name == "float"
    assert (task.kind, task.name, task.doc) == ("task", "train", None)
    params = {p.name: p for p in task.params}
    assert params["device"].option and not params["data"].option
    assert params["note"].type.optional and params["note"].default is None
    assert params["split"].type.choices == ["dev", "test", 3, -1.5, True, None]
    assert params["extra"].type.param.param.name == "int"
    assert [(r.name, r.value.value) for r in task.requires] == [
        ("cpus", 2), ("mem", "4G"), ("time", "1h")]
    assert [(o.name, o.path) for o in task.outputs] == [("model", "model.bin")]
    assert (task.action.kind, task.action.text) == ("python", "trainer:main")
    assert (task.pos.line, task.pos.column) == (8, 6)
    assert (params["opt"].pos.line, params["opt"].pos.column) == (10, 5)


def test_empty_config_and_one_line_bodies():
    module = parse('config Empty {}\nconfig One { a: int = 1 }\n'
                   'task t { shell "echo" }\n')
    assert [len(d.params) for d in module.decls] == [0, 1, 0]


def test_shell_action_keeps_template_text():
    module = parse('task t {\n    x: int\n    shell """\n        echo {x} {{literal}}\n'
                   '    """\n}\n')
    action = module.decls[0].action
    assert action.kind == "shell" and action.text == "echo {x} {{literal}}\n"
    assert (action.text_pos.line, action.text_pos.column) == (3, 11)


# ----------------------------------------------------------------------------- statements


def test_plan_statements():
    module = parse("for lr in [1e-3, 1e-4] {\n"
                   "    for seed in range(3) {\n"
                   "        m = train(lr=tag(lr), seed=seed)\n"
                   "    }\n"
                   "}\n"
                   "if seeds > 1 and not quick {\n"
                   "    x = 1\n"
                   "} else if seeds == 1 {\n"
                   "    x = 2\n"
                   "}\n"
                   "else {\n"
                   "    x = 3\n"
                   "}\n"
                   "evaluate(model=m)\n")
    loop, cond, call = module.stmts
    assert isinstance(loop, S.For) and loop.name == "lr"
    inner = loop.body[0]
    assert isinstance(inner, S.For) and isinstance(inner.iterable, S.Call)
    assign = inner.body[0]
    assert isinstance(assign.value, S.Call)
    assert isinstance(assign.value.kwargs[0].value, S.TagExpr)
    assert isinstance(cond, S.If) and isinstance(cond.cond, S.BoolOp)
    assert isinstance(cond.orelse[0], S.If) and cond.orelse[0].orelse is not None
    assert isinstance(call, S.ExprStmt)


def test_operator_precedence():
    e = value_of("1 + 2 * 3 - 4 // 2")
    # ((1 + (2 * 3)) - (4 // 2))
    assert e.op == "-" and e.left.op == "+" and e.left.right.op == "*"
    assert e.right.op == "//"
    e = value_of("not a or b and c == d")
    assert isinstance(e, S.BoolOp) and e.op == "or"
    assert isinstance(e.left, S.Unary) and e.right.op == "and"
    assert e.right.right.op == "=="
    e = value_of("-x.y[0](a=1)")
    assert isinstance(e, S.Unary) and isinstance(e.operand, S.Call)
    assert isinstance(e.operand.func, S.GetItem) and isinstance(e.operand.func.obj, S.GetAttr)


def test_dict_literal_after_in_and_block_after_it():
    module = parse('for k in {"a": 1, "b": 2} {\n    x = k\n}\n')
    assert isinstance(module.stmts[0].iterable, S.DictExpr)
    assert len(module.stmts[0].body) == 1


def test_one_line_blocks():
    module = parse("if True { x = 1 } else { x = 2 }\nfor i in [1] { }\n")
    assert len(module.stmts) == 2


# ----------------------------------------------------------------------------- end to end


def test_parses_the_spec_example(tmp_path):
    """The whole example of spec §1 checks and plans 1 + 6 + 6 jobs."""
    write_xpm(tmp_path, "", "common.xpm")
    plan = plan_of(tmp_path, '''\
        import "common.xpm"
        arg corpus: path = "data/corpus.txt"
        arg seeds: int = 3

        config Optimizer {
            """Adam-style optimizer settings."""
            lr: float = 1e-3
            betas: list[float] = [0.9, 0.999]
        }

        task prepare {
            """Tokenize a corpus."""
            corpus: path
            lowercase: bool = True
            output tokens = "tokens.txt"
            shell "python {here}/prepare.py {corpus} --lowercase={lowercase} > {tokens}"
        }

        task train {
            data: prepare
            opt: Optimizer = Optimizer()
            epochs: int = 10
            seed: int = 0
            option device: str = "cpu"
            requires cpus=2, mem="4G", time="1h"
            output model = "model.bin"
            python "trainer:main"
        }

        task evaluate {
            model: train
            split: choice("dev", "test") = "dev"
            output metrics = "metrics.json"
            shell """
                python {here}/evaluate.py --model {model.model} --split {split} > {metrics}
            """
        }

        data = prepare(corpus=corpus)
        for lr in [1e-3, 1e-4] {
            for seed in range(seeds) {
                m = train(data=data, opt=Optimizer(lr=tag(lr)), seed=tag(seed))
                evaluate(model=m, split="test")
            }
        }
        ''', name="sweep.xpm")
    counts = {}
    for job in plan.jobs.values():
        counts[job.task.name] = counts.get(job.task.name, 0) + 1
    assert counts == {"prepare": 1, "train": 6, "evaluate": 6}


def test_parse_errors_carry_the_source(tmp_path):
    with pytest.raises(XpmError) as info:
        parse_text("x = (1,\n", "inline.xpm")
    assert info.value.file == "inline.xpm"
    assert "x = (1," in info.value.render()
