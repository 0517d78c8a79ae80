"""docs/tutorial.md is replayed, block by block, in an empty folder: it cannot rot.

The fenced blocks of the page, in order:

- a block with ``title="PATH"`` (```` ```python title="train.py" ````) writes PATH;
- a ``diff`` block with a title applies its edit to that file: the lines marked ``-``
  (with the unmarked context lines) must appear in the file, and are replaced by the
  lines marked ``+`` (with the same context);
- a ``console`` block holds ``$ COMMAND`` lines, each run in the folder (``xpmbuild`` is
  the real command line of this interpreter); it must exit 0, and each line shown below it
  must be a line of its output (stdout and stderr; spaces collapsed, in any order, so that
  the parallel ``start``/``done`` lines of a run may interleave as they like);
- a ``pycon`` block (a ``>>>`` session) is run as a doctest in a fresh interpreter
  (ELLIPSIS, NORMALIZE_WHITESPACE); consecutive ones, with only prose between them, are
  one session.

Any other block fails the test: every block of the page says what it is.

``python tests/test_tutorial.py`` replays the page and prints each command's real output,
for writing the page.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
WIDTH = "80"           # the terminal width the page's tables were printed at

FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)(.*)$")
TITLE = re.compile(r'title="([^"]+)"')


def blocks(text: str):
    """(line number, language, attributes, body) of each top-level fenced block."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, attrs, start = m.group(1), m.group(2), m.group(3), i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"tutorial.md:{start}: unclosed code block")
        out.append((start, lang, attrs, "\n".join(body) + "\n"))
        i += 1
    return out


def norm(line: str) -> str:
    return " ".join(line.split())


def env(home: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("XPM_")}
    e.update(COLUMNS=WIDTH, LINES="50", NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8",
             XDG_CONFIG_HOME=str(home / ".config"), XPM_SETTINGS_USER=str(home / "none.toml"))
    e.pop("FORCE_COLOR", None)
    return e


def apply_diff(path: Path, body: str, where: str):
    old, new = [], []
    for line in body.splitlines():
        mark, rest = (line[:1], line[1:]) if line else (" ", "")
        if mark == "-":
            old.append(rest)
        elif mark == "+":
            new.append(rest)
        elif mark == " ":
            old.append(rest)
            new.append(rest)
        else:
            raise AssertionError(f"{where}: a diff line starts with ' ', '-' or '+': {line!r}")
    text = path.read_text(encoding="utf-8")
    before, after = "\n".join(old) + "\n", "\n".join(new) + "\n"
    assert text.count(before) == 1, f"{where}: the lines to change are not (once) in {path.name}"
    path.write_text(text.replace(before, after), encoding="utf-8")


def console(body: str):
    """(command, expected lines) of a console block."""
    out = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif line.strip():
            assert out, f"output before any command: {line!r}"
            out[-1][1].append(line)
    return out


def run_command(command: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    if argv[0] == "xpmbuild":
        argv = [sys.executable, "-m", "xpmbuild.cli"] + argv[1:]
    return subprocess.run(argv, cwd=cwd, env=env(home), capture_output=True, text=True,
                          encoding="utf-8", timeout=60, stdin=subprocess.DEVNULL)


def run_doctest(body: str, cwd: Path, home: Path, where: str):
    script = cwd.parent / "doctest_block.txt"
    script.write_text(body, encoding="utf-8")
    code = textwrap.dedent(f"""
        import doctest, sys
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        failed, _ = doctest.testfile({str(script)!r}, module_relative=False, name={where!r},
                                     optionflags=flags, report=True)
        sys.exit(1 if failed else 0)
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env(home),
                          capture_output=True, text=True, encoding="utf-8", timeout=60,
                          stdin=subprocess.DEVNULL)


def replay(folder: Path, show=None):
    """Replay the tutorial in ``folder`` (empty); ``show(command, output)`` sees each run."""
    work, home = folder / "tutorial", folder / "home"
    work.mkdir()
    home.mkdir()
    session: list = []           # consecutive pycon blocks: one session

    def end_session():
        if session:
            where = f"docs/tutorial.md:{session[0][0]}"
            proc = run_doctest("".join(body for _, body in session), work, home, where)
            session.clear()
            if show:
                show("(doctest)", proc.stdout + proc.stderr)
            assert proc.returncode == 0, f"{where}: the session failed:\n{proc.stdout}" \
                                         f"{proc.stderr}"

    for line_no, lang, attrs, body in blocks(TUTORIAL.read_text(encoding="utf-8")):
        where = f"docs/tutorial.md:{line_no}"
        title = TITLE.search(attrs)
        if lang == "pycon":
            session.append((line_no, body))
            continue
        end_session()
        if lang == "diff" and title:
            apply_diff(work / title.group(1), body, where)
        elif title:
            path = work / title.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        elif lang == "console":
            for command, expected in console(body):
                proc = run_command(command, work, home)
                output = proc.stdout + proc.stderr
                if show:
                    show(command, output)
                assert proc.returncode == 0, \
                    f"{where}: `{command}` exited {proc.returncode}:\n{output}"
                got = {norm(x) for x in output.splitlines()}
                for line in expected:
                    if norm(line) == "...":
                        continue
                    assert norm(line) in got, \
                        f"{where}: `{command}` did not print\n  {line}\nit printed:\n{output}"
        else:
            raise AssertionError(f"{where}: a ```{lang} block without a title: the test does "
                                 "not know what to do with it (see tests/test_tutorial.py)")
    end_session()


def test_blocks_are_all_known():
    kinds = [(lang, bool(TITLE.search(attrs)))
             for _, lang, attrs, _ in blocks(TUTORIAL.read_text(encoding="utf-8"))]
    assert ("console", False) in kinds and ("pycon", False) in kinds
    assert any(lang == "diff" and titled for lang, titled in kinds)
    assert all(titled or lang in ("console", "pycon") for lang, titled in kinds)


@pytest.mark.timeout(120)
def test_tutorial_replays(tmp_path):
    replay(tmp_path)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        def show(command, output):
            print(f"$ {command}\n{output}")
        replay(Path(d), show)
