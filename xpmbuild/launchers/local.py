"""The local launcher: jobs as processes of this machine.

Each job is one ``bash`` process group started with ``posix_spawn`` (no Python fork),
its end noticed through a pidfd, so waiting costs nothing and wakes at once. ``requires
cpus=`` takes that many of the launcher's slots (``-j`` is the total), ``gpus=`` takes
GPU indices, handed to the job as ``CUDA_VISIBLE_DEVICES``.
"""
from __future__ import annotations

import os
import select
import signal
import time

from ..machine import hostname
from .inplace import environment_allows
from .timelimit import REASON, TimeLimits
from .base import (LOCK_FD, Ended, Handle, LaunchRequest, Launcher, LauncherError, job_wrapper,
                   read_exit_file)

BASH = "/bin/bash" if os.path.exists("/bin/bash") else "bash"
_LOG = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def is_local_record(state: dict) -> bool:
    """A state written by the local launcher of this machine."""
    return state.get("launcher_type", state.get("launcher")) == "local" and \
        state.get("host") == hostname()


def job_process_alive(pid, job_dir: str) -> bool:
    """Whether ``pid`` is alive (not a zombie) and is the job of ``job_dir``.

    Every local job carries ``XPM_JOB_DIR`` in its environment, so a pid reused by an
    unrelated process after a reboot or a long time is never taken for the job.
    """
    if not isinstance(pid, int):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"\0XPM_JOB_DIR=" + job_dir.encode() + b"\0" in b"\0" + f.read()
    except (OSError, IndexError):
        return False


class LocalLauncher(Launcher):
    type = "local"
    job_holds_lock = True

    def __init__(self, name="local", cpus=None, gpus=None, slots=None, **_ignored):
        """``cpus``, ``gpus``: the settings (default: what the machine offers, machine.py);
        ``slots``: ``-j``, the cpu slots of its jobs at once (default: ``cpus``)."""
        from ..machine import Machine
        self.name = name
        self.machine = Machine(name, cpus, gpus, slots)
        self.cpus = int(slots) if slots else self.machine.cpus
        self.procs: dict[int, tuple[Handle, int | None, list]] = {}   # pid -> (h, pidfd, gpus)
        self.host = hostname()
        self._poll = select.poll()
        self._fd_pid: dict[int, int] = {}
        self._t0: dict[int, float] = {}         # pid -> when it started (monotonic)
        # a spawned wrapper starts inside this process's memory (vfork/fork), and the kernel
        # keeps that high-water mark across exec: a wait4 max_rss at or below our own peak
        # (VmHWM) may be ours, not the command's, and is not recorded
        self._own_rss = 0
        self.limits = TimeLimits()              # requires time=: TIMEOUT locally too
        self._scripts: dict = {}                # the wrapper's text (_script)
        self._in_place_ok = False               # the environment allows it (_env)

    def _script(self, locked, in_place=False):
        """One bash per job, the logs opened by posix_spawn, the folder's lock inherited
        on fd 9 (launch protocol, recovery.py); the wrapper is base.job_wrapper. The same
        text for every job (made once): the folder is the job's ``$XPM_JOB_DIR``."""
        key = (locked, in_place)
        script = self._scripts.get(key)
        if script is None:
            script = self._scripts[key] = job_wrapper(
                '"$XPM_JOB_DIR"', os.getpid(), LOCK_FD if locked else None, logs=False,
                on_term=True, in_place=in_place)
        return script

    def _env(self, env):
        """os.environ plus the settings' [env], built once (not per job)."""
        key = tuple(sorted((env or {}).items()))
        if getattr(self, "_env_key", None) != key:
            base = dict(os.environ)
            base.update({k: str(v) for k, v in (env or {}).items()})
            self._env_key, self._env_cache = key, base
            self._in_place_ok = environment_allows(base)
        return self._env_cache

    def slots(self):
        return self.cpus

    def record_fields(self) -> dict:
        return {"host": self.host}

    def running(self) -> int:
        return len(self.procs)

    def can_start(self, requires: dict, batch=()) -> bool:
        """Whether the GPUs this job needs are free now (cpu slots are the scheduler's);
        ``batch``: the requirements of the jobs about to start."""
        return self.machine.can_start(requires, batch)

    def check(self, requires: dict):
        why = self.machine.check(requires)
        if why:
            raise LauncherError(why)

    def start(self, request: LaunchRequest) -> Handle:
        key, job_dir, requires, env = request.key, request.job_dir, request.requires, request.env
        self.check(requires)
        gpus = int(requires.get("gpus") or 0)
        taken = self.machine.take(gpus)
        child_env = dict(self._env(env), XPM_JOB_DIR=job_dir)
        if gpus or self.machine.known_gpus():
            child_env["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
        actions = [(os.POSIX_SPAWN_OPEN, 1, job_dir + "/stdout.log", _LOG, 0o644),
                   (os.POSIX_SPAWN_OPEN, 2, job_dir + "/stderr.log", _LOG, 0o644)]
        locked = request.lock_fd is not None
        if locked:      # dup2 clears close-on-exec: the wrapper holds the lock from here
            actions.append((os.POSIX_SPAWN_DUP2, request.lock_fd, LOCK_FD))
        try:
            script = self._script(locked, request.in_place and self._in_place_ok)
            pid = os.posix_spawn(BASH, [BASH, "-c", script], child_env,
                                 setsid=True, file_actions=actions)
        except OSError as e:
            self.machine.give(taken)
            raise LauncherError(f"cannot start bash: {e}") from None
        handle = Handle(key, job_dir, pid, {"host": self.host})
        self._t0[pid] = time.monotonic()
        self.limits.add(pid, requires, self._t0[pid])
        self._watch(pid, handle, taken, own=True)
        return handle

    def _watch(self, pid, handle, gpus, own):
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        handle.extra["own"] = own
        self.procs[pid] = (handle, fd, gpus)
        if fd is not None:
            self._fd_pid[fd] = pid
            self._poll.register(fd, select.POLLIN)

    def _own_peak_rss(self) -> int:
        """The peak RSS in KiB of this process's own memory (VmHWM: since its exec, so not
        what the process that started xpmbuild left in ru_maxrss), which a wrapper spawned
        from it starts in."""
        try:
            with open("/proc/self/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        self._own_rss = int(line.split()[1])
                        return self._own_rss
        except (OSError, ValueError, IndexError):
            pass
        import resource
        self._own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self._own_rss

    def _reap(self, pid) -> Ended | None:
        handle, fd, gpus = self.procs[pid]
        used = None
        if handle.extra.get("own"):
            try:    # wait4: the wrapper's rusage, its reaped descendants (the command) included
                wpid, status, ru = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                wpid, status, ru = pid, None, None
            if wpid == 0:
                return None
            code = os.waitstatus_to_exitcode(status) if status is not None else \
                read_exit_file(handle.job_dir)
            t0 = self._t0.pop(pid, None)
            if ru is not None:
                used = {"wall": round(time.monotonic() - t0, 3) if t0 is not None else None,
                        "cpu": round(ru.ru_utime + ru.ru_stime, 3),
                        "max_rss": ru.ru_maxrss * 1024}
                # our peak only grows: read it again only when the job's is above the last
                if ru.ru_maxrss <= self._own_rss or ru.ru_maxrss <= self._own_peak_rss():
                    used["max_rss"] = None
        else:
            if fd is None and job_process_alive(pid, handle.job_dir):
                return None
            code = read_exit_file(handle.job_dir)
        del self.procs[pid]
        if fd is not None:
            self._poll.unregister(fd)
            del self._fd_pid[fd]
            os.close(fd)
        self.machine.give(gpus)
        if self.limits.ended(pid):
            return Ended(handle, code, REASON, status="failed", resources=used, cause="TIMEOUT")
        if code is None:
            return Ended(handle, None, "the job ended without recording an exit code",
                         status="lost", resources=used)
        reason = None
        if code < 0:
            reason = f"killed by signal {signal.Signals(-code).name}"
        elif code > 128 and code - 128 < 65:
            try:
                reason = f"killed by signal {signal.Signals(code - 128).name}"
            except ValueError:
                reason = None
        return Ended(handle, code, reason, resources=used)

    def wait(self, timeout):
        if not self.procs:
            if timeout:
                time.sleep(timeout)
            return []
        ended = []
        no_fd = [pid for pid, (_, fd, _) in self.procs.items() if fd is None]
        if no_fd:      # no pidfd (old kernel, or a process that was gone): poll
            timeout = min(timeout, 0.05) if timeout is not None else 0.05
        timeout = self.limits.timeout(timeout)
        events = self._poll.poll(None if timeout is None else int(timeout * 1000))
        if self.limits:
            self.limits.enforce()
        for fd, _ in events:
            pid = self._fd_pid.get(fd)
            if pid is not None:
                e = self._reap(pid)
                if e is not None:
                    ended.append(e)
        for pid in no_fd:
            if pid in self.procs:
                if self.procs[pid][0].extra.get("own") or not os.path.exists(f"/proc/{pid}"):
                    e = self._reap(pid)
                    if e is not None:
                        ended.append(e)
        return ended

    def cancel(self, handles=None):
        targets = [h.launcher_id for h in handles] if handles is not None else list(self.procs)
        self._cancelled = getattr(self, "_cancelled", set()) | set(targets)
        for pid in targets:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    def kill_after(self, grace: float = 5.0):
        """After cancel(): wait up to ``grace`` seconds, then SIGKILL what is left."""
        deadline = time.monotonic() + grace
        ended = []
        groups = set(getattr(self, "_cancelled", ())) | set(self.procs)

        def members_left():
            for pgid in groups:
                try:
                    os.killpg(pgid, 0)
                    return True
                except (ProcessLookupError, PermissionError):
                    continue
            return False

        while (self.procs or members_left()) and time.monotonic() < deadline:
            ended.extend(self.wait(0.1))
        # a job that ignores SIGTERM (its wrapper, the group leader, may be gone already)
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        while self.procs:
            ended.extend(self.wait(0.1))
        return ended

    def recover(self, key, job_dir, state):
        code = read_exit_file(job_dir)
        pid = state.get("launcher_id")
        if code is not None:
            return Ended(Handle(key, job_dir, pid), code)
        if state.get("host") != self.host or not isinstance(pid, int):
            return None
        if not job_process_alive(pid, job_dir):
            return None
        handle = Handle(key, job_dir, pid, {"host": self.host})
        self._watch(pid, handle, [], own=False)
        return handle
