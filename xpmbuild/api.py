"""The Python API (spec api.md): the names a notebook user would guess, over the same
library functions the command line calls.

    import xpmbuild
    xp = xpmbuild.load("sweep.xpm", args={"seeds": 2})
    xp.plan(workspace="ws"); result = xp.run(workspace="ws", jobs=2)
    ws = xpmbuild.Workspace("ws")
    for job in ws.jobs(experiment="sweep", task="evaluate", status="done"): job.read()
    ws.results("evaluate", experiment="sweep").by("lr")
"""
from __future__ import annotations

import os
from pathlib import Path

from .job import Job, open_job

__all__ = ["load", "Experiment", "PlanJob", "JobPlan", "Workspace", "open_job", "Job"]


def _arg_text(value) -> str:
    """A Python value as the text ``-D`` takes (str and path args take text as it is)."""
    if isinstance(value, (str, Path)):
        return str(value)
    return repr(value)


def load(file, args: dict | None = None, name: str | None = None) -> Experiment:
    """Parse, check and evaluate an experiment file; raises :class:`xpmbuild.XpmError`
    (with ``.file .line .col .message``) on a language error."""
    from .language import evaluate
    from .settings import load as load_settings
    settings = load_settings(os.fspath(file))
    defines = {k: _arg_text(v) for k, v in (args or {}).items()}
    plan = evaluate(os.fspath(file), defines, name=name, check_inputs=True,
                    namespace=settings.get("namespace"))
    return Experiment(plan, settings)


class PlanJob:
    """A job of a plan (before or after it ran): .task .id .short_id .tags .params .deps
    .outputs; ``.folder(workspace)`` is its Job once it has a folder."""

    __slots__ = ("_job",)

    def __init__(self, job):
        self._job = job

    task = property(lambda self: self._job.task.name)
    id = property(lambda self: self._job.id)
    short_id = property(lambda self: self._job.id[:8])
    tags = property(lambda self: dict(self._job.tags))
    deps = property(lambda self: [PlanJob(d) for d in self._job.deps])
    outputs = property(lambda self: {k: Path(v) for k, v in self._job.task.outputs.items()})

    @property
    def params(self):
        from .serialization import config_class
        return config_class(self.task)({k: _value(v) for k, v in self._job.values.items()})

    def folder(self, workspace) -> Job:
        ws = _ws_path(workspace)
        return Job(os.path.join(ws, "jobs", self.task, self.id), task=self.task)

    def __repr__(self):
        return f"<PlanJob {self.task}/{self.short_id}>"

    def __eq__(self, other):
        return isinstance(other, PlanJob) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


def _value(v):
    from . import model as M
    from .serialization import config_class
    t = type(v)
    if t is M.PathValue:
        return Path(v.path)
    if t is M.ConfigValue:
        return config_class(v.definition.name)({k: _value(x) for k, x in v.values.items()})
    if t is M.Job:
        return PlanJob(v)
    if t is M.OutputRef:
        return Path(v.relpath)
    if t is list:
        return [_value(x) for x in v]
    if t is dict:
        return {k: _value(x) for k, x in v.items()}
    return v


class JobPlan:
    """One row of a plan or a run: the job, its status, why, whether it (would) run."""

    __slots__ = ("job", "status", "reasons", "will_run", "dir")

    def __init__(self, node):
        self.job = PlanJob(node.job)
        self.status = node.status
        self.reasons = [str(r) for r in node.reasons]
        self.will_run = bool(node.will_run)
        self.dir = Path(node.dir)

    def __repr__(self):
        return f"<JobPlan {self.job.task}/{self.job.short_id} {self.status}>"


class BuildView(list):
    """The rows of a plan or a run (``JobPlan``), with counts and notebook views."""

    def __init__(self, result):
        super().__init__(JobPlan(n) for n in result.nodes)
        self.result = result
        self.counts = dict(result.counts) if result.counts else _count(self)
        self.dry_run = result.dry_run

    @property
    def ok(self) -> bool:
        return self.result.ok

    def to_json(self) -> dict:
        return self.result.to_json()

    def _repr_html_(self):
        from .notebook import table_html
        rows = [[f"{r.job.task}/{r.job.short_id}", r.status,
                 ", ".join(f"{k}={v}" for k, v in r.job.tags.items()), "; ".join(r.reasons)]
                for r in self]
        what = "would run" if self.dry_run else "ran"
        n = sum(1 for r in self if r.will_run) if self.dry_run else self.counts.get("ran", 0)
        return table_html(["job", "status", "tags", "why"], rows,
                          f"{self.result.plan.name}: {n} of {len(self)} jobs {what}",
                          status_column=1)


def _count(rows) -> dict:
    out: dict = {}
    for r in rows:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def _ws_path(workspace, settings: dict | None = None) -> str:
    """``workspace``, else ``$XPM_WORKSPACE``, else the settings' ``workspace`` (those of
    the experiment, else the user's and ./xpmbuild.toml), else ./xpm-workspace."""
    from .workspace import resolve_workspace
    if isinstance(workspace, Workspace):
        return workspace.path
    if workspace is None and settings is None:
        from .settings import load
        settings = load(os.path.join(os.getcwd(), "_") if os.path.isfile("xpmbuild.toml")
                        else None)
    return resolve_workspace(os.fspath(workspace) if workspace is not None else None, settings)


class Experiment:
    def __init__(self, plan, settings: dict | None = None):
        self._plan = plan
        self.settings = settings or {}

    name = property(lambda self: self._plan.name)
    file = property(lambda self: Path(self._plan.file))

    @property
    def jobs(self) -> list[PlanJob]:
        return [PlanJob(j) for j in self._plan.jobs.values()]

    def select(self, *targets: str) -> list[PlanJob]:
        """The jobs the targets name (``evaluate[lr=0.001]``) and all they need."""
        from .graph import select
        return [PlanJob(j) for j in select(self._plan, targets)]

    def plan(self, workspace=None, targets=(), force=(), force_all=False) -> BuildView:
        """What would run, and why (a dry run)."""
        from .build import build
        ws = _ws_path(workspace, self.settings)
        return BuildView(build(self._plan, ws, targets=tuple(targets), force=tuple(force),
                               force_all=force_all, dry_run_only=True))

    def run(self, workspace=None, jobs: int | None = None, launcher: str | None = None,
            targets=(), keep_going=False, force=(), force_all=False, progress=None) -> BuildView:
        """Build the stale jobs. ``progress``: None shows a live bar in a notebook only."""
        from .build import build
        from .launchers import make_launcher
        from .notebook import NotebookReporter, in_notebook
        launcher_obj = make_launcher(launcher or self.settings.get("launcher") or "local",
                                     self.settings, jobs)
        reporter = None
        if progress or (progress is None and in_notebook()):
            from .graph import select
            reporter = NotebookReporter(len(select(self._plan, targets)))
        result = build(self._plan, _ws_path(workspace, self.settings), targets=tuple(targets),
                       jobs=jobs,
                       keep_going=keep_going, force=tuple(force), force_all=force_all,
                       launcher=launcher_obj, env=self.settings.get("env"), reporter=reporter,
                       settings=self.settings)
        return BuildView(result)

    def __repr__(self):
        return f"<Experiment {self.name}: {len(self._plan.jobs)} jobs>"


class ExperimentInfo(str):
    """An experiment's name, with its latest run's time and its jobs' counts by status."""

    def __new__(cls, name, time, counts):
        self = str.__new__(cls, name)
        self.name, self.time, self.counts = name, time, counts
        return self


class Workspace:
    """A workspace as the API sees it (``xpmbuild.Workspace("ws")``)."""

    def __init__(self, path=None):
        self.path = _ws_path(path)

    def _store(self):
        from .workspace import Workspace as Store
        return Store(self.path)

    def experiments(self) -> list[ExperimentInfo]:
        store = self._store()
        out = []
        for name in store.experiments():
            record = os.path.join(self.path, "experiments", name, "jobs.jsonl")
            try:
                time = os.stat(record).st_mtime
            except OSError:
                time = None
            counts: dict = {}
            for row in store.experiment_jobs(name):
                st = store.read_state(row.get("dir") or store.job_dir(row["task"], row["id"]))
                s = (st or {}).get("status", "new")
                counts[s] = counts.get(s, 0) + 1
            out.append(ExperimentInfo(name, time, counts))
        return out

    def jobs(self, experiment=None, task=None, status=None, tags: dict | None = None,
             launchers=None) -> JobList:
        """The workspace's jobs, filtered; each a :class:`~xpmbuild.job.Job`."""
        from .jobs import find
        as_tuple = (lambda v: () if v is None else ((v,) if isinstance(v, str) else tuple(v)))
        tag_filters = [f"{k}={v}" for k, v in (tags or {}).items()]
        recs = find(self._store(), launchers, experiment, as_tuple(task), as_tuple(status),
                    tag_filters)
        return JobList(Job(r.dir, task=r.task, status=r.status, reasons=r.reasons,
                           tags=r.tags) for r in recs)

    def job(self, name: str) -> Job:
        """One job by TASK/ID-PREFIX, id prefix or folder."""
        from .jobs import one
        r = one(self._store(), name)
        return Job(r.dir, task=r.task, status=r.status, reasons=r.reasons, tags=r.tags)

    def results(self, task: str, experiment: str | None = None, read: str | None = None,
                where: dict | None = None):
        """The results of ``task``'s jobs (results.py): those of ``experiment``'s latest
        plan, else every job of the task; not-done ones are ``missing``."""
        from .jobs import JobQueryError
        from .results import collect
        store = self._store()
        if experiment is not None:
            if experiment not in store.experiments():
                raise JobQueryError(f"no experiment {experiment!r} in {self.path}")
            rows = [r for r in store.experiment_jobs(experiment) if r.get("task") == task]
            jobs = [Job(store.job_dir(task, r["id"]), task=task,
                        tags=r.get("tags") or None) for r in rows]
        else:
            tdir = os.path.join(self.path, "jobs", task)
            try:
                names = sorted(os.listdir(tdir))
            except OSError:
                names = []
            jobs = [Job(os.path.join(tdir, n), task=task) for n in names]
        table = collect(jobs, read)
        table.task = task
        if where:
            table = table.where(**where)
        return table

    def __repr__(self):
        return f"<Workspace {self.path}>"


class JobList(list):
    """A list of jobs with a notebook view."""

    def _repr_html_(self):
        from .notebook import jobs_html
        return jobs_html(self)
