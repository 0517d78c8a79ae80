"""The SSH connector: commands run on another host through OpenSSH.

OpenSSH (the ``ssh`` client) rather than a Python SSH library: it reads the user's own
``~/.ssh/config``, agents, jump hosts and Kerberos set-ups as they are, and one
multiplexed master connection (ControlMaster) makes each later command cheap.

The workspace is shared with the host (a cluster's shared file system), possibly
mounted elsewhere: ``workspace`` is its path as the host sees it. A lost connection is
retried with back-off; it is never reported as a job failure.
"""
from __future__ import annotations

import os
import shlex
import tempfile
import time

from .local import CommandResult, ConnectionLost, HostRefused, LocalConnector

# OpenSSH's words when retrying cannot help: the host's identity or our login was refused
REFUSED = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
           "Permission denied", "No ED25519 host key is known", "host key is known",
           "Bad configuration option", "Could not resolve hostname")


class SSHConnector:
    remote = True

    def __init__(self, name="ssh", host=None, user=None, port=None, key=None, workspace=None,
                 options=None, config=None, retries=5, local_workspace=None, give_up_after=600):
        from ..settings import SettingsError
        if not host:
            raise SettingsError(f"connectors.{name}: `host` is required for an ssh connector")
        self.name = name
        self.host = host
        self.user = user
        self.port = port
        self.key = os.path.expanduser(key) if key else None
        self.remote_workspace = workspace
        self.local_workspace = local_workspace
        self.options = list(options or [])
        self.config = os.path.expanduser(config) if config else None
        self.retries = retries
        self.give_up_after = float(give_up_after)   # seconds without answer before a run stops
        self._local = LocalConnector()
        control_dir = os.path.join(tempfile.gettempdir(), f"xpmbuild-ssh-{os.getuid()}")
        os.makedirs(control_dir, mode=0o700, exist_ok=True)
        self.control_path = os.path.join(control_dir, "%C")

    def ssh_argv(self) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self.control_path}", "-o", "ControlPersist=120",
                "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15"]
        if self.config:
            argv += ["-F", self.config]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.key:
            argv += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if self.user:
            argv += ["-l", self.user]
        for opt in self.options:
            argv += ["-o", opt]
        return argv + [self.host]

    def run(self, argv: list[str], input: str | None = None, timeout: float | None = 60,
            retries=None) -> CommandResult:
        remote = " ".join(shlex.quote(a) for a in argv)
        delay = 1.0
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            res = self._local.run(self.ssh_argv() + ["--", remote], input=input, timeout=timeout)
            if res.code != 255:          # 255: ssh itself failed (connection), not the command
                return res
            if any(w in res.stderr for w in REFUSED):
                raise HostRefused(f"ssh {self.host}: {refusal(res.stderr)}")
            if attempt == retries:
                raise ConnectionLost(f"ssh {self.host}: {res.stderr.strip() or 'connection failed'}")
            time.sleep(delay)
            delay = min(delay * 2, 30)
        raise ConnectionLost(f"ssh {self.host}: connection failed")  # pragma: no cover

    def path(self, local_path: str) -> str:
        if self.remote_workspace and self.local_workspace and \
                (local_path == self.local_workspace or
                 local_path.startswith(self.local_workspace.rstrip("/") + "/")):
            return self.remote_workspace.rstrip("/") + local_path[len(self.local_workspace.rstrip("/")):]
        return local_path

    def write_file(self, local_path: str, text: str, mode: int = 0o644):
        """Files are written through the shared workspace (as this machine sees it)."""
        self._local.write_file(local_path, text, mode)

    def describe(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}"


def refusal(stderr: str) -> str:
    """OpenSSH's own message, without its banner of @ lines."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("@@@")]
    return " ".join(lines[-6:]) if lines else "refused"
