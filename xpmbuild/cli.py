"""The command line: parse arguments, call the library, render. Nothing else lives here.

Heavy modules are imported inside the commands that use them, so that ``--help`` and a
no-op run stay cheap.
"""
from __future__ import annotations

import os
import sys

import rich_click as click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _defines(values) -> dict:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.UsageError(f"-D {item}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def _fail(message: str, code: int = EXIT_USAGE):
    click.echo(message, err=True)
    sys.exit(code)


def load_plan(file, defines=(), name=None):
    """Check and evaluate an experiment file; language errors exit 2 with FILE:LINE:COL."""
    from .language import XpmError, evaluate
    try:
        return evaluate(file, _defines(defines), name=name)
    except XpmError as err:
        _fail(err.render())
    except RecursionError:
        _fail(f"{file}: error: the plan nests too deeply (recursion limit)")


def select_jobs(plan, targets):
    from .graph import TargetError, select
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


@main.command()
@file_argument
@define_option
def check(file, defines):
    """Parse and type-check FILE (and evaluate its plan); run nothing."""
    plan = load_plan(file, defines)
    tasks = {}
    for job in plan.jobs.values():
        tasks[job.task.name] = tasks.get(job.task.name, 0) + 1
    detail = ", ".join(f"{n} {t}" for t, n in tasks.items())
    click.echo(f"{file}: ok — {len(plan.jobs)} job{'s' if len(plan.jobs) != 1 else ''}"
               + (f" ({detail})" if detail else ""))


@main.command()
@file_argument
@click.argument("targets", nargs=-1)
@define_option
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid", "json"]),
              default="text", show_default=True, help="Output format.")
def graph(file, targets, defines, fmt):
    """Print the job graph of FILE: task names, short ids and tags."""
    from .graph import export
    plan = load_plan(file, defines)
    jobs = select_jobs(plan, targets)
    click.echo(export(jobs, fmt))


def _settings(file, settings_file):
    from .settings import SettingsError, load
    try:
        return load(file, settings_file)
    except SettingsError as err:
        _fail(f"error: {err}")


def _make_launcher(name, settings, jobs):
    from .launchers import make_launcher
    from .settings import SettingsError
    try:
        return make_launcher(name, settings, jobs=jobs)
    except SettingsError as err:
        _fail(f"error: {err}")


def _print_json(doc):
    import json
    sys.stdout.write(json.dumps(doc, indent=1) + "\n")


def _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file):
    from .build import build
    from .report import PlainReporter, RichReporter, console, render_plan, render_summary
    from .workspace import resolve_workspace
    settings = _settings(file, settings_file)
    plan = load_plan(file, defines, name)
    ws = resolve_workspace(workspace, settings)
    select_jobs(plan, targets)          # target errors before anything else
    launcher = None
    if not dry_run:
        launcher = _make_launcher(launcher_name or settings.get("launcher") or "local",
                                  settings, jobs)
    reporter = None
    if not dry_run and not as_json:
        total = len(select_jobs(plan, targets))
        reporter = RichReporter(total) if sys.stderr.isatty() else PlainReporter(total=total)
    try:
        result = build(plan, ws, targets=targets, jobs=jobs, keep_going=keep_going, force=force,
                       force_all=force_all, dry_run_only=dry_run, launcher=launcher,
                       env=settings.get("env"), reporter=reporter)
    except ValueError as err:
        _fail(f"error: {err}")
    finally:
        if reporter is not None and hasattr(reporter, "stop"):
            reporter.stop()
    if as_json:
        _print_json(result.to_json())
    elif dry_run:
        render_plan(result, console())
    else:
        render_summary(result, console(stderr=False))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0 if result.ok else 1)


def build_options(f):
    options = [
        click.argument("file", type=click.Path(dir_okay=False)),
        click.argument("targets", nargs=-1),
        click.option("-w", "--workspace", metavar="DIR",
                     help="Workspace (default: $XPM_WORKSPACE, the `workspace` setting, "
                          "./xpm-workspace)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Jobs (cpu slots) at once; default: the number of cpus."),
        click.option("-l", "--launcher", "launcher_name", metavar="NAME",
                     help="Launcher name from the settings (default: `launcher` or local)."),
        define_option,
        click.option("-k", "--keep-going", is_flag=True,
                     help="Go on with independent jobs after a failure."),
        click.option("--force", multiple=True, metavar="TASK",
                     help="Rebuild every selected job of TASK."),
        click.option("--force-all", is_flag=True, help="Rebuild every selected job."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON document."),
        click.option("--name", help="Experiment name (default: the file's stem)."),
        click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
                     help="A settings TOML file, merged over the others."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@main.command()
@build_options
@click.option("-n", "--dry-run", is_flag=True, help="Say what would run, and why; run nothing.")
def run(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
        as_json, name, settings_file, dry_run):
    """Build the stale jobs of FILE (or of the TARGETS: TASK or TASK[tag=value,...])."""
    _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file)


@main.command()
@build_options
def plan(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
         as_json, name, settings_file):
    """Say which jobs of FILE would run, and why (same as run --dry-run)."""
    _build(file, targets, workspace, jobs, launcher_name, defines, True, keep_going, force,
           force_all, as_json, name, settings_file)


def run_main():  # console-script entry point
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    run_main()
