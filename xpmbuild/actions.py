"""A job's action, made concrete: the rendered shell text, ``command.sh`` and ``params.json``.

Values go into shell templates quoted for their place (unquoted, or inside the author's
double or single quotes: shellquote.py); a list is separate words, dicts and configs
plain JSON. Paths inside the workspace are written
relative to the job's own folder (the command runs there), so a rendered command does
not depend on where the workspace is mounted: own outputs as ``tokens.txt``, another
job's output as ``../../prepare/ID/tokens.txt``.
"""
from __future__ import annotations

import json
import os
import shlex
import sys

from . import model as M
from . import shellquote

_quote = shlex.quote
_TOP = shellquote.TOP


def _dep_dir(job: M.Job) -> str:
    return f"../../{job.task.name}/{job.id}"


def to_text(value) -> str:
    """A value as the text a shell command receives (before quoting).

    Dicts and configs are plain JSON (paths as strings, a config as its fields); a list
    gets here only as an item of a list (placeholders split top-level lists into words:
    :func:`to_words`).
    """
    t = type(value)
    if t is str:
        return value
    if t is bool or t is int or t is float:
        return repr(value) if t is float else str(value)
    if value is None:
        return ""
    if t is M.PathValue:
        return value.path
    if t is M.OutputRef:
        return f"{_dep_dir(value.job)}/{value.relpath}"
    if t is M.Job:
        return _dep_dir(value)
    return json.dumps(to_plain(value), sort_keys=True, ensure_ascii=False)


def to_words(value) -> list[str] | None:
    """A list as the separate words a shell command receives; None for anything else."""
    if type(value) is not list:
        return None
    return [to_text(v) for v in value]


def to_plain(value):
    """A value as plain JSON data for a shell command: no ``$`` type tags."""
    t = type(value)
    if value is None or t in (str, bool, int, float):
        return value
    if t is list:
        return [to_plain(v) for v in value]
    if t is dict:
        return {k: to_plain(v) for k, v in value.items()}
    if t is M.ConfigValue:
        return {k: to_plain(v) for k, v in value.values.items()}
    return to_text(value)       # paths, outputs, jobs: their text


def to_json(value):
    """A value for params.json and the ``python`` runner (types kept with ``$`` keys)."""
    t = type(value)
    if value is None or t in (str, bool, int, float):
        return value
    if t is M.PathValue:
        return {"$path": value.path}
    if t is M.OutputRef:
        return {"$path": f"{_dep_dir(value.job)}/{value.relpath}"}
    if t is list:
        return [to_json(v) for v in value]
    if t is dict:
        return {"$dict": {k: to_json(v) for k, v in value.items()}}
    if t is M.ConfigValue:
        return {"$config": value.definition.name,
                "fields": {k: to_json(v) for k, v in value.values.items()}}
    if t is M.Job:
        return {"$job": value.task.name, "id": value.id, "dir": _dep_dir(value),
                "outputs": dict(value.task.outputs)}
    raise TypeError(f"cannot serialise {value!r}")


def _lookup(job: M.Job, chain):
    head = chain[0]
    task = job.task
    if head == "here":
        return task.here
    if head in task.outputs:
        return task.outputs[head]
    value = job.values[head]
    if len(chain) > 1 and type(value) is list:     # ``{parts.out}``: each item's field
        return [field_of(v, chain[1:]) for v in value]
    return field_of(value, chain[1:])


def field_of(value, attrs):
    """``value.a.b…`` for the names ``attrs``: a config's field, a job's output (an
    OutputRef) or parameter; None through an empty optional."""
    for attr in attrs:
        t = type(value)
        if t is M.ConfigValue:
            value = value.values[attr]
        elif t is M.Job:
            value = M.OutputRef(value, attr) if attr in value.task.outputs else value.values[attr]
        else:  # None through an optional: renders as empty
            return None
    return value


def render_parts(template: M.Template, value_of, subject=None, keep=None) -> list:
    """Each part of a shell template rendered: text as it is, a placeholder's value
    (``value_of(subject, part)``) quoted for where it lands; None for a placeholder that
    ``keep(part)`` says to leave as it is (the caller fills it)."""
    out = []
    contexts = template.contexts or [None] * len(template.parts)
    for part, context in zip(template.parts, contexts):
        if type(part) is str:
            out.append(part)
        elif keep is not None and keep(part):
            out.append(None)
        else:
            value = value_of(subject, part)
            words = to_words(value)
            if words is None and (context is None or context == _TOP):
                out.append(_quote(to_text(value)))
            else:
                out.append(shellquote.render(None if words is not None else to_text(value),
                                             words, context))
    return out


def render_shell(job: M.Job, mask_options: bool = False) -> str:
    """The shell text with values substituted, quoted for where each one lands.

    Unquoted, a value is one shell-quoted word and a list one quoted word per item;
    inside the author's own quotes (``"{v}"``, ``'{v}'``, ``$'{v}'``) the value is
    escaped for those quotes (shellquote.py; the places found at check time).

    ``mask_options``: leave ``{option}`` placeholders as they are, for the fingerprint
    (options are left out of identity and fingerprint: changing one rebuilds nothing).
    """
    template = job.task.action
    if not (mask_options and job.task.has_options):
        return "".join(render_parts(template, _lookup, job))
    params = job.task.params

    def keep(part):
        return part[0] in params and params[part[0]].option
    parts = render_parts(template, _lookup, job, keep)
    return "".join(p if p is not None else "{" + ".".join(part) + "}"
                   for p, part in zip(parts, template.parts))


def python_module_file(task: M.TaskDef) -> str | None:
    module = task.action.split(":", 1)[0]
    base = os.path.join(task.here, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def render(job: M.Job) -> str:
    """The action's text as command.sh will run it (also a fingerprint component)."""
    task = job.task
    if task.action_kind == "shell":
        return render_shell(job)
    return (f"exec {_quote(sys.executable)} -m xpmbuild.runner {_quote(task.action)} "
            f"{_quote(task.here)}")


def command_script(job: M.Job, action_text: str, env: dict | None = None) -> str:
    lines = ["#!/usr/bin/env bash",
             f"# xpmbuild job {job.task.name}/{job.id}",
             "# Re-run by hand: bash command.sh (from any directory).",
             'case "${BASH_SOURCE[0]}" in */*) cd "${BASH_SOURCE[0]%/*}" ;; esac',
             "set -eu -o pipefail"]
    for k, v in (env or {}).items():
        lines.append(f"export {k}={_quote(str(v))}")
    lines.append(action_text)
    return "\n".join(lines) + "\n"


def params_document(job: M.Job) -> dict:
    return {"task": job.task.name, "id": job.id,
            "params": {k: to_json(v) for k, v in job.values.items()},
            "options": [p.name for p in job.task.params.values() if p.option],
            "outputs": dict(job.task.outputs), "tags": job.tags,
            "deps": [d.id for d in job.deps]}
