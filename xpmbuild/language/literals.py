"""Literals: the strict decoder of string tokens, number tokens within bounds, and
positions inside a token.

A string literal means what it means in Python, strictly: an escape Python gives no
meaning, a NUL or a lone surrogate is an error at its character (:class:`StringError`
carries the index). A triple-quoted string is dedented as ``textwrap.dedent`` does, and
every character of a value can be traced back to its place in the source (shell
templates report a placeholder's error where it is written).
"""
from __future__ import annotations

import math
import sys
import textwrap

from lark import Token

from .errors import Pos
from .limits import MAX_INT_DIGITS

_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\n": ""}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCT_DIGITS = frozenset("01234567")
_TRIPLE = ('"' * 3, "'" * 3)


class StringError(ValueError):
    """An invalid string literal; ``index`` is where in the token's text."""

    def __init__(self, message, index):
        super().__init__(message)
        self.message, self.index = message, index


def decode_string(raw: str, offsets: bool = False):
    """The value of a string token (its quotes included): Python's escapes, strictly.

    An unknown escape (a backslash before a letter Python gives no meaning), a bad
    x/u/U/N or octal escape, a NUL character (written or escaped) and a lone surrogate
    are errors (:class:`StringError`, with the index in ``raw``). Line breaks inside a
    triple-quoted string become a newline (CR LF and CR as Python reads them). With
    ``offsets``, also returns the index in ``raw`` of every character of the value.
    """
    q = 3 if raw.startswith(_TRIPLE) else 1
    start, end = q, len(raw) - q
    body = raw[start:end]
    if not offsets and "\\" not in body and "\r" not in body and "\x00" not in body:
        return body     # the common case: nothing to decode
    out: list = []
    offs: list = []
    i = start
    while i < end:
        c = raw[i]
        at = i
        if c == "\\":
            nxt = raw[i + 1] if i + 1 < end else ""
            if nxt == "\r":                                 # a backslash-newline, CR LF
                i += 3 if raw.startswith("\r\n", i + 1) else 2
                continue
            if nxt in _SIMPLE_ESCAPES and nxt:
                value, i = _SIMPLE_ESCAPES[nxt], i + 2
            elif nxt and nxt in _OCT_DIGITS:
                j = i + 1
                while j < end and j < i + 4 and raw[j] in _OCT_DIGITS:
                    j += 1
                code = int(raw[i + 1:j], 8)
                if code > 0o377:
                    raise StringError(f"invalid octal escape {raw[i:j]} (at most \\377)", i)
                value, i = chr(code), j
            elif nxt and nxt in "xuU":
                n = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = raw[i + 2:min(i + 2 + n, end)]
                if len(digits) < n or not all(d in _HEX_DIGITS for d in digits):
                    raise StringError(f"invalid \\{nxt} escape: expected {n} hex digits "
                                      f"after \\{nxt}", i)
                code = int(digits, 16)
                if code > 0x10FFFF:
                    raise StringError(f"invalid \\U escape: {raw[i:i + 10]} is beyond "
                                      "U+10FFFF", i)
                value, i = chr(code), i + 2 + n
            elif nxt == "N":
                close = raw.find("}", i + 2, end)
                name = raw[i + 3:close] if raw.startswith("{", i + 2) and close > 0 else None
                value = _unicode_name(name) if name else None
                if value is None:
                    shown = raw[i:close + 1] if name else "\\N"
                    raise StringError(f"invalid \\N escape {shown[:60]}: expected "
                                      "\\N{UNICODE CHARACTER NAME}", i)
                i = close + 1
            else:
                shown = "\\" + nxt if nxt else "\\"
                raise StringError(f"invalid escape sequence {shown} in a string (write "
                                  "\\\\ for a backslash)", i)
            if not value:
                continue
        elif c == "\r":
            if q == 1:
                raise StringError("a carriage return (\\r) inside a one-line string", i)
            value = "\n"
            i += 2 if raw.startswith("\r\n", i) else 1
        else:
            value, i = c, i + 1
        if value == "\x00":
            raise StringError("a NUL character in a string", at)
        if "\ud800" <= value <= "\udfff":
            raise StringError(f"a lone surrogate U+{ord(value):04X} in a string", at)
        out.append(value)
        if offsets:
            offs.append(at)
    value = "".join(out)
    return (value, offs) if offsets else value


def _unicode_name(name):
    import unicodedata
    try:
        value = unicodedata.lookup(name)
    except KeyError:
        return None
    return value if len(value) == 1 else None   # a named sequence is no \N{...}


def _dedent(value: str, offs):
    """textwrap.dedent, also carrying the source index of every character."""
    if offs is None:
        return textwrap.dedent(value), None
    lines, line_offs, k = value.split("\n"), [], 0
    newline_offs = []
    for line in lines:
        line_offs.append(offs[k:k + len(line)])
        k += len(line)
        if k < len(offs):
            newline_offs.append(offs[k])
        k += 1
    margin = None
    for n, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        if line and not stripped:               # blanks only: emptied, as textwrap does
            lines[n], line_offs[n] = "", []
            continue
        if not line:
            continue
        indent = line[:len(line) - len(stripped)]
        if margin is None:
            margin = indent
        elif indent.startswith(margin):
            pass
        elif margin.startswith(indent):
            margin = indent
        else:
            for i, (x, y) in enumerate(zip(margin, indent)):
                if x != y:
                    margin = margin[:i]
                    break
    out, out_offs = [], []
    for n, line in enumerate(lines):
        o = line_offs[n]
        if margin and line.startswith(margin):
            line, o = line[len(margin):], o[len(margin):]
        out.append(line)
        out_offs.extend(o)
        if n < len(newline_offs):
            out_offs.append(newline_offs[n])
    return "\n".join(out), out_offs


def string_value(token: Token, offsets: bool = False):
    """The value of a STRING token; with ``offsets``, (value, index in the token per char).

    Raises :class:`StringError` for an invalid literal.
    """
    text = str(token)
    if offsets:
        value, offs = decode_string(text, True)
    else:
        value, offs = decode_string(text), None
    if text.startswith(_TRIPLE):
        if value.startswith("\n"):
            value, offs = value[1:], offs and offs[1:]
        elif value.startswith("\r\n"):
            value, offs = value[2:], offs and offs[2:]
        value, offs = _dedent(value, offs)
        # a closing quote on its own line leaves trailing blanks: drop them
        if "\n" in value and not value.rsplit("\n", 1)[1].strip():
            head = value.rsplit("\n", 1)[0]
            value, offs = head + "\n", offs and offs[:len(head) + 1]
    return (value, offs) if offsets else value


def token_index_pos(file: str, token, index: int) -> Pos:
    """The position of character ``index`` of ``token``'s text (which may span lines)."""
    text = str(token)
    nl = text.rfind("\n", 0, index)
    if nl < 0:
        return Pos(file, token.line, token.column + index)
    return Pos(file, token.line + text.count("\n", 0, index), index - nl)


def number_value(token: Token):
    """The value of a NUMBER token; ValueError for an int or a float out of bounds."""
    text = str(token).replace("_", "")
    if any(c in text for c in ".eE"):
        value = float(text)
        if math.isinf(value):
            raise ValueError(f"float literal out of range: {shorten(str(token))} is beyond "
                             f"the largest float, {sys.float_info.max!r}")
        return value
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError(f"integer literal too large: {len(digits)} digits (at most "
                         f"{MAX_INT_DIGITS})")
    return int(digits)


def shorten(text: str, n: int = 40) -> str:
    """``text``, its middle elided beyond ``n`` characters (for messages)."""
    return text if len(text) <= n else text[:n // 2] + "..." + text[-(n // 2):]

def value_index_pos(raw: str, pos: Pos, index: int) -> Pos:
    """The position in the source of character ``index`` of the value of the string
    token ``raw`` (quotes included) written at ``pos``: escapes, line continuations and a
    triple-quoted string's indentation accounted for."""
    try:
        _, offs = string_value(raw, offsets=True)
    except StringError:     # pragma: no cover - the parse accepted it
        return pos
    raw_index = offs[index] if 0 <= index < len(offs) else len(raw) - 1
    return token_index_pos(pos.file, _TokenAt(raw, pos), raw_index)


class _TokenAt(str):
    """A string with a token's line and column (for :func:`token_index_pos`)."""

    def __new__(cls, text, pos):
        self = super().__new__(cls, text)
        self.line, self.column = pos.line, pos.column
        return self
