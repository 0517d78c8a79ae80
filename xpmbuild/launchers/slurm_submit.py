"""Slurm submission (a part of :class:`~.slurm.SlurmLauncher`): sbatch of job arrays,
retried while the controller does not answer, and the job found again by its name when
its answer was lost (a run killed between sbatch and the record of the job id:
submission.py), by ``squeue``/``sacct --name``.
"""
from __future__ import annotations

import re
import time

from .base import ClusterUnreachable, LauncherError
from ..resources import parse_duration
from .slurm_query import base_id, check
from .submission import LostSubmissions, submission_name

# sbatch's words when it could not reach the controller (the job may or may not exist)
UNREACHABLE_WORDS = ("Unable to contact slurm controller", "Socket timed out",
                     "Connection refused", "Zero Bytes were transmitted", "in standby mode",
                     "Communication connection failure", "timed out after")


def slurm_time(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    d, rem = divmod(minutes * 60, 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    return f"{d}-{h:02d}:{m:02d}:00"


def slurm_mem(text: str) -> str:
    t = text.strip().upper().replace(" ", "")
    if t.endswith("B"):
        t = t[:-1]
    return t


def batch_options(requires: dict) -> list[str]:
    opts = []
    if requires.get("cpus"):
        opts.append(f"--cpus-per-task={int(requires['cpus'])}")
    if requires.get("mem"):
        opts.append(f"--mem={slurm_mem(requires['mem'])}")
    if requires.get("gpus"):
        opts.append(f"--gres=gpu:{int(requires['gpus'])}")
    if requires.get("time"):
        secs = parse_duration(requires["time"])
        if secs:
            opts.append(f"--time={slurm_time(secs)}")
    return opts


class SlurmSubmission(LostSubmissions):
    cluster = "Slurm"

    @property
    def array_max(self) -> int:
        """Tasks per array: the setting, else the cluster's MaxArraySize - 1 (asked once)."""
        if self._array_max is None:
            self._array_max = 1000
            try:
                res = self._run(["scontrol", "show", "config"], timeout=30, retries=0)
                m = re.search(r"^MaxArraySize\s*=\s*(\d+)", res.stdout, re.M)
                if res.ok and m:
                    self._array_max = max(1, int(m.group(1)) - 1)
            except ClusterUnreachable:
                pass
        return self._array_max

    def submit(self, dirs: list[str], requires: dict, env: dict, name: str,
               dependency: list[str] | None = None) -> list[str]:
        """One sbatch for these job folders (an array when more than one). The Slurm job
        is named after its script (``xpm-TASK-HASH``), which names the job folders: a
        submission whose answer was lost is found again by that name, never made twice."""
        path = self.write_script(dirs, env, "SLURM_ARRAY_TASK_ID", task=name)
        job_name = submission_name(name, path)
        logs = self.connector.path(self.script_dir())
        argv = ["sbatch", "--parsable", f"--job-name={job_name}"]
        argv += self.common_options() + batch_options(requires)
        if len(dirs) > 1:
            throttle = f"%{self.array_parallelism}" if self.array_parallelism else ""
            argv += [f"--array=0-{len(dirs) - 1}{throttle}", f"--output={logs}/%A_%a.log"]
        else:
            argv += [f"--output={logs}/%j.log"]
        if dependency:
            argv += ["--dependency=afterok:" + ":".join(dependency), "--kill-on-invalid-dep=yes"]
        argv.append(self.connector.path(path))
        jid = self._sbatch(argv, job_name)
        return [f"{jid}_{i}" for i in range(len(dirs))] if len(dirs) > 1 else [jid]

    def _sbatch(self, argv, job_name) -> str:
        """sbatch, retried with back-off while the controller does not answer; before each
        retry, the job is looked up by its name (the lost answer may hide a submission)."""
        deadline = time.monotonic() + self.submit_patience
        delay = 2.0
        while True:
            try:
                res = self._run(argv, retries=0)
                if res.ok:
                    m = re.match(r"\s*(\d+)", res.stdout)
                    if not m:
                        raise LauncherError(f"sbatch answered {res.stdout.strip()!r}, "
                                            "not a job id")
                    self._answered()
                    return m.group(1)
                err = res.stderr.strip()
                if res.code != 124 and not any(w in err for w in UNREACHABLE_WORDS):
                    raise LauncherError(f"sbatch failed ({res.code}): {err}")
                why: Exception = ClusterUnreachable(f"sbatch failed ({res.code}): {err}")
            except ClusterUnreachable as e:
                why = e
            self._unreachable(why)
            try:
                found = self.find_by_name(job_name)
                if found:
                    self._answered()
                    return found
            except ClusterUnreachable:
                pass
            if time.monotonic() + delay > deadline:
                raise LauncherError(f"{why} (retried for {self.submit_patience:g} s)")
            time.sleep(delay)
            delay = min(delay * 2, 60.0)

    def find_by_name(self, job_name: str) -> str | None:
        """The id of the Slurm job called ``job_name`` (its array's id), None when Slurm
        answers it has none. Raises ClusterUnreachable."""
        res = self._run(["squeue", "-h", "-t", "all", "--name", job_name, "-o", "%F"],
                        timeout=60, retries=0)
        check(res, "squeue")
        ids = sorted({x.strip() for x in res.stdout.split() if x.strip().isdigit()}, key=int)
        if not ids:     # squeue forgets an ended job after MinJobAge; the accounting keeps it
            res = self._run(["sacct", "-n", "-X", "-P", "-S", "now-7days", "--name", job_name,
                             "-o", "JobID"], timeout=60, retries=0)
            check(res, "sacct")
            ids = sorted({base_id(x) for x in res.stdout.split() if base_id(x).isdigit()},
                         key=int)
        return ids[-1] if ids else None

    def submitted_id(self, job_name: str, index) -> str | None:
        jid = self.find_by_name(job_name)
        if not jid:
            return None
        return jid if index is None else f"{jid}_{index}"
