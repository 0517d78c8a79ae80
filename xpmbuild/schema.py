"""The JSON shapes of the public contract (spec language.md §8): one node, the same in
``run --json``, ``plan --json``, the no-op fast path, ``status --json`` and ``jobs list``."""
from __future__ import annotations


def node(id: str, task: str, dir: str, status: str, reasons, deps, tags: dict,
         will_run: bool) -> dict:
    return {"id": id, "task": task, "dir": dir, "status": status,
            "reasons": [str(r) for r in reasons], "deps": list(deps), "tags": tags,
            "will_run": bool(will_run)}
