"""xpmbuild: typed experiment files, content-hashed job graphs, local and cluster launchers.

The Python API (docs/api.md) is imported on first use, so that the command line's start-up
stays cheap: ``xpmbuild.load``, ``xpmbuild.Workspace``, ``xpmbuild.open_job``,
``xpmbuild.XpmError``.
"""
__version__ = "0.1.0"

_API = {"load": "api", "Experiment": "api", "Workspace": "api", "PlanJob": "api",
        "JobPlan": "api", "open_job": "job", "Job": "job", "Results": "results",
        "XpmError": "language.errors"}

__all__ = list(_API)


def __getattr__(name):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'xpmbuild' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f".{module}", __name__), name)
