"""Where the workspace is (``-w``, ``$XPM_WORKSPACE``, the ``workspace`` setting,
./xpm-workspace), without importing workspace.py and what it brings (the index, sqlite3,
json): the no-op fast path (cli/fastpath.py) needs only this; workspace.py re-exports it."""
from __future__ import annotations

import os


def resolve_workspace(option: str | None, settings: dict | None = None) -> str:
    """``-w``, else ``$XPM_WORKSPACE``, else the setting ``workspace``, else ./xpm-workspace."""
    path = option or os.environ.get("XPM_WORKSPACE") or (settings or {}).get("workspace") \
        or "xpm-workspace"
    return os.path.abspath(os.path.expanduser(path))
