"""``run`` and ``plan`` themselves, without the command-line framework: building.py's
click commands call :func:`_build`, and so does the fast reader (fastpath.py) for a
command line it reads exactly as click would, so that a run imports neither click nor
rich-click (~60 ms of its start)."""
from __future__ import annotations

import os
import sys

from .plain import (EXIT_INTERRUPTED, _check_workspace, _fail, _make_launcher, _os_error,
                    _print_json, _settings, load_plan, select_jobs)


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
            import click
            return click.confirm(f"\nInterrupted: cancel the {n} running job{'s' if n > 1 else ''}"
                                 " (no: leave them running; the next run re-attaches)?",
                                 default=True, err=True)
        except (click.Abort, EOFError, KeyboardInterrupt):
            return True
    return ask


def _build(file, targets, workspace, jobs, launcher_name, defines, dry_run, keep_going, force,
           force_all, as_json, name, settings_file, detach=False, cancel_on_interrupt=False,
           leave_running=False, keep_services=False, noop_checked=False):
    """``noop_checked``: the no-op manifest was looked at already (fastpath.try_build)."""
    from ..workspace import resolve_workspace
    settings = _settings(file, settings_file)
    ws = resolve_workspace(workspace, settings)
    _check_workspace(ws, write=not dry_run)
    defs = defines
    from .fastpath import answer_noop
    if not (force or force_all or detach or noop_checked) and answer_noop(
            ws, file, defs, name, targets, dry_run, as_json, settings.get("namespace"),
            settings, launcher_name):
        sys.exit(0)
    from .. import noop
    from ..build import build
    from ..report import (PlainReporter, RichReporter, console, plain_summary, render_plan,
                          render_summary)
    from ..launchers.base import LauncherError
    inc = None
    if not (force or force_all or detach):      # some files changed: which jobs they concern
        from ..incremental import prepare
        inc = prepare(ws, file, defs, name, targets, dry_run, settings.get("namespace"),
                      noop.routing(settings, launcher_name))
    plan = inc.plan if inc is not None else load_plan(file, defs, name, settings=settings)
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
        if not plain_summary(result):       # (no rich to import for the usual line)
            render_summary(result, console(stderr=False))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0 if result.ok else 1)
