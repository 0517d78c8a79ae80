"""The evaluated plan of a command, kept for the next run that finds some files changed.

Evaluating an experiment depends only on its sources (every ``.xpm`` file read), the
command (file, ``-D`` values, name, namespace, working and home directories: the no-op
manifest's key, noop.py) and this program. When those are the same, the plan is the same,
so an incremental run (incremental.py) loads it instead of parsing and evaluating again.
It is a pickle in the workspace's ``.xpm`` folder, beside the manifest it goes with, with
the key, the sources' content hashes, the stamp of the code that made it and the digest
of the pickle in front; any difference, or a damaged file, and the plan is evaluated as
usual (and kept again). It is not written for
plans over :data:`MAX_JOBS` jobs (pickling costs ~5 µs a job, and such plans are
rarely all done).
"""
from __future__ import annotations

import os
import pickle

import xxhash

_digest = xxhash.xxh3_128_hexdigest

MAX_JOBS = 200_000


def _stamp() -> tuple:
    """The code that makes and reads plans (the classes of model.py and position.py are
    what is pickled)."""
    from . import __version__, model, position
    stamp = [__version__]
    for module in (model, position):
        try:
            st = os.stat(module.__file__)
            stamp += [st.st_size, st.st_mtime_ns]
        except OSError:
            pass
    return tuple(stamp)


def _path(ws_root: str, key: dict) -> str:
    # a run and a plan of the same command evaluate the same plan: one file for both
    digest = xxhash.xxh3_64_hexdigest(repr(sorted(
        (k, v) for k, v in key.items() if k != "mode")).encode())
    return os.path.join(ws_root, ".xpm", f"plan-{digest}.pickle")


def _plain(key: dict) -> dict:
    return {k: v for k, v in key.items() if k != "mode"}


def store(ws_root: str, key: dict, sources: dict, plan) -> bool:
    """Keep ``plan`` (evaluated from ``sources``, {path: content hash}) for ``key``."""
    if len(plan.jobs) > MAX_JOBS:
        return False
    path = _path(ws_root, key)
    head = (_plain(key), sources, _stamp())
    try:
        with open(path, "rb") as f:
            if _read(f, head) is not None:
                return True             # the same plan is there, whole
    except Exception:       # absent, damaged, from another version: written again
        pass
    from .atomicfile import atomic_write
    try:
        body = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write(path, pickle.dumps(head + (_digest(body),), protocol=5) + body)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return False
    return True


def _read(f, head):
    """The body's bytes if the file holds ``head`` and a body of the digest it gives."""
    got = pickle.load(f)
    if type(got) is not tuple or got[:-1] != head:
        return None
    body = f.read()
    return body if _digest(body) == got[-1] else None


def load(ws_root: str, key: dict, sources: dict):
    """The plan kept for ``key`` if it was made from these ``sources`` by this code."""
    try:
        with open(_path(ws_root, key), "rb") as f:
            body = _read(f, (_plain(key), sources, _stamp()))
        if body is None:
            return None
        plan = pickle.loads(body)
    except Exception:       # a damaged or foreign file only costs the evaluation
        return None
    from .model import Plan
    return plan if type(plan) is Plan else None
