"""What the commands share that needs no command-line framework: errors as one line with
an exit status (never a traceback), settings, the workspace's checks, plan loading. The
``run``/``plan`` path (buildcmd.py) uses only these, so that a command line the fast
reader understands (fastpath.py) runs without importing click or rich-click."""
from __future__ import annotations

import os
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_USAGE):
    """``message`` on stderr (as click.echo prints it), then exit with ``code``."""
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    sys.exit(code)


def _check_workspace(root: str, write: bool, create=False):
    """A clear one-line error (exit 2) when ``root`` cannot be a workspace: a file where
    its folder (or its ``jobs``) should be; for ``write`` (``run``), also a file where its
    ``.xpm`` should be, or a workspace it cannot write. Reading works without ``.xpm``."""
    for d in (root, os.path.join(root, "jobs")) + ((os.path.join(root, ".xpm"),) if write
                                                    else ()):
        if os.path.lexists(d) and not os.path.isdir(d):
            if d == root:
                _fail(f"error: the workspace {d} is a file, not a folder (give -w a folder; "
                      "it is made if missing)")
            _fail(f"error: {d} is a file where the workspace has a folder: move it away")
    if not write:
        return
    from ..workspace import Workspace
    if not Workspace(root).writable():
        _fail(f"error: the workspace {root} is read-only: `run` records every job in it "
              "(status, plan and jobs list can read it; give a writable -w to build)")
    if not create:
        return
    try:
        Workspace(root).create()
    except OSError as err:
        _fail(f"error: cannot make the workspace {root}: {err.strerror or err}")


def _os_error(err: OSError) -> str:
    where = f"{err.filename}: " if getattr(err, "filename", None) else ""
    return f"error: {where}{err.strerror or err}"


def load_plan(file, defines=None, name=None, check_inputs=True, settings=None):
    """Check and evaluate an experiment file; language errors exit 2 with FILE:LINE:COL.
    ``defines``: the ``-D`` values, parsed ({name: text}).

    ``check_inputs``: a ``path`` input that is missing or not a regular file or folder is
    an error too (check, plan, run; ``graph`` draws the plan without looking at files).
    The settings' ``namespace`` (xpmbuild.toml beside the file) enters job ids when set.
    """
    from ..language import XpmError, evaluate
    if settings is None:
        settings = _settings(file, None)
    try:
        return evaluate(file, defines or {}, name=name, check_inputs=check_inputs,
                        namespace=settings.get("namespace"))
    except XpmError as err:
        _fail(err.render())
    except RecursionError:
        _fail(f"{file}: error: the plan nests too deeply (recursion limit)")


def select_jobs(plan, targets):
    from ..graph import TargetError, select
    try:
        return select(plan, targets)
    except TargetError as err:
        _fail(f"error: {err}")


def _settings(file, settings_file):
    from ..settings import SettingsError, load
    try:
        return load(file, settings_file)
    except SettingsError as err:
        _fail(f"error: {err}")


def _make_launcher(name, settings, jobs):
    from ..launchers import make_launcher
    from ..settings import SettingsError
    try:
        return make_launcher(name, settings, jobs=jobs)
    except SettingsError as err:
        _fail(f"error: {err}")


def _print_json(doc):
    import json
    # indented for a person at a terminal; compact (C encoder, much faster) for machines
    indent = 1 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(doc, indent=indent) + "\n")
