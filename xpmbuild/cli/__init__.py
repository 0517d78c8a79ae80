"""The command line: parse arguments, call the library, render. Nothing else lives here.

One module per group of commands (doit's model): building.py (check, graph, run, plan),
inspecting.py (status, jobs), admin.py (gc, launchers); common.py holds what they share.
Heavy modules are imported inside the commands that use them, so that ``--help`` and a
no-op run stay cheap.
"""
from __future__ import annotations

import sys

from . import admin, building, docs, inspecting, monitor, results, services  # noqa: F401  (they register commands)
from .common import EXIT_INTERRUPTED, main

__all__ = ["main", "run_main"]


def run_main():  # console-script entry point
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
