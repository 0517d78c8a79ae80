"""check, graph, run and plan: the commands that read an experiment file."""
from __future__ import annotations

import os
import sys

import rich_click as click

from .common import (EXIT_INTERRUPTED, _check_workspace, _defines, _fail, _make_launcher,
                     _os_error, _print_json, _settings, define_option, file_argument,
                     load_plan, main, select_jobs)


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
    services = ", ".join(plan.services)
    click.echo(f"{file}: ok — {len(plan.jobs)} job{'s' if len(plan.jobs) != 1 else ''}"
               + (f" ({detail})" if detail else "")
               + (f", service{'s' if len(plan.services) > 1 else ''} {services}"
                  if services else ""))


@main.command()
@file_argument
@click.argument("targets", nargs=-1)
@define_option
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid", "json"]),
              default="text", show_default=True, help="Output format.")
def graph(file, targets, defines, fmt):
    """Print the job graph of FILE: task names, short ids and tags."""
    from ..graph import export
    plan = load_plan(file, defines, check_inputs=False)
    jobs = select_jobs(plan, targets)
    click.echo(export(jobs, fmt))


def _interrupt_policy(cancel_on_interrupt, leave_running, reporter=None):
    """What Ctrl-C does to running jobs: the flags decide; else ask, on a terminal only
    (the live display stopped first, so that it does not draw over the question)."""
    if cancel_on_interrupt:
        return lambda n: True
    if leave_running:
        return lambda n: False
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return lambda n: True

    def ask(n):
        if reporter is not None and hasattr(reporter, "pause"):
            reporter.pause()
        try:
            return click.confirm(f"\nInterrupted: cancel the {n} running job{'s' if n > 1 else ''}"
                                 " (no: leave them running; the next run re-attaches)?",
                                 default=True, err=True)
        except (click.Abort, EOFError, KeyboardInterrupt):
            return True
    return ask


def _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file, detach=False, cancel_on_interrupt=False,
           leave_running=False, keep_services=False):
    from ..workspace import resolve_workspace
    settings = _settings(file, settings_file)
    ws = resolve_workspace(workspace, settings)
    _check_workspace(ws, write=not dry_run)
    defs = _defines(defines)
    from .fastpath import answer_noop
    if not (force or force_all or detach) and answer_noop(ws, file, defs, name, targets,
                                                          dry_run, as_json,
                                                          settings.get("namespace"),
                                                          settings, launcher_name):
        sys.exit(0)
    from .. import noop
    from ..build import build
    from ..report import PlainReporter, RichReporter, console, render_plan, render_summary
    from ..launchers.base import LauncherError
    inc = None
    if not (force or force_all or detach):      # some files changed: which jobs they concern
        from ..incremental import prepare
        inc = prepare(ws, file, defs, name, targets, dry_run, settings.get("namespace"),
                      noop.routing(settings, launcher_name))
    plan = inc.plan if inc is not None else load_plan(file, defines, name, settings=settings)
    import gc
    # the plan lives until the end: the cyclic collector need never scan it again; a dry
    # run makes no garbage cycles worth a collection before it exits
    gc.freeze()
    if dry_run:
        gc.disable()
    select_jobs(plan, targets)          # target errors before anything else
    if not dry_run:
        _check_workspace(ws, write=True, create=True)
    launcher = None
    if not dry_run:
        launcher = _make_launcher(launcher_name or settings.get("launcher") or "local",
                                  settings, jobs)
    reporter = None
    if not dry_run and not as_json:
        total = len(select_jobs(plan, targets))
        reporter = RichReporter(total) if sys.stderr.isatty() else PlainReporter(total=total)
    session = None
    if not dry_run and plan.services:
        from ..services import ServiceSession
        session = ServiceSession(ws, plan.name, plan.services, keep=keep_services,
                                 say=reporter.message if reporter is not None else
                                 lambda line: print(line, file=sys.stderr, flush=True))
    try:
        result = build(plan, ws, targets=targets, jobs=jobs, keep_going=keep_going, force=force,
                       force_all=force_all, dry_run_only=dry_run, launcher=launcher,
                       env=settings.get("env"), reporter=reporter, detach=detach,
                       settings=settings, launcher_name=launcher_name, services=session,
                       on_interrupt=_interrupt_policy(cancel_on_interrupt, leave_running,
                                                      reporter),
                       kept=inc.kept if inc is not None else {},
                       after=inc.after if inc is not None else frozenset(),
                       record_current=inc is not None and inc.carry.record_current)
    except ValueError as err:
        _fail(f"error: {err}")
    except LauncherError as err:    # the launcher gave up waiting, or its host refused us
        if reporter is not None and hasattr(reporter, "stop"):
            reporter.stop()
            reporter = None
        _fail(f"error: {err}", 1)
    except OSError as err:      # the workspace failed under us (a full disk, unmounted...)
        if reporter is not None and hasattr(reporter, "stop"):
            reporter.stop()
            reporter = None
        _fail(_os_error(err))
    finally:
        if reporter is not None and hasattr(reporter, "stop"):
            reporter.stop()
    if not result.interrupted and os.path.isdir(ws):
        try:
            noop.record(ws, file, defs, name, targets, plan, result.nodes, dry_run,
                        settings.get("namespace"), result.routes, result.launcher_name,
                        noop.routing(settings, launcher_name),
                        carry=inc.carry if inc is not None else None)
        except OSError:
            pass        # only the fast path of the next run is lost (read-only, full disk)
    if as_json:
        if sys.stdout.isatty():
            _print_json(result.to_json())       # indented, for a person
        else:
            result.write_json(sys.stdout)
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
@click.option("--detach", is_flag=True,
              help="Slurm: submit every stale job chained with afterok, then exit.")
@click.option("--cancel-on-interrupt", is_flag=True,
              help="On Ctrl-C, cancel the running jobs without asking.")
@click.option("--leave-running", is_flag=True,
              help="On Ctrl-C, leave the running jobs running (the next run re-attaches).")
@click.option("--keep-services", is_flag=True,
              help="Leave the experiment's services running when the run ends.")
def run(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
        as_json, name, settings_file, dry_run, detach, cancel_on_interrupt, leave_running,
        keep_services):
    """Build the stale jobs of FILE (or of the TARGETS: TASK or TASK[tag=value,...])."""
    if cancel_on_interrupt and leave_running:
        raise click.UsageError("--cancel-on-interrupt and --leave-running exclude each other")
    _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file, detach, cancel_on_interrupt, leave_running,
           keep_services)


@main.command()
@build_options
def plan(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
         as_json, name, settings_file):
    """Say which jobs of FILE would run, and why (same as run --dry-run)."""
    _build(file, targets, workspace, jobs, launcher_name, defines, True, keep_going, force,
           force_all, as_json, name, settings_file)
