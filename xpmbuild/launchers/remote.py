"""The local launcher on another host: job processes started over an SSH connector.

One ``ssh`` call starts every job of a scheduling round (each in its own session,
detached with ``setsid``, so a dropped connection does not kill it), and one ``ssh``
call per poll reads every tracked job's exit file and checks its process. A
connection lost while waiting is retried by the connector, never taken for a failure.
"""
from __future__ import annotations

import shlex
import time

from ..workspace import EXIT_FILE
from .base import Ended, LauncherError, job_wrapper
from .batch import BatchLauncher


class RemoteProcessLauncher(BatchLauncher):
    type = "local"

    def __init__(self, name="remote", cpus=None, gpus=None, connector=None, poll=30.0,
                 settings=None, workspace_root=None, give_up_after=None, **_ignored):
        super().__init__(name, connector, poll, settings, workspace_root,
                         give_up_after=give_up_after)
        self.cpus = int(cpus) if cpus else None
        self.max_poll = float(poll)
        if gpus:
            raise LauncherError(f"launcher {name}: gpus are not handed out on a remote host yet")

    def slots(self):
        return self.cpus or 1

    def check_reachable(self) -> str:
        res = self._run(["sh", "-c", "echo $(hostname) $(nproc) cpus"], timeout=30, retries=0)
        if not res.ok:
            raise LauncherError(f"{self.connector.describe()}: {res.stderr.strip()}")
        if self.cpus is None:
            try:
                self.cpus = int(res.stdout.split()[-2])
            except (ValueError, IndexError):
                self.cpus = 1
        return res.stdout.strip()

    def start_many(self, items) -> list:
        script = []
        for r in items:
            d, env = r.job_dir, r.env
            if int(r.requires.get("gpus") or 0):
                raise LauncherError("gpus are not handed out on a remote host yet")
            exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in (env or {}).items())
            inner = exports + job_wrapper(self.connector.path(d), python=self.python)
            script.append(f"setsid nohup bash -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 "
                          "& echo $!")
        try:
            res = self._run(["bash", "-c", "\n".join(script)])
        except LauncherError as e:      # the host cannot be reached or refused us
            return [e] * len(items)
        pids = res.stdout.split()
        if not res.ok or len(pids) != len(items):
            err = LauncherError(f"starting jobs on {self.connector.describe()} failed: "
                                f"{res.stderr.strip()}")
            return [err] * len(items)
        return [self.track(r.key, r.job_dir, f"{self.connector.describe()}:{pid}",
                           status="running")
                for r, pid in zip(items, pids)]

    def poll(self):
        ids = list(self.tracked)
        lines = []
        for lid in ids:
            h = self.tracked[lid]
            pid = lid.rsplit(":", 1)[1]
            d = shlex.quote(self.connector.path(h.job_dir))
            lines.append(f"if [ -s {d}/{EXIT_FILE} ]; then echo {lid} exit $(cat {d}/{EXIT_FILE}); "
                         f"elif kill -0 {pid} 2>/dev/null; then echo {lid} alive; "
                         f"else echo {lid} gone; fi")
        # a lost connection raises ClusterUnreachable: waited out and said on screen, the
        # jobs run on regardless
        res = self._run(["bash", "-c", "\n".join(lines)], retries=0)
        self.polls += 1
        ended = []
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) < 2 or parts[0] not in self.tracked:
                continue
            h = self.tracked[parts[0]]
            if parts[1] == "exit":
                try:
                    ended.append(Ended(h, int(parts[2])))
                except (IndexError, ValueError):
                    ended.append(Ended(h, None, "unreadable exit file", status="lost"))
            elif parts[1] == "gone":
                # the process ended; its exit file may still be on its way (NFS): one grace
                if h.extra.get("gone_at") and time.time() - h.extra["gone_at"] > 5:
                    ended.append(Ended(h, None, "the job's process ended without recording an "
                                                "exit code", status="lost"))
                h.extra.setdefault("gone_at", time.time())
        return ended

    def cancel(self, handles=None):
        ids = [h.launcher_id for h in handles] if handles is not None else list(self.tracked)
        pids = [str(i).rsplit(":", 1)[1] for i in ids]
        if pids:
            self._run(["bash", "-c", " ".join(f"kill -TERM -{p} 2>/dev/null;" for p in pids)
                       + " true"])

    def live_states(self, states):
        out = {}
        for s in states:
            lid = str(s.get("launcher_id"))
            if ":" not in lid:
                out[lid] = None
                continue
            res = self._run(["bash", "-c", f"kill -0 {lid.rsplit(':', 1)[1]} 2>/dev/null"])
            out[lid] = "running" if res.ok else None
        return out
