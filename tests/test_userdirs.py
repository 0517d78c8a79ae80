"""userdirs.py gives platformdirs' answer for xpmbuild's config and cache folders, and
imports platformdirs only where that answer is not the plain XDG one."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import platformdirs
import pytest

from xpmbuild import userdirs

CASES = [
    {"HOME": "/home/u"},
    {"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg", "XDG_CACHE_HOME": "/cache"},
    {"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg/", "XDG_CACHE_HOME": "/c/d/"},
    {"HOME": "/home/u", "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""},
    {"HOME": "/home/u/", "XDG_CONFIG_HOME": "rel/cfg", "XDG_CACHE_HOME": "rel"},
    {"HOME": "/", "XDG_CONFIG_HOME": "  ", "XDG_CACHE_HOME": " /x"},
    {"HOME": "relative/home"},
    {"HOME": "/home/u/"},
    {"HOME": "/home/u//", "XDG_CACHE_HOME": "/c//"},
]


@pytest.mark.parametrize("env", CASES)
def test_the_same_folders_as_platformdirs(monkeypatch, env):
    for k in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert userdirs.user_config_dir() == platformdirs.user_config_dir("xpmbuild")
    assert userdirs.user_cache_dir() == platformdirs.user_cache_dir("xpmbuild")


PROBE = """
import json, sys
from xpmbuild import userdirs
print(json.dumps([userdirs.user_config_dir(), userdirs.user_cache_dir(),
                  "platformdirs" in sys.modules]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the plain XDG answer is Linux's")
@pytest.mark.parametrize("extra, imports", [({}, False), ({"XDG_CACHE_HOME": "/c"}, False),
                                            ({"XDG_CACHE_HOME": "rel"}, True)])
def test_platformdirs_is_imported_only_where_needed(extra, imports):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME="/home/u", **extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    config, cache, imported = json.loads(out)
    assert imported is imports
    assert config == "/home/u/.config/xpmbuild"
    assert cache == {"": "/home/u/.cache/xpmbuild", "/c": "/c/xpmbuild"}.get(
        extra.get("XDG_CACHE_HOME", ""), cache)
