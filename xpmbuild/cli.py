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


def run_main():  # console-script entry point
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    run_main()
