"""The HTML page of a reference (taskdoc.py builds it; this renders it): one
self-contained page, inline CSS, no scripts; every piece of user text escaped."""
from __future__ import annotations

import re

from .taskdoc import (Entry, INTRO, Reference, doc_spans)


_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff;
  --soft: #f6f8fa; --link: #0969da; --config: #8250df; --task: #1a7f37; --opt: #9a6700; }
* { box-sizing: border-box; }
html { scroll-padding-top: 1rem; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica,
  Arial, sans-serif; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; font-size: 0.88em; }
code { background: var(--soft); padding: 0.1em 0.35em; border-radius: 4px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.8em 1em; overflow-x: auto; line-height: 1.45; }
pre code { background: none; padding: 0; font-size: 1em; }
.layout { display: flex; max-width: 1280px; margin: 0 auto; }
nav { flex: 0 0 250px; position: sticky; top: 0; align-self: flex-start; max-height: 100vh;
  overflow-y: auto; padding: 1.5rem 1rem 1.5rem 1.5rem; font-size: 0.9em;
  border-right: 1px solid var(--line); }
nav h2 { font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); margin: 1.2em 0 0.4em; }
nav ul { list-style: none; margin: 0; padding: 0; }
nav li { margin: 0.15em 0; }
nav .file { display: block; color: var(--muted); font-size: 0.85em; margin-top: 0.6em;
  word-break: break-all; }
main { flex: 1 1 auto; min-width: 0; padding: 1.5rem 2.5rem 4rem; }
h1 { font-size: 1.9em; margin: 0 0 0.3em; }
h2.group { font-size: 1.4em; border-bottom: 1px solid var(--line); padding-bottom: 0.3em;
  margin-top: 2em; }
.intro { color: var(--muted); margin-top: 0; }
section.decl { border: 1px solid var(--line); border-radius: 8px; padding: 0.4em 1.4em 1em;
  margin: 1.4em 0; }
section.decl:target { border-color: var(--link); box-shadow: 0 0 0 3px #0969da33; }
section.decl h3 { font-size: 1.25em; margin: 0.6em 0 0.2em; display: flex;
  align-items: center; gap: 0.5em; }
section.decl h3 .name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  "Liberation Mono", monospace; }
.kind { font-size: 0.65em; font-weight: 600; text-transform: uppercase;
  letter-spacing: 0.05em; color: #fff; border-radius: 999px; padding: 0.15em 0.7em; }
.kind.config { background: var(--config); }
.kind.task { background: var(--task); }
.origin { color: var(--muted); font-size: 0.9em; margin: 0 0 0.8em; }
.doc p { white-space: pre-wrap; margin: 0.5em 0; }
h4 { font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
th, td { border: 1px solid var(--line); padding: 0.4em 0.7em; text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td code { word-break: break-word; }
table.params { table-layout: fixed; }
table.params th:nth-child(1) { width: 22%; }
table.params th:nth-child(2) { width: 34%; }
table.params th:nth-child(4) { width: 10%; }
.required { color: var(--muted); font-style: italic; }
.option { color: var(--opt); font-weight: 600; font-size: 0.85em; }
.none { color: var(--muted); }
ul.reqs { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap;
  gap: 0.5em; }
@media (max-width: 860px) {
  .layout { display: block; }
  nav { position: static; max-height: none; border-right: none;
    border-bottom: 1px solid var(--line); }
  main { padding: 1rem; }
}
"""


def _h(text) -> str:
    from html import escape
    return escape(str(text), quote=True)


def _h_code(text) -> str:
    return f"<code>{_h(text)}</code>"


def _h_doc(text: str) -> str:
    return "\n".join("".join(_h_code(t) if code else _h(t) for code, t in doc_spans(line))
                     for line in text.split("\n"))


def _h_type(parts) -> str:
    return "<code>" + "".join(_h(p) if type(p) is str
                              else f'<a href="#{_h(p[1])}">{_h(p[0])}</a>'
                              for p in parts) + "</code>"


def _h_link(e: Entry) -> str:
    return f'<a href="#{_h(e.anchor)}"><code>{_h(e.name)}</code></a>'


def html_page(ref: Reference) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Reference of {_h(ref.title)}</title>", f"<style>{_CSS}</style>",
           "</head>", "<body>", '<div class="layout">', "<nav>"]
    for heading, entries in (("Configs", ref.configs), ("Tasks", ref.tasks)):
        if entries:
            out.append(f"<h2>{heading}</h2>")
            out.append("<ul>")
            out += [f"<li>{_h_link(e)}</li>" for e in entries]
            out.append("</ul>")
    out += ["</nav>", "<main>",
            f'<h1 id="{_h(ref.anchors[f"Reference of {ref.title}"])}">Reference of '
            f"{_h_code(ref.title)}</h1>",
            f'<p class="intro">{_h(INTRO)}</p>',
            f'<h2 class="group" id="{_h(ref.anchors["Files"])}">Files</h2>', "<ul>"]
    for path, entries in ref.files:
        decls = ", ".join(f"{e.kind} {_h_link(e)}" for e in entries) \
            or '<span class="none">no configs or tasks</span>'
        out.append(f"<li>{_h_code(path)}: {decls}</li>")
    out.append("</ul>")
    for heading, entries in (("Configs", ref.configs), ("Tasks", ref.tasks)):
        if not entries:
            continue
        out.append(f'<h2 class="group" id="{_h(ref.anchors[heading])}">{heading}</h2>')
        for e in entries:
            out += _h_entry(e)
    out += ["</main>", "</div>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _h_entry(e: Entry) -> list[str]:
    out = [f'<section class="decl {e.kind}" id="{_h(e.anchor)}">',
           f'<h3><span class="kind {e.kind}">{e.kind}</span>'
           f'<span class="name">{_h(e.name)}</span></h3>']
    where = f"Declared in {_h_code(e.file)}" + (f", line {e.line}" if e.line else "") + "."
    if e.used_by:
        where += " Used by " + ", ".join(_h_link(u) for u in e.used_by) + "."
    out.append(f'<p class="origin">{where}</p>')
    if e.doc:
        paras = [p for p in re.split(r"\n\s*\n", e.doc.strip("\n")) if p.strip()]
        out.append('<div class="doc">' + "".join(f"<p>{_h_doc(p.rstrip())}</p>" for p in paras)
                   + "</div>")
    out.append("<h4>Parameters</h4>")
    if e.params:
        out += ['<table class="params">', "<thead><tr><th>parameter</th><th>type</th><th>default</th>"
                "<th>option</th></tr></thead>", "<tbody>"]
        for p in e.params:
            default = '<span class="required">required</span>' if p.required \
                else _h_code(p.default)
            option = '<span class="option">option</span>' if p.option else ""
            out.append(f"<tr><td>{_h_code(p.name)}</td><td>{_h_type(p.type)}</td>"
                       f"<td>{default}</td><td>{option}</td></tr>")
        out += ["</tbody>", "</table>"]
    else:
        out.append('<p class="none">No parameters.</p>')
    if e.kind == "task":
        if e.outputs:
            out += ["<h4>Outputs</h4>", "<table>",
                    "<thead><tr><th>output</th><th>path in the job folder</th></tr></thead>",
                    "<tbody>"]
            out += [f"<tr><td>{_h_code(n)}</td><td>{_h_code(p)}</td></tr>"
                    for n, p in e.outputs]
            out += ["</tbody>", "</table>"]
        if e.requires:
            out += ["<h4>Requires</h4>",
                    '<ul class="reqs">' + "".join(f"<li>{_h_code(r)}</li>" for r in e.requires)
                    + "</ul>"]
        if e.uses:
            out += ["<h4>Uses</h4>",
                    "<p>Their content is part of the jobs' fingerprint: "
                    + ", ".join(_h_code(u) for u in e.uses) + "</p>"]
        kind, text = e.action
        if kind == "python":
            module, _, function = text.partition(":")
            out += ["<h4>Action: python</h4>",
                    f"<p>{_h_code(text)}: function {_h_code(function)} of module "
                    f"{_h_code(module)}, found in the folder of {_h_code(e.file)}.</p>"]
        else:
            out += ["<h4>Action: shell</h4>",
                    f'<pre><code class="language-sh">{_h(text.rstrip(chr(10)))}</code></pre>']
    out.append("</section>")
    return out
