"""What a run ran with: ``experiments/NAME/runs/RUN/environment.json`` (launchers.md v1).

The time, host, user, xpmbuild and Python versions, the installed packages and their
versions (``importlib.metadata``), and — when the experiment's folder is in a git
repository — its commit and whether the work tree has uncommitted changes (``git``
absent, or not a repository: the ``git`` key is omitted). Collected in a thread while the
run's jobs start (it takes ~0.1 s), written atomically before the run ends.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time


def git_state(folder: str) -> dict | None:
    """{"commit", "dirty"} of the repository holding ``folder``; None if there is none."""
    import subprocess       # (this module's imports are lazy: it is on every run's path)
    def git(*args):
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True,
                              timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(),
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def installed() -> tuple[dict, str]:
    """({name: version} of the installed distributions, ``platform.platform()``), from
    the cache while the interpreter, the distributions on ``sys.path`` (:func:`_path_stamp`)
    and the kernel are the same: reading ~150 distributions' metadata costs ~0.15 s, and
    ``platform.platform()`` runs ``uname -p`` in a subprocess."""
    key = [_path_stamp(), list(os.uname())]
    cached = _cached(key)
    if cached is not None:
        return cached["packages"], cached["platform"]
    import platform
    from importlib import metadata
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name] = dist.version
    out = dict(sorted(out.items(), key=lambda kv: kv[0].lower()))
    where = platform.platform()
    _store(key, {"packages": out, "platform": where})
    return out, where


def packages() -> dict:
    """{name: version} of the installed distributions (:func:`installed`)."""
    return installed()[0]


def _path_stamp() -> list:
    """What the installed distributions depend on: the interpreter, and in each folder of
    ``sys.path`` the names and mtimes of its distributions' metadata folders (installing,
    upgrading or removing one adds, renames or remakes such a folder). Not the folders'
    own mtimes: the first entry is often the project's folder, whose mtime moves with
    every file written there."""
    stamp = [sys.executable]
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        dists = []
        for name in names:
            if name.endswith((".dist-info", ".egg-info")) or name == "EGG-INFO":
                try:
                    dists.append((name, os.stat(os.path.join(folder, name)).st_mtime_ns))
                except OSError:
                    continue
        stamp.append((entry, sorted(dists)))
    return stamp


def _cache_folder() -> str:
    from .userdirs import user_cache_dir
    return os.path.join(user_cache_dir(), "environments")


_KEPT = 32         # command lines of other folders and interpreters each have their own


def _file(key) -> str:
    import xxhash
    return os.path.join(_cache_folder(),
                        xxhash.xxh3_64_hexdigest(json.dumps(key).encode()) + ".json")


def _cached(key) -> dict | None:
    """The cached entry of ``key`` (one small file per key), or None."""
    try:
        with open(_file(key), encoding="utf-8") as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    if type(entry) is dict and type(entry.get("packages")) is dict and \
            type(entry.get("platform")) is str and \
            entry.get("key") == json.loads(json.dumps(key)):
        return entry
    return None


def _store(key, entry: dict):
    from .atomicfile import atomic_write
    try:
        folder = _cache_folder()
        os.makedirs(folder, exist_ok=True)
        atomic_write(_file(key), json.dumps(dict(entry, key=key)))
        names = [n for n in os.listdir(folder) if n.endswith(".json")]
        if len(names) > _KEPT:      # the least recently written go
            def mtime(n):
                try:
                    return os.stat(os.path.join(folder, n)).st_mtime_ns
                except OSError:
                    return 0
            for n in sorted(names, key=mtime)[:len(names) - _KEPT]:
                os.unlink(os.path.join(folder, n))
    except (OSError, ValueError, TypeError):
        pass        # only the next run's time is lost


def snapshot(folder: str) -> dict:
    import getpass
    from . import __version__
    from .machine import hostname
    found, where = installed()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    doc = {"time": round(time.time(), 3),
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": hostname(), "user": user, "xpmbuild": __version__,
           "python": sys.version.split()[0], "executable": sys.executable,
           "platform": where, "folder": folder, "packages": found}
    git = git_state(folder)
    if git is not None:
        doc["git"] = git
    return doc


def run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


class Recorder:
    """Collects the environment in a thread; ``finish()`` writes it (never fails a run)."""

    def __init__(self, ws_root: str, experiment: str, folder: str):
        self.path = os.path.join(ws_root, "experiments", experiment, "runs", run_id(),
                                 "environment.json")
        self.folder = folder
        self.doc = None
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self):
        try:
            self.doc = snapshot(self.folder)
        except Exception as e:      # a broken package's metadata: say so, never fail
            self.doc = {"time": round(time.time(), 3), "error": str(e)}

    def finish(self):
        from .workspace import atomic_write
        self.thread.join(60)
        if self.doc is None:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write(self.path, json.dumps(self.doc, indent=1) + "\n")
        except OSError:
            pass
