"""Launchers: how a job's command runs (local processes, Slurm, OAR).

Each launcher type is registered here with the module that implements it (imported only
when used) and the schema of its settings table (``[launchers.NAME]``, checked by
settings.py). A new launcher is a module with a :class:`~.base.Launcher` subclass and one
:func:`register` line below.
"""
from __future__ import annotations


class LauncherType:
    """A registered launcher type: its module (relative to this package), its class, and
    the key -> type(s) of its settings table."""

    __slots__ = ("name", "module", "cls", "settings")

    def __init__(self, name: str, module: str, cls: str, settings: dict | None = None):
        self.name, self.module, self.cls = name, module, cls
        self.settings = {} if settings is None else settings


TYPES: dict[str, LauncherType] = {}


def register(t: LauncherType):
    TYPES[t.name] = t


_COMMON = {"type": str, "connector": str, "poll": (int, float), "retries": int,
           "retry_on_exit": list, "max_jobs": int,
           "give_up_after": (int, float)}
SCHEDULING = ("retries", "retry_on_exit", "max_jobs")     # read by the scheduler
register(LauncherType("local", ".local", "LocalLauncher",
                      dict(_COMMON, cpus=int, gpus=(int, list))))
register(LauncherType("slurm", ".slurm", "SlurmLauncher",
                      dict(_COMMON, partition=str, account=str, qos=str, extra=list, array=bool,
                           max_array=int, array_max=int, array_parallelism=int,
                           submit_patience=(int, float), python=str)))
register(LauncherType("oar", ".oar", "OarLauncher",
                      dict(_COMMON, queue=str, user=str, extra=list, project=str, python=str)))


def launcher_class(kind: str, cfg: dict):
    import importlib
    if kind == "local" and cfg.get("connector") and cfg["connector"] != "local":
        from .remote import RemoteProcessLauncher     # the local launcher on another host
        return RemoteProcessLauncher
    t = TYPES[kind]
    return getattr(importlib.import_module(t.module, __name__), t.cls)


def make_launcher(name: str, settings: dict, jobs: int | None = None):
    """The launcher called ``name`` in the settings (or a bare type: local, slurm, oar)."""
    from ..settings import SettingsError, launcher_config
    cfg = launcher_config(settings, name)
    scheduling = {k: cfg.pop(k) for k in SCHEDULING if k in cfg}
    kind = cfg.pop("type")
    if kind not in TYPES:
        raise SettingsError(f"launcher {name!r}: unknown type {kind!r}; types: "
                            + ", ".join(TYPES))
    cls = launcher_class(kind, cfg)
    if kind == "local":
        if cls.__name__ == "LocalLauncher":
            cfg.pop("connector", None)
            launcher = cls(name=name, slots=jobs, **cfg)
            launcher.scheduling = scheduling
            return launcher
        if jobs:
            cfg["cpus"] = jobs
    launcher = cls(name=name, settings=settings, **cfg)
    launcher.scheduling = scheduling
    return launcher


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
        kind = cfg.get("type", name)
        if kind not in TYPES or not launcher_class(kind, cfg).can_tell_live:
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
