"""What every language error must look like, checked independently of xpmbuild's code.

``check_rendered(rendered, files)``: ``rendered`` is the text of an error (stderr of
``xpmbuild check``, or ``XpmError.render()``); ``files`` maps a path as shown in the
first line to the file's bytes (or a callable that reads them). Returns None when the
text is right, else what is wrong:

- the first line is ``FILE:LINE:COL: error: MESSAGE``;
- the second is the file's line LINE, split on "\\n" only as the lexer counts lines
  (a trailing "\\r" dropped, control characters and line separators shown as U+FFFD,
  a long line shown as a window with "..." on the elided sides);
- the third has the caret "^" under column COL of that line (tabs kept).
"""
from __future__ import annotations

import re
import unicodedata

FIRST = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")


def shown(c: str) -> str:
    if c == "\t" or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return c
    return "\ufffd"


def check_rendered(rendered: str, read_file) -> str | None:
    lines = rendered.split("\n")
    m = FIRST.match(lines[0])
    if not m:
        return f"first line is not FILE:LINE:COL: error: MESSAGE: {lines[0][:200]!r}"
    line_no, col = int(m["line"]), int(m["col"])
    if line_no < 1 or col < 1:
        return f"no position: {lines[0][:200]!r}"
    data = read_file(m["file"])
    if data is None:
        return None     # a file we cannot read back (e.g. given on the command line)
    text = data.decode("utf-8", errors="replace")
    file_lines = text.split("\n")
    if line_no > len(file_lines):
        return f"line {line_no} is beyond the file's {len(file_lines)} lines"
    src = file_lines[line_no - 1]
    if src.endswith("\r"):
        src = src[:-1]
    if col > len(src) + 1:
        return f"column {col} is beyond line {line_no} ({len(src)} characters)"
    if len(lines) < 3:
        return f"no source line and caret after the message: {rendered[:300]!r}"
    if not lines[1].startswith("    ") or not lines[2].startswith("    "):
        return "source and caret lines are not indented by 4"
    show, caret = lines[1][4:], lines[2][4:]
    if not caret.endswith("^") or caret[:-1].strip(" \t"):
        return f"caret line is not blanks then '^': {caret[:200]!r}"
    k = len(caret) - 1                  # the caret's index in the shown line
    disp = "".join(shown(c) for c in src)
    head = 3 if show.startswith("...") and not disp.startswith("...") else 0
    body = show[head:]
    if body.endswith("...") and not disp.endswith(body):
        body = body[:-3]
    start = (col - 1) - (k - head)      # where the shown text starts in the line
    if start < 0 or disp[start:start + len(body)] != body:
        return (f"shown line / caret do not match line {line_no} column {col}: "
                f"{show[:120]!r} / caret at {k}")
    if head == 0 and start != 0:
        return "a window of the line is shown without '...'"
    for i, c in enumerate(caret[head:-1]):
        want = "\t" if disp[start + i] == "\t" else " "
        if c != want:
            return "the caret's indentation does not keep the tabs of the source"
    return None
