"""What this machine offers the local launcher: the CPUs this process may use (its
affinity mask, so ``taskset`` and cgroup cpusets are respected) and the GPUs —
``CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi -L`` lists, probed only when a
job needs a GPU and no ``gpus`` setting says how many there are.
"""
from __future__ import annotations

import os
import re


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def visible_gpus(env=None) -> list[str] | None:
    """The devices ``CUDA_VISIBLE_DEVICES`` lists (None when it is not set)."""
    visible = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    ids = [g.strip() for g in visible.split(",") if g.strip()]
    # CUDA stops at the first invalid index ("-1" hides every GPU)
    out = []
    for g in ids:
        if g.startswith("-"):
            break
        out.append(g)
    return out


def hostname() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it on Linux (both are the
    kernel's ``uname`` node name), without importing socket (~4 ms of every run)."""
    return os.uname().nodename


def nvidia_gpus() -> list[str]:
    """The indices ``nvidia-smi -L`` lists ("GPU 0: ..."); [] without nvidia-smi."""
    import shutil
    import subprocess
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^GPU (\d+):", out, re.M)


class Machine:
    """The local launcher's CPUs and GPUs (named ``name`` in the settings)."""

    def __init__(self, name="local", cpus=None, gpus=None, slots=None):
        self.name = name
        self.cpus = int(cpus) if cpus else affinity_cpus()
        self.cpus_from = (f"the setting launchers.{name}.cpus" if cpus else
                          "the CPUs this process may use (os.sched_getaffinity)")
        self.slots = int(slots) if slots else None          # -j
        if isinstance(gpus, int):
            self._free = [str(i) for i in range(gpus)]
        elif gpus is not None:
            self._free = [str(g) for g in gpus]
        else:
            self._free = visible_gpus()      # None: unknown until nvidia-smi is asked
        self.gpus_from = (f"the setting launchers.{name}.gpus" if gpus is not None else
                          "CUDA_VISIBLE_DEVICES" if self._free is not None else "nvidia-smi -L")
        self._total = len(self._free) if self._free is not None else None

    @property
    def free_gpus(self) -> list:
        if self._free is None:
            self._free = nvidia_gpus()
            self._total = len(self._free)
        return self._free

    @property
    def gpu_count(self) -> int:
        if self._total is None:
            self.free_gpus      # noqa: B018  (probes)
        return self._total

    def known_gpus(self) -> int:
        """How many GPUs there are, as far as known without probing (0: not asked)."""
        return self._total or 0

    def check(self, requires: dict) -> str | None:
        """Why a job with these requirements can never run here (None: it can)."""
        cpus = int(requires.get("cpus") or 1)
        limit = max(self.cpus, self.slots or 0)
        if cpus > limit:
            return (f"needs {cpus} CPUs; the {self.name} launcher has {limit} "
                    f"({self.cpus_from}; raise launchers.{self.name}.cpus or -j)")
        gpus = int(requires.get("gpus") or 0)
        if gpus and gpus > self.gpu_count:
            return (f"needs {gpus} GPU{'s' if gpus > 1 else ''}; the {self.name} launcher "
                    f"has {self.gpu_count} (from {self.gpus_from}; set "
                    f"launchers.{self.name}.gpus or route the task to a GPU launcher)")
        return None

    def can_start(self, requires: dict, batch=()) -> bool:
        need = int(requires.get("gpus") or 0)
        if not need:
            return True
        reserved = sum(int(r.get("gpus") or 0) for r in batch)
        return need <= len(self.free_gpus) - reserved

    def take(self, n: int) -> list:
        if not n:
            return []
        taken = self.free_gpus[:n]
        del self.free_gpus[:n]
        return taken

    def give(self, gpus: list):
        if gpus:
            self.free_gpus.extend(gpus)
