"""Shell templates: values reach the shell as the text they are, wherever they land.

A placeholder may sit unquoted, inside the author's double quotes, single quotes or
``$'...'``, inside ``$(...)``; each place gets its own quoting (xpmbuild/shellquote.py).
Places no quoting can make safe (backticks, ``${...}``, comments, here-documents...) are
check-time errors at the placeholder. Everything goes through the real command line and
real bash; hostile values try to run ``touch PWNED``.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read, xpmbuild  # noqa: E402

from xpmbuild import shellquote  # noqa: E402

HOSTILE = [
    "$(touch PWNED)", "`touch PWNED`", "'; touch PWNED; '", '"; touch PWNED; "',
    "a\"b'c", "back\\slash\\", "\\\"$(touch PWNED)", "$HOME ${HOME} $((1+1))",
    "new\nline", "tab\tand  spaces", "*", "-n", "", "it's", "'", '"', "\\", "$", "`",
    "x'$(touch PWNED)'y", "ünïcödé ✓", "{braces}", "a;b|c&d>e<f", "!", "# not a comment",
    "EOF", "$'\\x41'",
]

# Every context a placeholder can be in, each writing the value alone to its output.
CONTEXTS = {
    "bare": "printf %s {v} > {out}",
    "dq": 'printf %s "{v}" > {out}',
    "dq_text": 'printf %s "<{v}>" > {out}',
    "sq": "printf %s '{v}' > {out}",
    "sq_text": "printf %s '<{v}>' > {out}",
    "ansi": "printf %s $'<{v}>' > {out}",
    "subst": 'printf %s "$(printf %s {v})" > {out}',
    "subst_dq": 'printf %s "$(printf %s "{v}")" > {out}',
    "after_heredoc": "cat <<'EOF' > /dev/null\n{{not a placeholder}}\nEOF\nprintf %s \"{v}\" > {out}",
    "subshell": '(printf %s "{v}") > {out}',
    "assign": 'x={v}; printf %s "$x" > {out}',
}
EXPECTED_WRAP = {"dq_text", "sq_text", "ansi"}      # these write <value>


def cli(proj, command):
    """check (no workspace), plan or run of the project's file."""
    if command == "check":
        return xpmbuild("check", proj.file, cwd=proj.root, env=proj.env)
    return proj.cli(command)


def xpm_str(text: str) -> str:
    """A .xpm string literal for ``text`` (JSON escapes are the language's escapes)."""
    return json.dumps(text, ensure_ascii=False)


def experiment(values) -> str:
    tasks = []
    calls = []
    for name, template in CONTEXTS.items():
        tasks.append(f"task {name} {{\n    v: str\n    i: int\n    output out = \"out.txt\"\n"
                     f"    shell {xpm_str(template)}\n}}\n")
        calls.append(f"    {name}(v=v, i=i)")
    return ("arg vs: list[str] = [" + ", ".join(xpm_str(v) for v in values) + "]\n\n"
            + "\n".join(tasks) + "\ni = 0\nfor v in vs {\n" + "\n".join(calls)
            + "\n    i = i + 1\n}\n")


def test_hostile_values_in_every_context_arrive_as_they_are(tmp_path):
    """Each value, in each context, reaches printf as exactly its text; nothing runs."""
    proj = Project(tmp_path, experiment(HOSTILE))
    doc = proj.run_json("-j", "4")
    assert doc["summary"]["failed"] == 0, describe(proj.run(expect=None))
    assert not os.path.exists(proj.path("PWNED"))
    for node in doc["nodes"]:
        assert node["status"] == "done", node
        with open(os.path.join(node["dir"], "out.txt"), encoding="utf-8") as f:
            got = f.read()
        with open(os.path.join(node["dir"], "params.json"), encoding="utf-8") as f:
            value = json.load(f)["params"]["v"]
        want = f"<{value}>" if node["task"] in EXPECTED_WRAP else value
        assert got == want, (node["task"], value, read(os.path.join(node["dir"],
                                                                      "command.sh")))
        # no job ran anything it should not have
        assert not os.path.exists(os.path.join(node["dir"], "PWNED")), node


DQ_SQ = """\
arg v: str = "x"
task dq {
    v: str
    output out = "out.txt"
    shell 'echo "{v}" > {out}'
}
task sq {
    v: str
    output out = "out.txt"
    shell "echo '{v}' > {out}"
}
dq(v=v)
sq(v=v)
"""


@pytest.mark.parametrize("value", ["$(touch PWNED)", "'$(touch PWNED)'", "\"$(touch PWNED)\"",
                                   "`touch PWNED`"])
def test_issue_8_placeholder_inside_the_authors_quotes(tmp_path, value):
    """The issue's reproduction: -D v='$(touch PWNED)' with "{v}" and '{v}' in the template."""
    proj = Project(tmp_path, DQ_SQ)
    proj.run("-D", f"v={value}")
    assert not os.path.exists(proj.path("PWNED"))
    for d in proj.job_dirs("dq") + proj.job_dirs("sq"):
        assert not os.path.exists(os.path.join(d, "PWNED"))
    assert proj.output("dq", "out.txt").decode() == value + "\n"
    assert proj.output("sq", "out.txt").decode() == value + "\n"


LISTS = """\
config Opt {
    lr: float = 0.1
    name: str = "adam"
    data: path = "in/a b.txt"
}

task make {
    n: int
    output out = "o.txt"
    shell "echo part{n} > {out}"
}

task cat_paths {
    parts: list[path]
    output out = "out.txt"
    shell "cat {parts} > {out}"
}

task words {
    items: list[str]
    nums: list[float]
    output out = "out.txt"
    shell "for w in {items} {nums}; do printf '[%s]' \\"$w\\"; done > {out}"
}

task quoted_list {
    items: list[str]
    output out = "out.txt"
    shell 'printf "[%s]" "{items}" > {out}'
}

task structured {
    d: dict[path]
    opt: Opt
    nested: list[list[int]]
    output out = "out.txt"
    shell "printf '%s\\n' {d} {opt} {nested} > {out}"
}

task empty {
    items: list[str]
    output out = "out.txt"
    shell "printf '[%s]' x {items} > {out}"
}

a = make(n=1)
b = make(n=2)
cat_paths(parts=["in/a b.txt", "in/it's.txt", a.out, b.out])
words(items=["one two", "$(touch PWNED)", "*", ""], nums=[1, 2.5])
quoted_list(items=["a", "b c"])
structured(d={"k": "in/a b.txt"}, opt=Opt(), nested=[[1, 2], []])
empty(items=[])
"""


def test_lists_are_separate_words_dicts_and_configs_plain_json(tmp_path):
    proj = Project(tmp_path, LISTS, files={"in/a b.txt": "A\n", "in/it's.txt": "B\n"})
    proj.run()
    assert proj.output("cat_paths", "out.txt") == b"A\nB\npart1\npart2\n"
    assert proj.output("words", "out.txt") == b"[one two][$(touch PWNED)][*][][1.0][2.5]"
    assert proj.output("quoted_list", "out.txt") == b"[a b c]"     # inside quotes: one word
    assert proj.output("empty", "out.txt") == b"[x]"               # no item, no word
    assert not os.path.exists(proj.path("PWNED"))
    lines = proj.output("structured", "out.txt").decode().splitlines()
    d, opt = (json.loads(x) for x in lines[:2])
    assert d == {"k": proj.path("in/a b.txt")}
    assert opt == {"lr": 0.1, "name": "adam", "data": proj.path("in/a b.txt")}
    assert lines[2:] == ["[1, 2]", "[]"]       # a list of lists: one JSON word per item
    assert "$" not in "".join(lines)
    # params.json keeps the typed form (the python runner reads it)
    with open(os.path.join(proj.job_dir("cat_paths"), "params.json")) as f:
        assert json.load(f)["params"]["parts"][0] == {"$path": proj.path("in/a b.txt")}


REFUSED = [
    ("backticks", 'echo `cat {v}` > {out}', "inside backticks"),
    ("param", 'echo ${{x:-{v}}} > {out}', "inside ${...}"),
    ("comment", 'echo hi > {out} # {v}', "inside a shell comment"),
    ("heredoc", 'cat <<EOF > {out}\n{v}\nEOF', "inside a here-document"),
    ("heredoc_word", 'cat <<{v} > {out}', "delimiter of a here-document"),
    ("dollar", 'echo ${v} > {out}', "a '$' right before placeholder {v}"),
    ("dollar_dq", 'echo "${v}" > {out}', "a '$' right before placeholder {v}"),
    ("backslash", 'echo \\{v} > {out}', "a backslash right before placeholder {v}"),
    ("backslash_dq", 'echo "\\{v}" > {out}', "a backslash right before placeholder {v}"),
    ("case", 'echo "$(case a in a) echo 1;; esac)" {v} > {out}', "cannot tell how the shell"),
]


@pytest.mark.parametrize("name, template, fragment", REFUSED, ids=[r[0] for r in REFUSED])
def test_places_no_quoting_can_make_safe_are_errors_at_the_placeholder(tmp_path, name,
                                                                       template, fragment):
    text = ("task t {\n    v: str\n    output out = \"out.txt\"\n"
            f"    shell {xpm_str(template)}\n}}\nt(v=\"x\")\n")
    proj = Project(tmp_path, text)
    for command in ("check", "plan", "run"):
        r = cli(proj, command)
        assert r.returncode == 2, describe(r)
        assert "Traceback" not in r.stderr
        first = r.stderr.splitlines()[0]
        assert fragment in first, describe(r)
    # the position is the placeholder's own, in the source
    where = first.partition(": error: ")[0]
    lineno, col = (int(x) for x in where.rsplit(":", 2)[1:])
    src = text.splitlines()[lineno - 1]
    assert src[col - 1:].startswith("{v}"), (first, src)
    assert proj.job_dirs("t") == []


def test_placeholder_positions_in_a_multi_line_template(tmp_path):
    text = ('task t {\n    v: str\n    output out = "out.txt"\n    shell """\n'
            '        echo "{v}" > {out}\n'
            '        # {v}\n'
            '    """\n}\nt(v="x")\n')
    proj = Project(tmp_path, text)
    r = cli(proj, "check")
    assert r.returncode == 2, describe(r)
    first = r.stderr.splitlines()[0]
    assert first.endswith("exp.xpm:6:11: error: placeholder {v} is inside a shell comment "
                          "(a newline in the value would end the comment): remove it from "
                          "the comment"), first


def test_literal_braces_and_awk_still_work(tmp_path):
    text = ("task t {\n    v: str\n    output out = \"out.txt\"\n"
            "    shell \"printf '%s\\\\n' a b | awk '{{print $1 \\\"-\\\" }}' > {out}; "
            "echo '{v}' >> {out}\"\n}\nt(v=\"it's\")\n")
    proj = Project(tmp_path, text)
    proj.run()
    assert proj.output("t", "out.txt") == b"a-\nb-\nit's\n"


STR_ARG = """\
arg s: str = "default"
arg n: str? = None
task t {
    s: str
    n: str?
    output out = "out.txt"
    shell "printf '[%s][%s]' {s} {n} > {out}"
}
t(s=s, n=n)
"""


@pytest.mark.parametrize("define, want", [
    ("s=abc", "[abc][]"),          # -D s='abc' in a shell: the shell already removed the quotes
    ("s='quoted'", "['quoted'][]"),   # -D s="'quoted'": the text as given, quotes kept
    ('s="dq"', '["dq"][]'),
    ("s=123", "[123][]"),
    ("s=[1, 2]", "[[1, 2]][]"),
    ("s=None", "[None][]"),
    ("s=", "[][]"),
    ("n=None", "[default][None]"),   # str? too: the text, as docs/language.md §8.2 says
])
def test_str_args_take_the_text_as_given(tmp_path, define, want):
    proj = Project(tmp_path, STR_ARG)
    proj.run("-D", define)
    assert proj.output("t", "out.txt").decode() == want


def test_list_rendering_changes_no_job_id(tmp_path):
    """Rendering is not identity: the ids of jobs with list parameters are those of the
    canonical encoding (tests/golden_ids.json pins the rest)."""
    from xpmbuild import model as M
    from xpmbuild.language import evaluate
    proj = Project(tmp_path, LISTS, files={"in/a b.txt": "A\n", "in/it's.txt": "B\n"})
    plan = evaluate(proj.file)
    job = [j for j in plan.jobs.values() if j.task.name == "quoted_list"][0]
    assert job.id == M.identity_hash('{"task":"quoted_list","params":{"items":["a","b c"]}}')


# ----------------------------------------------------------------------------- the scanner


def ctx(template):
    """Contexts of a template whose placeholders are {v}, {w} and {o}."""
    import re
    parts = [p if i % 2 == 0 else (p,) for i, p in enumerate(re.split(r"\{([vwo])\}", template))]
    return [c for c in shellquote.contexts(parts) if c is not None]


@pytest.mark.parametrize("template, want", [
    ("a {v} b", ["top"]),
    ('a "{v}" b', ["dq"]),
    ("a '{v}' b", ["sq"]),
    ("a $'{v}' b", ["ansi"]),
    ('a $"{v}" b', ["dq"]),
    ('"$(echo "{v}" {w})"', ["dq", "top"]),
    ("'\"' {v} \"'\" {w}", ["top", "top"]),
    ('"a \\" {v}"', ["dq"]),
    ("\\' {v} '{w}'", ["top", "sq"]),
    ("x=$((1 << 2)); echo {v}", ["top"]),
    ("(( x << 1 )); echo {v}", ["top"]),
    ("cat <<< {v}", ["top"]),
    ("cat <<-'E' > {o}\n\tbody\n\tE\necho '{v}'", ["top", "sq"]),
    ("cat <<A <<B\na\nA\nb\nB\n{v}", ["top"]),
    ("echo $# {v}", ["top"]),
    ("echo a#b {v}", ["top"]),
    ("echo ${HOME} \"${x:-y}\" {v}", ["top"]),
    ("echo \\\\{v}", ["top"]),
])
def test_scanner_contexts(template, want):
    assert ctx(template) == want


def test_render_for_each_context():
    assert shellquote.render("a b", None, "top") == "'a b'"
    assert shellquote.render(None, ["a b", "c"], "top") == "'a b' c"
    assert shellquote.render('$"\\`', None, "dq") == '\\$\\"\\\\\\`'
    assert shellquote.render("it's", None, "sq") == "'" + "'it'\"'\"'s'" + "'"
    assert shellquote.render("x", None, "ansi") == "'x$'"


SPECIAL = "$`\"'\\ \t\n;&|<>()*?[]{}#!~=%-_aZ09é"
FUZZ_TEMPLATES = [
    ("{v}", ""), ('"{v}"', ""), ("'{v}'", ""), ("$'{v}'", ""), ('"<{v}>"', "<>"),
    ("'<{v}>'", "<>"), ("$'<{v}>'", "<>"), ('"$(printf %s "{v}")"', ""),
    ('"$(printf %s {v})"', ""), ("x{v}y", "xy"), ('x"{v}"y', "xy"), ("x'{v}'y", "xy"),
]


def test_fuzz_random_values_in_every_context_with_real_bash():
    """Random values made of shell-special characters, rendered for each context and
    run by bash: printf receives exactly the value (wrapped by the template's text)."""
    import random
    import re
    import subprocess
    rng = random.Random(8)
    for _ in range(40):
        values = ["".join(rng.choice(SPECIAL) for _ in range(rng.randint(0, 12)))
                  for _ in range(10)]
        lines, want = [], []
        for value in values:
            for template, wrap in FUZZ_TEMPLATES:
                parts = [p if i % 2 == 0 else (p,)
                         for i, p in enumerate(re.split(r"\{(v)\}", template))]
                contexts = shellquote.contexts(parts)
                text = "".join(p if c is None else shellquote.render(value, None, c)
                               for p, c in zip(parts, contexts))
                lines.append("printf '%s\\0' " + text)
                expected = wrap[:1] + value + wrap[1:]
                if "$(" in template:          # command substitution drops final newlines
                    expected = expected.rstrip("\n")
                want.append(expected)
        out = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=30)
        assert out.returncode == 0, out.stderr
        got = out.stdout.decode("utf-8").split("\0")[:-1]
        assert got == want
