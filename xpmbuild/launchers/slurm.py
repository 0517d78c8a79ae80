"""The Slurm launcher: sbatch, one batched squeue per poll, job arrays, scancel, re-attach.

Polling asks ``squeue -h -t all -j ID,ID,...`` once for every job of the launcher: with
``-t all`` slurmctld also reports jobs that ended less than MinJobAge ago (COMPLETED,
FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL...), without the seconds of lag of
the accounting database. Only a job that squeue no longer knows is asked of
``sacct -j`` (one call for all such jobs). The exit code comes from the job itself
(``.xpm-exit`` in its folder); Slurm's state gives the reason when the job was killed.
"""
from __future__ import annotations

import re
import time

from ..resources import parse_duration
from .base import Ended, LauncherError, read_exit_file
from .batch import BatchLauncher

QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                 "SUSPENDED", "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"}
FAILED_REASONS = {
    "TIMEOUT": "time limit reached (TIMEOUT)",
    "OUT_OF_MEMORY": "out of memory (OUT_OF_MEMORY)",
    "NODE_FAIL": "node failure (NODE_FAIL)",
    "BOOT_FAIL": "node boot failure (BOOT_FAIL)",
    "PREEMPTED": "preempted (PREEMPTED)",
    "DEADLINE": "deadline reached (DEADLINE)",
    "REVOKED": "revoked (REVOKED)",
    "SPECIAL_EXIT": "special exit (SPECIAL_EXIT)",
}


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


def base_id(launcher_id: str) -> str:
    return str(launcher_id).split("_", 1)[0]


class SlurmLauncher(BatchLauncher):
    type = "slurm"
    can_detach = True       # afterok chains and --kill-on-invalid-dep

    def __init__(self, name="slurm", partition=None, account=None, qos=None, extra=None,
                 connector=None, poll=10.0, array=True, max_array=1000, settings=None,
                 workspace_root=None, python=None, **_ignored):
        super().__init__(name, connector, poll, settings, workspace_root, python)
        self.partition, self.account, self.qos = partition, account, qos
        self.extra = list(extra or [])
        self.array = array
        self.max_array = int(max_array)

    def common_options(self) -> list[str]:
        opts = []
        if self.partition:
            opts.append(f"--partition={self.partition}")
        if self.account:
            opts.append(f"--account={self.account}")
        if self.qos:
            opts.append(f"--qos={self.qos}")
        return opts + self.extra

    def check_reachable(self) -> str:
        res = self._run(["sinfo", "-h", "-o", "%P %a %D %t"], timeout=30, retries=0)
        if not res.ok:
            raise LauncherError(f"sinfo failed ({res.code}): {res.stderr.strip()}")
        return res.stdout.strip().replace("\n", "; ")

    # ------------------------------------------------------------------ submission
    def submit(self, dirs: list[str], requires: dict, env: dict, name: str,
               dependency: list[str] | None = None) -> list[str]:
        """One sbatch for these job folders (an array when more than one)."""
        path = self.write_script(dirs, env, "SLURM_ARRAY_TASK_ID")
        logs = self.connector.path(self.script_dir())
        argv = ["sbatch", "--parsable", f"--job-name=xpm-{name}"]
        argv += self.common_options() + batch_options(requires)
        if len(dirs) > 1:
            argv += [f"--array=0-{len(dirs) - 1}", f"--output={logs}/%A_%a.log"]
        else:
            argv += [f"--output={logs}/%j.log"]
        if dependency:
            argv += ["--dependency=afterok:" + ":".join(dependency), "--kill-on-invalid-dep=yes"]
        argv.append(self.connector.path(path))
        res = self._run(argv)
        if not res.ok:
            raise LauncherError(f"sbatch failed ({res.code}): {res.stderr.strip()}")
        m = re.match(r"\s*(\d+)", res.stdout)
        if not m:
            raise LauncherError(f"sbatch answered {res.stdout.strip()!r}, not a job id")
        jid = m.group(1)
        return [f"{jid}_{i}" for i in range(len(dirs))] if len(dirs) > 1 else [jid]

    def start_many(self, items) -> list:
        """Submit jobs: those with the same options and no dependency go as one array.

        ``items``: LaunchRequests. Returns one Handle per item (or the LauncherError of
        items whose submission failed).
        """
        groups: dict = {}
        for idx, r in enumerate(items):
            opts = tuple(batch_options(r.requires))
            gkey = (opts, tuple(sorted((r.env or {}).items()))) if not r.after and self.array \
                else ("single", idx)
            groups.setdefault(gkey, []).append(idx)
        out: list = [None] * len(items)
        for idxs in groups.values():
            for start in range(0, len(idxs), self.max_array):
                chunk = idxs[start:start + self.max_array]
                r0 = items[chunk[0]]
                try:
                    ids = self.submit([items[i].job_dir for i in chunk], r0.requires, r0.env,
                                      r0.task, r0.after)
                except LauncherError as e:
                    for i in chunk:
                        out[i] = e
                    continue
                for i, lid in zip(chunk, ids):
                    out[i] = self.track(items[i].key, items[i].job_dir, lid)
        return out

    # ------------------------------------------------------------------ polling
    def query(self, ids) -> dict[str, tuple[str, str]]:
        """{launcher id: (SLURM STATE, reason)} for these jobs; one squeue call."""
        bases = sorted({base_id(i) for i in ids}, key=int)
        if not bases:
            return {}
        res = self._run(["squeue", "-h", "-t", "all", "-j", ",".join(bases),
                         "-o", "%i|%T|%r"], timeout=60)
        self.polls += 1
        states: dict[str, tuple[str, str]] = {}
        pending_ranges = []
        if res.code not in (0, 1):
            raise LauncherError(f"squeue failed ({res.code}): {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) < 3:
                continue
            jid, state, reason = parts[0], parts[1].split()[0], parts[2]
            m = re.fullmatch(r"(\d+)_\[(.+)\]", jid)
            if m:
                pending_ranges.append((m.group(1), m.group(2), state, reason))
            else:
                states[jid] = (state, reason)
        for jid in ids:
            if jid in states or "_" not in jid:
                continue
            for base, spec, state, reason in pending_ranges:
                if base_id(jid) == base and _in_range(int(jid.split("_")[1]), spec):
                    states[jid] = (state, reason)
        return states

    def sacct(self, ids) -> dict[str, tuple[str, str]]:
        res = self._run(["sacct", "-n", "-P", "-X", "-j", ",".join(sorted(set(ids))),
                         "-o", "JobID,State,ExitCode"], timeout=60)
        out = {}
        for line in res.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 3:
                out[parts[0]] = (parts[1].split()[0], parts[2])
        return out

    def _ended(self, h, state: str, reason: str) -> Ended | None:
        if state in QUEUED_STATES:
            h.extra["status"] = "queued"
            return None
        if state in RUNNING_STATES:
            h.extra["status"] = "running"
            return None
        code = read_exit_file(h.job_dir)
        if state == "COMPLETED":
            return Ended(h, code if code is not None else 0)
        if state == "FAILED":
            if code is None:
                return Ended(h, None, f"failed in Slurm ({reason or 'no exit code recorded'})",
                             status="failed")
            return Ended(h, code)
        if state == "CANCELLED":
            why = "cancelled in Slurm" + (f" ({reason})" if reason and reason != "None" else "")
            if reason and "Dependency" in reason:
                why = "cancelled by Slurm: a dependency failed"
            return Ended(h, code, why, status="cancelled")
        why = FAILED_REASONS.get(state, f"ended in Slurm as {state}")
        return Ended(h, code, why, status="failed")

    def poll(self) -> list[Ended]:
        ids = list(self.tracked)
        states = self.query(ids)
        ended = []
        unknown = []
        for lid in ids:
            h = self.tracked[lid]
            if lid in states:
                e = self._ended(h, *states[lid])
                if e is not None:
                    ended.append(e)
            else:
                unknown.append(lid)
        # squeue forgets jobs MinJobAge after they end; ask the accounting for those
        stale = [lid for lid in unknown
                 if time.time() - self.tracked[lid].extra.get("submitted", 0) > 30
                 or read_exit_file(self.tracked[lid].job_dir) is not None]
        if stale:
            acct = self.sacct(stale)
            for lid in stale:
                h = self.tracked[lid]
                if lid in acct:
                    e = self._ended(h, acct[lid][0], "")
                else:
                    e = self.vanished(h)
                if e is not None:
                    ended.append(e)
        return ended

    # ------------------------------------------------------------------ control
    cancel_command = "scancel"

    queued_states, running_states = QUEUED_STATES, RUNNING_STATES

    def state_name(self, record):
        return record[0]


def _in_range(i: int, spec: str) -> bool:
    spec = spec.split("%")[0]
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            b = b.split(":")[0]
            if int(a) <= i <= int(b):
                return True
        elif part.isdigit() and int(part) == i:
            return True
    return False
