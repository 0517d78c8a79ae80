"""Checked declarations: what :func:`~.check.check` gathers from a file and its imports,
and what the compiler reads (the configs and tasks by name, the built-in names).

Kept apart from check.py so that the expression compiler, which check needs for the
parameters' defaults, does not import check (the imports of the package form a DAG).
"""
from __future__ import annotations

from .. import model as M
from ..servicedef import ServiceDef
from . import syntax as S

BUILTINS = ("range", "len", "str", "tag")       # built-in functions: not declarable


class Declarations:
    """Everything declared by a file and its imports, checked."""

    def __init__(self, main: S.Module, modules: list[S.Module], root: str):
        self.main = main
        self.modules = modules           # every file read, main last
        self.root = root                 # directory of the main file
        self.defs: dict[str, M.ConfigDef] = {}
        self.configs: dict[str, M.ConfigDef] = {}
        self.tasks: dict[str, M.TaskDef] = {}
        self.services: dict[str, ServiceDef] = {}
        self.sources: dict[str, str] = {m.file: m.source for m in modules}
