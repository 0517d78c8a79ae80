"""Building a plan: the library entry point behind ``xpmbuild run`` and ``xpmbuild plan``.

    plan = evaluate("sweep.xpm")
    result = build(plan, workspace="xpm-workspace", jobs=4)

``build(..., dry_run=True)`` decides every job without running anything and says why
each would run.
"""
from __future__ import annotations

import os

from . import schema
from .graph import select
from .incremental import kept_outputs, up_to_date_after
from .model import Plan
from .reasons import is_shared
from .rebuild import Rebuilder
from .workspace import ACTIVE, DONE, NEW, WAITING, Workspace

STALE = "stale"


class BuildResult:
    """What a build did: its nodes (PlanNode or scheduler Node), the counts, how it ended.
    ``kept``: the jobs kept as the last complete run left them (incremental.py)."""

    def __init__(self, plan: Plan, workspace: Workspace, nodes: list, dry_run: bool,
                 counts: dict | None = None, interrupted: bool = False,
                 detached: bool = False, launcher_name: str = "local", t0: float = 0.0,
                 routes: dict | None = None, kept: int = 0):
        self.plan = plan
        self.workspace = workspace
        self.nodes = nodes
        self.dry_run = dry_run
        self.counts = {} if counts is None else counts
        self.interrupted = interrupted
        self.detached = detached
        self.launcher_name = launcher_name
        self.t0 = t0
        self.routes = {} if routes is None else routes      # task name -> launcher name
        self.kept = kept

    @property
    def ok(self) -> bool:
        if self.dry_run:
            return True
        ok = ("done", "queued", "running") if self.detached else ("done",)
        return not self.interrupted and all(n.status in ok for n in self.nodes)

    def to_json(self) -> dict:
        nodes = [self._node(n) for n in self.nodes]
        return self._document(nodes)

    def _node(self, n) -> dict:
        node = schema.node(n.job.id, n.job.task.name, n.dir, n.status, n.reasons,
                           [d.id for d in n.job.deps], n.job.tags, n.will_run)
        node["launcher"] = self.routes.get(n.job.task.name, self.launcher_name)
        return node

    def write_json(self, out, chunk: int = 2000) -> None:
        """``json.dumps(self.to_json())`` written to ``out`` (the same text), node by node:
        the nodes of a 100k-job plan never exist all at once as dicts."""
        import json
        doc = self._document(["\0nodes\0"])
        head, tail = json.dumps(doc).split('"\\u0000nodes\\u0000"')
        out.write(head)
        nodes = self.nodes
        dumps = json.dumps
        for i in range(0, len(nodes), chunk):
            part = ", ".join([dumps(self._node(n)) for n in nodes[i:i + chunk]])
            out.write(part if i == 0 else ", " + part)
        out.write(tail + "\n")

    def _document(self, nodes: list) -> dict:
        summary: dict = {}
        for n in self.nodes:
            summary[n.status] = summary.get(n.status, 0) + 1
        summary["jobs"] = len(self.nodes)
        summary["will_run" if self.dry_run else "ran"] = sum(
            1 for n in self.nodes if (n.will_run if self.dry_run else n.ran))
        if self.kept:
            summary["kept"] = self.kept
        if not self.dry_run:
            summary["failed"] = sum(1 for n in self.nodes if n.status == "failed")
            import resource
            import time as _time
            ru = resource.getrusage(resource.RUSAGE_SELF)
            summary["seconds"] = round(_time.monotonic() - self.t0, 3)
            summary["xpmbuild_cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 3)
        return {"experiment": self.plan.name, "workspace": self.workspace.root,
                "dry_run": self.dry_run, "nodes": nodes, "summary": summary}


def make_nodes(plan: Plan, ws: Workspace, targets=()) -> list:
    """The scheduler's nodes of the selected jobs (a run)."""
    from .scheduler import Node
    jobs = select(plan, targets)
    return [Node(j, ws.job_dir(j.task.name, j.id)) for j in jobs]


class PlanNode:
    """A job in a plan (a dry run): what the plan says of it, nothing a launch needs.
    Its folder is made from the workspace's jobs folder when asked for (a 100k-job plan
    would otherwise hold 100k path strings, ~15 MB)."""

    __slots__ = ("job", "jobs_root", "status", "reasons", "will_run", "state")
    ran = False                 # a plan runs nothing
    skipped = False
    error = None

    def __init__(self, job, jobs_root):
        self.job = job
        self.jobs_root = jobs_root      # shared by every node
        self.status = NEW
        self.reasons: list = ()         # Reason (reasons.py); a list once decided
        self.will_run = False
        self.state = None

    @property
    def dir(self) -> str:
        job = self.job
        return f"{self.jobs_root}/{job.task.name}/{job.id}"


def plan_nodes(plan: Plan, ws: Workspace, targets=()) -> list[PlanNode]:
    jobs = select(plan, targets)
    root = ws.jobs_root
    assert ws.job_dir("t", "i") == f"{root}/t/i"
    return [PlanNode(j, root) for j in jobs]


def dry_run(plan: Plan, ws: Workspace, nodes: list, rebuilder: Rebuilder, kept={},
            after=frozenset()):
    """Decide every node; ``kept``: {id: state.json's stat} of jobs unchanged since the
    last complete run (incremental.py), up to date, their records read only if a
    dependent needs them; ``after``: ids of jobs decided again only because jobs before
    them are (incremental.up_to_date_after)."""
    by_id = {n.job.id: n for n in nodes}
    folders = _FolderNames(ws)
    read_state = ws.read_state
    decide = rebuilder.decide
    root = plan.root
    words = _SharedWords()
    # a never-built job, nothing forced: it runs, for the one reason its neighbour or
    # "never built" gives (what rebuilder.decide says of it), and waits on what runs
    new_is_plain = rebuilder.untraced_new and not (rebuilder.force_all or rebuilder.force_tasks)
    neighbours = rebuilder.neighbours
    for n in nodes:
        job = n.job
        if job.id in kept:
            n.status = DONE
            continue
        where = n.dir
        state = read_state(where, job.id) if folders.may_exist(job.task.name, job.id) \
            else None
        if state is None and new_is_plain:
            waits = words.waits(job, by_id)
            why = neighbours.reason(job) if neighbours is not None else None
            n.status, n.will_run = NEW, True
            n.reasons = words.reasons([why] if why is not None else words.never_built, waits)
            continue
        n.state = state
        if job.id in after and up_to_date_after(job, state, kept,
                                                lambda d: by_id[d.id].state):
            waits = words.waits(job, by_id)
            n.status = WAITING if waits else DONE
            if waits:       # runs only if the dependency's outputs change (early cut-off)
                n.reasons, n.will_run = words.reasons((), waits), True
            continue
        if state is not None and state.get("status") in ACTIVE:
            live = _active_now(ws, n, state, by_id)
            if live is None:
                state = n.state          # it ended: judged on what it left (recorded later)
            elif live is not False:
                n.status, n.reasons = live
                continue
            else:
                state = n.state
        dep_states = {}
        waits = []
        for d in job.deps:
            dn = by_id.get(d.id)
            if dn is not None:
                if dn.will_run or dn.status in ACTIVE:
                    waits.append(words.waits_on(d))
                if dn.state is None and d.id in kept:
                    got = kept_outputs(n.state, d.id)
                    if got is not None:
                        dep_states[d.id] = got
                        continue
                    dn.state = read_state(dn.dir, d.id, kept[d.id])
                dep_states[d.id] = dn.state
            else:
                dep_states[d.id] = ws.read_state(ws.job_dir(d.task.name, d.id), d.id)
        # the decision itself is not kept: a plan launches nothing (a run decides again)
        decision = decide(job, where, state, dep_states, root)
        if decision.conflict:
            n.status, n.reasons = "failed", [decision.conflict]
            continue
        if state is None:
            n.status = NEW
        elif state.get("status") != DONE:
            n.status = state.get("status") if state.get("status") not in ACTIVE else "lost"
        elif decision.stale:
            n.status = STALE
        elif waits:
            n.status = WAITING
        else:
            n.status = DONE
        if decision.stale:
            n.reasons = words.reasons(decision.reasons, waits)
            n.will_run = True
        elif waits:
            # runs only if the dependency's outputs change (early cut-off)
            n.reasons = words.reasons((), waits)
            n.will_run = True


class _SharedWords:
    """The reasons of a plan, shared between the nodes that have the same: a 1M-job grid
    says "never built; waits on prepare/…" a million times over a few dependencies. Only
    lists made of shared reasons (the no-argument ones, reasons.py, and the "waits on"
    words of each dependency, made once) are shared; a plan's reasons are only read."""

    __slots__ = ("words", "lists", "never_built")

    def __init__(self):
        from .reasons import reason
        self.words: dict = {}           # dependency id -> its "waits on" words
        self.lists: dict = {}           # ids of shared reasons -> one list of them
        self.never_built = [reason("never_built")]

    def waits(self, job, by_id) -> list:
        """The "waits on" words of the job's dependencies that will run (or are running)."""
        return [self.waits_on(d) for d in job.deps
                if (dn := by_id.get(d.id)) is not None and (dn.will_run or dn.status in ACTIVE)]

    def waits_on(self, dep) -> str:
        w = self.words.get(dep.id)
        if w is None:
            w = self.words[dep.id] = f"waits on {dep.task.name}/{dep.id[:8]}…"
        return w

    def reasons(self, decided, waits) -> list:
        if not all(is_shared(r) for r in decided):
            return decided + waits if waits else decided
        key = tuple([id(r) for r in decided]) + tuple([id(w) for w in waits])
        got = self.lists.get(key)
        if got is None:
            got = self.lists[key] = list(decided) + waits
        return got


class _FolderNames:
    """Which job folders exist, listed once per task folder: a job whose folder is not
    there has no record, and its state.json need not be looked for (a plan of 1M new jobs
    makes no 1M failing stats). A folder made after the listing is seen as the plan saw
    the workspace a moment earlier: never built."""

    __slots__ = ("jobs_root", "names")

    def __init__(self, ws: Workspace):
        self.jobs_root = ws.jobs_root
        self.names: dict = {}           # task -> set of folder names, None: not listable

    def may_exist(self, task: str, job_id: str) -> bool:
        names = self.names.get(task, self)
        if names is self:
            try:
                names = set(os.listdir(f"{self.jobs_root}/{task}"))
            except FileNotFoundError:
                names = frozenset()
            except OSError:             # not a folder, no access...: look job by job
                names = None
            self.names[task] = names
        return names is None or job_id in names


def _few_left(nodes, kept) -> bool:
    """Whether so few jobs are left to decide (the others kept: incremental.py) that the
    index is better read entry by entry than whole."""
    return bool(kept) and len(nodes) - len(kept) <= 1000


def _active_now(ws, n, state, by_id):
    """A job recorded as queued/running, as things stand (recovery.py): (status, reasons)
    if it is still queued or running, None if it ended (``n.state`` then holds what
    recording it would give), False if it is gone without a result."""
    from .rebuild import record_end
    from .recovery import ENDED, GONE, assess
    a = assess(ws, n.dir, state)
    if a.verdict == ENDED:
        n.state = record_end(ws, n.dir, n.job.id, n.job.task.outputs, state, a.exit_code,
                             None, None, lambda d: by_id[d].state if d in by_id else None)
        return None
    if a.verdict == GONE:
        n.state = dict(state, status=a.status, reason=a.reason)
        return False
    return a.status, [a.reason + ": the next run waits for it"]


def build(plan: Plan, workspace: str | Workspace, targets=(), jobs: int | None = None,
          keep_going=False, force=(), force_all=False, dry_run_only=False, launcher=None,
          env=None, reporter=None, detach=False,
          settings: dict | None = None, on_interrupt=None,
          launcher_name: str | None = None, services=None, kept={}, after=frozenset(),
          record_current=False) -> BuildResult:
    """``launcher``: the run's launcher (default: local), ``launcher_name`` its name when
    none is made (a dry run); jobs are routed to others by the settings (routing.py).
    ``services``: a services.ServiceSession that starts the experiment's services when
    the first job starts and ends them with the run (without one, the services are
    recorded only, for ``xpmbuild services start``).
    ``kept``: {id: state.json's stat} of jobs found unchanged since the last complete run
    (incremental.py), up to date without a look at their records; ``after``: the jobs
    decided again only because jobs before them are; ``record_current``: the
    experiment's record is the one that run wrote, for this same plan (not written
    again)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    nodes = plan_nodes(plan, ws, targets) if dry_run_only else make_nodes(plan, ws, targets)
    settings = settings or {}
    default = launcher.name if launcher is not None else \
        (launcher_name or settings.get("launcher") or "local")
    routes = _routes(nodes, settings, default)
    unknown = [t for t in force if t not in plan.tasks]
    if unknown:
        raise ValueError(f"--force {unknown[0]}: no such task; tasks: "
                         + ", ".join(sorted(plan.tasks)))
    rebuilder = Rebuilder(ws, force_tasks=force, force_all=force_all, plan_ids=plan.jobs)
    if dry_run_only:
        _plan(plan, ws, nodes, rebuilder, kept, after)
        ws.save_index() if ws.exists() else None
        return BuildResult(plan, ws, nodes, dry_run=True, launcher_name=default,
                           routes=routes, kept=len(kept))
    from .scheduler import Interrupted, Scheduler
    if launcher is None:
        from .launchers.local import LocalLauncher
        launcher = LocalLauncher(slots=jobs)
    made = _make_routed(routes, settings, launcher, jobs)
    for one in [launcher] + list(made.values()):
        if detach and not one.can_detach:      # refused before anything is submitted
            raise ValueError(f"--detach needs a launcher that chains dependencies itself "
                             f"(slurm); {one.name} is a {one.type} launcher")
    if detach:
        _check_detach_limits(plan, ws, targets, routes, [launcher] + list(made.values()),
                             force, force_all)
    ws.create()
    ws.load_index(lazy=_few_left(nodes, kept))
    # the whole plan, whatever the targets: what `gc` and `jobs clean --orphans` keep
    if not record_current:
        ws.write_experiment(plan.name, list(plan.jobs.values()), background=True)
    if plan.services or os.path.isdir(os.path.join(ws.root, "experiments", plan.name,
                                                   "services")):
        from .servicefolder import record_services
        record_services(ws.root, plan.name, plan)
    from .environment import Recorder
    environment = Recorder(ws.root, plan.name, os.path.dirname(os.path.abspath(plan.file)))
    launcher.bind(ws.root)
    for one in made.values():
        one.bind(ws.root)

    def launchers(name):        # for jobs an earlier run started on another launcher
        from .launchers import make_launcher
        return make_launcher(name, settings)

    by_task = {task: made[name] for task, name in routes.items() if name in made}
    route = (lambda job: by_task.get(job.task.name)) if by_task else None

    scheduler = Scheduler(ws, rebuilder, launcher, nodes, plan.root, keep_going=keep_going,
                          max_slots=jobs, env=env, reporter=reporter, detach=detach,
                          launchers=launchers, on_interrupt=on_interrupt, route=route,
                          on_first_start=services.start_all if services is not None
                          and plan.services else None, kept=kept, after=after)
    import time
    result = BuildResult(plan, ws, nodes, dry_run=False, detached=detach,
                         launcher_name=launcher.name, t0=time.monotonic(), routes=routes,
                         kept=len(kept))
    try:
        scheduler.run()
    except Interrupted:
        result.interrupted = True
    finally:
        result.counts = scheduler.counts
        if services is not None:
            services.end()
        environment.finish()
        ws.close()
        launcher.close()
        for one in made.values():
            one.close()
    return result


def _plan(plan, ws, nodes, rebuilder, kept={}, after=frozenset()):
    """Decide ``nodes`` (PlanNode) as ``xpmbuild plan`` does, running nothing; a workspace
    that does not exist yet is not made."""
    if ws.exists():
        ws.load_index(lazy=_few_left(nodes, kept))
    else:
        from .hashing import HashCache
        ws.hashes, ws._rows = HashCache(), {}
    rebuilder.untraced_new = True
    dry_run(plan, ws, nodes, rebuilder, kept, after)


def _check_detach_limits(plan, ws, targets, routes, launchers, force, force_all):
    """``--detach`` submits every stale job at once, and ``max_jobs`` says how many may be
    queued or running at once on a launcher (the rest wait in xpmbuild, which a detached
    run leaves): a detached run that would submit more than that is refused (a
    ValueError, exit 2) before anything is submitted. The count is a plan's."""
    limits = {one.name: int(one.scheduling["max_jobs"]) for one in launchers
              if (one.scheduling or {}).get("max_jobs")}
    if not limits:
        return
    nodes = plan_nodes(plan, ws, targets)
    _plan(plan, ws, nodes, Rebuilder(ws, force_tasks=force, force_all=force_all,
                                     plan_ids=plan.jobs))
    count: dict = {}
    for n in nodes:
        if n.will_run:
            name = routes.get(n.job.task.name)
            count[name] = count.get(name, 0) + 1
    for name, limit in sorted(limits.items()):
        if count.get(name, 0) > limit:
            raise ValueError(f"--detach would submit {count[name]} jobs at once to launcher "
                             f"{name}, whose max_jobs is {limit}: run it attached (the rest "
                             f"wait in xpmbuild), select fewer jobs, or raise max_jobs")


def _routes(nodes, settings: dict, default: str) -> dict:
    """{task name: launcher name} of the tasks of ``nodes`` (routing.py); an unknown
    launcher is a ValueError naming the setting that chose it."""
    from .routing import Router
    from .settings import SettingsError, launcher_config
    router = Router(settings, default)
    out: dict = {}
    checked = {default}
    for n in nodes:
        task = n.job.task
        if task.name in out:
            continue
        name, where = router.choose(task)
        if name not in checked:
            try:
                launcher_config(settings, name)
            except SettingsError as e:
                raise ValueError(f"{where}: {e}") from None
            checked.add(name)
        out[task.name] = name
    return out


def _make_routed(routes: dict, settings: dict, launcher, jobs) -> dict:
    """The launchers other than the run's own that the routes name, made once each."""
    from .launchers import make_launcher
    from .settings import SettingsError
    made = {}
    for name in sorted(set(routes.values()) - {launcher.name}):
        try:
            made[name] = make_launcher(name, settings, jobs=jobs)
        except SettingsError as e:
            raise ValueError(str(e)) from None
    return made


def tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
