"""Text → syntax tree: the Lark LALR parser for grammar/xpm.lark.

The grammar is compiled once per process (and cached on disk by Lark). A small
post-lexer implements the newline rules of the spec (§2): a newline ends a statement,
except inside (), [] and dict braces, right after a block's ``{``, before a block's
``}`` and before ``else``.
"""
from __future__ import annotations

import os
from pathlib import Path

import re

from .errors import XpmError
from . import syntax as S
from .limits import MAX_DEPTH
from .transform import ToAst

_PARSER = None
_TRANSFORMER = None

# Tokens after which a "{" opens a block rather than a dict literal.
_BLOCK_OPENERS_AFTER = {"NAME", "NUMBER", "STRING", "RPAR", "RSQB", "RBRACE", "TRUE", "FALSE",
                        "NONE", "ELSE"}
_OPEN = {"LPAR": "RPAR", "LSQB": "RSQB"}

# Human names for terminals, used in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_NL": "end of line",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "DOT": "'.'",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/', '//' or '%'",
    "MINUS": "'-'", "LITRUN": "a list", "TRUE": "True", "FALSE": "False", "NONE": "None", "PLUS": "'+'", "PLUSEQ": "'+='", "FOR": "'for'", "IF": "'if'", "OPTIONAL": "'?'", "OPTION": "'option'", "$END": "end of file",
}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or grammar/ of a source checkout."""
    package = Path(__file__).resolve().parent.parent      # xpmbuild/
    # installed: xpmbuild/grammar/xpm.lark; source checkout: grammar/xpm.lark beside it
    for candidate in (package / "grammar" / "xpm.lark", package.parent / "grammar" / "xpm.lark"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("grammar/xpm.lark not found next to the xpmbuild package")


# Long lists of literals (a generated list of 100k numbers) would cost Lark's lexer and
# parser some fifteen Python calls per item (a 2 MB list took 25 s). In files over
# FAST_PATH_BYTES, such a list is found by one regex scan (which skips strings and
# comments), read by C-speed regexes, and handed to the parser as one LITRUN token; the
# text keeps its length and its line breaks, so every position stays exact.
FAST_PATH_BYTES = 1 << 16
LITERAL_RUN = 32
_NUM = r"-?(?:\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
_STR1 = r""" "(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*' """.strip()
_LIT = rf"(?:{_NUM}|{_STR1}|True\b|False\b|None\b)"
_STR3 = (r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""' + "|" + r"'''(?:[^'\\]|\\[\s\S]|'(?!''))*'''")
_SCAN = re.compile(
    rf"(?P<s>{_STR3}|{_STR1})|(?P<c>#[^\n]*)"
    rf"|(?P<run>\[[ \t\n]*{_LIT}(?:[ \t\n]*,[ \t\n]*{_LIT}){{{LITERAL_RUN - 1},}}[ \t\n]*,?[ \t\n]*\])")
_ITEM = re.compile(_LIT)
_NOT_NL = re.compile(r"[^\n]")


def literal_runs(text: str):
    """``text`` with each long list of literals replaced by ``[\\0N\\0   ]`` (same length,
    same line breaks), and the runs: (offset of the first item, [item texts with offsets])."""
    if len(text) < FAST_PATH_BYTES or "\0" in text or "[" not in text:
        return text, []
    out, runs, last = [], [], 0
    for m in _SCAN.finditer(text):
        if m.lastgroup != "run":
            continue
        start, end = m.span()
        inner = text[start + 1:end - 1]
        marker = f"\0{len(runs)}\0"
        blank = _NOT_NL.sub(" ", inner)
        spot = blank.find(" " * len(marker))        # the marker must not eat a line break
        if spot < 0:
            continue
        items = [(i.group(), start + 1 + i.start()) for i in _ITEM.finditer(inner)]
        runs.append(items)
        out.append(text[last:start + 1] + blank[:spot] + marker + blank[spot + len(marker):])
        last = end - 1
    if not runs:
        return text, []
    out.append(text[last:])
    return "".join(out), runs


class _NewlinePostLexer:
    always_accept = ("_NL",)

    stack: list = []        # the brackets open at the last token (read after an error)
    file = "<input>"        # set by parse_text, for errors

    def process(self, stream):
        stack = self.stack = []     # "LPAR" / "LSQB" / "dict" / "block"
        pending = None      # a held newline token
        prev_type = None
        for tok in stream:
            t = tok.type
            if t == "_NL":
                if stack and stack[-1] != "block":
                    continue
                if prev_type in (None, "_NL") or (prev_type == "LBRACE" and stack and
                                                   stack[-1] == "block"):
                    continue
                pending = tok
                prev_type = "_NL"
                continue
            if pending is not None:
                if t not in ("RBRACE", "ELSE"):
                    yield pending
                pending = None
            if t in _OPEN:
                stack.append(t)
            elif t == "LBRACE":
                stack.append("block" if prev_type in _BLOCK_OPENERS_AFTER else "dict")
            if len(stack) > MAX_DEPTH and t in ("LPAR", "LSQB", "LBRACE"):
                raise XpmError(f"too deeply nested: more than {MAX_DEPTH} levels of brackets "
                               "and blocks", self.file, tok.line, tok.column)
            elif t in ("RPAR", "RSQB", "RBRACE") and stack:
                stack.pop()
            prev_type = t
            yield tok


def _parser():
    global _PARSER, _TRANSFORMER
    if _PARSER is None:
        from lark import Lark
        # The syntax tree is built by the parser itself (an inline transformer): no parse
        # tree, no recursive pass over it; positions come from the tokens (named in the
        # grammar where a node starts with a keyword or a bracket), which is twice as fast
        # as Lark's propagate_positions.
        _TRANSFORMER = ToAst()
        _PARSER = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr",
                       lexer="basic", postlex=_NewlinePostLexer(), transformer=_TRANSFORMER,
                       maybe_placeholders=True, cache=_cache_file())
    return _PARSER, _TRANSFORMER


def _postlexer_stack():
    postlex = getattr(_PARSER.options, "postlex", None) if _PARSER is not None else None
    return list(getattr(postlex, "stack", None) or []) if postlex is not None else None


def _cache_file():
    """Lark's compiled-grammar cache, keyed by the grammar's content by Lark itself."""
    try:
        import platformdirs
        d = Path(platformdirs.user_cache_dir("xpmbuild"))
        d.mkdir(parents=True, exist_ok=True)
        return str(d / "grammar.lark-cache")
    except Exception:  # an unwritable home: no cache, just a slower start
        return False


_EXPR_START = {"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "LBRACE", "MINUS", "PLUS", "TRUE",
               "FALSE", "NONE", "TAG", "NOT"}


# The likeliest fixes first: a missing line break or closing bracket.
_FIRST = {w: i for i, w in enumerate(["end of line", "'}'", "')'", "']'", "','", "'='",
                                      "end of file"])}


_CLOSERS = {"LPAR": "RPAR", "LSQB": "RSQB", "dict": "RBRACE", "block": "RBRACE"}


def _expected(names, stack=None) -> str:
    names = set(names)
    if stack is not None:
        # LALR lookahead sets are merged between states: keep only the closing bracket
        # that is open here (and end of file only where no bracket is open)
        closer = _CLOSERS.get(stack[-1]) if stack else "$END"
        names -= {"RPAR", "RSQB", "RBRACE", "$END"} - {closer}
        if stack and stack[-1] != "block":
            names.discard("_NL")        # newlines inside brackets are dropped
    extra = []
    if {"NAME", "NUMBER", "STRING"} <= names:
        names -= _EXPR_START
        extra.append("an expression")
    words = extra + sorted({_TERMINAL_NAMES.get(n, f"'{n.lower()}'" if n.isupper() else n)
                            for n in names if not n.startswith("__")} - set(extra),
                           key=lambda w: (_FIRST.get(w, len(_FIRST)), w))
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return "expected " + ", ".join(words)


def parse_text(text: str, file: str) -> S.Module:
    """Parse one file's text into a :class:`~xpmbuild.language.syntax.Module`."""
    from lark.exceptions import (UnexpectedCharacters, UnexpectedEOF, UnexpectedToken,
                                 VisitError)
    parser, transformer = _parser()
    transformer.file = file
    text, transformer.runs = literal_runs(text)
    transformer.source = text
    postlex = getattr(parser.options, "postlex", None)
    if postlex is not None:
        postlex.file = file
    try:
        items = parser.parse(text)
    except UnexpectedToken as e:
        tok = e.token
        what = "end of file" if tok.type == "$END" else (
            "end of line" if tok.type == "_NL" else repr(str(tok)))
        if tok.type != "$END" and getattr(tok, "line", None):
            line, col = tok.line, tok.column
        else:   # Lark gives $END the last token's position: point past the text instead
            line, col = _end_pos(text)
        exp = _expected(e.expected, _postlexer_stack())
        raise XpmError(f"unexpected {what}" + (f"; {exp}" if exp else ""), file, line, col,
                       text) from None
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        msg = f"unexpected character {ch!r}"
        if ch in "\"'":
            msg = "unterminated string"
        elif ch == "\x00":
            msg = "unexpected NUL character"
        raise XpmError(msg, file, e.line, e.column, text) from None
    except UnexpectedEOF as e:
        line, col = _end_pos(text)
        exp = _expected(e.expected, _postlexer_stack())
        raise XpmError("unexpected end of file" + (f"; {exp}" if exp else ""), file, line, col,
                       text) from None
    except VisitError as e:
        if isinstance(e.orig_exc, XpmError):
            err = e.orig_exc
            err._source = text
            raise err from None
        raise
    except XpmError as err:
        err._source = text
        raise
    except RecursionError:  # pragma: no cover - the parse and the tree builder are iterative
        raise XpmError("too deeply nested (recursion limit)", file, *_end_pos(text),
                       text) from None
    module = S.Module(file, text)
    for item in items or ():
        if isinstance(item, S.Import):
            module.imports.append(item)
        elif isinstance(item, S.ArgDecl):
            module.args.append(item)
        elif isinstance(item, S.ConfigDecl):
            module.decls.append(item)
        else:
            module.stmts.append(item)
    return module


def _end_pos(text: str):
    """Just after the last non-blank character (where a missing `}` or `)` belongs).

    Lines are counted as the lexer counts them: at each "\n" only."""
    text = text.rstrip()
    last = text.rfind("\n")
    return text.count("\n") + 1, len(text) - last


def parse_file(path: str | os.PathLike) -> S.Module:
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise XpmError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise XpmError(f"{path} is a directory, not an .xpm file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        # the line and column of the first bad byte (the text before it is valid UTF-8)
        before = data[:e.start].decode("utf-8")
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise XpmError(f"not UTF-8 text: byte 0x{data[e.start]:02x} ({e.reason}) at byte "
                       f"offset {e.start}", path, line, col,
                       data.decode("utf-8", errors="replace")) from None
    except OSError as e:
        raise XpmError(f"cannot read {path}: {e.strerror}") from None
    return parse_text(text, path)
