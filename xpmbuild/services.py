"""Services: the long-running programs an experiment offers (TensorBoard over its
training logs...), started by ``run`` and managed by ``xpmbuild services`` and the monitor.

The library interface (the CLI and the monitor use only this)::

    list_services(ws_root, experiment=None) -> list[dict]
    start_service(ws_root, experiment, name) -> dict
    stop_service(ws_root, experiment, name) -> dict
    ServiceError

Each dict: ``name``, ``experiment``, ``state`` (``running``, ``stopped`` or ``exited``),
``url`` and ``pid`` (None unless running), ``port``, ``log_dir`` (the service's folder,
with stdout.log and stderr.log), ``doc``, ``started``, ``ended``, ``exit_code``.

``run`` records each service's rendered command in its folder (servicefolder.py); a start
picks a free port, runs the command with bash in the service's folder as a process group
of its own (a new session: Ctrl-C at the terminal does not reach it), and records
``state.json``; a stop sends SIGTERM to the group, then SIGKILL after a grace period.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

from .recovery import pid_alive
from .servicefolder import read_service, service_dir, services_root
from .workspace import atomic_write

STATE_FILE = "state.json"
RUNNING, STOPPED, EXITED = "running", "stopped", "exited"
GRACE = 5.0
_lock = threading.Lock()         # state.json writes of this process


class ServiceError(Exception):
    """An unknown experiment or service, or a service that cannot be started."""


# ----------------------------------------------------------------------------- state


def _read_state(folder: str) -> dict:
    try:
        with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as f:
            st = json.load(f)
    except (OSError, ValueError):
        return {}
    return st if isinstance(st, dict) else {}


def _write_state(folder: str, state: dict):
    atomic_write(os.path.join(folder, STATE_FILE), json.dumps(state, indent=1) + "\n")


def _start_time(pid: int):
    """The kernel's start time of a process (guards against a reused pid); None if gone
    or unknown (no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return "zombie"
    return fields[19]


def _alive(state: dict) -> bool:
    pid = state.get("pid")
    if not pid_alive(pid):
        return False
    if os.path.isdir("/proc"):
        started = _start_time(pid)
        return started is not None and started != "zombie" and \
            (state.get("proc_start") in (None, started))
    return True


def _pid_alive(pid) -> bool:
    return pid_alive(pid) and _start_time(pid) != "zombie"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _describe(doc: dict, folder: str, state: dict) -> dict:
    recorded = state.get("state")
    if recorded == RUNNING and not _alive(state):
        recorded = EXITED
    status = recorded if recorded in (RUNNING, EXITED) else STOPPED
    running = status == RUNNING
    return {"name": doc.get("name") or os.path.basename(folder),
            "experiment": doc.get("experiment"), "state": status,
            "url": state.get("url") if running else None,
            "pid": state.get("pid") if running else None,
            "port": state.get("port") if running else None,
            "log_dir": folder, "doc": doc.get("doc"),
            "started": state.get("started"), "ended": state.get("ended"),
            "exit_code": state.get("exit_code")}


# ----------------------------------------------------------------------------- queries


def _experiments(ws_root: str) -> list[str]:
    try:
        return sorted(os.listdir(os.path.join(ws_root, "experiments")))
    except FileNotFoundError:
        return []


def list_services(ws_root: str, experiment: str | None = None) -> list[dict]:
    """Every service the workspace's experiments (or one) offer, with its state."""
    if experiment is not None and experiment not in _experiments(ws_root):
        raise ServiceError(f"no experiment {experiment!r} in {ws_root}; experiments: "
                           + (", ".join(_experiments(ws_root)) or "(none)"))
    out = []
    for exp in [experiment] if experiment else _experiments(ws_root):
        root = services_root(ws_root, exp)
        try:
            names = sorted(os.listdir(root))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            folder = os.path.join(root, name)
            doc = read_service(folder)
            if doc is not None:
                out.append(_describe(doc, folder, _read_state(folder)))
    return out


def _find(ws_root: str, experiment: str, name: str) -> tuple[dict, str]:
    folder = service_dir(ws_root, experiment, name)
    doc = read_service(folder)
    if doc is None:
        known = [s["name"] for s in list_services(ws_root, experiment)]
        raise ServiceError(f"experiment {experiment!r} offers no service {name!r}; services: "
                           + (", ".join(known) or "(none)"))
    return doc, folder


def tail(ws_root: str, experiment: str, name: str, lines: int = 10) -> str:
    """The last lines of a service's stderr.log."""
    from .build import tail as tail_file
    return tail_file(os.path.join(service_dir(ws_root, experiment, name), "stderr.log"), lines)


# ----------------------------------------------------------------------------- start, stop


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_service(ws_root: str, experiment: str, name: str, on_exit=None,
                  kept: bool = True) -> dict:
    """Start a service (a running one is left as it is and described). ``on_exit(info)``
    is called, from a thread, if it exits by itself while this process lives. ``kept``
    False: a run's, which it stops at its end (a later run stops it if that run died)."""
    doc, folder = _find(ws_root, experiment, name)
    with _lock:
        state = _read_state(folder)
        if state.get("state") == RUNNING and _alive(state) and \
                state.get("command") == doc.get("command"):
            return _describe(doc, folder, state)
        if state.get("state") == RUNNING and _alive(state):     # its command changed
            _stop(folder, state)
        port = free_port()
        command = str(port).join(doc["command"])
        url = str(port).join(doc["url"])
        env = dict(os.environ, XPM_SERVICE_PORT=str(port))
        try:
            with open(os.path.join(folder, "stdout.log"), "ab") as out, \
                    open(os.path.join(folder, "stderr.log"), "ab") as err:
                proc = subprocess.Popen(["bash", "-eu", "-o", "pipefail", "-c", command],
                                        cwd=folder, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, env=env, start_new_session=True)
        except OSError as e:
            raise ServiceError(f"cannot start service {name}: {e}") from None
        state = {"state": RUNNING, "pid": proc.pid, "pgid": proc.pid, "port": port,
                 "url": url, "started": round(time.time(), 3), "ended": None,
                 "exit_code": None, "proc_start": _start_time(proc.pid),
                 "command": doc.get("command"), "starter": os.getpid(), "kept": kept}
        _write_state(folder, state)
    threading.Thread(target=_reap, args=(proc, folder, doc, on_exit), daemon=True).start()
    return _describe(doc, folder, state)


def _reap(proc, folder, doc, on_exit):
    """Wait for a service this process started; record its exit (unless it was stopped)."""
    code = proc.wait()
    with _lock:
        state = _read_state(folder)
        if state.get("pid") != proc.pid or state.get("state") != RUNNING \
                or state.get("stopping"):
            return
        state.update(state=EXITED, exit_code=code, ended=round(time.time(), 3))
        if on_exit is not None:     # said before it is recorded (what waits on it sees both)
            on_exit(_describe(doc, folder, state))
        try:
            _write_state(folder, state)
        except OSError:
            pass


def _stop(folder: str, state: dict, grace: float = GRACE):
    """SIGTERM to the service's group, SIGKILL after ``grace`` seconds; recorded stopped."""
    pgid = state.get("pgid") or state.get("pid")
    if _alive(state) and isinstance(pgid, int) and pgid > 0:
        state["stopping"] = True
        _write_state(folder, state)
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
    state.pop("stopping", None)
    state.update(state=STOPPED, ended=round(time.time(), 3))
    _write_state(folder, state)


def stop_service(ws_root: str, experiment: str, name: str, grace: float = GRACE) -> dict:
    """Stop a service (one that is not running is described as it is)."""
    doc, folder = _find(ws_root, experiment, name)
    with _lock:
        state = _read_state(folder)
        if state.get("state") == RUNNING:
            _stop(folder, state, grace)
        return _describe(doc, folder, state)


# ----------------------------------------------------------------------------- during a run


class ServiceSession:
    """The services of one ``run``: started when its first job starts, their URLs said,
    stopped when it ends (unless ``keep``); one that exits is said with its stderr tail
    and never fails the run. ``say(text)`` prints a line for the user."""

    def __init__(self, ws_root: str, experiment: str, names, keep=False, say=print):
        self.ws_root, self.experiment = ws_root, experiment
        self.names = list(names)
        self.keep = keep
        self.say = say
        self.started: list[str] = []       # the ones this run started (it stops those)
        self.ending = False
        self.tried = False

    def start_all(self):
        self.tried = True
        for name in self.names:
            folder = service_dir(self.ws_root, self.experiment, name)
            before = _read_state(folder)
            was_running = before.get("state") == RUNNING and _alive(before)
            try:
                info = start_service(self.ws_root, self.experiment, name, self._exited,
                                     kept=False)
            except ServiceError as e:
                self.say(f"service {name} did not start: {e}")
                continue
            # this run's to stop: one it started, or one a run left by dying (not kept by
            # --keep-services or started by `services start`, its starter gone)
            fresh = not was_running or info.get("pid") != before.get("pid")
            if fresh or (not before.get("kept") and not _pid_alive(before.get("starter"))):
                self.started.append(name)
            self.say(f"service {name}: {info['url']}" + ("" if fresh else " (already running)"))

    def _exited(self, info):
        if self.ending:
            return
        code = info.get("exit_code")
        lines = tail(self.ws_root, self.experiment, info["name"])
        self.say(f"service {info['name']} exited (exit code {code})"
                 + (":\n" + "\n".join("  │ " + x for x in lines.splitlines()) if lines else ""))

    def end(self):
        self.ending = True
        if not self.tried and self.names:
            self.say("services not started (no job ran): `xpmbuild services start "
                     f"--experiment {self.experiment}` starts them")
        for name in self.started:
            if self.keep:
                info = next((s for s in list_services(self.ws_root, self.experiment)
                             if s["name"] == name), None)
                if info and info["state"] == RUNNING:
                    with _lock:
                        folder = service_dir(self.ws_root, self.experiment, name)
                        _write_state(folder, dict(_read_state(folder), kept=True))
                    self.say(f"service {name} left running: {info['url']} (stop it with "
                             f"`xpmbuild services stop --experiment {self.experiment} {name}`)")
                continue
            try:
                stop_service(self.ws_root, self.experiment, name)
            except (ServiceError, OSError):
                pass
