"""Language errors: ``FILE:LINE:COL: error: MESSAGE``, the source line and a caret.

Every error the language can raise (syntax, names, types, imports, templates, cycles)
is an :class:`XpmError` carrying its position; the command line renders it and exits
with status 2. Positions are 1-based, as editors show them.
"""
from __future__ import annotations

import difflib
import os
import unicodedata

from ..position import Pos  # noqa: F401  (re-exported: syntax nodes carry it)

# A source line longer than this is shown as a window around the column.
MAX_SHOWN = 160


def display_char(c: str) -> str:
    """How a character of a source line is shown under the message: control characters
    and line/paragraph separators (which a terminal would obey) as U+FFFD, one column,
    so the caret stays under the column the message names; a tab is kept."""
    if c == "\t" or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return c
    return "\ufffd"


def display_text(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(display_char(c) for c in text)


def _one_line(message: str) -> str:
    """A message on one line: line breaks and other control characters escaped."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in message)


class XpmError(Exception):
    """An error in an experiment file, at a known position."""

    limit = False       # a bound of the language (docs/language.md §10) was exceeded

    def __init__(self, message: str, file: str | None = None, line: int = 0, column: int = 0,
                 source: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self._source = source

    @property
    def col(self) -> int:
        """The column (1-based), as the API names it (api.md)."""
        return self.column

    def source_line(self) -> str | None:
        """The text of the offending line, read from the file if not given."""
        if not self.line:
            return None
        text = self._source
        if text is None and self.file and os.path.exists(self.file):
            try:
                with open(self.file, encoding="utf-8", errors="replace", newline="") as f:
                    text = f.read()
            except OSError:
                return None
        if text is None:
            return None
        # split where the lexer counts lines: at "\n" only (not at \f, \v, U+2028, ...)
        start = 0
        for _ in range(self.line - 1):
            start = text.find("\n", start) + 1
            if start == 0:
                return None
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        return line[:-1] if line.endswith("\r") else line

    def render(self) -> str:
        where = display_path(self.file) if self.file else "<input>"
        if self.line:
            where = f"{where}:{self.line}:{self.column or 1}"
        out = [f"{where}: error: {_one_line(self.message)}"]
        src = self.source_line()
        if src is not None:
            col = max(self.column - 1, 0)
            head = tail = ""
            if len(src) > MAX_SHOWN:        # a window around the column
                start = max(0, min(col - MAX_SHOWN // 2, len(src) - MAX_SHOWN))
                end = start + MAX_SHOWN
                head, tail = ("..." if start else ""), ("..." if end < len(src) else "")
                src, col = src[start:end], col - start
            src = display_text(src)
            # Keep tabs so the caret lines up with the source as a terminal shows it.
            prefix = " " * len(head) + "".join(c if c == "\t" else " " for c in src[:col])
            out.append(f"    {head}{src}{tail}")
            out.append(f"    {prefix}^")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


def suggest(name, candidates) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to a misspelt ``name``, or ""."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def display_path(file: str) -> str:
    """``file`` relative to the current directory when it is below it, else as it is."""
    try:
        rel = os.path.relpath(file)
    except ValueError:      # another drive (Windows)
        return file
    return file if rel == ".." or rel.startswith(".." + os.sep) else rel
