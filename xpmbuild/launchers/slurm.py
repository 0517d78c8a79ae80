"""The Slurm launcher: sbatch (job arrays, throttled), polite batched polling, scancel,
re-attach.

The job folders are the fast path (batch.py); Slurm is asked at most every ``poll``
seconds with one ``squeue -h -t all -j ID,ID,...`` for all jobs (with ``-t all`` slurmctld
also reports jobs that ended less than MinJobAge ago), and once per batch of ended jobs with
one ``sacct -j`` (their final state, and their resources: Elapsed, TotalCPU, MaxRSS). A job
squeue no longer knows is asked of sacct; it is lost only when both answered without it.
What Slurm cannot answer now (controller down) is waited out (slurm_query.py). The exit
code comes from the job itself (``.xpm-exit``); Slurm's state gives the reason when the job
was killed.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import time

from ..resources import parse_duration
from .base import ClusterUnreachable, Ended, Handle, LauncherError, read_exit_file
from .batch import BatchLauncher
from .slurm_query import (base_id, check, parse_sacct, parse_squeue, sacct_argv,
                          squeue_argv)

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
# sbatch's words when it could not reach the controller (the job may or may not exist)
UNREACHABLE_WORDS = ("Unable to contact slurm controller", "Socket timed out",
                     "Connection refused", "Zero Bytes were transmitted", "in standby mode",
                     "Communication connection failure", "timed out after")
DEPENDENCY_FAILED = "dependency failed (Slurm cancelled it: DependencyNeverSatisfied)"


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


class SlurmLauncher(BatchLauncher):
    type = "slurm"
    can_detach = True       # afterok chains and --kill-on-invalid-dep
    #: seconds sbatch is retried (with back-off) while the controller does not answer
    submit_patience = 900.0

    def __init__(self, name="slurm", partition=None, account=None, qos=None, extra=None,
                 connector=None, poll=30.0, array=True, array_max=None, max_array=None,
                 array_parallelism=None, submit_patience=None, settings=None,
                 workspace_root=None, python=None, give_up_after=None, **_ignored):
        super().__init__(name, connector, poll, settings, workspace_root, python, give_up_after)
        self.partition, self.account, self.qos = partition, account, qos
        self.extra = list(extra or [])
        self.array = array
        limit = array_max if array_max is not None else max_array
        self._array_max = int(limit) if limit else None     # None: MaxArraySize - 1
        self.array_parallelism = int(array_parallelism) if array_parallelism else None
        if submit_patience is not None:
            self.submit_patience = float(submit_patience)

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

    def start_many(self, items) -> list:
        """Submit jobs: those with the same options and no dependency go as one array (of at
        most ``array_max`` tasks).

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
            size = self.array_max if len(idxs) > 1 else 1
            for start in range(0, len(idxs), size):
                chunk = idxs[start:start + size]
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
        """{launcher id: (SLURM STATE, reason)} for these jobs; one squeue call. Jobs it
        does not list are unknown to slurmctld; raises ClusterUnreachable when it cannot
        answer."""
        bases = sorted({base_id(i) for i in ids}, key=int)
        if not bases:
            return {}
        res = self._run(squeue_argv(bases), timeout=60, retries=0)
        self.polls += 1
        check(res, "squeue", unknown_is_answer=True)
        return parse_squeue(res.stdout) if res.ok else {}

    def sacct(self, ids) -> dict[str, dict]:
        """The accounting's record of these jobs (one sacct call, array ranges expanded);
        raises ClusterUnreachable when it cannot answer."""
        bases = sorted({base_id(i) for i in ids}, key=int)
        if not bases:
            return {}
        res = self._run(sacct_argv(bases), timeout=60, retries=0)
        check(res, "sacct")
        return parse_sacct(res.stdout)

    def _ended(self, h, state: str, reason: str, resources=None) -> Ended | None:
        if state in QUEUED_STATES:
            h.extra["status"] = "queued"
            return None
        if state in RUNNING_STATES:
            h.extra["status"] = "running"
            return None
        code = read_exit_file(h.job_dir)
        res = resources or None
        if state == "COMPLETED":
            return Ended(h, code if code is not None else 0, resources=res)
        if state == "FAILED":
            if code is None:
                return Ended(h, None, f"failed in Slurm ({reason or 'no exit code recorded'})",
                             status="failed", resources=res)
            return Ended(h, code, resources=res)
        if state == "CANCELLED":
            if reason and "Dependency" in reason:
                return Ended(h, code, DEPENDENCY_FAILED, status="cancelled", resources=res)
            why = "cancelled in Slurm" + (f" ({reason})" if reason and reason != "None" else "")
            return Ended(h, code, why, status="cancelled", resources=res)
        why = FAILED_REASONS.get(state, f"ended in Slurm as {state}")
        return Ended(h, code, why, status="failed", resources=res)

    def ended_batch(self, handles):
        """Jobs that wrote their exit file: one sacct for all, for their final state and
        resources. A job the accounting still shows running (it lags a little) with a
        failing exit code is asked again (Slurm may be ending it: TIMEOUT, CANCELLED)."""
        acct = self.sacct([h.launcher_id for h in handles])
        out = []
        for h in handles:
            rec = acct.get(h.launcher_id)
            code = read_exit_file(h.job_dir)
            final = rec is not None and rec["state"] not in QUEUED_STATES | RUNNING_STATES
            if final:
                out.append(self._ended(h, rec["state"], rec["reason"], rec["resources"]))
                continue
            h.extra["exit_checks"] = h.extra.get("exit_checks", 0) + 1
            if code == 0 or h.extra["exit_checks"] >= 3:
                out.append(Ended(h, code))
        return out

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
        # squeue forgets jobs MinJobAge after they end; the accounting keeps them. A job is
        # lost only when both answered without it (and the accounting had time to learn it)
        if unknown:
            acct = self.sacct(unknown)
            arrays = {base_id(i) for i in states if "_" in i}
            for lid in unknown:
                h = self.tracked[lid]
                rec = acct.get(lid)
                final = rec is not None and rec["state"] not in QUEUED_STATES | RUNNING_STATES
                if final:
                    e = self._ended(h, rec["state"], rec["reason"], rec["resources"])
                elif "_" in lid and base_id(lid) in arrays and read_exit_file(h.job_dir) is None:
                    # slurmctld lists the array's other tasks, not this one: a pending task
                    # is removed from its array when cancelled (sacct still shows it pending)
                    e = Ended(h, None, "cancelled in Slurm before it started", status="cancelled")
                elif rec is not None:
                    e = self._ended(h, rec["state"], rec["reason"], rec["resources"])
                elif time.time() - (h.extra.get("submitted") or 0) > 30:
                    e = self.vanished(h)
                else:
                    e = None
                if e is not None:
                    ended.append(e)
        return ended

    def live_states(self, states: list[dict]) -> dict:
        """For ``status``: squeue first, then the accounting for what squeue forgot; a
        cancelled dependent says why. Raises ClusterUnreachable when Slurm cannot answer."""
        ids = [str(s["launcher_id"]) for s in states if s.get("launcher_id")]
        found = self.query(ids) if ids else {}
        missing = [i for i in ids if i not in found]
        acct = self.sacct(missing) if missing else {}
        out = {}
        for lid in ids:
            st, why = found.get(lid) or ((acct[lid]["state"], acct[lid]["reason"])
                                         if lid in acct else (None, ""))
            if st is None:
                out[lid] = None
            elif st in QUEUED_STATES:
                out[lid] = "queued"
            elif st in RUNNING_STATES:
                out[lid] = "running"
            elif st == "CANCELLED" and "Dependency" in (why or ""):
                out[lid] = DEPENDENCY_FAILED
            else:
                out[lid] = st
        return out

    def recover(self, key, job_dir, state):
        """Re-attach; a record without a job id (xpmbuild killed between sbatch and the
        record) is looked up by the name of the script that lists its folder."""
        if state.get("launcher_id"):
            return super().recover(key, job_dir, state)
        found = self._find_unrecorded(job_dir)
        if found is None:
            return None
        return super().recover(key, job_dir, dict(state, launcher_id=found))

    def _find_unrecorded(self, job_dir) -> str | None:
        quoted = shlex.quote(self.connector.path(job_dir))
        for path in sorted(glob.glob(os.path.join(self.script_dir(), "submit-*.sh")),
                           key=os.path.getmtime, reverse=True):
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            index = script_index(lines, quoted)
            if index is False:
                continue
            deadline = time.monotonic() + self.submit_patience
            while True:
                try:
                    jid = self.find_by_name(submission_name_of(path, lines))
                    break
                except ClusterUnreachable:
                    if time.monotonic() > deadline:
                        raise LauncherError("Slurm does not answer: cannot tell whether an "
                                            "interrupted submission went through") from None
                    time.sleep(5)
            if jid:
                return jid if index is None else f"{jid}_{index}"
        return None

    # ------------------------------------------------------------------ control
    cancel_command = "scancel"

    queued_states, running_states = QUEUED_STATES, RUNNING_STATES

    def state_name(self, record):
        return record[0]


def submission_name(task: str, script_path: str) -> str:
    """The Slurm job name of a submission: the task and the hash of its script."""
    digest = os.path.basename(script_path)[len("submit-"):-len(".sh")]
    return f"xpm-{task}-{digest}"


def submission_name_of(path: str, lines: list[str]) -> str:
    task = next((ln.split("=", 1)[1] for ln in lines if ln.startswith("# task=")), "")
    return submission_name(task, path)


def script_index(lines: list[str], quoted_dir: str):
    """The array index of a job folder in a submission script: None (a single job), or
    False when the script does not run it."""
    for ln in lines:
        if ln.startswith("d=") and ln[2:] == quoted_dir:
            return None
        if ln.startswith("dirs=("):
            words = shlex.split(ln[len("dirs=("):-1])
            if shlex.split(quoted_dir)[0] in words:
                return words.index(shlex.split(quoted_dir)[0])
    return False
