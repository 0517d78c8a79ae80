"""Start the real services that xpmbuild's tests need: Slurm, OAR and an OpenSSH server.

Each service has an ``<name>-up.sh`` script beside this file, which installs (apt-get) and
starts it as root and prints ``export K=V`` lines; ``<name>-down.sh`` stops it (see README.md).

    from tests.services.harness import require_service
    env = require_service("slurm")   # skips the test when Slurm cannot run here (fails in CI)

Standard library only (pytest is imported lazily, by :func:`require_service`).

The up script runs at most once per process; its exports are also cached in
``/tmp/xpmbuild-services/harness/<name>.json``, so that other processes (pytest-xdist workers,
reruns) reuse a service that still runs instead of running the script again. A cached entry is
used only while the daemons recorded in the service's pid files are alive, the script is unchanged
and the caller's ``XPM_<NAME>_*`` settings agree with it. A file lock makes concurrent processes
wait for the one that starts the service.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "SERVICES",
    "ServiceUnavailable",
    "require_service",
    "service_env",
    "stop_all",
]

HERE = Path(__file__).resolve().parent
SERVICES = ("slurm", "oar", "sshd")
# seconds allowed for one up script (a cold start installs packages: about 20 s here, more on
# a slow mirror)
UP_TIMEOUT = float(os.environ.get("XPM_SERVICES_TIMEOUT", "900"))

# the daemons whose pid files prove a service is still up: (pid file relative to the state
# directory, process name), and the exported variable that names that directory
_STATE_DIR_VAR = {
    "slurm": "XPM_SLURM_DIR",
    "oar": "XPM_OAR_DIR",
    "sshd": "XPM_SSHD_DIR",
}
_DAEMONS = {
    "slurm": [
        ("run/munged.pid", "munged"),
        ("run/slurmctld.pid", "slurmctld"),
        ("run/slurmd.pid", "slurmd"),
    ],
    "slurm+accounting": [
        ("run/mariadbd.pid", "mariadbd"),
        ("run/slurmdbd.pid", "slurmdbd"),
    ],
    "oar": [
        ("pg/data/postmaster.pid", "postgres"),
        ("run/node-sshd.pid", "sshd"),
        ("run/almighty.pid", "Almighty"),
    ],
    "sshd": [("sshd.pid", "sshd")],
}


class ServiceUnavailable(Exception):
    """The service cannot be started on this machine; the message says why."""


_env_cache: dict[str, dict[str, str]] = {}
_started: list[str] = []  # services whose daemons this process started (for stop_all)


def _cache_dir() -> Path:
    return Path(os.environ.get("XPM_SERVICES_CACHE", "/tmp/xpmbuild-services/harness"))


def _check_name(name: str) -> None:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")


def _script(name: str, action: str) -> Path:
    return HERE / f"{name}-{action}.sh"


def _settings(name: str) -> dict[str, str]:
    """The caller's XPM_<NAME>_* settings, which the up script reads."""
    prefix = f"XPM_{name.upper()}_"
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefix)}


def _script_digest(name: str) -> str:
    return hashlib.sha256(_script(name, "up").read_bytes()).hexdigest()


def _settings_agree(settings: dict[str, str], cached: dict) -> bool:
    """Whether the caller's settings are those the cached run had (or the values it exported:
    a process that inherited the exports, e.g. a pytest-xdist worker, asks for the same thing)."""
    before, exported = cached["settings"], cached["env"]
    for key in set(settings) | set(before):
        now = settings.get(key)
        if now != before.get(key) and not (key in exported and now == exported[key]):
            return False
    return True


def _pid_alive(pidfile: Path, comm: str) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        return Path(f"/proc/{pid}/comm").read_text().strip() == comm
    except (OSError, ValueError, IndexError):
        return False


def _alive(name: str, env: dict[str, str]) -> bool:
    """True when every daemon of the service described by ``env`` still runs."""
    state = env.get(_STATE_DIR_VAR[name])
    if not state:
        return False
    daemons = list(_DAEMONS[name])
    if name == "slurm" and env.get("XPM_SLURM_ACCOUNTING") == "1":
        daemons += _DAEMONS["slurm+accounting"]
    return all(_pid_alive(Path(state) / pidfile, comm) for pidfile, comm in daemons)


def _parse_exports(text: str) -> dict[str, str]:
    """Parse ``export K=V`` lines (shell quoting allowed); other lines are ignored."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        for word in shlex.split(line, comments=True)[1:]:
            key, sep, value = word.partition("=")
            if sep and key.isidentifier():
                env[key] = value
    return env


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on ``path``, waited for at most ``timeout`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(f"timed out waiting for {path}") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def _run_script(
    name: str, action: str, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``<name>-<action>.sh``; return (exit status, stdout, stderr).

    Output goes to temporary files, not pipes: a daemon that kept a pipe open would make us wait
    for it forever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                ["bash", str(_script(name, action))],
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=err,
                timeout=timeout,
                check=False,
            )
            status = proc.returncode
        except subprocess.TimeoutExpired:
            status = -1
        except OSError as exc:  # no bash
            raise ServiceUnavailable(f"cannot run {name}-{action}.sh: {exc}") from exc
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if status == -1:
        stderr += f"\n(harness: {name}-{action}.sh killed after {timeout:.0f} s)"
    return status, stdout, stderr


def _start(name: str) -> dict[str, str]:
    """Run the up script (or reuse another process's result); return its exports."""
    if os.geteuid() != 0:
        raise ServiceUnavailable(
            f"{name}: the test services are installed and started as root; running as uid {os.geteuid()}"
        )
    cache_file = _cache_dir() / f"{name}.json"
    with _locked(_cache_dir() / f"{name}.lock", UP_TIMEOUT + 60):
        digest, settings = _script_digest(name), _settings(name)
        try:
            cached = json.loads(cache_file.read_text())
            if (
                cached["script"] == digest
                and _settings_agree(settings, cached)
                and _alive(name, cached["env"])
            ):
                return dict(cached["env"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        # did the service already run (started by hand, or by an older harness)? then it is not ours
        var = _STATE_DIR_VAR[name]
        was_alive = _alive(
            name, {var: settings.get(var, f"/tmp/xpmbuild-services/{name}")}
        )
        status, stdout, stderr = _run_script(name, "up", UP_TIMEOUT)
        if status != 0:
            raise ServiceUnavailable(
                f"{name}-up.sh failed (exit status {status}); its last messages:\n{_tail(stderr)}"
            )
        env = _parse_exports(stdout)
        if var not in env:
            raise ServiceUnavailable(
                f"{name}-up.sh printed no {var}; stdout:\n{_tail(stdout)}\nstderr:\n{_tail(stderr)}"
            )
        if not was_alive and name not in _started:
            _started.append(name)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "script": digest,
                    "settings": settings,
                    "env": env,
                    "created": time.time(),
                },
                indent=1,
            )
        )
        tmp.replace(cache_file)
        return env


def service_env(name: str) -> dict[str, str]:
    """Make sure service ``name`` ("slurm", "oar" or "sshd") runs; return its variables.

    The variables (``SLURM_CONF``, ``XPM_SLURM_*``, ``XPM_OAR_*``, ``XPM_SSHD_*``, see README.md)
    are also set in ``os.environ``. Raises :class:`ServiceUnavailable` when the service cannot be
    started here (not root, apt-get missing or failing, a daemon that does not come up...).
    """
    _check_name(name)
    env = _env_cache.get(name)
    if env is None or not _alive(name, env):
        env = _start(name)
        _env_cache[name] = env
    os.environ.update(env)
    return dict(env)


def require_service(name: str) -> dict[str, str]:
    """For tests: :func:`service_env`, but a service that cannot run skips the test.

    In CI (``CI=true``) nothing is skipped: the :class:`ServiceUnavailable` error propagates.
    """
    try:
        return service_env(name)
    except ServiceUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        import pytest

        pytest.skip(f"service {name} unavailable: {exc}")


def stop_all() -> None:
    """Stop (down scripts) the services whose daemons this process started; newest first."""
    errors = []
    while _started:
        name = _started.pop()
        env = _env_cache.pop(name, {})
        with _locked(_cache_dir() / f"{name}.lock", 300):
            # the down script finds the state directory in XPM_<NAME>_DIR
            status, _, stderr = _run_script(name, "down", 300, env)
            cache_file = _cache_dir() / f"{name}.json"
            try:  # forget the cached exports if they describe the instance just stopped
                if json.loads(cache_file.read_text())["env"].get(
                    _STATE_DIR_VAR[name]
                ) == env.get(_STATE_DIR_VAR[name]):
                    cache_file.unlink()
            except (OSError, ValueError, KeyError, TypeError):
                pass
        if status != 0:
            errors.append(
                f"{name}-down.sh failed (exit status {status}):\n{_tail(stderr)}"
            )
    if errors:
        raise ServiceUnavailable("\n".join(errors))
