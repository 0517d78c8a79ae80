"""Unit tests of the no-op fast path's command-line reader (cli/fastpath.py) and of the
workspace resolution it uses without importing workspace.py (workspace_root.py)."""
from __future__ import annotations

import os

import pytest

from xpmbuild import workspace, workspace_root
from xpmbuild.cli.fastpath import parse_build_args


@pytest.mark.parametrize("option", [None, "ws", "~/ws", "/abs/ws", ""])
@pytest.mark.parametrize("env", [None, "envws", "~/e"])
@pytest.mark.parametrize("settings", [None, {}, {"workspace": "setws"}, {"workspace": "~/s"}])
def test_workspace_root_is_workspace_resolve_workspace(monkeypatch, option, env, settings):
    if env is None:
        monkeypatch.delenv("XPM_WORKSPACE", raising=False)
    else:
        monkeypatch.setenv("XPM_WORKSPACE", env)
    assert workspace_root.resolve_workspace(option, settings) == \
        workspace.resolve_workspace(option, settings)


SPLIT = ["run", "exp.xpm", "-w", "ws", "-j", "2", "-D", "n=3", "-l", "local"]


@pytest.mark.parametrize("attached", [
    ["run", "exp.xpm", "-wws", "-j2", "-Dn=3", "-llocal"],
    ["run", "exp.xpm", "--workspace=ws", "--jobs=2", "-D", "n=3", "--launcher=local"],
    ["run", "-wws", "exp.xpm", "-j", "2", "-Dn=3", "-l", "local"],
])
def test_attached_values_read_as_click_reads_them(attached):
    assert parse_build_args(attached) == parse_build_args(SPLIT)
    assert parse_build_args(SPLIT)["workspace"] == "ws"
    assert parse_build_args(SPLIT)["jobs"] == "2"


@pytest.mark.parametrize("argv", [
    ["run", "exp.xpm", "-j0"], ["run", "exp.xpm", "-j=2"], ["run", "exp.xpm", "-jx"],
    ["run", "exp.xpm", "-kj2"], ["run", "exp.xpm", "-w"], ["run", "exp.xpm", "-wa", "-wb"],
    ["run", "exp.xpm", "-Dn"], ["plan", "exp.xpm", "-n"], ["run"], ["run", "exp.xpm", "-x"],
])
def test_what_click_would_refuse_or_read_otherwise_takes_the_full_path(argv):
    assert parse_build_args(argv) is None


def test_an_attached_value_keeps_what_follows_the_letter():
    # click reads `-w=x` as the folder "=x"; so does the fast reader (then the full path
    # and the fast path agree on which workspace it is)
    assert parse_build_args(["run", "e.xpm", "-w=x"])["workspace"] == "=x"
    assert os.path.basename(workspace_root.resolve_workspace("=x")) == "=x"


def _click_reading(argv):
    """What click's own parser makes of a run/plan command line (None: it refuses it)."""
    import click as _click
    from xpmbuild.cli.app import main
    command = main.commands[argv[0]]
    try:
        ctx = command.make_context(argv[0], list(argv[1:]), resilient_parsing=False)
    except (_click.UsageError, _click.exceptions.Exit):
        return None
    p = ctx.params
    return {"file": p["file"], "targets": tuple(p["targets"]), "workspace": p["workspace"],
            "jobs": p["jobs"], "launcher": p["launcher_name"], "defines": list(p["defines"]),
            "keep_going": p["keep_going"], "json": p["as_json"], "name": p["name"],
            "settings": p["settings_file"], "dry_run": p.get("dry_run", True),
            "forced": bool(p["force"] or p["force_all"] or p.get("detach"))}


def _fast_reading(argv):
    a = parse_build_args(argv)
    if a is None:
        return None
    return {"file": a["positional"][0], "targets": tuple(a["positional"][1:]),
            "workspace": a["workspace"], "jobs": int(a["jobs"]) if a["jobs"] else None,
            "launcher": a["launcher"], "defines": a["defines"],
            "keep_going": a.get("keep_going", False), "json": a["json"], "name": a["name"],
            "settings": a["settings"], "dry_run": a["dry_run"], "forced": False}


CORPUS = [
    ["run", "e.xpm"], ["plan", "e.xpm"], ["run", "e.xpm", "train", "eval[lr=0.1]"],
    ["run", "e.xpm", "-j", "3", "-k", "--json"], ["run", "-k", "e.xpm", "-n"],
    ["run", "e.xpm", "-D", "a=1", "-Db=2", "-D", "c=x=y"], ["plan", "e.xpm", "--name", "n1"],
    ["run", "e.xpm", "--settings", "s.toml", "-l", "a", "-l", "b"],
    ["run", "e.xpm", "-w", "-", "x"], ["run", "e.xpm", "--", "-t"], ["run", "-", "e.xpm"],
    ["run", "e.xpm", "--jobs", "4", "--keep-going", "--workspace", "w w"],
    ["plan", "e.xpm", "--json", "t[a=b]"], ["run", "e.xpm", "--force", "t"],
    ["run", "e.xpm", "--force-all"], ["run", "e.xpm", "--detach"], ["run", "e.xpm", "-j"],
    ["run", "e.xpm", "--jobs=0"], ["run", "e.xpm", "--name"], ["run", "e.xpm", "-kn"],
]


@pytest.mark.parametrize("argv", CORPUS, ids=[" ".join(a) for a in CORPUS])
def test_the_fast_reader_reads_a_command_line_as_click_or_leaves_it(argv):
    """The fast reader now runs what it reads (fastpath.try_build): whatever it reads, it
    must read as click does; what it does not read goes to click."""
    fast = _fast_reading(argv)
    if fast is not None:
        assert fast == _click_reading(argv)
