"""Connectors: where commands run and files are reached (this machine, or a host over SSH)."""
from __future__ import annotations


def make_connector(name: str | None, settings: dict, workspace_root: str | None = None):
    from ..settings import SettingsError
    if not name or name == "local":
        from .local import LocalConnector
        return LocalConnector()
    cfg = dict((settings.get("connectors") or {}).get(name) or {})
    if not cfg:
        raise SettingsError(f"unknown connector {name!r}; configured: "
                            + (", ".join(sorted(settings.get("connectors") or {})) or "(none)"))
    kind = cfg.pop("type", "ssh")
    if kind == "ssh":
        from .ssh import SSHConnector
        return SSHConnector(name=name, local_workspace=workspace_root, **cfg)
    from .local import LocalConnector
    return LocalConnector()
