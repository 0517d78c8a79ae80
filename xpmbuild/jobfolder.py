"""A job's folder before and after a build: preparing it, and keeping to it.

Before a job runs, its folder gets ``params.json`` and ``command.sh`` (written only when
they changed) and the previous build's outputs and exit record are cleared. Clearing never
follows a link out of the folder: a link the job made (``sub -> /elsewhere``) is removed
as a link, and what it points to is left alone. After a build, an output that leads out of
the folder through a link is a failure of the job (:func:`escaping_output`).
"""
from __future__ import annotations

import json
import os
import stat

from . import actions
from .workspace import CANCEL_FILE, EXIT_FILE


def _rmtree(path: str):
    import shutil       # (~3 ms to import, with its compressors: only when there is a tree)
    shutil.rmtree(path)


def write_if_changed(path: str, text: str, new_dir=False):
    """Write ``text`` to ``path`` unless it holds it already (``new_dir``: the folder was
    just made, nothing to compare or to clear)."""
    if not new_dir:
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    return
        except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
            pass
        if os.path.isdir(path) and not os.path.islink(path):
            _rmtree(path)
    # os-level, as atomic_write: no text-file object (two files a job, thousands a minute)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(text.encode("utf-8"))
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def prepare(job, job_dir: str, action_text: str, new: bool):
    """Write params.json and command.sh; clear the previous build's results."""
    write_definition(job, job_dir, action_text, new)
    clear_previous(job, job_dir, new)


def write_definition(job, job_dir: str, action_text: str, new: bool):
    """params.json and command.sh (each written only when it changed)."""
    # not atomic on purpose: the job is not done until state.json says so; compact JSON,
    # as state.json: the C encoder (``indent`` would use the pure-Python one, 0.2 ms a job)
    write_if_changed(job_dir + "/params.json",
                     json.dumps(actions.params_document(job), sort_keys=True), new)
    write_if_changed(job_dir + "/command.sh", actions.command_script(job, action_text), new)


def clear_previous(job, job_dir: str, new: bool):
    """Clear the previous build's logs in the way, exit records and outputs."""
    for log in ("stdout.log", "stderr.log"):      # a folder in the way of a log
        p = os.path.join(job_dir, log)
        if not new and os.path.isdir(p) and not os.path.islink(p):
            _rmtree(p)
    if new and not any("/" in rel for rel in job.task.outputs.values()):
        return
    for mark in (EXIT_FILE, CANCEL_FILE):
        try:
            os.unlink(os.path.join(job_dir, mark))
        except FileNotFoundError:
            pass
    for rel in job.task.outputs.values():
        clear_output(job_dir, rel)


def clear_output(job_dir: str, rel: str):
    """Remove the output ``rel`` of the last build, inside ``job_dir`` only, and make its
    parent folders (as real folders: a link in the way is removed, not followed)."""
    parts = [p for p in rel.split("/") if p and p != "."]
    cur = job_dir
    for i, part in enumerate(parts):
        p = os.path.join(cur, part)
        last = i == len(parts) - 1
        if os.path.islink(p):
            os.unlink(p)            # the link only; below it is outside, or the job's
        elif last:
            if os.path.isdir(p):
                _rmtree(p)    # does not follow links inside it
            elif os.path.lexists(p):
                os.unlink(p)
            break
        elif os.path.lexists(p) and not os.path.isdir(p):
            os.unlink(p)            # a file where a folder of the output goes
        if not last:
            os.makedirs(p, exist_ok=True)
        cur = p


def escaping_output(job_dir: str, rel: str) -> str | None:
    """Where the output ``rel`` really is, when a link takes it out of ``job_dir``."""
    path = os.path.join(job_dir, rel)
    parts = rel.split("/")
    if not rel.startswith("/") and ".." not in parts:
        # the common case without realpath: no link on the way from the folder to it
        cur, linked = job_dir, False
        for part in parts:
            if not part or part == ".":
                continue
            cur = cur + "/" + part
            try:
                mode = os.lstat(cur).st_mode
            except OSError:
                return None if not os.path.lexists(path) else _outside(job_dir, path)
            if stat.S_ISLNK(mode):
                linked = True
                break
        if not linked:
            return None
    if not os.path.lexists(path):
        return None
    return _outside(job_dir, path)


def _outside(job_dir: str, path: str) -> str | None:
    real = os.path.realpath(path)
    base = os.path.realpath(job_dir)
    if real == base or real.startswith(base + os.sep):
        return None
    return real


def lock_folder(ws, job_dir: str):
    """Make (if need be) and lock a job's folder: (made fresh, lock or None)."""
    new = True                      # a fresh folder: nothing to compare or clear
    try:
        os.mkdir(job_dir)
    except FileExistsError:
        new = False
    except FileNotFoundError:
        os.makedirs(job_dir, exist_ok=True)
    return new, ws.try_lock(job_dir)


def folder_error(job_dir: str, e: OSError) -> str:
    if os.path.lexists(job_dir) and not os.path.isdir(job_dir):
        return (f"its folder {job_dir} is not a folder (a file is in its place): "
                "remove it to rebuild the job")
    return f"cannot make or lock its folder {job_dir}: {e.strerror or e}"


def start_record(job, launcher, decision, reasons) -> dict:
    """The record written before a job is handed to its launcher (launch protocol,
    recovery.py): who watches it, what it was built from, where it came from."""
    state = {"status": launcher.start_status, "task": job.task.name, "id": job.id,
             "launcher": launcher.name, "launcher_type": launcher.type, "launcher_id": None,
             "watcher": os.getpid(), "reasons": [str(r) for r in reasons],
             "definition": job.task.file, "fingerprint": decision.fingerprint,
             "trace": decision.trace, "dep_tasks": {d.id: d.task.name for d in job.deps}}
    state.update(launcher.record_fields())
    return state
