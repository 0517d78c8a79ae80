"""status and jobs (list, log, path, kill, clean): the commands that read a workspace."""
from __future__ import annotations


import rich_click as click

from .common import (_fail, _print_json, _workspace, job_filters, main, workspace_option)


def _status_launchers(settings):
    """Launchers that can tell about detached jobs (cluster ones); built lazily."""
    from ..launchers import status_launchers
    return status_launchers(settings)


def _records(ws, settings, experiment, task=(), state=(), tag=(), job=()):
    from ..jobs import find
    try:
        return find(ws, _status_launchers(settings), experiment, task, state, tag, job)
    except ValueError as err:
        _fail(f"error: {err}")


def _records_table(recs, title):
    from rich.table import Table
    from ..report import fmt_resources, fmt_tags, status_text, text
    table = Table(title=text(title), title_justify="left")
    for col in ("job", "status", "tags", "launcher", "resources", "note"):
        table.add_column(col)
    for r in recs:
        st = r.state or {}
        attempts = len(st.get("attempts") or ())
        note = "; ".join(str(x) for x in r.reasons)
        if attempts > 1:
            note = f"attempt {attempts}" + (f"; {note}" if note else "")
        table.add_row(text(r.short), status_text(r.status), text(fmt_tags(r.tags)),
                      text(st.get("launcher") or ""), text(fmt_resources(st.get("resources"))),
                      text(note))
    return table


@main.command()
@workspace_option
@click.option("--experiment", help="Only the jobs of this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
@click.option("--watch", is_flag=True,
              help="A live view (counts, running jobs with elapsed time, last failures) "
                   "until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between two views of --watch.")
def status(workspace, experiment, as_json, settings_file, watch, interval):
    """Jobs of the workspace by state, with their tags."""
    from rich.table import Table
    from ..report import console, status_text, text
    ws, settings = _workspace(workspace, settings_file)
    if watch:
        if as_json:
            raise click.UsageError("--watch is for people; --json gives one document")
        from ..watch import watch as watch_view
        _records(ws, settings, experiment)      # an unknown experiment: an error at once
        con = console()
        watch_view(lambda: _records(ws, settings, experiment),
                   f"{ws.root}" + (f" — experiment {experiment}" if experiment else ""),
                   interval, con, live=con.is_terminal)
        return
    recs = _records(ws, settings, experiment)
    from ..jobs import counts as count_records
    counts, by_task = count_records(recs)
    if as_json:
        _print_json({"experiment": experiment, "workspace": ws.root,
                     "nodes": [r.to_json() for r in recs],
                     "summary": dict(counts, jobs=len(recs))})
        return
    con = console()
    states = sorted(counts)
    summary = Table(title=text(f"{ws.root}" + (f" — experiment {experiment}" if experiment
                                                else "")), title_justify="left")
    summary.add_column("task")
    for st in states:
        summary.add_column(status_text(st), justify="right")
    summary.add_column("total", justify="right")
    summary.add_column("cpu s", justify="right")
    summary.add_column("max rss", justify="right")
    from ..jobs import resource_totals
    used = resource_totals(recs)
    for task, row in sorted(by_task.items()):
        cpu, rss = used.get(task, (None, None))
        summary.add_row(text(task), *[str(row.get(st, "")) for st in states],
                        str(sum(row.values())), "" if cpu is None else f"{cpu:.1f}",
                        "" if rss is None else f"{rss / 1e6:.0f} MB")
    summary.add_row(text("all", "bold"), *[text(counts[st], "bold") for st in states],
                    text(len(recs), "bold"))
    con.print(summary)
    notable = [r for r in recs if r.status != "done"]
    if notable:
        con.print(_records_table(notable[:200], "jobs not done"))


@main.group()
def jobs():
    """Inspect and manage job folders."""


@jobs.command("list")
@job_filters
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def jobs_list(workspace, experiment, task, state, tag, settings_file, as_json):
    """List jobs (filters: --task, --state, --tag, --experiment)."""
    from ..report import console
    ws, settings = _workspace(workspace, settings_file)
    recs = _records(ws, settings, experiment, task, state, tag)
    if as_json:
        _print_json({"workspace": ws.root, "nodes": [r.to_json() for r in recs]})
        return
    console().print(_records_table(recs, f"{len(recs)} jobs"))


def _one_job(ws, settings, job):
    from ..jobs import one
    try:
        return one(ws, job, _status_launchers(settings))
    except ValueError as err:
        _fail(f"error: {err}")


@jobs.command("log")
@click.argument("job")
@workspace_option
@click.option("--stdout", "which", flag_value="stdout", help="Show stdout.log.")
@click.option("--stderr", "which", flag_value="stderr", help="Show stderr.log (default: both).")
@click.option("-n", "--lines", type=int, default=None, help="Only the last N lines.")
@click.option("-f", "--follow", is_flag=True,
              help="Follow the logs as they grow until the job ends (stdout.log to stdout, "
                   "stderr.log to stderr); Ctrl-C stops.")
def jobs_log(job, workspace, which, lines, follow):
    """Print a job's stdout.log and stderr.log."""
    ws, settings = _workspace(workspace)
    if follow:
        from ..watch import follow as follow_logs
        follow_logs(ws, _one_job(ws, settings, job), which, start_lines=lines)
        return
    from ..jobs import logs
    for path, text in logs(_one_job(ws, settings, job), which, lines):
        if not which:
            click.echo(f"==> {path} <==", err=False)
        click.echo("(no log yet)" if text is None else text, nl=text is None)


@jobs.command("path")
@click.argument("job")
@workspace_option
def jobs_path(job, workspace):
    """Print a job's folder."""
    ws, settings = _workspace(workspace)
    click.echo(_one_job(ws, settings, job).dir)


@jobs.command("kill")
@click.argument("job", nargs=-1)
@job_filters
def jobs_kill(job, workspace, experiment, task, state, tag, settings_file):
    """Cancel running or queued jobs (by JOB, or by filters)."""
    from ..jobs import kill
    from ..workspace import ACTIVE
    if not (job or task or tag or experiment):
        raise click.UsageError("name jobs, or filter them with --task/--tag/--experiment")
    ws, settings = _workspace(workspace, settings_file)
    recs = [r for r in _records(ws, settings, experiment, task, state, tag, job)
            if r.status in ACTIVE]
    if not recs:
        click.echo("no running or queued job matches")
        return
    launchers = _status_launchers(settings)
    for r in recs:
        click.echo(kill(ws, r, launchers))


@jobs.command("clean")
@click.argument("job", nargs=-1)
@job_filters
@click.option("--orphans", is_flag=True,
              help="Jobs that no experiment of the workspace lists any more.")
@click.option("--all", "everything", is_flag=True, help="Every job (not running ones).")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be removed.")
def jobs_clean(job, workspace, experiment, task, state, tag, settings_file, orphans, everything,
               dry_run):
    """Remove job folders (never those of running jobs)."""
    from ..jobs import clean
    if not (job or task or state or tag or experiment or orphans or everything):
        raise click.UsageError("say what to remove: JOB, --task/--state/--tag/--experiment, "
                               "--orphans or --all")
    ws, settings = _workspace(workspace, settings_file)
    recs = _records(ws, settings, experiment, task, state, tag, job)
    if orphans:
        recs = [r for r in recs if not r.experiments]
    removed = kept = 0
    for r in recs:
        if dry_run:
            click.echo(f"would remove {r.short} ({r.status})")
            continue
        if clean(r):
            removed += 1
        else:
            kept += 1
            click.echo(f"kept {r.short}: it is {r.status}")
    if not dry_run:
        click.echo(f"removed {removed} job folder{'s' if removed != 1 else ''}"
                   + (f", kept {kept} running" if kept else ""))
