"""The answers given before the command-line framework is imported (start-up is a
feature): ``--version``, and a ``run``/``plan --json`` that nothing changed since the
last complete one (the no-op manifest, noop.py: stat only).

Only a command line read here exactly as click would read it is answered here; anything
else (an unknown option, ``--force``, ``--help``, a value that click would refuse, a
settings or workspace problem to report) is left to the full path, which then decides
and reports as always. Nothing here imports click, rich or the language.
"""
from __future__ import annotations

import os
import sys

# the options of `run`/`plan` that do not change a no-op's answer, and whether they take a
# value (-l: the launcher is not made before the no-op check, its name is part of the
# manifest's key; -j: checked below)
_VALUED = {"-w": "workspace", "--workspace": "workspace", "-D": "defines", "-j": "jobs",
           "--jobs": "jobs", "-l": "launcher", "--launcher": "launcher", "--name": "name",
           "--settings": "settings"}
_FLAGS = {"-k": "keep_going", "--keep-going": "keep_going", "--json": "json",
          "-n": "dry_run", "--dry-run": "dry_run"}


def prog_name() -> str:
    """The program name as click shows it (``xpmbuild``, ``python -m xpmbuild.cli``)."""
    main = sys.modules.get("__main__")
    path = sys.argv[0] if sys.argv else "xpmbuild"
    package = getattr(main, "__package__", None)
    if not package:
        return os.path.basename(path)
    name = os.path.splitext(os.path.basename(path))[0]
    module = package if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def parse_build_args(argv: list[str]) -> dict | None:
    """``run``/``plan`` arguments as a dict, or None if anything is beyond this reader."""
    if not argv or argv[0] not in ("run", "plan"):
        return None
    out = {"command": argv[0], "workspace": None, "defines": [], "jobs": None,
           "launcher": None, "name": None, "settings": None, "json": False,
           "dry_run": argv[0] == "plan", "positional": []}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and a != "-":
            key, _, attached = a.partition("=") if a.startswith("--") else (a, "", "")
            if not a.startswith("--") and len(a) > 2 and a[:2] in _VALUED:
                key, attached = a[:2], a[2:]     # -j2, -wws, -Dn=3: click's short form
            if key in _VALUED:
                if attached or (a.startswith("--") and "=" in a):
                    value = attached
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    return None
                field = _VALUED[key]
                if field == "defines":
                    out["defines"].append(value)
                else:
                    if out.get(field) is not None and field != "launcher":
                        return None          # given twice: click's rule (last wins) is not ours
                    out[field] = value
            elif key in _FLAGS and not attached and "=" not in a:
                if _FLAGS[key] == "dry_run" and argv[0] == "plan":
                    return None              # plan has no -n
                out[_FLAGS[key]] = True
            else:
                return None
        else:
            out["positional"].append(a)
        i += 1
    if not out["positional"]:
        return None
    if out["jobs"] is not None:
        try:
            if int(out["jobs"]) < 1:
                return None
        except ValueError:
            return None
    for d in out["defines"]:
        if "=" not in d:
            return None
    return out


def answer_noop(ws, file, defines, name, targets, dry_run, as_json, namespace=None,
                settings=None, launcher=None) -> bool:
    """Nothing changed since the last complete run: answer from the manifest, stat only.
    ``settings`` and ``launcher`` (``-l``) decide each job's launcher, which it names."""
    from .. import noop

    def with_nodes(m):      # --json lists them, and a plan table of a few jobs
        if as_json:
            return True
        if not dry_run:
            return False
        from ..report import PLAN_DONE_ROWS
        return m["count"] <= PLAN_DONE_ROWS
    m = noop.check(ws, file, defines, name, targets, dry_run, namespace,
                   noop.routing(settings, launcher), with_nodes)
    if m is None or (dry_run and not as_json and m.get("routed", True)):
        return False        # (a table with a launcher column: drawn by the full path)
    n = m["count"]
    if as_json:
        import json
        summary = {"done": n, "jobs": n, ("will_run" if dry_run else "ran"): 0}
        if not dry_run:
            summary["failed"] = 0
        if sys.stdout.isatty():
            doc = {"experiment": m["experiment"], "workspace": ws, "dry_run": dry_run,
                   "nodes": json.loads(m["nodes_json"]), "summary": summary}
            sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        else:       # the nodes were encoded when the manifest was written
            sys.stdout.write(json.dumps({"experiment": m["experiment"], "workspace": ws,
                                         "dry_run": dry_run})[:-1] + ', "nodes": '
                             + m["nodes_json"] + ', "summary": ' + json.dumps(summary) + "}\n")
    elif dry_run:
        _plan_table(m)
    else:
        sys.stdout.write(f"{n} jobs: {n} done (0 ran, {n} up to date), 0 failed, 0 skipped\n")
    sys.stdout.flush()
    return True


class _Done:
    """A job of the manifest, as the plan table reads a node: done, nothing to run."""

    __slots__ = ("job", "status", "reasons", "will_run")

    def __init__(self, node):
        self.job = _Job(node)
        self.status, self.reasons, self.will_run = "done", [], False


class _Job:
    __slots__ = ("short", "tags")

    def __init__(self, node):
        self.short = f"{node['task']}/{node['id'][:8]}"
        self.tags = node["tags"]


class _Plan:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Unlisted:
    """The done jobs of a plan too big for its table to list them (report.PLAN_DONE_ROWS):
    their number, and no row (the table lists only the jobs that would run: none)."""
    __slots__ = ("count",)

    def __init__(self, count):
        self.count = count

    def __len__(self):
        return self.count

    def __iter__(self):
        return iter(())


class _Result:
    __slots__ = ("nodes", "plan")

    def __init__(self, m, listed=True):
        import json
        self.nodes = [_Done(n) for n in json.loads(m["nodes_json"])] if listed \
            else _Unlisted(m["count"])
        self.plan = _Plan(m["experiment"])


def _plan_table(m):
    """The table ``plan`` draws when every job is done (report.render_plan); the nodes are
    decoded only when the table lists them."""
    from ..report import PLAN_DONE_ROWS, console, render_plan
    render_plan(_Result(m, listed=m["count"] <= PLAN_DONE_ROWS), console())


def _workspace_usable(root: str, write: bool) -> bool:
    """What common._check_workspace would accept without a word (else the full path
    reports it)."""
    for d in (root, os.path.join(root, "jobs")) + ((os.path.join(root, ".xpm"),) if write
                                                    else ()):
        if os.path.lexists(d) and not os.path.isdir(d):
            return False
    if write:
        for d in (os.path.join(root, ".xpm"), os.path.join(root, "jobs"), root):
            if os.path.isdir(d):
                return os.access(d, os.W_OK)
    return True


def try_build(argv: list[str]) -> None:
    """A ``run``/``plan`` command line this reader reads exactly as click would: answered
    from the no-op manifest, else built by buildcmd._build, without click (both exit).
    Anything else returns, for the full command line."""
    a = parse_build_args(argv)
    if a is None:
        return
    if try_noop(argv, a):
        sys.exit(0)
    from ..graph import parse_assignments
    try:
        defines = parse_assignments(a["defines"], "-D")
    except ValueError:
        return                  # click reports it, with the usage
    from .buildcmd import _build
    file, targets = a["positional"][0], tuple(a["positional"][1:])
    _build(file, targets, a["workspace"], int(a["jobs"]) if a["jobs"] is not None else None,
           a["launcher"], defines, a["dry_run"], a.get("keep_going", False), (), False,
           a["json"], a["name"], a["settings"], noop_checked=True)


def try_noop(argv: list[str], a=None) -> bool:
    """Answer a no-op ``run``/``plan --json`` from the manifest; False: take the full path.
    ``a``: the command line as parse_build_args read it."""
    a = a or parse_build_args(argv)
    if a is None:
        return False
    from ..settings import SettingsError, load
    from ..workspace_root import resolve_workspace
    file, targets = a["positional"][0], a["positional"][1:]
    if os.path.isdir(file):
        return False                 # click refuses a folder (dir_okay=False)
    try:
        settings = load(file, a["settings"])
    except (SettingsError, OSError):
        return False
    ws = resolve_workspace(a["workspace"], settings)
    if not _workspace_usable(ws, write=not a["dry_run"]):
        return False
    defines = {}
    for d in a["defines"]:
        k, v = d.split("=", 1)
        defines[k.strip()] = v
    return answer_noop(ws, file, defines, a["name"], targets, a["dry_run"], a["json"],
                       settings.get("namespace"), settings, a["launcher"])
