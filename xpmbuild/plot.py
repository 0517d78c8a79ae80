"""Plots of results (matplotlib, the optional extra ``plot``: ``pip install 'xpmbuild[plot]'``).

``plot(table, "lr:accuracy", "out.png")``: X is a tag or a field, Y a numeric field. Rows
are drawn as one line per value of the other tags (a legend names them); a table made by
``by(...)`` is drawn as its means with error bars (the standard deviations).
"""
from __future__ import annotations

import math


class PlotError(ValueError):
    pass


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def plot(table, spec: str, out: str, title: str | None = None) -> str:
    if ":" not in spec:
        raise PlotError(f"--plot {spec}: expected X:Y (a tag or field, then a field)")
    x, y = (s.strip() for s in spec.split(":", 1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'xpmbuild[plot]'") from None
    cols = table.columns
    aggregated = f"{y}.mean" in cols
    ycol = f"{y}.mean" if aggregated else y
    for c in (x, ycol):
        if c not in cols:
            raise PlotError(f"--plot {spec}: no column {c!r}; columns: " + ", ".join(cols))
    others = [t for t in table.tags if t != x]
    series: dict = {}
    for r in table.rows:
        if not _num(r.get(ycol)) or r.get(x) is None:
            continue
        key = tuple((t, r.get(t)) for t in others)
        series.setdefault(key, []).append(r)
    if not series:
        raise PlotError(f"--plot {spec}: no row has a number in {ycol!r}")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    numeric_x = all(_num(r.get(x)) for rows in series.values() for r in rows)
    for key, rows in sorted(series.items(), key=lambda kv: str(kv[0])):
        rows = sorted(rows, key=lambda r: r[x] if numeric_x else str(r[x]))
        xs = [r[x] if numeric_x else str(r[x]) for r in rows]
        ys = [r[ycol] for r in rows]
        label = ", ".join(f"{t}={v}" for t, v in key) or None
        if aggregated:
            errs = [r.get(f"{y}.std") or 0.0 for r in rows]
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
        else:
            ax.plot(xs, ys, marker="o", label=label)
    if numeric_x:
        positive = all(r[x] > 0 for rows in series.values() for r in rows)
        values = sorted({r[x] for rows in series.values() for r in rows})
        if positive and len(values) > 2 and values[-1] / values[0] >= 100:
            ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y + (" (mean ± std)" if aggregated else ""))
    ax.set_title(title or f"{table.task}: {y} by {x}")
    ax.grid(True, alpha=0.3)
    if any(k for k in series):
        ax.legend(title=", ".join(others) if others else None, fontsize="small")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
