"""Launchers: how a job's command runs (local processes, Slurm, OAR)."""
from __future__ import annotations


def make_launcher(name: str, settings: dict, jobs: int | None = None):
    """The launcher called ``name`` in the settings (or a bare type: local, slurm, oar)."""
    from ..settings import SettingsError, launcher_config
    cfg = launcher_config(settings, name)
    kind = cfg.pop("type")
    if kind == "local":
        if jobs:
            cfg["cpus"] = jobs
        if cfg.get("connector") and cfg["connector"] != "local":
            from .remote import RemoteProcessLauncher
            return RemoteProcessLauncher(name=name, settings=settings, **cfg)
        from .local import LocalLauncher
        cfg.pop("connector", None)
        return LocalLauncher(name=name, **cfg)
    if kind == "slurm":
        from .slurm import SlurmLauncher
        return SlurmLauncher(name=name, settings=settings, **cfg)
    if kind == "oar":
        from .oar import OarLauncher
        return OarLauncher(name=name, settings=settings, **cfg)
    raise SettingsError(f"launcher {name!r}: unknown type {kind!r}")


class status_launchers(dict):
    """Cluster launchers able to tell the state of jobs no xpmbuild is watching, made on
    first use (a workspace with only local jobs never imports them)."""

    def __init__(self, settings: dict):
        super().__init__()
        self.settings = settings

    def _make(self, name):
        if name is None or name == "local":
            return None
        cfg = (self.settings.get("launchers") or {}).get(name, {"type": name})
        if cfg.get("type", name) not in ("slurm", "oar") and not cfg.get("connector"):
            return None
        try:
            return make_launcher(name, self.settings)
        except Exception:
            return None

    def __contains__(self, name):
        if not dict.__contains__(self, name):
            self[name] = self._make(name)
        return dict.__getitem__(self, name) is not None

    def get(self, name, default=None):
        return dict.__getitem__(self, name) if name in self else default

    def __getitem__(self, name):
        if name in self:
            return dict.__getitem__(self, name)
        raise KeyError(name)
