"""The local connector: commands run on this machine, through the ``sh`` library."""
from __future__ import annotations

import os


class CommandResult:
    __slots__ = ("code", "stdout", "stderr")

    def __init__(self, code, stdout, stderr):
        self.code, self.stdout, self.stderr = code, stdout, stderr

    @property
    def ok(self):
        return self.code == 0


class ConnectionLost(Exception):
    """The host could not be reached (retried by the caller, never a job failure)."""


class HostRefused(Exception):
    """The host was reached but cannot be trusted or logged into (its host key changed or
    is unknown, the key is refused): an error at once, never retried."""


class LocalConnector:
    name = "local"
    remote = False

    def run(self, argv: list[str], input: str | None = None, timeout: float | None = 60,
            retries=None) -> CommandResult:
        import sh
        cmd = sh.Command(argv[0])
        try:
            out = cmd(*argv[1:], _in=input, _timeout=timeout, _ok_code=list(range(256)),
                      _return_cmd=True, _env=dict(os.environ))
        except sh.CommandNotFound:
            return CommandResult(127, "", f"{argv[0]}: command not found")
        except sh.TimeoutException:
            return CommandResult(124, "", f"{argv[0]}: timed out after {timeout} s")
        return CommandResult(out.exit_code, out.stdout.decode("utf-8", "replace"),
                             out.stderr.decode("utf-8", "replace"))

    def path(self, local_path: str) -> str:
        """A workspace path as the host sees it."""
        return local_path

    def write_file(self, local_path: str, text: str, mode: int = 0o644):
        from ..workspace import atomic_write
        atomic_write(local_path, text.encode("utf-8"), mode)

    def describe(self) -> str:
        return "this machine"
