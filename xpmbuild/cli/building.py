"""check, graph, run and plan: the commands that read an experiment file."""
from __future__ import annotations

import os
import sys

import rich_click as click

from .buildcmd import _build
from .common import _defines, define_option, file_argument, load_plan, main, select_jobs


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
    _build(file, targets, workspace, jobs, launcher_name, _defines(defines), dry_run,
           keep_going, force, force_all, as_json, name, settings_file, detach,
           cancel_on_interrupt, leave_running, keep_services)


@main.command()
@build_options
def plan(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
         as_json, name, settings_file):
    """Say which jobs of FILE would run, and why (same as run --dry-run)."""
    _build(file, targets, workspace, jobs, launcher_name, _defines(defines), True, keep_going,
           force, force_all, as_json, name, settings_file)
