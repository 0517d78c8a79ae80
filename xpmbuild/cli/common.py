"""What the commands share: the group, common options, settings, workspace and plan
loading, and errors as one line with an exit status (never a traceback)."""
from __future__ import annotations

import os
import sys

import rich_click as click

from . import plain
from .plain import (EXIT_INTERRUPTED, EXIT_USAGE, _check_workspace, _fail,  # noqa: F401
                    _make_launcher, _os_error, _print_json, _settings, select_jobs)


def _defines(values) -> dict:
    from ..graph import parse_assignments
    return parse_assignments(values, "-D", error=click.UsageError)


def load_plan(file, defines=(), name=None, check_inputs=True, settings=None):
    """plain.load_plan with the ``-D`` values as given (a bad one: click's usage error)."""
    return plain.load_plan(file, _defines(defines), name, check_inputs, settings)


file_argument = click.argument("file", type=click.Path(dir_okay=False))
define_option = click.option("-D", "defines", multiple=True, metavar="NAME=VALUE",
                             help="Override an `arg` of the experiment.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xpmbuild")
def main():
    """xpmbuild — typed experiment files, content-hashed jobs, local and cluster launchers."""


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
