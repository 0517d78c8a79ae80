"""A job's action, made concrete: the rendered shell text, ``command.sh`` and ``params.json``.

Values go into shell templates shell-quoted. Paths inside the workspace are written
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

_quote = shlex.quote


def _dep_dir(job: M.Job) -> str:
    return f"../../{job.task.name}/{job.id}"


def to_text(value) -> str:
    """A value as the text a shell command receives (before quoting)."""
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
    return json.dumps(to_json(value), sort_keys=True)


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
    for attr in chain[1:]:
        t = type(value)
        if t is M.ConfigValue:
            value = value.values[attr]
        elif t is M.Job:
            value = M.OutputRef(value, attr) if attr in value.task.outputs else value.values[attr]
        else:  # None through an optional: renders as empty
            return None
    return value


def render_shell(job: M.Job, mask_options: bool = False) -> str:
    """The shell text with values substituted, shell-quoted.

    ``mask_options``: leave ``{option}`` placeholders as they are, for the fingerprint
    (options are left out of identity and fingerprint: changing one rebuilds nothing).
    """
    out = []
    params = job.task.params
    for part in job.task.action.parts:
        if type(part) is str:
            out.append(part)
        elif mask_options and part[0] in params and params[part[0]].option:
            out.append("{" + ".".join(part) + "}")
        else:
            out.append(_quote(to_text(_lookup(job, part))))
    return "".join(out)


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
