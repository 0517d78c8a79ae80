"""`--help` replayed from the cache (cli/helpcache.py) is byte for byte what rich-click
prints, on a pipe and on a terminal (colours), for the group and for commands; a damaged
cache is ignored and replaced; an unusable cache dir costs only the speed. Every case runs
the real entry point in a fresh interpreter."""
from __future__ import annotations

import errno
import fcntl
import json
import marshal
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import clean_env  # noqa: E402

# "entry": the real entry point (cli.run_main, with the cache); "direct": the click group
# itself, which has no cache: the reference. Both name the program "xpmbuild".
PROBE = r"""
import json, os, runpy, sys
mode, args = sys.argv[1], json.loads(sys.argv[2])
sys.argv = ["xpmbuild"] + args
try:
    if mode == "entry":
        runpy.run_module("xpmbuild.cli", run_name="__main__")
    else:
        from xpmbuild.cli.app import main
        main()
except SystemExit as e:
    code = e.code
else:
    code = 0
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("click", "rich", "rich_click"))
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump({"code": code, "heavy": heavy}, f)
"""


def env_for(tmp_path, **extra):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), PROBE_OUT=str(tmp_path / "probe"),
                     **extra)


def probe(tmp_path, mode, args, **extra):
    """(stdout bytes, exit code, heavy modules imported) of one fresh process on a pipe."""
    env = env_for(tmp_path, **extra)
    p = subprocess.run([sys.executable, "-c", PROBE, mode, json.dumps(args)], env=env,
                       cwd=tmp_path, capture_output=True, timeout=120)
    with open(tmp_path / "probe") as f:
        info = json.load(f)
    return p.stdout, info["code"], info["heavy"], p.stderr


def cache_path(tmp_path):
    return tmp_path / "cache" / "xpmbuild" / "help.marshal"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["run", "--help"], ["jobs", "kill", "-h"]])
def test_cached_help_is_what_rich_click_prints(tmp_path, args):
    ref, code, _, _ = probe(tmp_path, "direct", args)
    assert code == 0 and b"Usage: xpmbuild" in ref
    assert not cache_path(tmp_path).exists()          # the group alone keeps no cache
    first, code1, heavy1, err1 = probe(tmp_path, "entry", args)
    assert (first, code1, err1) == (ref, 0, b"")
    assert heavy1                                      # rendered by rich-click...
    assert cache_path(tmp_path).exists()               # ...and kept
    again, code2, heavy2, err2 = probe(tmp_path, "entry", args)
    assert (again, code2, err2) == (ref, 0, b"")
    assert heavy2 == []                                # replayed: neither click nor rich


def test_each_width_has_its_own_entry(tmp_path):
    outs = {}
    for width in (60, 120):
        ref, _, _, _ = probe(tmp_path, "direct", ["--help"], COLUMNS=width)
        probe(tmp_path, "entry", ["--help"], COLUMNS=width)
        outs[width] = ref
    for width in (60, 120):
        got, code, heavy, _ = probe(tmp_path, "entry", ["--help"], COLUMNS=width)
        assert (got, code, heavy) == (outs[width], 0, [])
    assert outs[60] != outs[120]
    assert max(len(line) for line in outs[60].decode().splitlines()) <= 60


def test_colour_settings_are_part_of_the_key(tmp_path):
    """FORCE_COLOR makes rich-click colour the help even on a pipe: the plain help kept
    before is not what it prints then."""
    plain, _, _, _ = probe(tmp_path, "entry", ["--help"])
    coloured_ref, _, _, _ = probe(tmp_path, "direct", ["--help"], FORCE_COLOR="1")
    coloured, code, heavy, _ = probe(tmp_path, "entry", ["--help"], FORCE_COLOR="1")
    assert b"\x1b[" in coloured_ref and b"\x1b[" not in plain
    assert (coloured, code) == (coloured_ref, 0) and heavy     # a miss, rendered
    again, _, heavy, _ = probe(tmp_path, "entry", ["--help"], FORCE_COLOR="1")
    assert (again, heavy) == (coloured_ref, [])


@pytest.mark.parametrize("damage", [b"", b"\x00garbage\xff" * 10, marshal.dumps([1, 2]),
                                    marshal.dumps({"k": 3}), marshal.dumps({1: "x"})])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path, damage):
    ref, _, _, _ = probe(tmp_path, "direct", ["--help"])
    path = cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(damage)
    got, code, heavy, err = probe(tmp_path, "entry", ["--help"])
    assert (got, code, err) == (ref, 0, b"") and heavy
    again, code, heavy, _ = probe(tmp_path, "entry", ["--help"])
    assert (again, code, heavy) == (ref, 0, [])


def test_an_unusable_cache_dir_costs_only_the_speed(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache dir would be\n")
    ref, _, _, _ = probe(tmp_path, "direct", ["--help"])
    for _ in range(2):
        got, code, heavy, err = probe(tmp_path, "entry", ["--help"])
        assert (got, code, err) == (ref, 0, b"") and heavy


def test_errors_are_never_cached(tmp_path):
    """`nope --help` is a usage error (exit 2, on stderr): printed by click each time."""
    for _ in range(2):
        out, code, heavy, err = probe(tmp_path, "entry", ["nope", "--help"])
        assert code == 2 and b"No such command" in err and heavy
    assert not cache_path(tmp_path).exists()


def pty_run(tmp_path, mode, args, cols=100):
    """stdout of one fresh process on a terminal of ``cols`` columns (read to its end)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    env = env_for(tmp_path, TERM="xterm-256color")
    for k in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        env.pop(k, None)
    p = subprocess.Popen([sys.executable, "-c", PROBE, mode, json.dumps(args)], env=env,
                         cwd=tmp_path, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError as e:             # EIO: the child closed the terminal
                if e.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(master)
    p.wait(timeout=60)
    with open(tmp_path / "probe") as f:
        info = json.load(f)
    return b"".join(chunks), info["code"], info["heavy"]


def test_on_a_terminal_the_colours_are_replayed(tmp_path):
    ref, code, _ = pty_run(tmp_path, "direct", ["--help"])
    assert code == 0 and b"\x1b[" in ref              # a terminal: rich-click colours it
    first, _, heavy1 = pty_run(tmp_path, "entry", ["--help"])
    again, code, heavy2 = pty_run(tmp_path, "entry", ["--help"])
    assert first == ref and again == ref and code == 0
    assert heavy1 and heavy2 == []
    narrow, _, _ = pty_run(tmp_path, "entry", ["--help"], cols=70)
    narrow_ref, _, _ = pty_run(tmp_path, "direct", ["--help"], cols=70)
    assert narrow == narrow_ref != ref


def test_the_help_lines_it_answers():
    from xpmbuild.cli.helpcache import is_help
    assert is_help(["--help"]) and is_help(["-h"]) and is_help(["run", "--help"])
    assert is_help(["jobs", "kill", "-h"])
    assert not is_help([]) and not is_help(["run"]) and not is_help(["--help", "run"])
    assert not is_help(["run", "exp.xpm", "--help"])     # a file on the line: not cached
    assert not is_help(["run", "-j", "2", "--help"]) and not is_help(["Run", "--help"])


def test_the_key_follows_the_code_and_the_renderers(monkeypatch):
    """An edited command module (or another click, rich, rich-click) is another key: the
    help kept before is not replayed for it."""
    from xpmbuild.cli import helpcache
    before = helpcache.key(["--help"])
    assert before == helpcache.key(["--help"]) and before != helpcache.key(["run", "--help"])
    real = helpcache._stat
    for edited in ("common.py", os.path.join("rich_click", "__init__.py")):
        monkeypatch.setattr(helpcache, "_stat", lambda p, e=edited: (0, 0, 0, 0)
                            if p.endswith(e) else real(p))
        assert helpcache.key(["--help"]) != before
        monkeypatch.setattr(helpcache, "_stat", real)
