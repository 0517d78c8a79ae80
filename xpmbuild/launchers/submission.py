"""A submission whose answer was lost: a run killed between ``sbatch``/``oarsub`` and the
record of the job id (launch protocol, recovery.py) left a record that says ``queued``
without a launcher id, while the cluster may hold the job. Submitting it again would run
it twice in the same folder, so the job is found again instead.

A batch job is named after its script (``xpm-TASK-HASH``: the task and the hash of the
script's text), and the script lists the job folders it runs (``d=...`` or ``dirs=(...)``,
the array index): from a job folder, its script; from the script's name, the cluster's
job; from the index, the array task. Each cluster says how it is asked
(:meth:`LostSubmissions.submitted_id`).
"""
from __future__ import annotations

import glob
import os
import shlex
import time

from .base import ClusterUnreachable, LauncherError


def submission_name(task: str, script_path: str) -> str:
    """The cluster's job name of a submission: the task and the hash of its script."""
    digest = os.path.basename(script_path)[len("submit-"):-len(".sh")]
    return f"xpm-{task}-{digest}"


def submission_name_of(path: str, lines: list[str]) -> str:
    task = next((ln.split("=", 1)[1] for ln in lines if ln.startswith("# task=")), "")
    return submission_name(task, path)


def script_index(lines: list[str], quoted_dir: str):
    """The array index (from 0) of a job folder in a submission script: None (a single
    job), or False when the script does not run it."""
    for ln in lines:
        if ln.startswith("d=") and ln[2:] == quoted_dir:
            return None
        if ln.startswith("dirs=("):
            words = shlex.split(ln[len("dirs=("):-1])
            if shlex.split(quoted_dir)[0] in words:
                return words.index(shlex.split(quoted_dir)[0])
    return False


class LostSubmissions:
    """Recovery of a record without a launcher id, for a batch launcher whose scripts are
    named by :func:`submission_name` (``write_script(..., task=)``)."""

    #: seconds sbatch/oarsub (and the lookup of a lost submission) are retried while the
    #: cluster does not answer
    submit_patience = 900.0
    cluster = "the cluster"     # its name in messages

    def submitted_id(self, job_name: str, index) -> str | None:
        """The launcher id of the job (``index``: None, or its index in the array) of the
        submission called ``job_name``; None when the cluster answers it has none.
        Raises ClusterUnreachable."""
        raise NotImplementedError

    def recover(self, key, job_dir, state):
        """Re-attach; a record without a job id (xpmbuild killed between the submission
        and the record) is looked up by the name of the script that lists its folder."""
        if state.get("launcher_id"):
            return super().recover(key, job_dir, state)
        found = self._find_unrecorded(job_dir)
        if found is None:
            return None
        return super().recover(key, job_dir, dict(state, launcher_id=found))

    def _find_unrecorded(self, job_dir) -> str | None:
        quoted = shlex.quote(self.connector.path(job_dir))
        for path in sorted(glob.glob(os.path.join(self.script_dir(), "submit-*.sh")),
                           key=os.path.getmtime, reverse=True):
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            index = script_index(lines, quoted)
            if index is False:
                continue
            deadline = time.monotonic() + self.submit_patience
            while True:
                try:
                    found = self.submitted_id(submission_name_of(path, lines), index)
                    break
                except ClusterUnreachable:
                    if time.monotonic() > deadline:
                        raise LauncherError(f"{self.cluster} does not answer: cannot tell "
                                            "whether an interrupted submission went "
                                            "through") from None
                    time.sleep(5)
            if found:
                return found
        return None
