"""Language errors: ``FILE:LINE:COL: error: MESSAGE``, the source line and a caret.

Every error the language can raise (syntax, names, types, imports, templates, cycles)
is an :class:`XpmError` carrying its position; the command line renders it and exits
with status 2. Positions are 1-based, as editors show them.
"""
from __future__ import annotations

import os


class XpmError(Exception):
    """An error in an experiment file, at a known position."""

    def __init__(self, message: str, file: str | None = None, line: int = 0, column: int = 0,
                 source: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self._source = source

    def source_line(self) -> str | None:
        """The text of the offending line, read from the file if not given."""
        if not self.line:
            return None
        text = self._source
        if text is None and self.file and os.path.exists(self.file):
            try:
                with open(self.file, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                return None
        if text is None:
            return None
        lines = text.splitlines()
        if 0 < self.line <= len(lines):
            return lines[self.line - 1]
        return None

    def render(self) -> str:
        where = display_path(self.file) if self.file else "<input>"
        if self.line:
            where = f"{where}:{self.line}:{self.column or 1}"
        out = [f"{where}: error: {self.message}"]
        src = self.source_line()
        if src is not None:
            # Keep tabs so the caret lines up with the source as a terminal shows it.
            prefix = "".join(c if c == "\t" else " " for c in src[: max(self.column - 1, 0)])
            out.append(f"    {src}")
            out.append(f"    {prefix}^")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


def display_path(file: str) -> str:
    """``file`` relative to the current directory when it is below it, else as it is."""
    try:
        rel = os.path.relpath(file)
    except ValueError:      # another drive (Windows)
        return file
    return file if rel == ".." or rel.startswith(".." + os.sep) else rel


class Pos:
    """A position in a source file, attached to syntax nodes."""

    __slots__ = ("file", "line", "column")

    def __init__(self, file: str, line: int, column: int):
        self.file = file
        self.line = line
        self.column = column

    def error(self, message: str) -> XpmError:
        return XpmError(message, self.file, self.line, self.column)

    def __repr__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
