"""``--help`` answered from a cache of what rich-click printed (start-up is a feature:
rendering the help costs ~160 ms of imports and layout, replaying it almost nothing).

The help is a pure function of the command line, the program name, the code of the
commands (the files of xpmbuild/cli), the versions of click, rich and rich-click, the
Python, the terminal (whether stdout is one, its size and encoding) and the environment
(COLUMNS, NO_COLOR, FORCE_COLOR, TERM...: the whole environment but for a few variables no
renderer reads). All of it makes the *key*; the text printed under a key is kept in one
file of the user cache dir (platformdirs' answer: userdirs.py), a few keys at most, written
atomically (temp file + ``os.replace``). A file that cannot be read, or is not what this
module writes, is ignored (and replaced at the next render); a cache dir that cannot be
written only costs the speed. Nothing here imports click or rich.
"""
from __future__ import annotations

import os
import sys

FORMAT = 1
KEEP = 8            # keys kept (a terminal's width, colour or not, a few commands)
# never read by click, rich or rich-click, and different in every shell or folder
_VOLATILE = ("PWD", "OLDPWD", "SHLVL", "_")
_RENDERERS = ("click", "rich", "rich_click")


def is_help(argv: list[str]) -> bool:
    """``--help`` of the group or of a (sub)command named by plain words, e.g.
    ``run --help``, ``jobs kill -h``: nothing on the line but names and the flag."""
    if not argv or argv[-1] not in ("--help", "-h") or len(argv) > 3:
        return False
    return all(w.replace("-", "").isalpha() and w.islower() for w in argv[:-1])


def cache_file() -> str:
    from ..userdirs import user_cache_dir       # platformdirs' answer (userdirs.py)
    return os.path.join(user_cache_dir(), "help.marshal")


def _stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _origin(name):
    """Where the import system would load ``name`` from (without importing it)."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec = find(name, None) if find else None
        if spec is not None:
            return getattr(spec, "origin", None)
    return None


def _terminal():
    sizes = []
    for fd in (0, 1, 2):
        try:
            sizes.append(tuple(os.get_terminal_size(fd)))
        except (OSError, ValueError):
            sizes.append(None)
    out = sys.stdout
    isatty = getattr(out, "isatty", None)
    return (bool(isatty and isatty()), sizes, getattr(out, "encoding", None),
            getattr(out, "errors", None))


def key(argv: list[str]) -> str | None:
    """What the help printed for ``argv`` depends on, as one string (None: no cache)."""
    from .. import __version__
    from .fastpath import prog_name
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        code = sorted((e.name, _stat(e.path)) for e in os.scandir(here)
                      if e.name.endswith(".py"))
    except OSError:
        return None
    renderers = []
    for name in _RENDERERS:
        origin = _origin(name)
        if origin is None:
            return None
        renderers.append((name, origin, _stat(origin)))
    env = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE)
    return repr((FORMAT, __version__, sys.version, sys.executable, prog_name(), argv, here,
                 code, renderers, _terminal(), env))


def _load(path: str) -> dict:
    import marshal
    try:
        with open(path, "rb") as f:
            data = marshal.load(f)
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if type(data) is not dict or not all(type(k) is str and type(v) is str
                                         for k, v in data.items()):
        return {}               # not what store() writes: ignored, replaced at the next render
    return data


def lookup(argv: list[str]) -> str | None:
    """The help text printed before under this key, if any."""
    k = key(argv)
    if k is None:
        return None
    return _load(cache_file()).get(k)


def store(argv: list[str], k: str, text: str) -> None:
    """Keep ``text`` under ``k`` (with the KEEP - 1 most recent others), atomically."""
    import marshal
    from ..atomicfile import atomic_write
    path = cache_file()
    entries = _load(path)
    entries.pop(k, None)
    kept = dict(list(entries.items())[-(KEEP - 1):])
    kept[k] = text
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, marshal.dumps(kept))
    except OSError:
        pass                    # an unwritable cache only costs the speed


class _Recorder:
    """sys.stdout as it is (a terminal stays one), recording the text written to it."""

    def __init__(self, stream):
        self._stream = stream
        self.parts: list[str] = []

    def write(self, s):
        n = self._stream.write(s)
        if isinstance(s, str):
            self.parts.append(s)
        return n

    def __getattr__(self, name):
        return getattr(self._stream, name)


def answer(argv: list[str]) -> bool:
    """Print the cached help for ``argv``; False: not cached (render it with
    :func:`render`)."""
    text = lookup(argv)
    if text is None:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def render(argv: list[str], main) -> None:
    """Run the click group on ``argv`` (a help request) and keep what it printed, when it
    printed the help (exit status 0, stdout only, nothing on stderr)."""
    k = key(argv)
    out, err = sys.stdout, sys.stderr
    recorder, wrote_err = _Recorder(out), _Recorder(err)
    sys.stdout, sys.stderr = recorder, wrote_err
    status = None
    try:
        main(args=argv, standalone_mode=True)
    except SystemExit as e:
        status = e.code
        raise
    finally:
        sys.stdout, sys.stderr = out, err
        text = "".join(recorder.parts)
        if k is not None and status in (0, None) and text and not wrote_err.parts:
            store(argv, k, text)
