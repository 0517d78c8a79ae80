"""Reasons as data: why a job runs, waits, was skipped or failed.

A :class:`Reason` is a kind and its arguments; code decides by ``reason.kind`` (never by
matching words). Its words come from the one table below, and it *is* those words (a
``str``), so reports, ``--json`` and ``state.json`` carry them as they are::

    r = reason("code_changed", path="prepare.py")
    r.kind, r.args          # ("code_changed", {"path": "prepare.py"})
    str(r)                  # "code prepare.py changed"
"""
from __future__ import annotations

WORDS = {
    # the rebuilder: why a job must run
    "never_built": "never built",
    "differs": "differs from {job} in {diffs}",
    "last_build": "{words}",
    "forced": "forced ({flag})",
    "output_missing": "output {path} is missing",
    "output_unrecorded": "output {path} was not recorded by the last build",
    "output_changed": "output {path} changed since its build",
    "command_changed": "command changed",
    "python_action_changed": "python action changed (now {action})",
    "code_changed": "code {path} changed",
    "code_new": "code {path} is new",
    "code_untracked": "code {path} was not tracked by its build",
    "code_missing": "code {path} is missing",
    "code_unused": "code {path} is no longer used",
    "input_new": "new input {path}",
    "input_missing": "input {path} is missing",
    "input_changed": "input {path} changed",
    "dependency_new": "new dependency {job}",
    "dependency_changed": "dependency {job} changed its output {outputs}",
    "fingerprint_changed": "fingerprint changed",
    "conflict": "its folder holds the job of task {task} of {other}, whose action differs "
                "from {this}'s: set a `namespace` in one project's xpmbuild.toml (it enters "
                "job ids), rename one task, or use another workspace",
    # the scheduler: waiting, skipping, failing, re-attaching
    "waits_on": "waits on {job}",
    "waits_on_submitted": "waits on {job} (submitted)",
    "stopped": "not started: the build stopped after a failure",
    "dependency_failed": "dependency {job} failed",
    "elsewhere": "{words}",
    "reattached": "re-attached to {launcher} job {id} started by an earlier run",
    "already": "already {status} ({launcher} job {id})",
    "left_running": "left running after an interruption",
    "failure": "{words}",
}

#: kinds that say a dependency changed (dropped when the dependency is only submitted)
DEPENDENCY_KINDS = frozenset({"dependency_new", "dependency_changed"})


class Reason(str):
    """A reason's words, with its ``kind`` and ``args``."""

    def __new__(cls, kind: str, args: dict):
        self = str.__new__(cls, WORDS[kind].format(**args))
        self.kind = kind
        self.args = args
        return self

    def __reduce__(self):
        return (Reason, (self.kind, self.args))


_PLAIN: dict = {}        # the reasons without arguments, one shared instance each


def reason(kind: str, **args) -> Reason:
    if args:
        return Reason(kind, args)
    r = _PLAIN.get(kind)        # a 100k-job plan says "never built" 100k times
    if r is None:
        r = _PLAIN[kind] = Reason(kind, {})
    return r


def is_shared(r) -> bool:
    """Whether ``r`` is the one shared instance of a reason without arguments."""
    kind = getattr(r, "kind", None)
    return kind is not None and not r.args and _PLAIN.get(kind) is r


def kind_of(r) -> str | None:
    """The kind of a reason (None for plain words, e.g. read back from a record)."""
    return getattr(r, "kind", None)
