"""Launchers: how a job's command runs (local processes, Slurm, OAR)."""
from __future__ import annotations


def make_launcher(name: str, settings: dict, jobs: int | None = None):
    """The launcher called ``name`` in the settings (or a bare type: local, slurm, oar)."""
    from ..settings import SettingsError, launcher_config
    cfg = launcher_config(settings, name)
    kind = cfg.pop("type")
    if kind == "local":
        from .local import LocalLauncher
        if jobs:
            cfg["cpus"] = jobs
        return LocalLauncher(name=name, **cfg)
    raise SettingsError(f"launcher {name!r}: type {kind!r} is not available yet")


def status_launchers(settings: dict) -> dict:
    """Cluster launchers able to tell the state of jobs no xpmbuild is watching."""
    out = {}
    for name, cfg in (settings.get("launchers") or {}).items():
        if cfg.get("type", name) in ("slurm", "oar"):
            try:
                out[name] = make_launcher(name, settings)
            except Exception:
                continue
    return out
