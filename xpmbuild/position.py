"""A position in a source file (1-based line and column), attached to syntax nodes and
kept by the jobs of a plan for the errors they may raise. Outside the language package,
so that a cached plan (plancache.py) loads without importing the parser."""
from __future__ import annotations


class Pos:
    """A position in a source file, attached to syntax nodes."""

    __slots__ = ("file", "line", "column")

    def __init__(self, file: str, line: int, column: int):
        self.file = file
        self.line = line
        self.column = column

    def error(self, message: str):
        """The :class:`~.language.errors.XpmError` of ``message`` at this position."""
        from .language.errors import XpmError
        return XpmError(message, self.file, self.line, self.column)

    def __repr__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
