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
