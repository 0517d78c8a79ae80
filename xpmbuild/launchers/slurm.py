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

import time

from .base import ClusterUnreachable, Ended, LauncherError, read_exit_file
from .batch import BatchLauncher
from .slurm_query import base_id, check, parse_sacct, parse_squeue, sacct_argv, squeue_argv
from .slurm_submit import SlurmSubmission, batch_options, slurm_mem, slurm_time  # noqa: F401

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
DEPENDENCY_FAILED = "dependency failed (Slurm cancelled it: DependencyNeverSatisfied)"


class SlurmLauncher(SlurmSubmission, BatchLauncher):
    type = "slurm"
    can_detach = True       # afterok chains and --kill-on-invalid-dep
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

    def sacct(self, ids, exact=False) -> dict[str, dict]:
        """The accounting's record of these jobs (one sacct call, array ranges expanded);
        ``exact``: ask these ids only (jobs that ran), not their whole arrays (which also
        list the pending tasks). Raises ClusterUnreachable when it cannot answer."""
        bases = sorted(set(ids)) if exact else sorted({base_id(i) for i in ids}, key=int)
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
        acct = self.sacct([h.launcher_id for h in handles], exact=True)
        out = []
        for h in handles:
            rec = acct.get(h.launcher_id)
            code = read_exit_file(h.job_dir)
            final = rec is not None and rec["state"] not in QUEUED_STATES | RUNNING_STATES
            if final:
                out.append(self._ended(h, rec["state"], rec["reason"], rec["resources"]))
                continue
            # not final yet in the accounting: asked again a moment later, a few times (its
            # resources come with its final record)
            h.extra["exit_checks"] = h.extra.get("exit_checks", 0) + 1
            if h.extra["exit_checks"] >= (2 if code == 0 else 3):
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
                st = states[lid][0]
                if st not in QUEUED_STATES | RUNNING_STATES and lid in self.exits_seen:
                    continue        # it wrote its exit file: ended with its batch (sacct)
                e = self._ended(h, *states[lid])
                if e is not None:
                    ended.append(e)
            else:
                unknown.append(lid)
        if ended:       # killed without an exit file (TIMEOUT, CANCELLED...): what it used
            try:
                acct = self.sacct([e.handle.launcher_id for e in ended])
            except ClusterUnreachable:
                acct = {}
            for e in ended:
                rec = acct.get(e.handle.launcher_id)
                if rec and rec["resources"] and rec["state"] not in QUEUED_STATES | RUNNING_STATES:
                    e.resources = rec["resources"]
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

    # ------------------------------------------------------------------ control
    cancel_command = "scancel"

    queued_states, running_states = QUEUED_STATES, RUNNING_STATES

    def state_name(self, record):
        return record[0]
