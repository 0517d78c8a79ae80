"""The command line: parse arguments, call the library, render. Nothing else lives here.

One module per group of commands (doit's model): building.py (check, graph, run, plan),
inspecting.py (status, jobs), admin.py (gc, launchers); common.py holds what they share;
app.py gathers them into the click group. Heavy modules are imported inside the commands
that use them, and ``--version`` and a no-op run are answered before click is imported
at all (fastpath.py), and ``--help`` is replayed from a cache of what rich-click
printed (helpcache.py).
"""
from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130

__all__ = ["main", "run_main"]


def run_main():  # console-script entry point
    argv = sys.argv[1:]
    try:
        if argv == ["--version"]:
            from .. import __version__
            from .fastpath import prog_name
            sys.stdout.write(f"{prog_name()}, version {__version__}\n")
            return
        from .helpcache import answer, is_help, render
        if is_help(argv):
            if answer(argv):        # printed before under the same key (helpcache.py)
                return
            from .app import main
            render(argv, main)
            return
        from .fastpath import try_build
        try:
            try_build(argv)         # a run/plan it reads as click would: answered, or built
            from .app import main
            main(standalone_mode=True)
        except SystemExit as done:
            if argv and argv[0] in ("run", "plan"):
                quick_exit(done)
            raise
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


def quick_exit(done: SystemExit):
    """End a run or plan without freeing its objects one by one (a 1M-job plan's take
    ~0.8 s): the exit functions run and the standard streams are flushed, as at a normal
    exit, then the process ends. Returns (for a normal exit) when another thread is
    alive, the code is not a number, or a stream cannot be flushed."""
    import threading
    code = done.code
    if code is None:
        code = 0
    if type(code) is not int or threading.active_count() > 1:
        return
    import atexit
    import os
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code & 0xFF)


def __getattr__(name):
    if name == "main":          # the click group (imports every command module)
        from .app import main
        return main
    raise AttributeError(f"module 'xpmbuild.cli' has no attribute {name!r}")
