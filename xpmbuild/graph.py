"""The job graph: targets and tag filters, and exports (text, DOT, Mermaid, JSON).

Jobs live in the plan's dict (creation order is already a topological order, since a
job can only depend on jobs made before it), each with its dependencies. Selecting
targets walks those lists; networkx is not used on the paths a run takes (its import
costs 0.1 s and a graph of 50k jobs 0.3 s, more than the walk): ``to_networkx`` gives
the graph to tests, benchmarks and a user's own analyses.
"""
from __future__ import annotations

import json
import re

from .model import Job, Plan


class TargetError(ValueError):
    """A target on the command line that names no task or has a malformed filter."""


_TARGET = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*$")


def parse_assignments(items, what: str, strip=False, error=ValueError) -> dict:
    """``["a=1", "b=x=y"]`` → ``{"a": "1", "b": "x=y"}``: -D values, --tag and target
    filters. ``what`` names the option in the error (``-D a: expected NAME=VALUE``)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise error(f"{what} {item.strip()}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip() if strip else v
    return out


def format_tags(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def parse_target(text: str):
    """``evaluate[lr=0.001,seed=1]`` → ("evaluate", {"lr": "0.001", "seed": "1"})."""
    m = _TARGET.match(text)
    if not m:
        raise TargetError(f"invalid target {text!r}: expected TASK or TASK[tag=value,...]")
    parts = [p for p in (m.group(2) or "").split(",") if p.strip()]
    for p in parts:
        if "=" not in p:
            raise TargetError(f"invalid tag filter {p.strip()!r} in {text!r}: "
                              "expected name=value")
    return m.group(1), parse_assignments(parts, "", strip=True)


def tag_matches(value, wanted: str) -> bool:
    """Whether a tag's value is the text of a filter (``lr=0.001`` matches 1e-3)."""
    if str(value) == wanted:
        return True
    if isinstance(value, bool):
        return wanted in (str(value), str(value).lower())
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return False


def select(plan: Plan, targets) -> list[Job]:
    """The jobs the targets name and every job they need, in dependency order.

    No targets: every job of the plan.
    """
    if not targets:
        return list(plan.jobs.values())
    wanted: dict[str, Job] = {}
    for text in targets:
        task, filters = parse_target(text)
        if task not in plan.tasks:
            known = ", ".join(sorted(plan.tasks)) or "(none)"
            raise TargetError(f"unknown task {task!r} in target {text!r}; tasks: {known}")
        for job in plan.jobs.values():
            if job.task.name == task and all(
                    k in job.tags and tag_matches(job.tags[k], v) for k, v in filters.items()):
                wanted[job.id] = job
    # close over dependencies
    needed: set[str] = set()
    stack = list(wanted.values())
    while stack:
        job = stack.pop()
        if job.id in needed:
            continue
        needed.add(job.id)
        stack.extend(job.deps)
    return [j for j in plan.jobs.values() if j.id in needed]


def to_networkx(jobs):
    """A networkx DiGraph of job ids, an edge from each dependency to its dependent."""
    import gc
    import networkx as nx
    gc_was_enabled = gc.isenabled()
    gc.disable()        # many new dicts, no cycles: skip the collector's rescans
    try:
        g = nx.DiGraph()
        g.add_nodes_from(j.id for j in jobs)
        g.add_edges_from((d.id, j.id) for j in jobs for d in j.deps)
    finally:
        if gc_was_enabled:
            gc.enable()
    return g


def _label(job: Job) -> str:
    tags = format_tags(job.tags)
    return f"{job.short}" + (f" [{tags}]" if tags else "")


def _dot_escape(text: str) -> str:
    """Text inside a DOT double-quoted string (backslashes first, then quotes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def export(jobs: list[Job], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"nodes": [
            {"id": j.id, "task": j.task.name, "deps": [d.id for d in j.deps], "tags": j.tags}
            for j in jobs]}, indent=1)
    if fmt == "dot":
        out = ["digraph xpm {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for j in jobs:
            label = _dot_escape(j.short) + ("\\n" + _dot_escape(format_tags(j.tags))
                                            if j.tags else "")
            out.append(f'  "{j.id}" [label="{label}"];')
        for j in jobs:
            for d in j.deps:
                out.append(f'  "{d.id}" -> "{j.id}";')
        out.append("}")
        return "\n".join(out)
    if fmt == "mermaid":
        out = ["graph LR"]
        for j in jobs:
            label = j.short + ("<br/>" + format_tags(j.tags) if j.tags else "")
            label = label.replace('"', "'").replace("\n", " ")
            out.append(f'  j{j.id[:16]}["{label}"]')
        for j in jobs:
            for d in j.deps:
                out.append(f"  j{d.id[:16]} --> j{j.id[:16]}")
        return "\n".join(out)
    if fmt == "text":
        out = []
        for j in jobs:
            deps = ", ".join(d.short for d in j.deps)
            out.append(_label(j) + (f"  <- {deps}" if deps else ""))
        return "\n".join(out)
    raise ValueError(f"unknown format {fmt!r}")
