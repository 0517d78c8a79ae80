"""Path inputs (issues 7 and 8): a ``path`` value a call receives must be a readable
regular file or folder.

A missing input, a FIFO, a device, a symlink loop or an over-long name is an error of
check, plan and run (exit 2, ``FILE:LINE:COL`` of the call, the file named, the ``-D``
that gave it), never a hang or a traceback. Job outputs are not checked (jobs make
them). A FIFO inside an input folder is hashed by its type, never opened.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, xpmbuild  # noqa: E402

EXPERIMENT = """\
arg corpus: path = "data/corpus.txt"

config Opt {
    vocab: path = "data/vocab.txt"
}

task prepare {
    corpus: path
    opt: Opt = Opt()
    extra: list[path] = []
    option log: path = "logs/not-made-yet"
    output tokens = "tokens.txt"
    shell "cat {corpus} > {tokens}"
}

task count {
    text: path
    output n = "n.txt"
    shell "wc -c < {text} > {n}"
}

p = prepare(corpus=corpus)
count(text=p.tokens)
"""

FILES = {"data/corpus.txt": "hello\n", "data/vocab.txt": "v\n"}


def cli(proj, command, *args, timeout=30):
    if command == "check":
        return xpmbuild("check", proj.file, *args, cwd=proj.root, env=proj.env,
                        timeout=timeout)
    return proj.cli(command, *args, timeout=timeout)


def assert_input_error(proj, line, col, *fragments, args=()):
    """check, plan and run all exit 2 with FILE:LINE:COL of the call and the fragments."""
    for command in ("check", "plan", "run"):
        r = cli(proj, command, *args)
        assert r.returncode == 2, describe(r)
        assert "Traceback" not in r.stderr, describe(r)
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"exp.xpm:{line}:{col}: error: "), describe(r)
        for fragment in fragments:
            assert fragment in first, describe(r)
    assert not os.path.isdir(os.path.join(proj.ws, "jobs")) or proj.job_dirs("prepare") == []


def test_all_inputs_present_runs(tmp_path):
    proj = Project(tmp_path, EXPERIMENT, FILES)
    proj.run()
    assert proj.output("count", "n.txt").strip() == b"6"


def test_missing_literal_input_is_an_error_at_the_call(tmp_path):
    proj = Project(tmp_path, EXPERIMENT.replace("prepare(corpus=corpus)",
                                                'prepare(corpus="data/nope.txt")'),
                   FILES)
    assert_input_error(proj, 22, 5, "prepare(corpus=...): input path data/nope.txt",
                       proj.path("data/nope.txt"), "does not exist")


def test_missing_arg_default_is_an_error_at_the_call(tmp_path):
    proj = Project(tmp_path, EXPERIMENT, {"data/vocab.txt": "v\n"})
    assert_input_error(proj, 22, 5, "prepare(corpus=...): input path data/corpus.txt",
                       "does not exist")


def test_missing_input_given_by_D_names_the_D(tmp_path):
    proj = Project(tmp_path, EXPERIMENT, FILES)
    assert_input_error(proj, 22, 5, "input path data/typo.txt", "does not exist",
                       "(given by -D corpus=data/typo.txt)", args=("-D", "corpus=data/typo.txt"))
    # relative to the current directory: from data/ the same -D is corpus.txt
    r = xpmbuild("check", proj.file, "-D", "corpus=corpus.txt", cwd=proj.path("data"),
                 env=proj.env)
    assert r.returncode == 0, describe(r)


def test_missing_default_of_a_config_is_an_error_at_the_call_that_used_it(tmp_path):
    proj = Project(tmp_path, EXPERIMENT, {"data/corpus.txt": "hello\n"})
    assert_input_error(proj, 22, 5, "Opt(vocab=...): input path data/vocab.txt",
                       "does not exist")
    # a config call of the plan: reported at that call
    proj.write_xpm(EXPERIMENT.replace(
        "p = prepare(corpus=corpus)",
        'o = Opt(vocab="data/v2.txt")\np = prepare(corpus=corpus, opt=o)'))
    assert_input_error(proj, 22, 5, "Opt(vocab=...): input path data/v2.txt")


def test_missing_item_of_a_list_and_of_a_dict(tmp_path):
    proj = Project(tmp_path, EXPERIMENT.replace(
        "prepare(corpus=corpus)", 'prepare(corpus=corpus, extra=["data/vocab.txt", "gone"])'),
        FILES)
    assert_input_error(proj, 22, 5, "prepare(extra=...): input path gone", "does not exist")


def test_outputs_and_options_are_not_checked(tmp_path):
    """p.tokens does not exist before prepare runs; the option path is not an input."""
    proj = Project(tmp_path, EXPERIMENT, FILES)
    r = cli(proj, "check")
    assert r.returncode == 0, describe(r)


def test_graph_draws_the_plan_without_looking_at_files(tmp_path):
    proj = Project(tmp_path, EXPERIMENT, {})
    r = xpmbuild("graph", proj.file, cwd=proj.root, env=proj.env)
    assert r.returncode == 0, describe(r)


@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "long", "dangling", "parent"])
def test_inputs_that_are_not_regular_files_are_errors_never_hangs(tmp_path, kind):
    proj = Project(tmp_path, EXPERIMENT, {"data/vocab.txt": "v\n"})
    target = proj.path("data/corpus.txt")
    if kind == "fifo":
        os.mkfifo(target)
        fragment = "is a named pipe (FIFO)"
    elif kind == "device":
        os.symlink("/dev/zero", target)
        fragment = "is a character device"
    elif kind == "loop":
        os.symlink(proj.path("data/loop2"), target)
        os.symlink(target, proj.path("data/loop2"))
        fragment = "is a symbolic link loop"
    elif kind == "long":
        target = proj.path("data/" + "x" * 300)
        proj.write_xpm(EXPERIMENT.replace('"data/corpus.txt"', f'"data/{"x" * 300}"'))
        fragment = "has a name too long"
    elif kind == "dangling":
        os.symlink(proj.path("data/gone.txt"), target)
        fragment = "is a dangling symbolic link"
    else:
        proj.write("data/file", "x")
        proj.write_xpm(EXPERIMENT.replace('"data/corpus.txt"', '"data/file/corpus.txt"'))
        fragment = "a part of it is a file"
    t0 = time.monotonic()
    assert_input_error(proj, 22, 5, "prepare(corpus=...)", fragment)
    assert time.monotonic() - t0 < 20


def test_a_fifo_or_device_inside_an_input_folder_is_hashed_by_type(tmp_path):
    """The folder is an input; the FIFO inside is never opened (that would hang)."""
    text = """\
task ls {
    d: path
    output o = "o.txt"
    shell "ls {d} | sort > {o}"
}
ls(d="inputs")
"""
    proj = Project(tmp_path, text, {"inputs/a.txt": "a\n"})
    os.mkfifo(proj.path("inputs/pipe"))
    os.symlink("/dev/zero", proj.path("inputs/zero"))
    os.symlink(proj.path("inputs/loop"), proj.path("inputs/loop"))
    proj.run(timeout=30)
    assert proj.output("ls", "o.txt") == b"a.txt\nloop\npipe\nzero\n"
    doc = proj.plan_json()
    assert proj.ran() == []
    # the folder's regular content still counts
    proj.write("inputs/a.txt", "changed\n")
    proj.plan_json()
    assert proj.ran() == ["ls"]


def test_one_stat_per_distinct_path(tmp_path, monkeypatch):
    """10k jobs over 3 distinct input paths: 3 looks at the file system."""
    from xpmbuild.language import evaluate
    from xpmbuild.language import inputs
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(name)
    (tmp_path / "main.xpm").write_text("""\
task t {
    x: path
    i: int
    output o = "o"
    shell "cat {x} > {o}"
}
for i in range(10000) {
    t(x=["a", "b", "c"][i % 3], i=i)
}
""")
    calls = []
    real = inputs.path_problem
    monkeypatch.setattr(inputs, "path_problem", lambda p: calls.append(p) or real(p))
    plan = evaluate(tmp_path / "main.xpm", check_inputs=True)
    assert len(plan.jobs) == 10000
    assert sorted(calls) == [str(tmp_path / n) for n in "abc"]


def test_library_evaluate_does_not_check_by_default(tmp_path):
    from xpmbuild.language import evaluate
    (tmp_path / "main.xpm").write_text(EXPERIMENT)
    assert len(evaluate(tmp_path / "main.xpm").jobs) == 2
