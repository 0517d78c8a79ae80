"""results: a table of a task's results by tags (the library: api.Workspace.results)."""
from __future__ import annotations

import os
import sys

import rich_click as click

from .common import _fail, _print_json, _workspace, main


@main.command("results")
@click.argument("args", nargs=-1, metavar="[FILE] TASK")
@click.option("-w", "--workspace", metavar="DIR", help="Workspace (default as for run).")
@click.option("--experiment", help="The jobs of this experiment's latest plan (default: "
                                   "FILE's, else every job of TASK).")
@click.option("--read", "read", metavar="OUTPUT",
              help="The output to read (default: the only one, or `metrics`).")
@click.option("--by", "by", multiple=True, metavar="TAG",
              help="Group by TAG: mean, std and n of each field over the other tags.")
@click.option("--where", "where", multiple=True, metavar="TAG=VALUE", help="Only these rows.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "markdown", "json"]),
              default="table", show_default=True)
@click.option("--plot", "plot_spec", metavar="X:Y", help="Draw Y against X (matplotlib).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="The PNG file of --plot.")
def results_cmd(args, workspace, experiment, read, by, where, fmt, plot_spec, out):
    """The results of TASK's jobs, one row per job (its tags, then its output's fields);
    jobs not done are listed as missing."""
    from ..api import Workspace
    from ..graph import parse_assignments
    if len(args) == 2:
        file, task = args
        if experiment is None:
            experiment = os.path.splitext(os.path.basename(file))[0]
    elif len(args) == 1:
        file, task = None, args[0]
    else:
        raise click.UsageError("give TASK, or FILE TASK")
    if plot_spec and not out:
        raise click.UsageError("--plot needs -o FILE.png")
    ws, _settings = _workspace(workspace)
    try:
        filters = parse_assignments(where, "--where", strip=True)
        table = Workspace(ws.root).results(task, experiment=experiment, read=read,
                                           where=filters)
        if not table.rows:
            why = _why_empty(ws, task, experiment, table)
            _fail(f"error: no results for {task}: {why}", 1)
        if by:
            table = table.by(*by)
    except (ValueError, KeyError) as err:
        _fail(f"error: {err.args[0] if isinstance(err, KeyError) else err}")
    if plot_spec:
        from ..plot import PlotError, plot
        try:
            plot(table, plot_spec, out)
        except PlotError as err:
            _fail(f"error: {err}")
        click.echo(f"wrote {out}", err=True)
    _print_table(table, fmt)


def _why_empty(ws, task, experiment, table) -> str:
    if table.missing:
        states: dict = {}
        for job, why in table.missing:
            states[why] = states.get(why, 0) + 1
        return "no job is done (" + ", ".join(f"{n} {w}" for w, n in states.items()) + ")"
    if not os.path.isdir(os.path.join(ws.root, "jobs", task)):
        return f"no job of task {task!r} in {ws.root}"
    return f"experiment {experiment!r} has no job of task {task!r}" if experiment else \
        "no job matched"


def _print_table(table, fmt):
    if fmt == "csv":
        sys.stdout.write(table.to_csv())
    elif fmt == "markdown":
        sys.stdout.write(table.to_markdown())
    elif fmt == "json":
        _print_json(table.to_json())
    else:
        from rich.table import Table

        from ..report import console, text
        from ..results import _cell
        t = Table(title=text(f"{table.task}: {len(table.rows)} rows"), title_justify="left")
        cols = table.columns
        for c in cols:
            t.add_column(text(c), justify="left" if c in table.tags or c == "id" else "right")
        for r in table.rows:
            t.add_row(*[text(str(_cell(r.get(c, ""))) if c != "id" else str(r[c])[:8])
                        for c in cols])
        con = console()
        con.print(t)
        for job, why in table.missing:
            con.print(text(f"missing {job.task}/{job.short_id}: {why}"))
