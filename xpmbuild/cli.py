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
    from .workspace import Workspace
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
    from .language import XpmError, evaluate
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
    plan = load_plan(file, defines, check_inputs=False)
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
    # indented for a person at a terminal; compact (C encoder, much faster) for machines
    indent = 1 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(doc, indent=indent) + "\n")


def _fast_noop(ws, file, defines, name, targets, dry_run, as_json, namespace=None) -> bool:
    """Nothing changed since the last complete run: answer from the manifest, stat only."""
    from . import noop
    m = noop.check(ws, file, defines, name, targets, dry_run, namespace)
    if m is None:
        return False
    n = m["count"]
    if as_json:
        import json
        summary = {"done": n, "jobs": n, ("will_run" if dry_run else "ran"): 0}
        if not dry_run:
            summary["failed"] = 0
        if sys.stdout.isatty():
            _print_json({"experiment": m["experiment"], "workspace": ws, "dry_run": dry_run,
                         "nodes": json.loads(m["nodes_json"]), "summary": summary})
        else:       # the nodes were encoded when the manifest was written
            sys.stdout.write(json.dumps({"experiment": m["experiment"], "workspace": ws,
                                         "dry_run": dry_run})[:-1] + ', "nodes": '
                             + m["nodes_json"] + ', "summary": ' + json.dumps(summary) + "}\n")
    elif dry_run:
        return False          # the plan table is for people: the full path draws it
    else:
        click.echo(f"{n} jobs: {n} done (0 ran, {n} up to date), 0 failed, 0 skipped")
    return True


def _interrupt_policy(cancel_on_interrupt, leave_running):
    """What Ctrl-C does to running jobs: the flags decide; else ask, on a terminal only."""
    if cancel_on_interrupt:
        return lambda n: True
    if leave_running:
        return lambda n: False
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return lambda n: True

    def ask(n):
        try:
            return click.confirm(f"\nInterrupted: cancel the {n} running job{'s' if n > 1 else ''}"
                                 " (no: leave them running; the next run re-attaches)?",
                                 default=True, err=True)
        except (click.Abort, EOFError, KeyboardInterrupt):
            return True
    return ask


def _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file, detach=False, cancel_on_interrupt=False,
           leave_running=False):
    from .workspace import resolve_workspace
    settings = _settings(file, settings_file)
    ws = resolve_workspace(workspace, settings)
    _check_workspace(ws, write=not dry_run)
    defs = _defines(defines)
    if not (force or force_all or detach) and _fast_noop(ws, file, defs, name, targets,
                                                         dry_run, as_json,
                                                         settings.get("namespace")):
        sys.exit(0)
    from . import noop
    from .build import build
    from .report import PlainReporter, RichReporter, console, render_plan, render_summary
    plan = load_plan(file, defines, name, settings=settings)
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
    try:
        result = build(plan, ws, targets=targets, jobs=jobs, keep_going=keep_going, force=force,
                       force_all=force_all, dry_run_only=dry_run, launcher=launcher,
                       env=settings.get("env"), reporter=reporter, detach=detach,
                       settings=settings,
                       on_interrupt=_interrupt_policy(cancel_on_interrupt, leave_running))
    except ValueError as err:
        _fail(f"error: {err}")
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
                        settings.get("namespace"))
        except OSError:
            pass        # only the fast path of the next run is lost (read-only, full disk)
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
@click.option("--detach", is_flag=True,
              help="Slurm: submit every stale job chained with afterok, then exit.")
@click.option("--cancel-on-interrupt", is_flag=True,
              help="On Ctrl-C, cancel the running jobs without asking.")
@click.option("--leave-running", is_flag=True,
              help="On Ctrl-C, leave the running jobs running (the next run re-attaches).")
def run(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
        as_json, name, settings_file, dry_run, detach, cancel_on_interrupt, leave_running):
    """Build the stale jobs of FILE (or of the TARGETS: TASK or TASK[tag=value,...])."""
    if cancel_on_interrupt and leave_running:
        raise click.UsageError("--cancel-on-interrupt and --leave-running exclude each other")
    _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file, detach, cancel_on_interrupt, leave_running)


@main.command()
@build_options
def plan(file, targets, workspace, jobs, launcher_name, defines, keep_going, force, force_all,
         as_json, name, settings_file):
    """Say which jobs of FILE would run, and why (same as run --dry-run)."""
    _build(file, targets, workspace, jobs, launcher_name, defines, True, keep_going, force,
           force_all, as_json, name, settings_file)


@main.command("launchers")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
@click.option("--file", "experiment", type=click.Path(dir_okay=False),
              help="Also read the xpmbuild.toml next to this experiment file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def launchers_cmd(settings_file, experiment, as_json):
    """List the configured launchers and check that each is reachable."""
    from rich.table import Table
    from .launchers import make_launcher
    from .report import console
    settings = _settings(experiment, settings_file)
    rows = []
    for name, cfg in sorted(settings.get("launchers", {}).items()):
        kind = cfg.get("type", name)
        try:
            launcher = make_launcher(name, settings)
            check = getattr(launcher, "check_reachable", None)
            detail = check() if check else f"{launcher.slots()} cpu slots on this machine"
            ok = True
        except Exception as e:  # report, do not crash: this command is a diagnosis
            ok, detail = False, str(e)
        rows.append({"name": name, "type": kind, "connector": cfg.get("connector", "local"),
                     "reachable": ok, "detail": detail})
    if as_json:
        _print_json({"launchers": rows, "settings_files": settings.get("_files", [])})
    else:
        from .report import text
        table = Table(title="launchers", title_justify="left")
        for col in ("name", "type", "connector", "reachable", "detail"):
            table.add_column(col)
        for r in rows:
            table.add_row(text(r["name"]), text(r["type"]), text(r["connector"]),
                          text("yes", "green") if r["reachable"] else text("no", "red"),
                          text(r["detail"]))
        console().print(table)
    if not all(r["reachable"] for r in rows):
        sys.exit(1)


workspace_option = click.option("-w", "--workspace", metavar="DIR",
                                help="Workspace (default: $XPM_WORKSPACE, the `workspace` "
                                     "setting, ./xpm-workspace).")


def _workspace(workspace, settings_file=None):
    from .workspace import Workspace, resolve_workspace
    # no experiment file here: the xpmbuild.toml of the current directory, if any
    settings = _settings(os.path.join(os.getcwd(), "_") if os.path.isfile("xpmbuild.toml")
                         else None, settings_file)
    root = resolve_workspace(workspace, settings)
    _check_workspace(root, write=False)
    if not os.path.isdir(os.path.join(root, "jobs")):
        _fail(f"error: no workspace at {root} (run `xpmbuild run` first, or give -w DIR)")
    return Workspace(root), settings


def _status_launchers(settings):
    """Launchers that can tell about detached jobs (cluster ones); built lazily."""
    from .launchers import status_launchers
    return status_launchers(settings)


def _records(ws, settings, experiment, task=(), state=(), tag=(), job=()):
    from .status import filter_records, parse_tag_filters, records
    if experiment and experiment not in ws.experiments():
        _fail(f"error: no experiment {experiment!r} in {ws.root}; experiments: "
              + (", ".join(ws.experiments()) or "(none)"))
    try:
        tags = parse_tag_filters(tag)
    except ValueError as err:
        _fail(f"error: {err}")
    ws.load_index()
    try:
        recs = records(ws, experiment, _status_launchers(settings))
    finally:
        ws.close()
    return filter_records(recs, task, state, tags, job)


def _records_table(recs, title):
    from rich.table import Table
    from .report import fmt_tags, status_text, text
    table = Table(title=text(title), title_justify="left")
    for col in ("job", "status", "tags", "note"):
        table.add_column(col)
    for r in recs:
        table.add_row(text(r.short), status_text(r.status), text(fmt_tags(r.tags)),
                      text("; ".join(str(x) for x in r.reasons)))
    return table


@main.command()
@workspace_option
@click.option("--experiment", help="Only the jobs of this experiment.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
def status(workspace, experiment, as_json, settings_file):
    """Jobs of the workspace by state, with their tags."""
    from rich.table import Table
    from .report import console, status_text, text
    ws, settings = _workspace(workspace, settings_file)
    recs = _records(ws, settings, experiment)
    counts: dict = {}
    for r in recs:
        counts[r.status] = counts.get(r.status, 0) + 1
    if as_json:
        _print_json({"experiment": experiment, "workspace": ws.root,
                     "nodes": [r.to_json() for r in recs],
                     "summary": dict(counts, jobs=len(recs))})
        return
    con = console()
    states = sorted(counts)
    by_task: dict = {}
    for r in recs:
        row = by_task.setdefault(r.task, {})
        row[r.status] = row.get(r.status, 0) + 1
    summary = Table(title=text(f"{ws.root}" + (f" — experiment {experiment}" if experiment
                                                else "")), title_justify="left")
    summary.add_column("task")
    for st in states:
        summary.add_column(status_text(st), justify="right")
    summary.add_column("total", justify="right")
    for task, row in sorted(by_task.items()):
        summary.add_row(text(task), *[str(row.get(st, "")) for st in states],
                        str(sum(row.values())))
    summary.add_row(text("all", "bold"), *[text(counts[st], "bold") for st in states],
                    text(len(recs), "bold"))
    con.print(summary)
    notable = [r for r in recs if r.status != "done"]
    if notable:
        con.print(_records_table(notable[:200], "jobs not done"))


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


@main.group()
def jobs():
    """Inspect and manage job folders."""


@jobs.command("list")
@job_filters
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def jobs_list(workspace, experiment, task, state, tag, settings_file, as_json):
    """List jobs (filters: --task, --state, --tag, --experiment)."""
    from .report import console
    ws, settings = _workspace(workspace, settings_file)
    recs = _records(ws, settings, experiment, task, state, tag)
    if as_json:
        _print_json({"workspace": ws.root, "nodes": [r.to_json() for r in recs]})
        return
    console().print(_records_table(recs, f"{len(recs)} jobs"))


def _one_job(ws, settings, job):
    recs = _records(ws, settings, None, job=(job,))
    if not recs:
        _fail(f"error: no job matches {job!r} (give TASK/ID-PREFIX or an id prefix of at least "
              "4 characters)")
    if len(recs) > 1:
        _fail(f"error: {job!r} matches {len(recs)} jobs: "
              + ", ".join(r.short for r in recs[:5]))
    return recs[0]


@jobs.command("log")
@click.argument("job")
@workspace_option
@click.option("--stdout", "which", flag_value="stdout", help="Show stdout.log.")
@click.option("--stderr", "which", flag_value="stderr", help="Show stderr.log (default: both).")
@click.option("-n", "--lines", type=int, default=None, help="Only the last N lines.")
def jobs_log(job, workspace, which, lines):
    """Print a job's stdout.log and stderr.log."""
    ws, settings = _workspace(workspace)
    r = _one_job(ws, settings, job)
    for name in ([which] if which else ["stdout", "stderr"]):
        path = os.path.join(r.dir, f"{name}.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = None
        if not which:
            click.echo(f"==> {path} <==", err=False)
        if text is None:
            click.echo("(no log yet)")
            continue
        if lines is not None:
            text = "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
        click.echo(text, nl=False)


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
    from .status import kill
    from .workspace import ACTIVE
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
    from .status import clean
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


@main.command("gc")
@workspace_option
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be removed, and how much.")
@click.option("-y", "--yes", is_flag=True, help="Remove without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def gc_cmd(workspace, dry_run, yes, as_json):
    """Remove job folders that no experiment's latest plan uses (nor their dependencies).

    Running jobs are never touched. On a terminal it asks first; elsewhere give --yes."""
    from rich.markup import escape
    from rich.table import Table

    from . import gc
    from .report import console
    ws, _settings_ = _workspace(workspace)
    found = gc.collect(ws)
    if as_json:
        doc = {"workspace": ws.root, "garbage": [g.to_json() for g in found.garbage],
               "bytes": found.size, "kept": found.kept,
               "running": [g.to_json() for g in found.busy], "removed": 0}
    out = console()
    if not as_json:
        if found.garbage:
            table = Table(title=f"{len(found.garbage)} job folders no plan uses "
                                f"({gc.human(found.size)})", title_justify="left")
            for col in ("job", "status", "size"):
                table.add_column(col, justify="right" if col == "size" else "left")
            for g in found.garbage:
                table.add_row(escape(f"{g.task}/{g.id[:8]}"), g.status, gc.human(g.size))
            out.print(table)
        for g in found.busy:
            out.print(escape(f"kept {g.task}/{g.id[:8]}: it is {g.status}"))
        out.print(f"{found.kept} job folders are used by the experiments' latest plans")
    if not found.garbage or dry_run:
        if as_json:
            _print_json(doc)
        return
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"error: would remove {len(found.garbage)} job folders "
                  f"({gc.human(found.size)}): give --yes to remove them", 1)
        if not click.confirm(f"Remove {len(found.garbage)} job folders "
                             f"({gc.human(found.size)})?", default=False):
            return
    removed, freed = gc.remove(ws, found)
    if as_json:
        doc["removed"] = removed
        _print_json(doc)
    else:
        out.print(f"removed {removed} job folders ({gc.human(freed)})")


def run_main():  # console-script entry point
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    run_main()
