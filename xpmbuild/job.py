"""A job folder read back: its parameters (typed), outputs, record, logs and results.

    job = xpmbuild.open_job("ws/jobs/train/1f74…")
    job.params.opt.lr, job.outputs["model"], job.read("metrics"), job.duration

The same object stands for a dependency inside a ``python`` action (``data.tokens`` is
``data.outputs["tokens"]``) and in an analysis afterwards. Everything is read lazily from
the folder (``params.json``, ``state.json``); light imports only.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

STATE = "state.json"


class Job:
    def __init__(self, dir, task: str | None = None, outputs: dict | None = None,
                 status: str | None = None, reasons=None, tags: dict | None = None):
        self._dir = os.fspath(dir)
        self._path = None
        self._task = task
        self._outputs = outputs
        self._status, self._reasons, self._tags = status, reasons, tags
        self._doc = self._state = self._params = self._out_paths = None

    @property
    def dir(self) -> Path:
        """The job folder."""
        if self._path is None:
            self._path = Path(self._dir)
        return self._path

    # ------------------------------------------------------------------ identity
    @property
    def id(self) -> str:
        return os.path.basename(self._dir)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def task(self) -> str:
        return self._task or self.document.get("task") or \
            os.path.basename(os.path.dirname(self._dir))

    def __repr__(self):
        return f"<Job {self.task}/{self.short_id} {self.status}>"

    def __eq__(self, other):
        return isinstance(other, Job) and other._dir == self._dir

    def __hash__(self):
        return hash(self._dir)

    # ------------------------------------------------------------------ params.json
    @property
    def document(self) -> dict:
        """The folder's params.json ({} when unreadable)."""
        if self._doc is None:
            try:
                with open(os.path.join(self._dir, "params.json"), encoding="utf-8") as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                doc = {}
            self._doc = doc if isinstance(doc, dict) else {}
        return self._doc

    @property
    def params(self):
        """The parameters, typed (serialization.py), with attribute access."""
        if self._params is None:
            from .serialization import config_class, decode
            fields = {k: decode(v, self.dir) for k, v in (self.document.get("params") or {}).items()}
            self._params = config_class(self.task)(fields)
        return self._params

    def config_dict(self) -> dict:
        """The parameters as plain JSON-compatible data."""
        return self.params.to_dict()

    @property
    def outputs(self) -> dict[str, Path]:
        if self._out_paths is None:
            rel = self._outputs if self._outputs is not None else \
                self.document.get("outputs") or {}
            self._out_paths = {name: Path(os.path.join(self._dir, p)) for name, p in rel.items()}
        return self._out_paths

    def __getattr__(self, name):
        # a dependency in a python action: data.tokens is data.outputs["tokens"]
        if name.startswith("_"):
            raise AttributeError(name)
        outputs = self.outputs
        if name in outputs:
            return outputs[name]
        raise AttributeError(f"job {self.task}/{self.short_id} has no attribute or output "
                             f"{name!r}")

    @property
    def tags(self) -> dict:
        if self._tags is not None:
            return self._tags
        tags = self.document.get("tags")
        return tags if isinstance(tags, dict) else {}

    @property
    def deps(self) -> list[Job]:
        tasks = (self.state or {}).get("dep_tasks") or {}
        root = self.dir.parent.parent
        out = []
        for dep in self.document.get("deps") or []:
            task = tasks.get(dep) or next((t.name for t in root.iterdir()
                                           if (t / dep).is_dir()), None)
            if task:
                out.append(Job(root / task / dep, task=task))
        return out

    # ------------------------------------------------------------------ state.json
    @property
    def state(self) -> dict | None:
        if self._state is None:
            try:
                with open(os.path.join(self._dir, STATE), encoding="utf-8") as f:
                    st = json.load(f)
            except (OSError, ValueError):
                st = None
            self._state = st if isinstance(st, dict) else {}
        return self._state or None

    @property
    def status(self) -> str:
        if self._status is not None:
            return self._status
        return (self.state or {}).get("status", "new")

    @property
    def reasons(self) -> list:
        if self._reasons is not None:
            return list(self._reasons)
        st = self.state or {}
        recorded = st.get("reasons") if isinstance(st.get("reasons"), list) else []
        return list(recorded) + ([st["reason"]] if st.get("reason") else [])

    @property
    def started(self) -> float | None:
        return (self.state or {}).get("started")

    @property
    def ended(self) -> float | None:
        return (self.state or {}).get("ended") if self.status not in ("queued", "running") \
            else None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None while it runs or when unknown)."""
        if self.started is None or self.ended is None:
            return None
        return round(self.ended - self.started, 3)

    @property
    def resources(self) -> dict:
        """What is known of the resources it used (max RSS, CPU seconds), when recorded."""
        st = self.state or {}
        res = st.get("resources")
        return dict(res) if isinstance(res, dict) else {}

    # ------------------------------------------------------------------ results
    def read(self, output: str | None = None):
        """An output, parsed: .json → object, .csv/.tsv → list of dicts, a file holding
        one number → that number, else its text. ``output`` defaults to the only output,
        or the one named ``metrics``."""
        from .results import read_file
        return read_file(self.outputs[self.output_name(output)])

    def output_name(self, output: str | None = None) -> str:
        outputs = self.outputs
        if output is not None:
            if output not in outputs:
                raise KeyError(f"task {self.task} has no output {output!r}; outputs: "
                               + (", ".join(outputs) or "(none)"))
            return output
        if len(outputs) == 1:
            return next(iter(outputs))
        if "metrics" in outputs:
            return "metrics"
        raise KeyError(f"task {self.task} has {len(outputs)} outputs: say which to read ("
                       + ", ".join(outputs) + ")")

    def log(self, which: str = "stdout") -> str:
        try:
            return (self.dir / f"{which}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _repr_html_(self):
        from .notebook import job_html
        return job_html(self)


def open_job(path) -> Job:
    """The job of a folder (``ws/jobs/TASK/ID``, or a path inside it)."""
    p = Path(path).resolve()
    while not (p / "params.json").exists() and p.parent != p:
        if (p / STATE).exists():
            break
        p = p.parent
    if not (p / "params.json").exists() and not (p / STATE).exists():
        raise FileNotFoundError(f"{path}: not a job folder (no params.json)")
    return Job(p)


def is_job_dir(path) -> bool:
    return os.path.isfile(os.path.join(path, "params.json"))
