"""Where each placeholder of a ``shell`` template sits, as the shell will read it.

A value substituted into a template is quoted for the place it lands in:

- ``top``: unquoted (also inside ``$(...)``, ``<(...)``, subshells): ``shlex.quote``, and
  a list as separate quoted words;
- ``dq``: inside the author's ``"..."``: ``\\ " $ ``` escaped with a backslash;
- ``sq``: inside ``'...'``: the quote is closed, the value quoted, the quote reopened;
- ``ansi``: inside ``$'...'``: likewise, reopened with ``$'``.

Places where no quoting can make a value safe, or that this scanner does not model
exactly, are refused (:class:`ContextError`, reported at the placeholder at check time):
backticks, ``${...}``, comments, here-documents, a ``$`` or an unquoted backslash right
before the placeholder, and anything after a construct whose end cannot be found for
sure (a ``case`` inside ``$(...)``, an unterminated quote...). The scan runs once per
template, at check time; rendering is a table lookup.
"""
from __future__ import annotations

import shlex

TOP, DQ, SQ, ANSI = "top", "dq", "sq", "ansi"

_META = set(" \t\n;&|()<>")
_HOLE = object()       # a placeholder in the scanned sequence
_CASE = list("case")


class ContextError(Exception):
    """A placeholder (``index`` into the template's parts) in a place values cannot go."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index
        self.message = message


def _name(part) -> str:
    return "{" + ".".join(part) + "}"


class _Frame:
    """A top-level-like context: the base script, or the inside of ``$(...)``."""

    __slots__ = ("kind", "parens", "end")

    def __init__(self, kind, end=None):
        self.kind = kind          # "top" | "dq" | "sq" | "ansi" | "bq" | "param" | "comment"
        self.parens = []          # top frames: open "(" (p) and "((" (a, arithmetic)
        self.end = end            # top frame of $(...): ")" ; $((...)): "))"


def _open_dollar(seq, i, n, stack):
    """At a ``$``: push the frame that ``$(``, ``$((`` or ``${`` opens and return the index
    of its last character; None when the ``$`` opens none of them."""
    nxt = seq[i + 1] if i + 1 < n else None
    if nxt == "(":
        if i + 2 < n and seq[i + 2] == "(":
            stack.append(_Frame(TOP, "))"))
            return i + 2
        stack.append(_Frame(TOP, ")"))
        return i + 1
    if nxt == "{":
        stack.append(_Frame("param"))
        return i + 1
    return None


def contexts(parts) -> list:
    """For each part: None for literal text, the context of each placeholder.

    Raises :class:`ContextError` for a placeholder in a place values cannot go.
    """
    seq = []
    owner = []               # index of the part each element comes from
    for i, part in enumerate(parts):
        if type(part) is str:
            seq.extend(part)
            owner.extend([i] * len(part))
        else:
            seq.append(_HOLE)
            owner.append(i)
    out: list = [None] * len(parts)
    stack = [_Frame(TOP)]
    heredocs: list = []      # pending (delimiter, strip_tabs) after a "<<" on this line
    unsure = None            # why the context is no longer known for sure
    word_start = True
    n = len(seq)
    i = 0

    def fail(k, message):
        raise ContextError(owner[k], message.replace("{}", _name(parts[owner[k]])))

    def in_arith():
        return any(f.kind == TOP and ("a" in f.parens or f.end == "))") for f in stack)

    while i < n:
        c = seq[i]
        f = stack[-1]
        kind = f.kind
        if c is _HOLE:
            if unsure:
                fail(i, "cannot tell how the shell reads placeholder {} (" + unsure +
                     "): move the placeholder before that, or pass the value as an "
                     "argument of a script")
            prev = seq[i - 1] if i else None
            if kind == TOP:
                if prev == "$":
                    fail(i, "a '$' right before placeholder {} would make the shell expand "
                            "the value: remove the '$' (the value is substituted for you)")
                if prev == "\\" and not _escaped(seq, i - 1):
                    fail(i, "a backslash right before placeholder {} would only escape the "
                            "value's first character: remove it (values are quoted for you)")
                out[owner[i]] = TOP
                word_start = False
            elif kind == DQ:
                if prev == "$":
                    fail(i, "a '$' right before placeholder {} would make the shell expand "
                            "the value: remove the '$' (the value is substituted for you)")
                if prev == "\\" and not _escaped(seq, i - 1):
                    fail(i, "a backslash right before placeholder {} would undo the "
                            "quoting of the value's first character: remove it (values are "
                            "quoted for you)")
                out[owner[i]] = DQ
            elif kind == SQ:
                out[owner[i]] = SQ
            elif kind == ANSI:
                if prev == "\\" and not _escaped(seq, i - 1):
                    fail(i, "a backslash right before placeholder {} inside $'...': remove it")
                out[owner[i]] = ANSI
            elif kind == "bq":
                fail(i, "placeholder {} is inside backticks `...`: write $(...) instead "
                        "(values are quoted for you there)")
            elif kind == "param":
                fail(i, "placeholder {} is inside ${...}: the shell would not quote it; "
                        "use the placeholder outside the parameter expansion")
            elif kind == "comment":
                fail(i, "placeholder {} is inside a shell comment (a newline in the value "
                        "would end the comment): remove it from the comment")
            elif kind == "heredoc-word":
                fail(i, "placeholder {} is the delimiter of a here-document")
            elif kind == "heredoc":
                fail(i, "placeholder {} is inside a here-document, where no quoting "
                        "applies: pass it as an argument instead "
                        "(e.g. printf '%s\\n' {} | command)")
            i += 1
            continue

        if kind == TOP:
            if c == "\\":
                i += 1 if i + 1 < n and seq[i + 1] is _HOLE else 2
                word_start = False
                continue
            if c == "'":
                stack.append(_Frame(SQ))
            elif c == '"':
                stack.append(_Frame(DQ))
            elif c == "$" and i + 1 < n and seq[i + 1] == "'":
                stack.append(_Frame(ANSI))
                i += 1
            elif c == "$" and i + 1 < n and seq[i + 1] == '"':
                stack.append(_Frame(DQ))
                i += 1
            elif c == "$" and (j := _open_dollar(seq, i, n, stack)) is not None:
                if seq[i + 1] == "(":       # a command substitution: a word starts in it
                    word_start = True
                    i = j + 1
                    continue
                i = j
            elif c == "`":
                stack.append(_Frame("bq"))
            elif c == "#" and word_start and not in_arith():
                stack.append(_Frame("comment"))
            elif c == "(":
                if i + 1 < n and seq[i + 1] == "(":
                    f.parens.append("a")
                    i += 1
                else:
                    f.parens.append("p")
            elif c == ")":
                if f.parens:
                    if f.parens[-1] == "a":
                        if i + 1 < n and seq[i + 1] == ")":
                            i += 1
                        else:
                            unsure = unsure or "an unbalanced ')' inside ((...))"
                    f.parens.pop()
                elif f.end == ")":
                    stack.pop()
                elif f.end == "))":
                    if i + 1 < n and seq[i + 1] == ")":
                        i += 1
                    else:
                        unsure = unsure or "an unbalanced ')' inside $((...))"
                    stack.pop()
                # an extra ")" at the base: the shell will refuse the script itself
            elif c == "<" and i + 1 < n and seq[i + 1] == "<" and not in_arith():
                if i + 2 < n and seq[i + 2] == "<":          # <<< here-string: a word
                    i += 3
                    word_start = True
                    continue
                i += 2
                strip = i < n and seq[i] == "-"
                if strip:
                    i += 1
                i, delim = _heredoc_word(seq, i, fail)
                if delim is None:
                    unsure = unsure or "a '<<' without a delimiter word"
                else:
                    heredocs.append((delim, strip))
                word_start = True
                continue
            elif c == "\n" and heredocs:
                i = _skip_heredocs(seq, i + 1, heredocs, fail)
                heredocs = []
                word_start = True
                continue
            elif (c == "c" and word_start and f.end is not None and seq[i:i + 4] == _CASE
                  and (i + 4 >= n or seq[i + 4] in _META)):
                unsure = unsure or "a `case` inside $(...), whose patterns end with ')'"
            word_start = c in _META
            i += 1
            continue

        if kind == SQ:
            if c == "'":
                stack.pop()
        elif kind == DQ:
            if c == "\\":
                i += 1 if i + 1 < n and seq[i + 1] is _HOLE else 2
                continue
            if c == '"':
                stack.pop()
            elif c == "$" and (j := _open_dollar(seq, i, n, stack)) is not None:
                word_start = word_start or seq[i + 1] == "("
                i = j
            elif c == "`":
                stack.append(_Frame("bq"))
        elif kind == ANSI:
            if c == "\\":
                i += 1 if i + 1 < n and seq[i + 1] is _HOLE else 2
                continue
            if c == "'":
                stack.pop()
        elif kind == "bq":
            if c == "\\":
                i += 1 if i + 1 < n and seq[i + 1] is _HOLE else 2
                continue
            if c == "`":
                stack.pop()
        elif kind == "param":
            if c == "}":
                stack.pop()
            elif c in "'\"\\$`{":
                unsure = unsure or "quotes or expansions inside ${...}"
        elif kind == "comment":
            if c == "\n":
                stack.pop()
                word_start = True
                if heredocs:
                    i = _skip_heredocs(seq, i + 1, heredocs, fail)
                    heredocs = []
                    continue
        i += 1

    return out


def _escaped(seq, k) -> bool:
    """Whether the backslash at ``k`` is itself escaped (an odd run of backslashes before)."""
    run = 0
    k -= 1
    while k >= 0 and seq[k] == "\\":
        run += 1
        k -= 1
    return run % 2 == 1


def _heredoc_word(seq, i, fail):
    """The delimiter after ``<<``: (index after it, delimiter text or None)."""
    n = len(seq)
    while i < n and seq[i] in (" ", "\t"):
        i += 1
    word = []
    while i < n:
        c = seq[i]
        if c is _HOLE:
            fail(i, "placeholder {} is the delimiter of a here-document")
        if c in _META:
            break
        if c in ("'", '"'):
            j = i + 1
            while j < n and seq[j] != c:
                if seq[j] is _HOLE:
                    fail(j, "placeholder {} is the delimiter of a here-document")
                word.append(seq[j])
                j += 1
            i = j + 1
            continue
        if c == "\\":
            if i + 1 < n and seq[i + 1] is not _HOLE:
                word.append(seq[i + 1])
            i += 2
            continue
        word.append(c)
        i += 1
    return i, ("".join(word) if word else None)


def _skip_heredocs(seq, i, heredocs, fail):
    """Skip the bodies of the pending here-documents, which start at ``i`` (a line start).

    A placeholder in a body is refused. Returns the index after the last delimiter line
    (or the end of the text).
    """
    n = len(seq)
    for delim, strip in heredocs:
        while i < n:
            j = i
            while j < n and seq[j] != "\n":
                if seq[j] is _HOLE:
                    fail(j, "placeholder {} is inside a here-document, where no quoting "
                            "applies: pass it as an argument instead "
                            "(e.g. printf '%s\\n' {} | command)")
                j += 1
            line = "".join(seq[i:j])
            if strip:
                line = line.lstrip("\t")
            i = j + 1
            if line == delim:
                break
    return i


# ----------------------------------------------------------------------------- rendering


def quote_words(words: list[str]) -> str:
    """Separate words, each quoted (a list's items, unquoted in the template)."""
    return " ".join([shlex.quote(w) for w in words])


def render(text: str | None, words: list[str] | None, context: str) -> str:
    """A value (``text``, or a list's ``words``) as it must be written in ``context``."""
    if context == TOP or context is None:
        return quote_words(words) if words is not None else shlex.quote(text)
    if words is not None:       # inside the author's quotes a list is one word
        text = " ".join(words)
    if context == DQ:
        return (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
                .replace("`", "\\`"))
    if context == SQ:
        return "'" + shlex.quote(text) + "'"
    if context == ANSI:
        return "'" + shlex.quote(text) + "$'"
    raise ValueError(f"unknown shell context {context!r}")
