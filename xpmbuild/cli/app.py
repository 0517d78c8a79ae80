"""The click group with every command registered (imported after the fast path)."""
from __future__ import annotations

from . import admin, building, docs, inspecting, monitor, results, services  # noqa: F401  (they register commands)
from .common import main

__all__ = ["main"]
