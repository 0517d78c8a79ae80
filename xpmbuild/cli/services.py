"""services list|start|stop: the services the experiments offer (xpmbuild/services.py)."""
from __future__ import annotations

import rich_click as click

from .common import _fail, _print_json, _workspace, main, workspace_option


@main.group()
def services():
    """The services experiments offer (TensorBoard...): list, start, stop."""


def _options(f):
    for opt in reversed([
        workspace_option,
        click.option("--experiment", help="The experiment (needed when several offer NAME)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON document."),
    ]):
        f = opt(f)
    return f


def _list(ws, experiment):
    from ..services import ServiceError, list_services
    try:
        return list_services(ws.root, experiment)
    except ServiceError as err:
        _fail(f"error: {err}")


def _table(items, title):
    from rich.table import Table
    from ..report import status_text, text
    table = Table(title=text(title), title_justify="left")
    for col in ("experiment", "service", "state", "url", "pid", "about"):
        table.add_column(col)
    for s in items:
        style = {"running": "running", "exited": "failed"}.get(s["state"], "waiting")
        table.add_row(text(s["experiment"]), text(s["name"]),
                      text(s["state"], status_text(style).style), text(s["url"] or ""),
                      text(s["pid"] or ""), text((s["doc"] or "").strip().split("\n")[0]))
    return table


def _targets(ws, experiment, names):
    """The services named (all of the experiment when none), each (experiment, name)."""
    items = _list(ws, experiment)
    if not names:
        if not experiment:
            raise click.UsageError("name a service, or give --experiment for all of its "
                                   "services")
        return [(s["experiment"], s["name"]) for s in items]
    out = []
    for name in names:
        found = [s for s in items if s["name"] == name]
        if not found:
            known = sorted({s["name"] for s in items})
            _fail(f"error: no service {name!r}" + (f" in experiment {experiment!r}"
                                                    if experiment else "")
                  + "; services: " + (", ".join(known) or "(none)"))
        if len(found) > 1:
            _fail(f"error: several experiments offer a service {name!r} ("
                  + ", ".join(s["experiment"] for s in found) + "): give --experiment")
        out.append((found[0]["experiment"], name))
    return out


def _act(workspace, experiment, names, as_json, action):
    from .. import services as S
    ws, _settings = _workspace(workspace)
    done = []
    for exp, name in _targets(ws, experiment, names):
        try:
            done.append((S.start_service if action == "start" else S.stop_service)(
                ws.root, exp, name))
        except S.ServiceError as err:
            _fail(f"error: {err}", 1)
    if as_json:
        _print_json({"workspace": ws.root, "services": done})
        return
    for s in done:
        click.echo(f"{s['experiment']}/{s['name']}: {s['state']}"
                   + (f" {s['url']}" if s["url"] else ""))


@services.command("list")
@_options
def services_list(workspace, experiment, as_json):
    """The services of the workspace's experiments, with their state and URL."""
    from ..report import console
    ws, _settings = _workspace(workspace)
    items = _list(ws, experiment)
    if as_json:
        _print_json({"workspace": ws.root, "services": items})
        return
    console().print(_table(items, f"{len(items)} service{'s' if len(items) != 1 else ''}"))


@services.command("start")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@_options
def services_start(names, workspace, experiment, as_json):
    """Start services (a running one is left as it is) and print their URLs."""
    _act(workspace, experiment, names, as_json, "start")


@services.command("stop")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@_options
def services_stop(names, workspace, experiment, as_json):
    """Stop services (SIGTERM to their process group, then SIGKILL)."""
    _act(workspace, experiment, names, as_json, "stop")
