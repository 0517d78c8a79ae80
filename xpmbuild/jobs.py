"""Finding and managing the jobs of a workspace: records filtered by experiment, task,
state, tags or name; one job by name; its logs; kill and clean. The library behind
``status`` and ``xpmbuild jobs`` (the CLI only parses and renders).
"""
from __future__ import annotations

import os
import shutil

from .launchers.base import Launcher
from .status import JobRecord, records
from .workspace import ACTIVE, CANCEL_FILE, CANCELLED, Workspace, atomic_write, now


class JobQueryError(ValueError):
    """A query that names nothing (an unknown experiment, a job matching none or many)."""


def find(ws: Workspace, launchers=None, experiment=None, task=(), state=(), tag=(),
         job=()) -> list[JobRecord]:
    """The workspace's job records (reconciled, see status.py), filtered."""
    if experiment and experiment not in ws.experiments():
        raise JobQueryError(f"no experiment {experiment!r} in {ws.root}; experiments: "
                            + (", ".join(ws.experiments()) or "(none)"))
    tags = parse_tag_filters(tag)
    ws.load_index()
    try:
        recs = records(ws, experiment, launchers)
    finally:
        ws.close()
    return filter_records(recs, task, state, tags, job)


def one(ws: Workspace, job: str, launchers=None) -> JobRecord:
    """The one job named ``job`` (TASK/ID-PREFIX, an id prefix, or its folder)."""
    recs = find(ws, launchers, job=(job,))
    if not recs:
        raise JobQueryError(f"no job matches {job!r} (give TASK/ID-PREFIX or an id prefix of "
                            "at least 4 characters)")
    if len(recs) > 1:
        raise JobQueryError(f"{job!r} matches {len(recs)} jobs: "
                            + ", ".join(r.short for r in recs[:5]))
    return recs[0]


def logs(r: JobRecord, which=None, lines=None) -> list[tuple[str, str | None]]:
    """(path, text or None when there is none yet) of the job's stdout and stderr logs."""
    out = []
    for name in ([which] if which else ["stdout", "stderr"]):
        path = os.path.join(r.dir, f"{name}.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except (FileNotFoundError, IsADirectoryError):
            text = None
        if text is not None and lines is not None:
            text = "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
        out.append((path, text))
    return out


def counts(recs) -> tuple[dict, dict]:
    """({status: n}, {task: {status: n}}) of some records."""
    total: dict = {}
    by_task: dict = {}
    for r in recs:
        total[r.status] = total.get(r.status, 0) + 1
        row = by_task.setdefault(r.task, {})
        row[r.status] = row.get(r.status, 0) + 1
    return total, by_task


def resource_totals(recs) -> dict:
    """{task: (total cpu seconds, largest max_rss)} of the records that measured them."""
    out: dict = {}
    for r in recs:
        res = (r.state or {}).get("resources")
        if not isinstance(res, dict):
            continue
        cpu, rss = out.get(r.task, (None, None))
        c, m = res.get("cpu"), res.get("max_rss")
        if isinstance(c, (int, float)):
            cpu = (cpu or 0) + c
        if isinstance(m, (int, float)):
            rss = max(rss or 0, m)
        out[r.task] = (cpu, rss)
    return out


def parse_tag_filters(items) -> dict:
    from .graph import parse_assignments
    return parse_assignments(items, "--tag", strip=True)


def filter_records(recs, task=None, state=None, tags=None, job=None):
    from .graph import tag_matches
    out = []
    for r in recs:
        if task and r.task not in task:
            continue
        if state and r.status not in state:
            continue
        if tags and not all(k in r.tags and tag_matches(r.tags[k], v) for k, v in tags.items()):
            continue
        if job and not any(matches_job(r, j) for j in job):
            continue
        out.append(r)
    return out


def matches_job(r: JobRecord, text: str) -> bool:
    """``ID-prefix``, ``TASK/ID-prefix`` or a job folder path."""
    text = text.rstrip("/")
    if os.sep in text and os.path.isdir(text):
        return os.path.realpath(text) == os.path.realpath(r.dir)
    if "/" in text:
        task, prefix = text.split("/", 1)
        return r.task == task and r.id.startswith(prefix)
    return len(text) >= 4 and r.id.startswith(text)


def kill(ws: Workspace, r: JobRecord, launchers=None) -> str:
    """Stop a queued or running job. Returns what was done, in words."""
    state = r.state or {}
    if r.status not in ACTIVE:
        return f"{r.short} is {r.status}, not running"
    launcher = launchers.get(state.get("launcher")) if launchers is not None else None
    try:        # the mark tells whoever records the end (a run, the job) it was cancelled
        atomic_write(os.path.join(r.dir, CANCEL_FILE), "")
    except OSError:
        pass
    (launcher or Launcher()).cancel_record(state)
    if not ws.is_locked(r.dir):
        # no xpmbuild watches it: record the cancellation ourselves
        ws.write_state(r.dir, dict(state, status=CANCELLED, reason="killed (xpmbuild jobs kill)",
                                   ended=now()))
    return f"{r.short}: cancelled"


def clean(r: JobRecord) -> bool:
    if r.status in ACTIVE:
        return False
    shutil.rmtree(r.dir, ignore_errors=True)
    parent = os.path.dirname(r.dir)
    try:
        os.rmdir(parent)
    except OSError:
        pass
    return True
