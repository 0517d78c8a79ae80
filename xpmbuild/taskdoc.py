"""The reference of an experiment's configs and tasks, as Markdown or as one HTML page.

:func:`document` reads the checked declarations of a file and its imports (what
``xpmbuild.language.check`` returns) and writes, for each ``config`` and ``task``: where
it is declared, its docstring, its parameters (type as written, default as source text,
required or not, option or not), and for a task its outputs, requirements, ``uses``
paths and action. A parameter typed by a config or a task links to that declaration's
section; every section lists the declarations that use it.

Anchors are GitHub's heading anchors (``### config Optimizer`` is ``#config-optimizer``),
so the Markdown links work on GitHub, and the HTML page uses the same ids. User text
(docstrings, names, defaults, templates) is always escaped: a docstring is shown as the
plain text it is, line breaks and indentation kept, never interpreted as Markdown or HTML;
its one piece of markup is a `code` span between backticks, shown as code.

The language has no per-parameter docstring (only a declaration's), so parameters are
documented by their name, type and default alone.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata

from . import model as M

FORMATS = ("markdown", "html")


# ----------------------------------------------------------------------------- the model


class Param:
    __slots__ = ("name", "type", "default", "required", "option")

    def __init__(self, name, type_, default, required, option):
        self.name = name
        self.type = type_            # list of str | (name, anchor): the type as written
        self.default = default       # source text, or None (required)
        self.required = required
        self.option = option


class Entry:
    """One declaration as the reference shows it."""

    def __init__(self, definition, anchor: str, file: str, line):
        self.definition = definition
        self.kind = definition.kind
        self.name = definition.name
        self.anchor = anchor
        self.file = file             # relative to the main file's folder, with /
        self.line = line
        self.doc = cleandoc(definition.doc) if definition.doc else None
        self.params: list[Param] = []
        self.outputs: list = []      # (name, relative path)
        self.requires: list = []     # "cpus=2", 'mem="4G"'
        self.uses: list = []         # paths relative to the declaring file's folder
        self.action = None           # ("shell", template text) | ("python", "mod:fn")
        self.used_by: list = []      # entries with a parameter of this type


class Reference:
    def __init__(self, title: str, files: list, configs: list, tasks: list, anchors: dict):
        self.title = title           # the main file's name
        self.files = files           # (relative path, [entries]) main first, then imports
        self.configs = configs
        self.tasks = tasks
        self.anchors = anchors       # heading text -> anchor, for the fixed headings


class _Slugger:
    """GitHub's heading anchors (github-slugger): lower case, punctuation dropped,
    spaces to '-', a repeated anchor gets '-1', '-2', ..."""

    def __init__(self):
        self.seen: dict = {}

    def slug(self, text: str) -> str:
        base = "".join(c for c in text.lower()
                       if c in " -_" or unicodedata.category(c)[0] in "LNM")
        base = base.replace(" ", "-")
        slug = base
        while slug in self.seen:
            self.seen[base] += 1
            slug = f"{base}-{self.seen[base]}"
        self.seen[slug] = 0
        return slug


def _rel(path: str, start: str) -> str:
    try:
        rel = os.path.relpath(path, start)
    except ValueError:           # another drive (Windows)
        rel = path
    return rel.replace(os.sep, "/")


def _files(decls) -> list[str]:
    """Every file read, the main one first, then the imports in reading order."""
    files = [getattr(m, "file", None) for m in getattr(decls, "modules", ())]
    files = [f for f in files if f]
    main = getattr(getattr(decls, "main", None), "file", None) or (files[-1] if files else None)
    order = ([main] if main else []) + [f for f in files if f != main]
    for d in list(decls.configs.values()) + list(decls.tasks.values()):
        if d.file not in order:
            order.append(d.file)
    return order


def cleandoc(doc: str) -> str:
    """A docstring without the indentation of its second and later lines (the first one
    may follow the opening quotes), nor blank lines around it, as ``inspect.cleandoc``."""
    lines = doc.expandtabs().split("\n")
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    cut = min(indents, default=0)
    lines = [lines[0].strip()] + [ln[cut:].rstrip() for ln in lines[1:]]
    return "\n".join(lines).strip("\n")


def literal(value, here: str | None = None) -> str:
    """A value as the language would write it: ``"dev"``, ``0.001``, ``[0.9, 0.999]``,
    ``Optimizer(lr=0.1)`` (only the arguments that differ from the defaults)."""
    t = type(value)
    if value is None or t is bool or t is int:
        return str(value)
    if t is float:
        return repr(value)
    if t is str:
        return json.dumps(value, ensure_ascii=False)
    if t is list:
        return "[" + ", ".join(literal(v, here) for v in value) + "]"
    if t is dict:
        return "{" + ", ".join(f"{literal(k, here)}: {literal(v, here)}"
                               for k, v in value.items()) + "}"
    if t is M.PathValue:
        shown = value.path
        if here:
            rel = _rel(value.path, here)
            if not rel.startswith("../") and rel != "..":
                shown = rel
        return json.dumps(shown, ensure_ascii=False)
    if t is M.ConfigValue:
        args = []
        for name, p in value.definition.params.items():
            if name not in value.values:
                continue
            v = value.values[name]
            try:
                same = p.default_enc is not None and M.encode(v) == p.default_enc
            except Exception:       # noqa: BLE001 - a value without an encoding: show it
                same = False
            if not same:
                args.append(f"{name}={literal(v, here)}")
        return f"{value.definition.name}(" + ", ".join(args) + ")"
    if t is M.Tagged:
        return f"tag({literal(value.value, here)})"
    return str(value)


def type_parts(t, anchor_of: dict) -> list:
    """A type as written, in parts: text, or (declaration name, anchor) to link."""
    if isinstance(t, M.OptionalType):
        return type_parts(t.inner, anchor_of) + ["?"]
    if isinstance(t, (M.ListType, M.DictType)):
        head = "list[" if isinstance(t, M.ListType) else "dict["
        return [head] + type_parts(t.item, anchor_of) + ["]"]
    if isinstance(t, M.ChoiceType):
        return ["choice(" + ", ".join(literal(c) for c in t.choices) + ")"]
    if isinstance(t, (M.ConfigType, M.TaskType)):
        anchor = anchor_of.get(id(t.definition))
        return [(t.definition.name, anchor)] if anchor else [t.definition.name]
    return [str(t)]


def _merge(parts: list) -> list:
    out: list = []
    for p in parts:
        if type(p) is str and out and type(out[-1]) is str:
            out[-1] += p
        else:
            out.append(p)
    return out


def _referenced(t) -> list:
    if isinstance(t, M.OptionalType):
        return _referenced(t.inner)
    if isinstance(t, (M.ListType, M.DictType)):
        return _referenced(t.item)
    if isinstance(t, (M.ConfigType, M.TaskType)):
        return [t.definition]
    return []


def reference(decls) -> Reference:
    """What the reference shows, in the order it shows it."""
    root = decls.root
    files = _files(decls)
    rank = {f: i for i, f in enumerate(files)}

    def order(d):
        return rank.get(d.file, len(rank)), getattr(d.pos, "line", 0) or 0, d.name

    configs = sorted(decls.configs.values(), key=order)
    tasks = sorted(decls.tasks.values(), key=order)
    main = files[0] if files else ""
    title = os.path.basename(main)

    # anchors in the order the Markdown headings come (GitHub numbers repeats in order)
    slugger = _Slugger()
    anchors = {}
    for heading in [f"Reference of {title}", "Files"] + (["Configs"] if configs else []):
        anchors[heading] = slugger.slug(heading)
    anchor_of: dict = {}
    for d in configs:
        anchor_of[id(d)] = slugger.slug(f"config {d.name}")
    if tasks:
        anchors["Tasks"] = slugger.slug("Tasks")
    for d in tasks:
        anchor_of[id(d)] = slugger.slug(f"task {d.name}")

    entries = {}
    for d in configs + tasks:
        e = Entry(d, anchor_of[id(d)], _rel(d.file, root), getattr(d.pos, "line", None))
        entries[id(d)] = e
        for p in d.params.values():
            if p.has_default:
                default = literal(p.default, d.here)
            elif p.type.optional:
                default = "None"
            else:
                default = None
            e.params.append(Param(p.name, _merge(type_parts(p.type, anchor_of)), default,
                                  default is None, p.option))
        if d.kind == "task":
            e.outputs = list(d.outputs.items())
            e.requires = [f"{k}={literal(v)}" for k, v in d.requires.items()]
            e.uses = [_rel(u, d.here) + ("/" if os.path.isdir(u) else "") for u in d.uses]
            if d.action_kind == "python":
                e.action = ("python", str(d.action))
            else:
                e.action = ("shell", getattr(d.action, "text", str(d.action)))
    for d in configs + tasks:
        seen = set()
        for p in d.params.values():
            for target in _referenced(p.type):
                if id(target) in entries and id(d) not in seen:
                    seen.add(id(d))
                    entries[id(target)].used_by.append(entries[id(d)])
    by_file = [(_rel(f, root), [entries[id(d)] for d in configs + tasks if d.file == f])
               for f in files]
    return Reference(title, by_file, [entries[id(d)] for d in configs],
                     [entries[id(d)] for d in tasks], anchors)


def document(decls, fmt: str = "markdown") -> str:
    """The reference of ``decls`` (from ``xpmbuild.language.check``) as ``fmt``:
    ``"markdown"`` (GitHub-flavoured) or ``"html"`` (one self-contained page)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    ref = reference(decls)
    if fmt == "markdown":
        return markdown(ref)
    from .taskdoc_html import html_page
    return html_page(ref)


INTRO = ("Parameters without a default are required. An option is passed to the action "
         "but is not part of a job's identity: changing it never makes a new job.")


# ----------------------------------------------------------------------------- Markdown

_MD_ALWAYS = set("\\`*_[]<>&|~$")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")


def _md_escape(text: str, line_start: bool) -> str:
    out = "".join("\\" + c if c in _MD_ALWAYS else c for c in text)
    m = _MD_LINE_START.match(out) if line_start else None
    if m:
        if m.group(2)[0].isdigit():     # "1." / "1)" would start a list
            out = out[:m.end()] + "\\" + out[m.end():]
        else:
            out = out[:m.start(2)] + "\\" + out[m.start(2):]
    return out


def _indent(line: str) -> tuple[str, str]:
    """A line's indentation as non-breaking spaces (kept, and never a code block)."""
    body = line.lstrip(" \t")
    return "&nbsp;" * (len(line) - len(body)), body


def md_text(text: str) -> str:
    """Plain text that GitHub shows as written (no emphasis, links, HTML or math)."""
    lines = []
    for line in text.split("\n"):
        indent, body = _indent(line)
        lines.append(indent + _md_escape(body, True))
    return "\n".join(lines)


_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def doc_spans(line: str) -> list:
    """A docstring line in parts: (False, text) and (True, code) for `code` spans, the
    one piece of markup a docstring has (everything else is shown as written)."""
    parts, last = [], 0
    for m in _CODE_SPAN.finditer(line):
        if m.start() > last:
            parts.append((False, line[last:m.start()]))
        parts.append((True, m.group(2)))
        last = m.end()
    if last < len(line):
        parts.append((False, line[last:]))
    return parts


def _md_doc_line(line: str) -> str:
    indent, body = _indent(line)
    return indent + "".join(md_code(t) if code else _md_escape(t, i == 0)
                            for i, (code, t) in enumerate(doc_spans(body)))


def md_code(text: str, in_table: bool = False) -> str:
    """An inline code span holding ``text`` exactly (pipes escaped inside tables)."""
    text = text.replace("\n", " ")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def md_doc(doc: str) -> list[str]:
    """A docstring as paragraphs; its line breaks are kept."""
    out = []
    for para in re.split(r"\n\s*\n", doc.strip("\n")):
        if para.strip():
            out.append(" \\\n".join(_md_doc_line(line) for line in para.rstrip().split("\n")))
            out.append("")
    return out


def _md_type(parts) -> str:
    return "".join(md_code(p, True) if type(p) is str else f"[{md_code(p[0], True)}](#{p[1]})"
                   for p in parts)


def _md_link(e: Entry) -> str:
    return f"[{md_code(e.name)}](#{e.anchor})"


def markdown(ref: Reference) -> str:
    out = [f"# Reference of {md_text(ref.title)}", "", md_text(INTRO), "", "## Files", ""]
    for path, entries in ref.files:
        decls = ", ".join(f"{e.kind} {_md_link(e)}" for e in entries) or "no configs or tasks"
        out.append(f"- {md_code(path)}: {decls}")
    out.append("")
    for heading, entries in (("Configs", ref.configs), ("Tasks", ref.tasks)):
        if not entries:
            continue
        out += [f"## {heading}", ""]
        for e in entries:
            out += _md_entry(e)
    return "\n".join(out).rstrip("\n") + "\n"


def _md_entry(e: Entry) -> list[str]:
    out = [f"### {e.kind} {md_text(e.name)}", ""]
    where = f"Declared in {md_code(e.file)}" + (f", line {e.line}" if e.line else "") + "."
    if e.used_by:
        where += " Used by " + ", ".join(_md_link(u) for u in e.used_by) + "."
    out += [where, ""]
    if e.doc:
        out += md_doc(e.doc)
    if e.params:
        out += ["| parameter | type | default | option |", "|---|---|---|---|"]
        for p in e.params:
            default = "*required*" if p.required else md_code(p.default, True)
            out.append(f"| {md_code(p.name, True)} | {_md_type(p.type)} | {default} | "
                       f"{'yes' if p.option else ''} |")
        out.append("")
    else:
        out += ["No parameters.", ""]
    if e.kind != "task":
        return out
    if e.outputs:
        out += ["| output | path in the job folder |", "|---|---|"]
        out += [f"| {md_code(n, True)} | {md_code(p, True)} |" for n, p in e.outputs]
        out.append("")
    if e.requires:
        out += ["**Requires:** " + ", ".join(md_code(r) for r in e.requires), ""]
    if e.uses:
        out += ["**Uses** (its content is part of the jobs' fingerprint): "
                + ", ".join(md_code(u) for u in e.uses), ""]
    kind, text = e.action
    if kind == "python":
        module, _, function = text.partition(":")
        out += [f"**Action:** python {md_code(text)} (function {md_code(function)} of module "
                f"{md_code(module)}, found in the folder of {md_code(e.file)})", ""]
    else:
        body = text.rstrip("\n")
        longest = max((len(r) for r in re.findall(r"`{3,}|~{3,}", body)), default=0)
        fence = "`" * max(3, longest + 1)
        out += ["**Action:** shell", "", f"{fence}sh", body, fence, ""]
    return out
