"""`xpmbuild doc`: the reference of an experiment's configs and tasks, through the real
command line on real .xpm files (the examples, and one with imports, nested configs,
options, choice types, requirements and hostile docstrings)."""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest

from conftest import EXAMPLES, run_cli, write_xpm

MODELS = '''\
config Encoder {
    """How text becomes features.

    Two kinds:
      - bow: words
      - bigram: words and pairs of words
    """
    kind: choice("bow", "bigram") = "bow"
    lowercase: bool = True
    max_features: int? = None
}

config Model {
    """A <b>model</b> & *training* settings | [x](http://e.org) `code` $x$ <script>alert(1)</script> a lone ` tick"""
    encoder: Encoder = Encoder(kind="bigram")
    layers: list[Encoder] = []
    by_name: dict[Encoder] = {"a": Encoder(lowercase=False)}
    lr: float = 1e-3
}
'''

MAIN = '''\
import "lib/models.xpm"

task prepare {
    """Tokenize a corpus."""
    corpus: path = "data/corpus.txt"
    output tokens = "out/tokens.txt"
    shell "cat {corpus} > {tokens}"
}

task train {
    """Train a model.
    # not a heading
    1. not a list"""
    data: prepare
    model: Model = Model()
    extra: list[prepare]?
    mode: choice(1, 2, 3) = 2
    sep: str = "a|b"
    option device: str = "cpu"
    option threads: int? = None
    requires cpus=4, mem="8G", gpus=1, time="2h"
    uses "lib/"
    output weights = "weights.bin"
    output log = "train.log"
    shell """
        python3 {here}/train.py --data {data.tokens} --lr {model.lr} --device {device} \\
            > {weights} 2> {log}
    """
}

task score {
    python "scoring:main"
}

# the plan is not run by `doc`: a missing input is no error here
train(data=prepare(corpus="missing.txt"))
'''


@pytest.fixture
def project(tmp_path):
    write_xpm(tmp_path, MODELS, "lib/models.xpm")
    return write_xpm(tmp_path, MAIN, "main.xpm")


def doc(*args, cwd=None):
    code, out, err = run_cli("doc", *args, cwd=cwd)
    assert (code, err) == (0, ""), err
    return out


# ----------------------------------------------------------------------------- markdown


def github_anchors(markdown: str) -> list[str]:
    """The anchors GitHub gives the headings (github-slugger), repeats numbered."""
    seen: dict = {}
    anchors = []
    in_code = False
    for line in markdown.splitlines():
        if line.startswith(("```", "~~~")):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6} (.*)", line)
        if not m:
            continue
        text = re.sub(r"\\(.)", r"\1", m.group(1)).replace("`", "")
        base = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        slug = base
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        anchors.append(slug)
    return anchors


def assert_links_resolve(markdown: str):
    anchors = set(github_anchors(markdown))
    links = re.findall(r"\]\(#([^)]*)\)", markdown)
    assert links
    assert set(links) <= anchors, set(links) - anchors


def rows(markdown: str, heading: str) -> list[list[str]]:
    """The table rows of the section under ``heading`` (cells stripped)."""
    section = markdown.split(heading + "\n", 1)[1].split("\n### ", 1)[0]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            for line in section.splitlines() if line.startswith("| ")]


def test_markdown_reference(project):
    md = doc(project)
    assert md.startswith("# Reference of main.xpm\n")
    for heading in ("### config Encoder", "### config Model", "### task prepare",
                    "### task train", "### task score"):
        assert heading + "\n" in md
    # which file each declaration comes from, with its line
    assert "Declared in `lib/models.xpm`, line 1." in md
    assert "Declared in `main.xpm`, line 10." in md
    assert "- `lib/models.xpm`: config [`Encoder`](#config-encoder), config " \
           "[`Model`](#config-model)" in md

    train = rows(md, "### task train")
    assert train[0] == ["parameter", "type", "default", "option"]
    params = {r[0]: r[1:] for r in train[1:] if len(r) == 4}
    assert params["`data`"] == ["[`prepare`](#task-prepare)", "*required*", ""]
    assert params["`model`"] == ["[`Model`](#config-model)", "`Model()`", ""]
    assert params["`extra`"] == ["`list[`[`prepare`](#task-prepare)`]?`", "`None`", ""]
    assert params["`mode`"] == ["`choice(1, 2, 3)`", "`2`", ""]
    assert params["`sep`"] == ["`str`", '`"a\\|b"`', ""]          # | escaped in a table
    assert params["`device`"] == ["`str`", '`"cpu"`', "yes"]
    assert params["`threads`"] == ["`int?`", "`None`", "yes"]
    outputs = {r[0]: r[1] for r in train if len(r) == 2}
    assert outputs == {"output": "path in the job folder", "`weights`": "`weights.bin`",
                       "`log`": "`train.log`"}
    assert '**Requires:** `cpus=4`, `mem="8G"`, `gpus=1`, `time="2h"`' in md
    assert "**Action:** shell\n\n```sh\npython3 {here}/train.py --data {data.tokens} " in md
    assert "**Action:** python `scoring:main`" in md
    assert "**Uses** (its content is part of the jobs' fingerprint): `lib/`" in md

    model = {r[0]: r[1:] for r in rows(md, "### config Model")[1:]}
    assert model["`encoder`"] == ["[`Encoder`](#config-encoder)",
                                  '`Encoder(kind="bigram")`', ""]
    assert model["`layers`"] == ["`list[`[`Encoder`](#config-encoder)`]`", "`[]`", ""]
    assert model["`by_name`"] == ["`dict[`[`Encoder`](#config-encoder)`]`",
                                  '`{"a": Encoder(lowercase=False)}`', ""]
    assert model["`lr`"] == ["`float`", "`0.001`", ""]
    encoder = {r[0]: r[1:] for r in rows(md, "### config Encoder")[1:]}
    assert encoder["`kind`"] == ['`choice("bow", "bigram")`', '`"bow"`', ""]
    assert encoder["`max_features`"] == ["`int?`", "`None`", ""]
    assert "Used by [`Model`](#config-model)." in md
    assert "*required*" not in "".join(map(str, model.values()))
    assert_links_resolve(md)


def test_markdown_escapes_user_text(project):
    md = doc(project)
    assert "<script>" not in md and "<b>" not in md
    assert ("A \\<b\\>model\\</b\\> \\& \\*training\\* settings \\| \\[x\\](http://e.org) "
            "`code` \\$x\\$ \\<script\\>alert(1)\\</script\\> a lone \\` tick") in md
    # a docstring's lines are kept, none becomes a heading or a list
    assert "Train a model. \\\n\\# not a heading \\\n1\\. not a list\n" in md
    assert "Two kinds: \\\n&nbsp;&nbsp;\\- bow: words \\\n" in md


def test_same_name_in_other_case_gets_its_own_anchor(tmp_path):
    f = write_xpm(tmp_path, """\
        config Opt {
            x: int = 1
        }
        config opt {
            y: Opt = Opt()
        }
        task t {
            a: opt
            b: Opt
            output o = "o"
            shell "echo {a.y.x} {b.x} > {o}"
        }
        """)
    md = doc(f)
    assert "[`Opt`](#config-opt)" in md and "[`opt`](#config-opt-1)" in md
    assert_links_resolve(md)
    html = doc(f, "--format", "html")
    page = parse(html)
    assert {"config-opt", "config-opt-1"} <= page.ids


# ----------------------------------------------------------------------------- HTML

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Page(HTMLParser):
    """Checks that tags nest and close; gathers ids, fragment links and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.ids, self.hrefs, self.tags, self.text = [], set(), [], [], []
        self.errors = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            if attrs["id"] in self.ids:
                self.errors.append(f"duplicate id {attrs['id']}")
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    assert html.startswith("<!DOCTYPE html>")
    local = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert local and set(local) <= page.ids, set(local) - page.ids
    assert all(h.startswith("#") for h in page.hrefs)      # self-contained
    assert "script" not in page.tags and "link" not in page.tags
    return page


def test_html_reference(project):
    html = doc(project, "--format", "html")
    page = parse(html)
    assert {"config-encoder", "config-model", "task-prepare", "task-train",
            "task-score"} <= page.ids
    text = "".join(page.text)
    # user text reaches the page as text, never as markup
    assert "<script>alert(1)</script>" in text and "<b>model</b> & *training*" in text
    assert "<b>" not in html and "&lt;script&gt;" in html
    assert "<code>code</code> $x$ &lt;script&gt;alert(1)&lt;/script&gt; a lone ` tick" in html
    assert 'choice("bow", "bigram")' in text and 'Encoder(kind="bigram")' in text
    assert "list[prepare]?" in text and '<a href="#task-prepare">prepare</a>' in html
    assert "cpus=4" in text and 'mem="8G"' in text and "scoring:main" in text
    assert "python3 {here}/train.py --data {data.tokens}" in text
    assert "<style>" in html


@pytest.mark.parametrize("folder", ["sweep", "pipeline", "python_action"])
def test_examples(folder, tmp_path):
    from xpmbuild.language import check
    copy = tmp_path / folder
    shutil.copytree(EXAMPLES / folder, copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    xpm = next(copy.glob("*.xpm")) if folder != "sweep" else copy / "sweep.xpm"
    decls = check(str(xpm))
    md = doc(xpm.name, cwd=copy)
    for name, d in list(decls.configs.items()) + list(decls.tasks.items()):
        assert f"### {d.kind} {name}\n" in md
        first = (d.doc or "").strip().splitlines()[:1]
        if first and not re.search(r"[\\*_\\[\\]<>&|~$]", first[0]):
            assert first[0] in md
        for p in d.params.values():
            assert f"| `{p.name}` |" in md
    assert_links_resolve(md)
    page = parse(doc(xpm.name, "--format", "html", cwd=copy))
    assert {f"{d.kind}-{n.lower()}" for n, d in
            list(decls.configs.items()) + list(decls.tasks.items())} <= page.ids


def test_docstring_code_spans():
    md = doc(EXAMPLES / "pipeline" / "pipeline.xpm")
    assert "Split a TSV of `label<TAB>text` lines into train/dev/test files." in md
    html = doc(EXAMPLES / "pipeline" / "pipeline.xpm", "--format", "html")
    assert "Split a TSV of <code>label&lt;TAB&gt;text</code> lines" in html


def test_sweep_example_details():
    md = doc(EXAMPLES / "sweep" / "sweep.xpm")
    assert "- `common.xpm`: task [`prepare`](#task-prepare)" in md
    assert "| `opt` | [`Optimizer`](#config-optimizer) | `Optimizer()` |  |" in md
    assert '| `device` | `str` | `"cpu"` | yes |' in md
    assert '| `split` | `choice("dev", "test")` | `"dev"` |  |' in md
    assert "| `betas` | `list[float]` | `[0.9, 0.999]` |  |" in md
    assert '**Requires:** `cpus=1`, `mem="1G"`, `time="10m"`' in md


# ----------------------------------------------------------------------------- CLI


def test_output_file(project, tmp_path):
    out = tmp_path / "ref.html"
    code, stdout, err = run_cli("doc", project, "--format", "html", "-o", out)
    assert (code, stdout, err) == (0, "", "")
    assert out.read_text(encoding="utf-8") == doc(project, "--format", "html")
    code, stdout, err = run_cli("doc", project, "-o", tmp_path / "ref.md")
    assert (code, stdout, err) == (0, "", "")
    assert (tmp_path / "ref.md").read_text(encoding="utf-8") == doc(project)


def test_output_file_that_cannot_be_written(project, tmp_path):
    code, out, err = run_cli("doc", project, "-o", tmp_path / "no" / "such" / "ref.md")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err


def test_language_error_exits_2_with_position(tmp_path):
    write_xpm(tmp_path, """\
        config C {
            x: floot = 1.0
        }
        """, "lib/bad.xpm")
    main = write_xpm(tmp_path, 'import "lib/bad.xpm"\n')
    code, out, err = run_cli("doc", "main.xpm", cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == ("lib/bad.xpm:2:8: error: unknown type floot "
                                   "(did you mean 'float'?)"), err
    assert "Traceback" not in err
    main.write_text("task t {\n    x: int\n", encoding="utf-8")
    code, out, err = run_cli("doc", "main.xpm", "--format", "html", cwd=tmp_path)
    assert code == 2 and out == "" and re.match(r"main\.xpm:\d+:\d+: error: ", err), err
    code, out, err = run_cli("doc", "nope.xpm", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err


def test_unicode_docstring(tmp_path):
    f = write_xpm(tmp_path, '''\
        config C {
            """Coefficient λ — « déjà vu »."""
            x: float = 0.5
        }
        ''')
    assert "Coefficient λ — « déjà vu »." in doc(f)
    assert "Coefficient λ — « déjà vu »." in doc(f, "--format", "html")
