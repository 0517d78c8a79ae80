"""Input files of a plan: each ``path`` value must be a readable regular file or folder.

An input is hashed before its job runs; a missing one, or one whose content cannot be
hashed (a FIFO would block the reader forever, ``/dev/zero`` never ends, a symlink loop
or an over-long name cannot be opened), is an error of ``check``/``plan``/``run`` at the
call that received it, before anything runs. Each distinct path is looked at once
(one ``stat``, and one ``access``) per :class:`InputChecker`, so a 10k-job plan costs
one stat per distinct path. Job outputs (``job.output``) are not inputs here: jobs make
them.
"""
from __future__ import annotations

from ..pathcheck import path_problem  # noqa: F401  (re-exported; tests patch it here)


class InputChecker:
    """Memoized :func:`path_problem`, for one evaluation (files may change between runs)."""

    __slots__ = ("memo", "configs", "origin")

    def __init__(self):
        self.memo: dict[str, str | None] = {}
        self.configs: dict[int, object] = {}     # id -> ConfigValue already checked
        self.origin: dict[str, str] = {}          # path -> "-D NAME=VALUE" that gave it

    def problem(self, path: str) -> str | None:
        memo = self.memo
        if path in memo:
            return memo[path]
        p = memo[path] = path_problem(path)
        return p
