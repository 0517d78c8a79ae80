"""Live terminal views: ``xpmbuild status --watch`` and ``xpmbuild jobs log --follow``.

The watch reads the same truth as ``status`` (status.py's records, through jobs.find)
each interval: counts per task and state, the running jobs with their elapsed time, the
last failures with the tail of their stderr. On a terminal it is a rich Live view; off
one (a pipe, a log) it prints one frame per interval. Ctrl-C ends both with exit 0.
"""
from __future__ import annotations

import os
import sys
import time

from .workspace import ACTIVE

SHOWN_FAILURES = 5


def snapshot(recs, now: float | None = None) -> dict:
    """What the watch shows, from job records: counts, running jobs, last failures."""
    from .jobs import counts
    now = time.time() if now is None else now
    total, by_task = counts(recs)
    running = []
    failures = []
    for r in recs:
        st = r.state or {}
        if r.status in ACTIVE:
            started = st.get("started")
            running.append((r, now - started if isinstance(started, (int, float)) else None))
        elif r.status == "failed" and st:
            failures.append(r)
    running.sort(key=lambda x: -(x[1] or 0))
    failures.sort(key=lambda r: -((r.state or {}).get("ended") or 0))
    return {"counts": total, "by_task": by_task, "running": running,
            "failures": failures[:SHOWN_FAILURES], "jobs": len(recs)}


def render(snap: dict, title: str):
    """The view of a snapshot, as one rich renderable."""
    from rich.console import Group
    from rich.table import Table
    from .build import tail
    from .report import elapsed, fmt_tags, status_text, text
    states = sorted(snap["counts"])
    table = Table(title=text(title), title_justify="left")
    table.add_column("task")
    for st in states:
        table.add_column(status_text(st), justify="right")
    table.add_column("total", justify="right")
    for task, row in sorted(snap["by_task"].items()):
        table.add_row(text(task), *[str(row.get(st, "")) for st in states],
                      str(sum(row.values())))
    table.add_row(text("all", "bold"), *[text(snap["counts"][st], "bold") for st in states],
                  text(snap["jobs"], "bold"))
    parts = [table]
    if snap["running"]:
        parts.append(text(f"running ({len(snap['running'])}):", "bold cyan"))
        for r, secs in snap["running"][:20]:
            tags = fmt_tags(r.tags)
            parts.append(text(f"  ▸ {r.short}" + (f" [{tags}]" if tags else "")
                              + f"  {r.status} {elapsed(secs) if secs is not None else ''}",
                              "cyan"))
        if len(snap["running"]) > 20:
            parts.append(text(f"  + {len(snap['running']) - 20} more", "cyan"))
    if snap["failures"]:
        parts.append(text("last failures:", "bold red"))
        for r in snap["failures"]:
            why = "; ".join(str(x) for x in r.reasons)
            parts.append(text(f"  ✗ {r.short}: {why}", "red"))
            for line in tail(os.path.join(r.dir, "stderr.log"), 3).splitlines():
                parts.append(text(f"    │ {line}"))
    return Group(*parts)


def watch(read_records, title: str, interval: float, con, live: bool, frames=None):
    """Show the view every ``interval`` seconds until Ctrl-C (or ``frames`` frames)."""
    n = 0
    try:
        if live:
            from rich.live import Live
            with Live(render(snapshot(read_records()), title), console=con,
                      auto_refresh=False, transient=False) as view:
                while frames is None or n < frames:
                    n += 1
                    time.sleep(interval)
                    view.update(render(snapshot(read_records()), title), refresh=True)
        else:
            while frames is None or n < frames:
                n += 1
                con.print(text_rule(time.strftime("%H:%M:%S")))
                con.print(render(snapshot(read_records()), title))
                con.file.flush()
                time.sleep(interval)
    except KeyboardInterrupt:
        pass


def text_rule(label: str):
    from .report import text
    return text(f"── {label} " + "─" * 40, "dim")


# ----------------------------------------------------------------------------- follow


def follow(ws, record, which=None, poll: float = 0.2, out=None, err=None, start_lines=None):
    """Copy a job's logs as they grow (``which``: "stdout" or "stderr", else both: its
    stdout to ``out``, its stderr to ``err``) until the job ends; Ctrl-C stops early."""
    from .launchers.base import read_exit_file
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    names = [which] if which else ["stdout", "stderr"]
    sinks = {"stdout": out, "stderr": err if not which else out}
    offsets = {n: _start_offset(os.path.join(record.dir, f"{n}.log"), start_lines)
               for n in names}

    def copy():
        for n in names:
            path = os.path.join(record.dir, f"{n}.log")
            try:
                with open(path, "rb") as f:
                    f.seek(offsets[n])
                    data = f.read()
            except OSError:
                continue
            if data:
                offsets[n] += len(data)
                sinks[n].write(data)
                sinks[n].flush()

    try:
        while True:
            copy()
            state = ws.read_state(record.dir, record.id) or {}
            if state.get("status") not in ACTIVE or (
                    not ws.is_locked(record.dir) and read_exit_file(record.dir) is not None):
                copy()
                return state.get("status")
            time.sleep(poll)
    except KeyboardInterrupt:
        return None


def _start_offset(path, lines):
    """Where following starts: the beginning, or the start of the last ``lines`` lines."""
    if lines is None:
        return 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    if lines <= 0:
        return len(data)
    cut = len(data)
    for _ in range(lines + (1 if data.endswith(b"\n") else 0)):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return 0
    return cut + 1
