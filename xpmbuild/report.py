"""Rendering for people: build progress (rich on a terminal, plain lines otherwise),
plans and status tables. Colour only on a terminal; machines use ``--json``.

Every user-supplied text (tags, paths, reasons, error messages, task and experiment names)
reaches rich as a :class:`~rich.text.Text` (:func:`text`) or escaped (:func:`esc`), never as
markup: a tag ``"[/]"`` or ``"[bold]x"`` is printed as it is.
"""
from __future__ import annotations

import sys
import time

from .reporter import Reporter

STATUS_STYLE = {"done": "green", "failed": "red", "running": "cyan", "queued": "cyan",
                "new": "yellow", "stale": "yellow", "waiting": "blue", "cancelled": "magenta",
                "lost": "magenta"}


def console(stderr=False, **kw):
    """A console for people; no emoji codes (``:x:`` in a tag stays as written)."""
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, emoji=False, **kw)


def text(value, style: str = ""):
    """A rich Text of ``value`` (never parsed as markup)."""
    from rich.text import Text
    return Text(str(value), style=style or "")


def esc(value) -> str:
    """``value`` escaped for insertion into rich markup."""
    from rich.markup import escape
    return escape(str(value))


def status_text(status):
    return text(status, STATUS_STYLE.get(status, "") if isinstance(status, str) else "")


def fmt_tags(tags: dict) -> str:
    """One formatting of tags (graph.py's; imported on first use: drawing a plan that lists
    no job imports neither the graph nor the model)."""
    global _format_tags
    if _format_tags is None:
        from .graph import format_tags
        _format_tags = format_tags
    return _format_tags(tags)


_format_tags = None


PLAN_DONE_ROWS = 50     # a plan of more jobs than this lists only the jobs that would run
# the rows a plan table shows at most (a rich table costs ~0.5 ms a row: 500 rows were a
# quarter of a second); --json lists every job
PLAN_SHOWN_ROWS = 100


def fmt_resources(res) -> str:
    """``state.json``'s ``resources`` in words: "12.3s wall, 11.9s cpu, 105 MB"."""
    if not isinstance(res, dict):
        return ""
    out = []
    for key, unit in (("wall", "s wall"), ("cpu", "s cpu")):
        if isinstance(res.get(key), (int, float)):
            out.append(f"{res[key]:.1f}{unit}")
    rss = res.get("max_rss")
    if isinstance(rss, (int, float)):
        out.append(f"{rss / 1e6:.0f} MB" if rss >= 1e6 else f"{rss / 1e3:.0f} kB")
    return ", ".join(out)


def label(job) -> str:
    tags = fmt_tags(job.tags)
    return job.short + (f" [{tags}]" if tags else "")


class PlainReporter(Reporter):
    """One line per event, for logs and pipes. Lines are written in bursts, at most
    FLUSH_EVERY seconds after they happen (the scheduler waits no longer while some are
    held: ``unflushed``), not one write per line (20,000 lines of a 10k build cost a
    syscall each)."""

    FLUSH_EVERY = 0.1

    def __init__(self, out=None, total=0):
        self.out = out or sys.stderr
        self.total = total
        self.t0 = time.monotonic()
        self._held: list[str] = []
        self._flushed = self.t0

    @property
    def unflushed(self) -> bool:
        return bool(self._held)

    def _w(self, text):
        self._held.append(text)
        if time.monotonic() - self._flushed >= self.FLUSH_EVERY:
            self.flush()

    def flush(self):
        if self._held:
            text = "\n".join(self._held) + "\n"
            self._held = []
            self.out.write(text)
            self.out.flush()
        self._flushed = time.monotonic()

    def tick(self, scheduler):
        if self._held and time.monotonic() - self._flushed >= self.FLUSH_EVERY:
            self.flush()

    def stop(self):
        self.flush()

    pause = stop        # before the Ctrl-C question: what happened so far is shown

    def started(self, node):
        why = "; ".join(node.reasons[:2])
        verb = "attach " if why.startswith("re-attached") else (
            "submit " if node.status == "queued" else "start  ")
        self._w(f"{verb} {label(node.job)}" + (f"  ({why})" if why else ""))

    def finished(self, node):
        if node.status == "done":
            self._w(f"done    {node.job.short}")
        else:
            self._w(f"FAILED  {node.job.short}: {node.error or node.status}")

    def skipped(self, node):
        self._w(f"skip    {node.job.short}: {node.reasons[0] if node.reasons else ''}")

    def waiting_elsewhere(self, node):
        self._w(f"wait    {node.job.short}: {node.reasons[0] if node.reasons else ''}")

    def notice(self, text):
        self._w(f"note    {text}")
        self.flush()

    def message(self, line):
        self._w(line)
        self.flush()


SHOWN_RUNNING = 5


def elapsed(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h01m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def running_lines(running, now: float, shown: int = SHOWN_RUNNING):
    """The oldest ``shown`` of ``running`` ((label, started) pairs) as Texts with their
    elapsed time, and "+N more"."""
    oldest = sorted(running, key=lambda x: x[1])
    out = [text(f"  ▸ {name}  ({elapsed(now - t0)})", "cyan") for name, t0 in oldest[:shown]]
    if len(oldest) > shown:
        out.append(text(f"  + {len(oldest) - shown} more running", "cyan"))
    return out


class RichReporter(Reporter):
    """A live progress bar with counts and the running jobs (the oldest five, with their
    elapsed time); job failures and messages scroll above it."""

    def __init__(self, total: int):
        from rich.console import Group
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn)
        self.console = console(stderr=True)
        self.total = total
        self.done = self.failed = 0
        self.running = 0            # len(self.jobs), for the counts
        self.jobs: dict = {}        # job id -> (label, monotonic start) of the running jobs
        reporter = self

        class _Progress(Progress):
            def get_renderables(self):
                table = self.make_tasks_table(self.tasks)
                try:
                    jobs = tuple(reporter.jobs.values())
                except RuntimeError:        # changed meanwhile: drawn at the next refresh
                    jobs = ()
                lines = running_lines(jobs, time.monotonic())
                yield Group(table, *lines) if lines else table

        self.progress = _Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                                  BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                  console=self.console, transient=False)
        self.task = self.progress.add_task("building", total=total, info="")
        self.progress.start()

    def _update(self):
        left = self.total - self.done - self.failed
        self.running = len(self.jobs)
        self.progress.update(self.task, completed=self.done + self.failed,
                             info=f"[green]{self.done} done[/] [cyan]{self.running} running[/] "
                                  f"[red]{self.failed} failed[/] {left - self.running} left")

    def started(self, node):
        self.jobs[node.job.id] = (label(node.job), time.monotonic())
        self._update()

    def finished(self, node):
        self.jobs.pop(node.job.id, None)
        if node.status == "done":
            self.done += 1
        else:
            self.failed += 1
            self.progress.console.print(f"[red]✗ {esc(node.job.short)}[/]: {esc(node.error)}")
        self._update()

    def up_to_date(self, node):
        self.done += 1
        self._update()

    def skipped(self, node):
        self.failed += 1
        self._update()

    def waiting_elsewhere(self, node):
        self.progress.console.print(f"[blue]… {esc(node.job.short)}[/]: "
                                    f"{esc(node.reasons[0]) if node.reasons else ''}")

    def notice(self, text):
        self.progress.console.print(f"[yellow]! {esc(text)}[/]")

    def message(self, line):
        self.progress.console.print(text(line))

    def pause(self):
        """Stop drawing (before a question at the terminal: it is not drawn over)."""
        self.progress.stop()

    def stop(self):
        self._update()
        self.progress.stop()


def render_plan(result, con) -> None:
    from rich.table import Table
    nodes = result.nodes
    will = [n for n in nodes if n.will_run]
    table = Table(title=text(f"plan of {result.plan.name}: {len(will)} of {len(nodes)} jobs "
                             "would run"), title_justify="left")
    table.add_column("job")
    table.add_column("tags")
    table.add_column("status")
    routes, default = getattr(result, "routes", {}), getattr(result, "launcher_name", "local")
    routed = any(name != default for name in routes.values())     # several launchers
    if routed:
        table.add_column("launcher")
    table.add_column("why")
    shown = 0
    for n in nodes:
        if not n.will_run and len(nodes) > PLAN_DONE_ROWS:
            continue
        shown += 1
        if shown > PLAN_SHOWN_ROWS:
            table.add_row("…", "", "", *([""] if routed else []),
                          f"{len(will) - PLAN_SHOWN_ROWS} more (--json lists them all)")
            break
        st = n.status
        where = [text(routes.get(n.job.task.name, default))] if routed else []
        table.add_row(text(n.job.short), text(fmt_tags(n.job.tags)), status_text(st), *where,
                      text("; ".join(n.reasons)))
    con.print(table)


def summary_line(result) -> str:
    """The last line of a run: ``N jobs: D done (R ran, U up to date), F failed, S skipped``."""
    failed = sum(1 for n in result.nodes if n.status == "failed" and not n.skipped)
    skipped = sum(1 for n in result.nodes if n.skipped)
    c = result.counts
    done = sum(1 for n in result.nodes if n.status == "done")
    msg = (f"{len(result.nodes)} jobs: {done} done ({c.get('ran', 0)} ran, "
           f"{c.get('up_to_date', 0)} up to date), {failed} failed, {skipped} skipped")
    return msg + (" — interrupted" if result.interrupted else "")


def plain_summary(result, out=None) -> bool:
    """Print the summary of a run that went well without rich, when rich would print the
    same plain line (not a terminal, no colour forced, a line shorter than its width);
    False: nothing printed, render_summary's to do."""
    import os
    out = out or sys.stdout
    env = os.environ
    if not result.ok or getattr(result, "detached", False) or out.isatty() or any(
            k in env for k in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")):
        return False
    line = summary_line(result)
    try:
        width = int(env.get("COLUMNS") or 80)
    except ValueError:
        return False
    if len(line) >= width or not line.isprintable():
        return False
    out.write(line + "\n")
    return True


def render_summary(result, con) -> None:
    from .build import tail
    import os
    failed = [n for n in result.nodes if n.status == "failed" and not n.skipped]
    skipped = [n for n in result.nodes if n.skipped]
    for n in failed[:5]:
        con.print(f"[red bold]✗ {esc(label(n.job))}[/] failed: {esc(n.error)}")
        con.print(text(f"  folder: {n.dir}"))
        t = tail(os.path.join(n.dir, "stderr.log"))
        if t:
            con.print("  [dim]stderr.log (last lines):[/]")
            for line in t.splitlines():
                con.print("  │ " + line, markup=False, highlight=False)
    for n in skipped[:5]:
        con.print(f"[yellow]- {esc(label(n.job))}[/] skipped: {esc('; '.join(n.reasons))}")
    if len(skipped) > 5:
        con.print(f"[yellow]- … and {len(skipped) - 5} more skipped[/]")
    if getattr(result, "detached", False):
        submitted = [n for n in result.nodes if n.status in ("queued", "running")]
        for n in submitted:
            con.print(f"[cyan]{esc(n.state.get('launcher_id') if n.state else '?')}[/]  "
                      f"{esc(label(n.job))}  ({esc('; '.join(n.reasons[:2]))})")
        con.print(f"[cyan]{len(submitted)} jobs queued on {esc(result.launcher_name)}[/]; "
                  "`xpmbuild status` follows them")
    style = "green" if result.ok else "red"
    con.print(text(summary_line(result), style))
