"""The OAR launcher: oarsub, one ``oarstat -f -J -j ... -j ...`` per poll, oardel.

OAR has no "afterok": a job is submitted only once its dependencies are done (the
scheduler does that), so there is no detached mode. OAR refuses jobs from root; when
xpmbuild runs as root, ``user = "NAME"`` submits as that user (``runuser``) and hands
the job folders to it. OAR reports a raw wait status (``exit_code = 768`` is exit 3);
the job's own ``.xpm-exit`` is read first.
"""
from __future__ import annotations

import json
import os
import re
import time

from ..resources import parse_duration
from .base import ClusterUnreachable, Ended, LauncherError, read_exit_file
from .batch import BatchLauncher
from .submission import LostSubmissions, submission_name

QUEUED = {"Waiting", "Hold", "toLaunch", "toAckReservation", "Launching"}
RUNNING = {"Running", "Suspended", "Resuming", "Finishing"}


def decode_wait_status(raw):
    """OAR's exit_code is a wait status: (exit code, signal) of the job's command."""
    if raw is None:
        return None, None
    raw = int(raw)
    sig = raw & 0x7F
    if sig:
        return None, sig
    return (raw >> 8) & 0xFF, None


def walltime(seconds: int) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def resource_request(requires: dict) -> str:
    cores = int(requires.get("cpus") or 1)
    req = f"/nodes=1/core={cores}"
    if requires.get("time"):
        secs = parse_duration(requires["time"])
        if secs:
            req += f",walltime={walltime(secs)}"
    return req


class OarLauncher(LostSubmissions, BatchLauncher):
    type = "oar"
    cluster = "OAR"

    def __init__(self, name="oar", queue=None, user=None, project=None, extra=None,
                 connector=None, poll=30.0, settings=None, workspace_root=None, python=None,
                 give_up_after=None, **_ignored):
        super().__init__(name, connector, poll, settings, workspace_root, python, give_up_after)
        self.queue = queue
        self.user = user
        self.project = project
        self.extra = list(extra or [])

    def _as_user(self, argv):
        if self.user and not self.connector.remote and os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--"] + argv
        return argv

    def _give(self, path):
        """Hand a job folder (and what is in it) to the submitting user."""
        if not (self.user and not self.connector.remote and os.geteuid() == 0):
            return
        import pwd
        try:
            pw = pwd.getpwnam(self.user)
        except KeyError:
            raise LauncherError(f"launcher {self.name}: no such user {self.user!r}") from None
        os.chown(path, pw.pw_uid, pw.pw_gid)
        if os.path.isdir(path):
            for entry in os.scandir(path):
                if entry.name != "state.json":
                    os.chown(entry.path, pw.pw_uid, pw.pw_gid, follow_symlinks=False)

    def check_reachable(self) -> str:
        res = self._run(["oarnodes", "-s"], timeout=30, retries=0)
        if not res.ok:
            raise LauncherError(f"oarnodes failed ({res.code}): {res.stderr.strip()}")
        return " ".join(res.stdout.split())[:80]

    def submit(self, dirs, requires, env, name) -> list[str]:
        path = self.write_script(dirs, env, "OAR_ARRAY_INDEX", index_base=1, task=name)
        sdir = self.script_dir()
        self._give(sdir)
        self._give(path)
        for d in dirs:
            self._give(d)
        logs = self.connector.path(sdir)
        argv = ["oarsub", "-d", self.connector.path(dirs[0]), "-n", submission_name(name, path),
                "-l", resource_request(requires),
                "-O", f"{logs}/%jobid%.out", "-E", f"{logs}/%jobid%.err"]
        if self.queue:
            argv += ["-q", self.queue]
        if self.project:
            argv += ["--project", self.project]
        if len(dirs) > 1:
            argv += ["--array", str(len(dirs))]
        argv += self.extra + [self.connector.path(path)]
        res = self._run(self._as_user(argv))
        ids = re.findall(r"OAR_JOB_ID=(-?\d+)", res.stdout)
        if not res.ok or not ids or any(int(i) < 0 for i in ids):
            detail = (res.stdout + res.stderr).strip().splitlines()
            raise LauncherError(f"oarsub failed ({res.code}): "
                                + (" ".join(detail[-3:]) if detail else "no answer"))
        if len(ids) != len(dirs):
            raise LauncherError(f"oarsub gave {len(ids)} job ids for {len(dirs)} jobs")
        return ids

    def start_many(self, items) -> list:
        groups: dict = {}
        for idx, r in enumerate(items):
            gkey = (resource_request(r.requires), tuple(sorted((r.env or {}).items())))
            groups.setdefault(gkey, []).append(idx)
        out: list = [None] * len(items)
        for idxs in groups.values():
            r0 = items[idxs[0]]
            try:
                ids = self.submit([items[i].job_dir for i in idxs], r0.requires, r0.env, r0.task)
            except (LauncherError, OSError) as e:
                for i in idxs:
                    out[i] = e if isinstance(e, LauncherError) else LauncherError(str(e))
                continue
            for i, lid in zip(idxs, ids):
                out[i] = self.track(items[i].key, items[i].job_dir, lid)
        return out

    def submitted_id(self, job_name: str, index) -> str | None:
        """The OAR job of the submission called ``job_name`` (the task ``index`` of its
        array, OAR's ``array_index`` counting from 1), from ``oarstat --sql``, which
        finds ended jobs too. Raises ClusterUnreachable."""
        where = "job_name = '" + job_name.replace("'", "''") + "'"
        res = self._run(["oarstat", "-J", "--sql", where], timeout=60, retries=0)
        text = res.stdout.strip()
        if not res.ok and not text:
            raise ClusterUnreachable(f"oarstat failed ({res.code}): {res.stderr.strip()}")
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            raise ClusterUnreachable(f"oarstat answered something else than JSON: "
                                     f"{text[:200]}") from None
        want = 1 if index is None else index + 1
        ids = [int(k) for k, v in (data.items() if isinstance(data, dict) else ())
               if str(k).isdigit() and isinstance(v, dict) and v.get("name") == job_name
               and int(v.get("array_index") or 1) == want]
        return str(max(ids)) if ids else None

    def query(self, ids) -> dict:
        """{job id: oarstat's JSON record}, one oarstat call for all."""
        if not ids:
            return {}
        argv = ["oarstat", "-f", "-J"]
        for i in ids:
            argv += ["-j", str(i)]
        res = self._run(argv, timeout=60, retries=0)
        self.polls += 1
        text = res.stdout.strip()
        if not res.ok and not text:     # no answer is not an answer: the jobs are not gone
            raise ClusterUnreachable(f"oarstat failed ({res.code}): {res.stderr.strip()}")
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            raise LauncherError(f"oarstat answered something else than JSON: {text[:200]}") \
                from None
        return {str(k): v for k, v in data.items()} if isinstance(data, dict) else {}

    def _ended(self, h, rec) -> Ended | None:
        state = rec.get("state")
        if state in QUEUED:
            h.extra["status"] = "queued"
            return None
        if state in RUNNING:
            h.extra["status"] = "running"
            return None
        code = read_exit_file(h.job_dir)
        events = [e.get("type", "") for e in rec.get("events") or []]
        if state == "Terminated":
            if code is None:
                code, sig = decode_wait_status(rec.get("exit_code"))
                if sig:
                    return Ended(h, None, f"killed by signal {sig}", status="failed")
            return Ended(h, code)
        if any("WALLTIME" in e for e in events):
            return Ended(h, code, "time limit reached (walltime)", status="failed")
        if any("FRAG_JOB_REQUEST" in e for e in events):
            return Ended(h, code, "cancelled in OAR (oardel)", status="cancelled")
        return Ended(h, code, f"ended in OAR as {state}"
                     + (f" ({', '.join(events[-2:])})" if events else ""), status="failed")

    def ended_batch(self, handles):
        """Jobs that wrote their exit file: exit 0 is done; another code asks oarstat (one
        call for all) whether OAR killed the job (walltime, oardel)."""
        out, ask = [], []
        for h in handles:
            code = read_exit_file(h.job_dir)
            (out.append(Ended(h, code)) if code == 0 else ask.append(h))
        recs = self.query([h.launcher_id for h in ask]) if ask else {}
        for h in ask:
            rec = recs.get(h.launcher_id)
            e = self._ended(h, rec) if rec is not None else None
            h.extra["exit_checks"] = h.extra.get("exit_checks", 0) + 1
            if e is None and h.extra["exit_checks"] >= 3:
                e = Ended(h, read_exit_file(h.job_dir))
            if e is not None:
                out.append(e)
        return out

    def poll(self):
        ids = list(self.tracked)
        recs = self.query(ids)
        ended = []
        for lid in ids:
            h = self.tracked[lid]
            rec = recs.get(lid)
            if rec is None:
                if time.time() - h.extra.get("submitted", 0) > 30:
                    ended.append(self.vanished(h))
                continue
            e = self._ended(h, rec)
            if e is not None:
                ended.append(e)
        return ended

    cancel_command = "oardel"

    queued_states, running_states = QUEUED, RUNNING

    def state_name(self, record):
        return record.get("state")
