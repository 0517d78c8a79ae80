"""What the pages show of the job table beyond its rows: the experiments with their
counts, and an experiment's task graph (one node per task, readable at 100k jobs)."""
from __future__ import annotations


def experiments(table) -> list[dict]:
    out = []
    for name in sorted(table.exps):
        rows = table.experiment_rows(name)
        counts: dict = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        updated = max([table.exps[name].mtime] + [r.mtime for r in rows])
        out.append({"name": name, "jobs": len(rows), "counts": counts,
                    "updated": round(updated, 3) if updated else None})
    return out


def graph(table, name: str | None) -> dict:
    """One node per task: its counts by state and the tasks it depends on."""
    rows = table.experiment_rows(name)
    tasks: dict = {}
    for r in rows:
        t = tasks.setdefault(r.task, {"task": r.task, "counts": {}, "deps": set()})
        t["counts"][r.status] = t["counts"].get(r.status, 0) + 1
        for d in r.deps or table.planned_deps(r.id):
            dep = table.rows.get(d)
            if dep is not None and dep.task != r.task:
                t["deps"].add(dep.task)
    return {"experiment": name,
            "tasks": [dict(t, deps=sorted(t["deps"])) for _, t in sorted(tasks.items())]}
