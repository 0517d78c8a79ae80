"""The rebuilder: fingerprints, staleness with reasons, early cut-off (verifying traces).

A job's *trace* is what its build depended on: the hash of its rendered action (for a
``python`` action, the callable and its module file's content), the content hash of every
``path`` input, and the recorded output hashes of every dependency. Its *fingerprint* is a
hash of its identity and trace. A build records both; a job is up to date when it built
successfully, its outputs are unchanged, and the fingerprint computed now is the same.
Because dependencies enter through their output *hashes*, a dependency rebuilt to
identical outputs leaves its dependents up to date (early cut-off).

The rebuilder decides one job at a time; the scheduler decides the order.
"""
from __future__ import annotations

import os

import xxhash

from . import actions
from . import model as M
from .code import CodeFinder, code_hash
from .neighbours import Neighbours
from .reasons import DEPENDENCY_KINDS, Reason, reason
from .workspace import DONE, Workspace


_xxh128_hex = xxhash.xxh3_128_hexdigest
PENDING = object()   # a dependency's state while it is submitted but not built (detach)


def fingerprint_of(job_id: str, trace: dict) -> str:
    """The fingerprint: a hash of the identity and the trace (its pieces joined, then hashed
    at once: the same digest as hashing them one after the other)."""
    parts = [job_id.encode(), b"\0a", trace["action"].encode()]
    add = parts.append
    inputs = trace["inputs"]
    if inputs:
        for p in sorted(inputs):
            add(b"\0i" + p.encode("utf-8", "surrogateescape") + b"=" + str(inputs[p]).encode())
    deps = trace["deps"]
    if deps:
        for d in sorted(deps):
            add(b"\0d" + d.encode())
            outs = deps[d]
            if outs:
                for k, v in outs.items():
                    add(b"\0" + k.encode() + b"=" + str(v).encode())
    code = trace.get("code")
    if code:            # absent when a task has no code files: such fingerprints are as before
        for p in sorted(code):
            add(b"\0c" + p.encode("utf-8", "surrogateescape") + b"=" + str(code[p]).encode())
    return _xxh128_hex(b"".join(parts))


def complete_trace(job_id: str, trace: dict, dep_state) -> tuple[dict, str]:
    """Fill in the outputs of dependencies that were pending when the job was submitted.

    ``dep_state(dep_id)`` gives a dependency's recorded state. Used when a detached job
    is recorded: its dependencies ran (afterok) before it, so their outputs now are the
    ones it read.
    """
    deps = dict(trace.get("deps") or {})
    for d, outs in deps.items():
        if outs is None:
            st = dep_state(d) or {}
            if st.get("status") == DONE:       # else still pending: filled in later
                deps[d] = {k: v[3] for k, v in sorted((st.get("outputs") or {}).items())}
    trace = dict(trace, deps=deps)
    return trace, fingerprint_of(job_id, trace)


class Decision:
    """Whether a job must run (``stale``), why (``reasons``: reasons.py), what it is built
    from (``fingerprint``; ``trace`` and the rendered ``action`` of a job that will be
    launched, None for one up to date or never built in a plan), the dependencies it waits
    on (``waits``: submitted, not built yet: it runs after them), and a ``conflict`` (its
    folder is another project's job: never build it)."""

    __slots__ = ("stale", "reasons", "fingerprint", "trace", "action", "conflict", "waits")

    def __init__(self, stale, reasons, fingerprint, trace, action, conflict=None, waits=()):
        self.stale = stale
        self.reasons = reasons
        self.fingerprint = fingerprint
        self.trace = trace
        self.action = action
        self.conflict = conflict
        self.waits = list(waits) if waits else ()


def input_paths(job: M.Job) -> list[str]:
    """Absolute paths of the job's ``path`` inputs (not options, not other jobs' outputs)."""
    out: list[str] = []
    options = job.task
    for name, value in job.values.items():
        if options.params[name].option:
            continue
        _collect_paths(value, out)
    return out


def _collect_paths(value, out):
    t = type(value)
    if t is M.PathValue:
        out.append(value.path)
    elif t is list:
        for v in value:
            _collect_paths(v, out)
    elif t is dict:
        for v in value.values():
            _collect_paths(v, out)
    elif t is M.ConfigValue:
        for v in value.values.values():
            _collect_paths(v, out)


def short(job_id: str) -> str:
    return job_id[:8] + "…"


class Rebuilder:
    def __init__(self, workspace: Workspace, force_tasks=(), force_all=False, plan_ids=None):
        """``plan_ids``: the ids of the plan's jobs; given, a new job's reason names the
        nearest job of its task that the plan replaces (neighbours.py)."""
        self.ws = workspace
        self.neighbours = Neighbours(workspace.jobs_root, plan_ids) \
            if plan_ids is not None else None
        self.force_tasks = set(force_tasks)
        self.force_all = force_all
        self._input_memo: dict[str, str | None] = {}   # one stat per input path per run
        self._code_memo: dict[str, str | None] = {}
        self._options_memo: dict[int, bool] = {}      # id(task) -> whether it has options
        self.code = CodeFinder()
        # a plan (dry run): a never-built job gets no trace, fingerprint or rendered action
        # (only a launch needs them, and a run decides again before launching)
        self.untraced_new = False

    def display_path(self, path: str, root: str) -> str:
        rel = os.path.relpath(path, root)
        return path if rel.startswith("..") else rel

    # ------------------------------------------------------------------ traces
    def input_hash(self, path: str):
        memo = self._input_memo
        if path in memo:
            return memo[path]
        h = self.ws.hashes.path_hash(path)
        memo[path] = h
        return h

    def forget_inputs(self):
        self._input_memo.clear()

    def code_hashes(self, task) -> dict:
        """{code file: content hash} of a task (code.py), hashed once per task and run (the
        jobs of a task share it)."""
        memo = self._code_memo
        out = memo.get(id(task))
        if out is None:
            out = memo[id(task)] = {}
            for p in self.code.files(task):
                if p not in memo:
                    memo[p] = code_hash(self.ws.hashes, p)
                out[p] = memo[p]
        return out

    def trace(self, job: M.Job, dep_states: dict) -> tuple[dict, str, str]:
        """(trace, rendered action, fingerprint) of ``job`` as things are now."""
        task = job.task
        if task.action_kind == "python":
            action = actions.render(job)
            # the interpreter path is not part of the fingerprint; the module's content is
            # (with the code it imports: trace["code"])
            action_key = f"python:{task.action}"
        else:
            action = action_key = actions.render_shell(job)
            if self._has_options(task):
                action_key = actions.render_shell(job, mask_options=True)
        inputs = {}
        paths = input_paths(job)
        if paths:
            memo = self._input_memo
            for p in paths:
                h = memo.get(p, memo)
                if h is memo:
                    h = memo[p] = self.ws.hashes.path_hash(p)
                inputs[p] = h
        deps = {}
        for d in job.deps:
            st = dep_states.get(d.id)
            if st is PENDING:
                deps[d.id] = None          # submitted, not built yet (detached runs)
                continue
            outs = (st or {}).get("outputs")
            deps[d.id] = {k: v[3] for k, v in sorted(outs.items())} if outs else {}
        trace = {"action": _xxh128_hex(action_key.encode()), "inputs": inputs, "deps": deps}
        code = self.code_hashes(task)
        if code:
            trace["code"] = code
        return trace, action, fingerprint_of(job.id, trace)

    def _has_options(self, task) -> bool:
        memo = self._options_memo
        has = memo.get(id(task))
        if has is None:
            has = memo[id(task)] = task.has_options
        return has

    # ------------------------------------------------------------------ decisions
    def decide(self, job: M.Job, job_dir: str, state: dict | None, dep_states: dict,
               root: str) -> Decision:
        """The decision on one job from its recorded state and its dependencies' states
        (PENDING for a dependency submitted but not built: the job then waits on it)."""
        d = self._decide(job, job_dir, state, dep_states, root)
        waits = [dep for dep in job.deps if dep_states.get(dep.id) is PENDING]
        if waits and not d.conflict:
            d.waits = waits
            d.stale = True
            d.reasons = [r for r in d.reasons if r.kind not in DEPENDENCY_KINDS] + [
                reason("waits_on_submitted", job=f"{w.task.name}/{short(w.id)}") for w in waits]
        elif not d.stale and not d.conflict:
            # up to date: nothing launches it, so neither its trace nor its rendered text
            # is kept (a plan of 1M jobs would hold them all)
            d.trace = d.action = None
        return d

    def _decide(self, job, job_dir, state, dep_states, root) -> Decision:
        reasons = []
        if self.force_all:
            reasons.append(reason("forced", flag="--force-all"))
        elif job.task.name in self.force_tasks:
            reasons.append(reason("forced", flag=f"--force {job.task.name}"))
        if state is None and self.untraced_new:
            # a plan only says why: a job never built is stale whatever its fingerprint
            why = self.neighbours.reason(job) if self.neighbours is not None else None
            reasons.append(why or reason("never_built"))
            return Decision(True, reasons, None, None, None)
        trace, action, fingerprint = self.trace(job, dep_states)
        if state is None:
            why = self.neighbours.reason(job) if self.neighbours is not None else None
            reasons.append(why or reason("never_built"))
            return Decision(True, reasons, fingerprint, trace, action)
        conflict = definition_conflict(job, state, trace)
        if conflict:
            return Decision(False, [conflict], fingerprint, trace, action, conflict)
        status = state.get("status")
        if status != DONE:
            reasons.append(reason("last_build", words=last_build_words(state)))
            return Decision(True, reasons, fingerprint, trace, action)
        reasons.extend(self.output_reasons(job, job_dir, state))
        recorded_fp, recorded_trace = state.get("fingerprint"), state.get("trace") or {}
        if any(v is None for v in (recorded_trace.get("deps") or {}).values()):
            # recorded before its dependencies' outputs were known (a detached run): they
            # ran before it (afterok), so their recorded outputs are the ones it read
            recorded_trace, recorded_fp = complete_trace(
                job.id, recorded_trace,
                lambda d: dep_states.get(d) if dep_states.get(d) is not PENDING else None)
        if recorded_fp != fingerprint:
            reasons.extend(self.trace_reasons(recorded_trace, trace, job, root))
            pending = any(v is None for v in trace["deps"].values())
            if not pending and all(r.kind == "forced" for r in reasons):
                reasons.append(reason("fingerprint_changed"))
        return Decision(bool(reasons), reasons, fingerprint, trace, action)

    def output_reasons(self, job: M.Job, job_dir: str, state: dict) -> list[Reason]:
        recorded = state.get("outputs") or {}
        hashes = self.ws.hashes
        reasons = []
        for name, rel in job.task.outputs.items():
            path = job_dir + "/" + rel
            rec = recorded.get(name)
            sig = hashes.signature(path)
            if sig is None and not os.path.isdir(path):
                reasons.append(reason("output_missing", path=rel))
                continue
            if rec is None:
                reasons.append(reason("output_unrecorded", path=rel))
                continue
            if sig is not None and tuple(rec[:3]) == sig:
                continue
            if hashes.path_hash(path, follow=False) != rec[3]:
                reasons.append(reason("output_changed", path=rel))
        return reasons

    def trace_reasons(self, old: dict, new: dict, job: M.Job, root: str) -> list[Reason]:
        reasons = []
        if old.get("action") != new["action"]:
            reasons.append(reason("command_changed") if job.task.action_kind == "shell"
                           else reason("python_action_changed", action=job.task.action))
        old_code, new_code = old.get("code") or {}, new.get("code") or {}
        for p, h in new_code.items():
            shown = self.display_path(p, root)
            if p not in old_code:
                reasons.append(reason("code_untracked" if "code" not in old else "code_new",
                                      path=shown))
            elif h is None:
                reasons.append(reason("code_missing", path=shown))
            elif old_code[p] != h:
                reasons.append(reason("code_changed", path=shown))
        for p in old_code:
            if p not in new_code:
                reasons.append(reason("code_unused", path=self.display_path(p, root)))
        old_in, new_in = old.get("inputs") or {}, new["inputs"]
        for p, h in new_in.items():
            shown = self.display_path(p, root)
            if p not in old_in:
                reasons.append(reason("input_new", path=shown))
            elif h is None:
                reasons.append(reason("input_missing", path=shown))
            elif old_in[p] != h:
                reasons.append(reason("input_changed", path=shown))
        old_deps, new_deps = old.get("deps") or {}, new["deps"]
        names = {d.id: d for d in job.deps}
        for d, outs in new_deps.items():
            dep = names.get(d)
            label = f"{dep.task.name}/{short(d)}" if dep else short(d)
            if outs is None:
                continue        # pending: the caller says it waits on it
            if d not in old_deps:
                reasons.append(reason("dependency_new", job=label))
            elif old_deps[d] != outs:
                old_outs = old_deps[d] or {}
                changed = sorted(k for k in set(outs) | set(old_outs)
                                 if outs.get(k) != old_outs.get(k))
                reasons.append(reason("dependency_changed", job=label, outputs=", ".join(changed)))
        return reasons


def definition_conflict(job: M.Job, state: dict, trace: dict) -> Reason | None:
    """Whether the job's folder holds the job of a same-named task of another project
    (another .xpm file that still exists) with a different action: building it here would
    overwrite that project's job, and that project would overwrite it back."""
    other = state.get("definition")
    if not other or other == job.task.file or not os.path.exists(other):
        return None
    if (state.get("trace") or {}).get("action") == trace["action"]:
        return None         # the same action: the same job, shared
    return reason("conflict", task=job.task.name, other=other, this=job.task.file)


def last_build_words(state: dict) -> str:
    status = state.get("status")
    reason = state.get("reason")
    if status == "failed":
        code = state.get("exit_code")
        if reason:
            return f"last build failed ({reason})"
        return f"last build failed (exit {code})" if code is not None else "last build failed"
    if status == "cancelled":
        return "last build was cancelled" + (f" ({reason})" if reason else "")
    if status == "lost":
        return "last build was lost" + (f" ({reason})" if reason else "")
    if status in ("running", "queued"):
        return "last build did not finish"
    return f"last build ended as {status}"


def record_end(ws: Workspace, job_dir: str, job_id: str, outputs: dict, state: dict | None,
               exit_code, reason=None, status=None, dep_state=None) -> dict:
    """The state to record when a job ended: checks and hashes its outputs on success.

    ``outputs`` maps output names to paths relative to the job folder. A job whose
    trace still has pending dependencies (it was submitted detached) gets their outputs
    from ``dep_state(dep_id)`` and its fingerprint recomputed. Returns the new state; the
    caller writes it.
    """
    from .workspace import CANCEL_FILE, CANCELLED, FAILED, LOST, now
    if status is None and exit_code != 0 and os.path.exists(os.path.join(job_dir, CANCEL_FILE)):
        status, reason = CANCELLED, "killed (xpmbuild jobs kill)"      # jobs.kill's mark
    base = dict(state or {})
    base.update({"ended": now(), "exit_code": exit_code})
    base.pop("reason", None)
    if status in (CANCELLED, LOST, FAILED) and (status != FAILED or exit_code in (None, 0)
                                                or reason):
        base.update(status=status, reason=reason or status)
        return base
    if exit_code != 0:
        base.update(status=FAILED, reason=reason or (f"exit code {exit_code}"
                                                     if exit_code is not None else "failed"))
        return base
    hashes = ws.hashes
    recorded, missing = {}, []
    from .jobfolder import escaping_output
    for name, rel in outputs.items():
        p = os.path.join(job_dir, rel)
        outside = escaping_output(job_dir, rel)
        if outside is not None:
            base.update(status=FAILED, reason=f"output {rel} is a link leading outside the job "
                                              f"folder (to {outside}): outputs must be inside it")
            return base
        h = hashes.path_hash(p, follow=False)
        if h is None:
            missing.append(rel)
            continue
        sig = hashes.signature(p) or (None, None, None)
        recorded[name] = [sig[0], sig[1], sig[2], h]
    if missing:
        base.update(status=FAILED, reason="missing output " + ", ".join(missing))
        return base
    base.update(status=DONE, outputs=recorded)
    trace = base.get("trace")
    if trace and any(v is None for v in (trace.get("deps") or {}).values()):
        lookup = dep_state or (lambda d: None)
        base["trace"], base["fingerprint"] = complete_trace(job_id, trace, lookup)
    if not base.get("fingerprint"):
        base.update(status=LOST, reason="no fingerprint was recorded when it started")
    return base
