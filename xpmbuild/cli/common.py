"""What the commands share: the group, common options, settings, workspace and plan
loading, and errors as one line with an exit status (never a traceback)."""
from __future__ import annotations

import os
import sys

import rich_click as click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _defines(values) -> dict:
    from ..graph import parse_assignments
    return parse_assignments(values, "-D", error=click.UsageError)


def _fail(message: str, code: int = EXIT_USAGE):
    click.echo(message, err=True)
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


def load_plan(file, defines=(), name=None, check_inputs=True, settings=None):
    """Check and evaluate an experiment file; language errors exit 2 with FILE:LINE:COL.

    ``check_inputs``: a ``path`` input that is missing or not a regular file or folder is
    an error too (check, plan, run; ``graph`` draws the plan without looking at files).
    The settings' ``namespace`` (xpmbuild.toml beside the file) enters job ids when set.
    """
    from ..language import XpmError, evaluate
    if settings is None:
        settings = _settings(file, None)
    try:
        return evaluate(file, _defines(defines), name=name, check_inputs=check_inputs,
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


file_argument = click.argument("file", type=click.Path(dir_okay=False))
define_option = click.option("-D", "defines", multiple=True, metavar="NAME=VALUE",
                             help="Override an `arg` of the experiment.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xpmbuild")
def main():
    """xpmbuild — typed experiment files, content-hashed jobs, local and cluster launchers."""


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


workspace_option = click.option("-w", "--workspace", metavar="DIR",
                                help="Workspace (default: $XPM_WORKSPACE, the `workspace` "
                                     "setting, ./xpm-workspace).")


def _workspace(workspace, settings_file=None):
    from ..workspace import Workspace, resolve_workspace
    # no experiment file here: the xpmbuild.toml of the current directory, if any
    settings = _settings(os.path.join(os.getcwd(), "_") if os.path.isfile("xpmbuild.toml")
                         else None, settings_file)
    root = resolve_workspace(workspace, settings)
    _check_workspace(root, write=False)
    if not os.path.isdir(os.path.join(root, "jobs")):
        _fail(f"error: no workspace at {root} (run `xpmbuild run` first, or give -w DIR)")
    return Workspace(root), settings


def job_filters(f):
    for opt in reversed([
        workspace_option,
        click.option("--experiment", help="Only the jobs of this experiment."),
        click.option("--task", multiple=True, help="Only jobs of this task."),
        click.option("--state", multiple=True, help="Only jobs in this state."),
        click.option("--tag", multiple=True, metavar="NAME=VALUE", help="Only jobs with this tag."),
        click.option("--settings", "settings_file", type=click.Path(dir_okay=False)),
    ]):
        f = opt(f)
    return f
