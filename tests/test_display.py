"""What people read: tags, paths, reasons and messages holding ``[``…``]`` (rich markup),
``:name:`` (emoji codes) or a trailing backslash are printed exactly as written — in the
plan table, the status and jobs tables, the run's progress and summary — on a terminal
(a real pty: the live progress bar; ``FORCE_COLOR``) and off one (pipes), and through the
report functions on a rich Console with and without a terminal."""
from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import XPMBUILD, Project, clean_env, describe, xpmbuild  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

TAG_A = "[/]"
TAG_B = "[bold]x :smile: [red]y[/red] \\"
INPUT = "data/[bold]in[/].txt"
STDERR_LINE = "[/] boom [red]"

# `a` fails (its stderr holds markup), `b` succeeds, `c` exits 0 without its output
# (a reason naming the output), `d` depends on `a` (skipped: a reason naming `a`)
EXPERIMENT = r"""
task a {
    x: str = ""
    src: path
    output o = "o.txt"
    shell "cat {src} > {o}; echo '[/] boom [red]' >&2; exit 1"
}
task b {
    x: str = ""
    output o = "o.txt"
    shell "echo {x} > {o}"
}
task c {
    x: str = ""
    output o = "[o][/].txt"
    shell "true"
}
task d {
    dep: a
    output o = "o.txt"
    shell "cat {dep.o} > {o}"
}
d(dep=a(x=tag("[/]"), src="data/[bold]in[/].txt"))
b(x=tag("[bold]x :smile: [red]y[/red] \\"))
c(x=tag("[/]"))
"""


@pytest.fixture
def proj(tmp_path):
    p = Project(tmp_path, EXPERIMENT, files={INPUT: "hello\n"})
    p.ws = os.path.join(p.root, "ws [bold]here[/]")       # the workspace path too
    p.env = clean_env(COLUMNS="400")                       # no wrapping in the tables
    return p


def flat(text: str) -> str:
    """Without colour codes, box drawing and white space (rich pads and wraps cells and
    titles)."""
    text = ANSI.sub("", text)
    return re.sub(r"[\s│┃]+", "", text)


def assert_shown(out: str, *texts):
    f = flat(out)
    for t in texts:
        assert flat(t) in f, f"{t!r} not shown in:\n{out}"


def no_traceback(r):
    assert "Traceback" not in r.stdout + r.stderr and "MarkupError" not in r.stderr, describe(r)


def status_of(p, *args, env=None):
    return xpmbuild("status", "-w", p.ws, *args, cwd=p.root, env=env or p.env)


def jobs_list(p, *args, env=None):
    return xpmbuild("jobs", "list", "-w", p.ws, *args, cwd=p.root, env=env or p.env)


def run_in_pty(p, *args, timeout=60) -> tuple[int, str]:
    """The command line on a terminal (a pty for stdin, stdout and stderr): the rich
    progress bar and colours, as a person sees them."""
    master, slave = pty.openpty()
    env = dict(p.env, TERM="xterm-256color", COLUMNS="400", LINES="50")
    proc = subprocess.Popen(XPMBUILD + [str(a) for a in args], cwd=p.root, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:         # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    code = proc.wait(timeout=timeout)
    return code, out.decode("utf-8", "replace")


# ---------------------------------------------------------------------- off a terminal

def test_plan_run_status_and_jobs_print_user_text_as_written(proj):
    r = proj.plan()
    no_traceback(r)
    assert_shown(r.stdout, f"x={TAG_A}", f"x={TAG_B}", "never built")

    r = proj.run("-k", "--name", "[bold]exp", expect=1)
    no_traceback(r)
    out = r.stdout + r.stderr
    a_dir = proj.node("a", doc=proj.plan_json("--name", "[bold]exp"))["dir"]
    assert_shown(out, f"a/{os.path.basename(a_dir)[:8]} [x={TAG_A}]", "failed: exit code 1",
                 STDERR_LINE, "missing output [o][/].txt", f"folder: {a_dir}",
                 "dependency a/")
    assert_shown(r.stderr, f"[x={TAG_B}]")          # the plain progress lines

    for r in (status_of(proj), jobs_list(proj), jobs_list(proj, "--tag", f"x={TAG_A}")):
        assert r.returncode == 0, describe(r)
        no_traceback(r)
        assert_shown(r.stdout, f"x={TAG_A}", "missing output [o][/].txt")
    assert_shown(status_of(proj).stdout, proj.ws)
    assert_shown(jobs_list(proj).stdout, f"x={TAG_B}")

    # a reason naming an input path with markup in it
    proj.write(INPUT, "changed\n")
    r = proj.plan("--name", "[bold]exp")
    no_traceback(r)
    assert_shown(r.stdout, "plan of [bold]exp", "last build failed")
    proj.write("data/[bold]in[/].txt", "hello\n")


def test_force_color_off_a_terminal(proj):
    """FORCE_COLOR makes rich colour a pipe: the markup in user text must still be text."""
    proj.run("-k", expect=1)
    env = dict(proj.env, FORCE_COLOR="1")
    for r in (xpmbuild("plan", proj.file, "-w", proj.ws, cwd=proj.root, env=env),
              xpmbuild("run", proj.file, "-w", proj.ws, "-k", cwd=proj.root, env=env),
              status_of(proj, env=env), jobs_list(proj, env=env)):
        no_traceback(r)
        assert "\x1b[" in r.stdout, describe(r)     # coloured indeed
        assert_shown(r.stdout, f"x={TAG_A}")


# ---------------------------------------------------------------------- on a terminal

def test_run_on_a_terminal_shows_progress_and_summary_as_written(proj):
    code, out = run_in_pty(proj, "run", proj.file, "-w", proj.ws, "-k")
    assert code == 1, out
    assert "Traceback" not in out and "MarkupError" not in out, out
    assert "\x1b[" in out                            # the rich reporter, in colour
    assert_shown(out, f"[x={TAG_A}] failed: exit code 1", STDERR_LINE,
                 "missing output [o][/].txt", "1 done", "skipped")
    code, out = run_in_pty(proj, "plan", proj.file, "-w", proj.ws)
    assert code == 0 and "Traceback" not in out, out
    assert_shown(out, f"x={TAG_A}", f"x={TAG_B}", "last build failed")
    for cmd in (["status", "-w", proj.ws], ["jobs", "list", "-w", proj.ws]):
        code, out = run_in_pty(proj, *cmd)
        assert code == 0 and "Traceback" not in out, out
        assert_shown(out, f"x={TAG_A}", proj.ws)  if cmd[0] == "status" else \
            assert_shown(out, f"x={TAG_A}", f"x={TAG_B}")


def test_waiting_on_another_run_is_shown_as_written(proj, tmp_path):
    """A job another xpmbuild runs: the 'waits' line names it with its reason."""
    proj.write_xpm('task s {\n x: str = ""\n output o = "o.txt"\n'
                   '  shell "sleep 3; echo {x} > {o}"\n}\ns(x=tag("[/]"))\n')
    first = proj.popen()
    try:
        import time
        deadline = time.monotonic() + 15
        while not proj.job_dirs("s") or proj.state(proj.job_dirs("s")[0]) is None:
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.05)
        code, out = run_in_pty(proj, "run", proj.file, "-w", proj.ws)
        assert code == 0 and "Traceback" not in out and "MarkupError" not in out, out
    finally:
        first.communicate(timeout=30)


# ---------------------------------------------------------------------- the report functions

@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "plain"])
def test_report_functions_on_a_rich_console(proj, terminal):
    from rich.console import Console

    from xpmbuild.build import build
    from xpmbuild.language import evaluate
    from xpmbuild.report import render_plan, render_summary

    plan = evaluate(proj.file)
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=terminal, width=400, highlight=False)
    render_plan(build(plan, proj.ws, dry_run_only=True), con)
    assert_shown(buf.getvalue(), f"x={TAG_A}", f"x={TAG_B}")
    assert ("\x1b[" in buf.getvalue()) == terminal

    proj.run("-k", expect=1)
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=terminal, width=400, highlight=False)
    result = build(plan, proj.ws, keep_going=True)
    render_summary(result, con)
    assert_shown(buf.getvalue(), f"[x={TAG_A}] failed", STDERR_LINE,
                 "missing output [o][/].txt")


def test_json_is_untouched(proj):
    """--json carries the values as they are (no escaping meant for rich)."""
    doc = proj.plan_json()
    assert {n["tags"]["x"] for n in doc["nodes"] if "x" in n["tags"]} == {TAG_A, TAG_B}
    proj.run("-k", expect=1)
    r = status_of(proj, "--json")
    tags = {n["tags"].get("x") for n in json.loads(r.stdout)["nodes"]}
    assert {TAG_A, TAG_B} <= tags


def test_a_big_plan_table_shows_its_first_rows_and_how_many_more(tmp_path):
    from xpmbuild.report import PLAN_SHOWN_ROWS
    n = PLAN_SHOWN_ROWS + 37
    proj = Project(tmp_path, f"""
task t {{
    i: int
    output o = "o"
    shell "echo {{i}} > {{o}}"
}}
for i in range({n}) {{ t(i=tag(i)) }}
""")
    out = proj.plan().stdout
    assert f"{n} of {n} jobs would run" in out
    rows = [line for line in out.splitlines() if "│ t/" in line]
    assert len(rows) == PLAN_SHOWN_ROWS
    assert "37 more (--json lists them all)" in out
    assert len(proj.plan_json()["nodes"]) == n
