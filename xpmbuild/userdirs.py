"""The user's config and cache folders of xpmbuild: platformdirs' answer, without its
import where the answer is plain (importing platformdirs costs ~25 ms on a bare
interpreter: pathlib, tempfile, shutil, random... more than a no-op run's own work).

On Linux, with an absolute ``$HOME``, platformdirs gives the XDG Base Directory answer:
``$XDG_CONFIG_HOME`` (or ``$XDG_CACHE_HOME``) when it is an absolute path, else
``~/.config`` (``~/.cache``), then ``/xpmbuild``; that is computed here. Anything else (another
system, Android, a relative ``$HOME``, an ``$XDG_...`` that is set but not absolute, whose
reading differs between platformdirs versions) is platformdirs' to answer.
tests/test_userdirs.py holds the two together.
"""
from __future__ import annotations

import os
import sys

APP = "xpmbuild"


def _xdg(var: str, default: str) -> str | None:
    if sys.platform != "linux" or "ANDROID_DATA" in os.environ:
        return None
    home = os.environ.get("HOME", "")
    value = os.environ.get(var)
    if not home.startswith("/") or (value and not value.startswith("/")):
        return None
    return os.path.join(value or os.path.expanduser("~/" + default), APP)


def user_config_dir() -> str:
    path = _xdg("XDG_CONFIG_HOME", ".config")
    if path is None:
        import platformdirs
        path = platformdirs.user_config_dir(APP)
    return path


def user_cache_dir() -> str:
    path = _xdg("XDG_CACHE_HOME", ".cache")
    if path is None:
        import platformdirs
        path = platformdirs.user_cache_dir(APP)
    return path
