"""Settings: TOML files merged in order (later wins), checked with clear errors.

1. ``platformdirs.user_config_dir("xpmbuild")/settings.toml``
2. ``xpmbuild.toml`` in the experiment file's directory
3. ``--settings FILE``
4. command-line flags (applied by the caller)

Tables (``[env]``, ``[launchers.NAME]``, ``[connectors.NAME]``) are merged key by key.
"""
from __future__ import annotations

import os


class SettingsError(Exception):
    """A settings file that cannot be used: names the file, the key and what was expected."""


def _launcher_keys() -> dict:
    from .launchers import TYPES      # each launcher type carries its settings schema
    return {name: t.settings for name, t in TYPES.items()}


CONNECTOR_KEYS = {
    "ssh": {"type": str, "host": str, "user": str, "port": int, "key": str, "workspace": str,
            "options": list, "config": str, "retries": int, "give_up_after": (int, float)},
    "local": {"type": str},
}
TOP_KEYS = {"workspace": str, "launcher": str, "env": dict, "launchers": dict,
            "connectors": dict, "namespace": str, "route": list, "tasks": dict}


def user_settings_file() -> str:
    from .userdirs import user_config_dir       # platformdirs' answer (userdirs.py)
    return os.path.join(user_config_dir(), "settings.toml")


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a table"}.get(t, t.__name__)


def _check_value(file, key, value, expected):
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (int, float)))
    if not ok:
        raise SettingsError(f"{file}: {key}: expected {_type_name(expected)}, "
                            f"got {type(value).__name__} {value!r}")


def validate(data: dict, file: str) -> dict:
    for key, value in data.items():
        if key not in TOP_KEYS:
            raise SettingsError(f"{file}: unknown key {key!r}; expected one of "
                                + ", ".join(TOP_KEYS))
        _check_value(file, key, value, TOP_KEYS[key])
    from .routing import check_settings      # [[route]] and [tasks.NAME] (routing.py)

    def error(message):
        raise SettingsError(message)
    check_settings(data, file, error)
    for k, v in (data.get("env") or {}).items():
        if not isinstance(v, (str, int, float, bool)):
            raise SettingsError(f"{file}: env.{k}: expected a string, got {type(v).__name__}")
    for section, schema_by_type in (("launchers", _launcher_keys()),
                                    ("connectors", CONNECTOR_KEYS)):
        for name, table in (data.get(section) or {}).items():
            where = f"{section}.{name}"
            if not isinstance(table, dict):
                raise SettingsError(f"{file}: {where}: expected a table")
            kind = table.get("type", name if name in schema_by_type else None)
            if kind not in schema_by_type:
                raise SettingsError(f"{file}: {where}.type: expected one of "
                                    + ", ".join(repr(t) for t in schema_by_type)
                                    + f", got {kind!r}")
            schema = schema_by_type[kind]
            for k, v in table.items():
                if k not in schema:
                    raise SettingsError(f"{file}: {where}: unknown key {k!r}; a {kind} "
                                        f"{section[:-1]} takes " + ", ".join(schema))
                _check_value(file, f"{where}.{k}", v, schema[k])
    return data


def load_file(path: str) -> dict:
    try:        # imported here: most commands read no settings file (start-up time)
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: invalid TOML: {e}") from None
    return validate(data, path)


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load(experiment_file: str | None = None, settings_file: str | None = None,
         user_file: str | None = None) -> dict:
    files = []
    user = user_file if user_file is not None else os.environ.get("XPM_SETTINGS_USER") \
        or user_settings_file()
    if user and os.path.isfile(user):
        files.append(user)
    if experiment_file:
        local = os.path.join(os.path.dirname(os.path.abspath(experiment_file)), "xpmbuild.toml")
        if os.path.isfile(local):
            files.append(local)
    if settings_file:
        files.append(settings_file)
    result: dict = {}
    for f in files:
        result = merge(result, load_file(f))
    result.setdefault("launchers", {})
    result["launchers"].setdefault("local", {"type": "local"})
    result.setdefault("connectors", {})
    result.setdefault("env", {})
    result["_files"] = files
    return result


def launcher_config(settings: dict, name: str) -> dict:
    launchers = settings.get("launchers", {})
    if name not in launchers:
        if name in _launcher_keys():       # a bare type name works without a table
            return {"type": name}
        raise SettingsError(f"unknown launcher {name!r}; configured: "
                            + ", ".join(sorted(launchers)))
    cfg = dict(launchers[name])
    cfg.setdefault("type", name)
    return cfg
