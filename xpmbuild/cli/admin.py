"""gc and launchers: keeping a workspace and its launchers in order."""
from __future__ import annotations

import sys

import rich_click as click

from .common import (_fail, _print_json, _settings, _workspace, main, workspace_option)


@main.command("launchers")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
@click.option("--file", "experiment", type=click.Path(dir_okay=False),
              help="Also read the xpmbuild.toml next to this experiment file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def launchers_cmd(settings_file, experiment, as_json):
    """List the configured launchers and check that each is reachable."""
    from rich.table import Table
    from ..launchers import make_launcher
    from ..report import console
    settings = _settings(experiment, settings_file)
    rows = []
    for name, cfg in sorted(settings.get("launchers", {}).items()):
        kind = cfg.get("type", name)
        try:
            launcher = make_launcher(name, settings)
            detail = launcher.check_reachable()
            ok = True
        except Exception as e:  # report, do not crash: this command is a diagnosis
            ok, detail = False, str(e)
        rows.append({"name": name, "type": kind, "connector": cfg.get("connector", "local"),
                     "reachable": ok, "detail": detail})
    if as_json:
        _print_json({"launchers": rows, "settings_files": settings.get("_files", [])})
    else:
        from ..report import text
        table = Table(title="launchers", title_justify="left")
        for col in ("name", "type", "connector", "reachable", "detail"):
            table.add_column(col)
        for r in rows:
            table.add_row(text(r["name"]), text(r["type"]), text(r["connector"]),
                          text("yes", "green") if r["reachable"] else text("no", "red"),
                          text(r["detail"]))
        console().print(table)
    if not all(r["reachable"] for r in rows):
        sys.exit(1)


@main.command("gc")
@workspace_option
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be removed, and how much.")
@click.option("-y", "--yes", is_flag=True, help="Remove without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def gc_cmd(workspace, dry_run, yes, as_json):
    """Remove job folders that no experiment's latest plan uses (nor their dependencies).

    Running jobs are never touched. On a terminal it asks first; elsewhere give --yes."""
    from rich.markup import escape
    from rich.table import Table

    from .. import gc
    from ..report import console
    ws, _settings_ = _workspace(workspace)
    found = gc.collect(ws)
    if as_json:
        doc = {"workspace": ws.root, "garbage": [g.to_json() for g in found.garbage],
               "bytes": found.size, "kept": found.kept,
               "running": [g.to_json() for g in found.busy], "removed": 0}
    out = console()
    if not as_json:
        if found.garbage:
            table = Table(title=f"{len(found.garbage)} job folders no plan uses "
                                f"({gc.human(found.size)})", title_justify="left")
            for col in ("job", "status", "size"):
                table.add_column(col, justify="right" if col == "size" else "left")
            for g in found.garbage:
                table.add_row(escape(f"{g.task}/{g.id[:8]}"), g.status, gc.human(g.size))
            out.print(table)
        for g in found.busy:
            out.print(escape(f"kept {g.task}/{g.id[:8]}: it is {g.status}"))
        out.print(f"{found.kept} job folders are used by the experiments' latest plans")
    if not found.garbage or dry_run:
        if as_json:
            _print_json(doc)
        return
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"error: would remove {len(found.garbage)} job folders "
                  f"({gc.human(found.size)}): give --yes to remove them", 1)
        if not click.confirm(f"Remove {len(found.garbage)} job folders "
                             f"({gc.human(found.size)})?", default=False):
            return
    removed, freed = gc.remove(ws, found)
    if as_json:
        doc["removed"] = removed
        _print_json(doc)
    else:
        out.print(f"removed {removed} job folders ({gc.human(freed)})")
