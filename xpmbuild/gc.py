"""Garbage collection: job folders that no experiment's latest plan uses.

Every ``xpmbuild run`` records its whole plan in ``experiments/NAME/jobs.jsonl`` (no-op and
targeted runs included), so the union of those records, with the dependencies their jobs
name in ``params.json``, is what the workspace still needs. Anything else is garbage: jobs
of parameters since changed, of tasks since removed. A job recorded as queued or running,
or whose folder is locked, is never touched. To let an experiment's jobs go, remove its
folder under ``experiments/`` first.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from .workspace import ACTIVE, Workspace


@dataclass
class Garbage:
    task: str
    id: str
    dir: str
    status: str
    size: int

    def to_json(self):
        return {"task": self.task, "id": self.id, "dir": self.dir, "status": self.status,
                "bytes": self.size}


@dataclass
class Collection:
    garbage: list = field(default_factory=list)     # Garbage, to remove
    kept: int = 0                                   # job folders some plan uses
    busy: list = field(default_factory=list)        # unused but running: left alone

    @property
    def size(self) -> int:
        return sum(g.size for g in self.garbage)


def folder_size(path: str) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def used_ids(ws: Workspace, dirs: dict) -> set:
    """Ids of the jobs every experiment's latest plan uses, and their dependencies."""
    wanted = set()
    for name in ws.experiments():
        for row in ws.experiment_jobs(name):
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                wanted.add(row["id"])
    stack = list(wanted)
    while stack:
        d = dirs.get(stack.pop())
        if d is None:
            continue
        try:
            with open(os.path.join(d, "params.json"), encoding="utf-8") as f:
                deps = json.load(f).get("deps") or []
        except (OSError, ValueError, AttributeError):
            continue
        for dep in deps:
            if isinstance(dep, str) and dep not in wanted:
                wanted.add(dep)
                stack.append(dep)
    return wanted


def collect(ws: Workspace) -> Collection:
    """What :func:`remove` would remove (nothing is changed)."""
    all_dirs = {job_id: (task, d) for task, job_id, d in ws.all_job_dirs()}
    wanted = used_ids(ws, {k: v[1] for k, v in all_dirs.items()})
    out = Collection()
    for job_id, (task, d) in sorted(all_dirs.items(), key=lambda kv: (kv[1][0], kv[0])):
        if job_id in wanted:
            out.kept += 1
            continue
        state = ws.read_state(d) or {}
        status = state.get("status", "new") if isinstance(state, dict) else "lost"
        g = Garbage(task, job_id, d, status, folder_size(d))
        if status in ACTIVE or ws.is_locked(d):
            out.busy.append(g)
        else:
            out.garbage.append(g)
    return out


def remove(ws: Workspace, collection: Collection) -> tuple[int, int]:
    """Remove the garbage folders, each under its lock: (removed, bytes freed)."""
    removed = freed = 0
    for g in collection.garbage:
        try:
            lock = ws.try_lock(g.dir)
        except OSError:
            continue
        if lock is None:        # it started meanwhile
            continue
        try:
            state = ws.read_state(g.dir) or {}
            if isinstance(state, dict) and state.get("status") in ACTIVE:
                continue
            shutil.rmtree(g.dir, ignore_errors=True)
        finally:
            lock.release()
        removed += 1
        freed += g.size
        try:
            os.rmdir(os.path.dirname(g.dir))       # the task's folder, once empty
        except OSError:
            pass
    return removed, freed


def human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
