"""Results across tagged jobs: one row per done job (its id, tags, then the fields of one
of its outputs), grouped and aggregated by tags, exported (CSV, Markdown, JSON, pandas).

    table = ws.results("evaluate", experiment="sweep", read="metrics")
    table.rows            # [{"id": ..., "lr": 0.001, "seed": 0, "accuracy": 0.91}, ...]
    table.by("lr")        # one row per lr: accuracy.mean, accuracy.std, n
    table.missing         # jobs of the selection that are not done, with why

DVC's ``exp show`` is the anchor: the parameters that vary (tags) beside the metrics.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os


def read_file(path):
    """A result file parsed: .json → object, .csv/.tsv → list of dicts, a file holding one
    number → that number, else its text."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return sorted(os.listdir(path))
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    ext = os.path.splitext(path)[1].lower()
    if ext in (".json", ".jsonl") or (ext == "" and text.lstrip()[:1] in "{["):
        try:
            return json.loads(text)
        except ValueError:
            if ext == ".jsonl":
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            if ext == ".json":
                raise
    if ext in (".csv", ".tsv"):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if ext == ".tsv" else ","))
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


def flatten(value, prefix: str, out: dict):
    """Nested dicts as dotted keys (``{"a": {"b": 1}}`` → ``a.b``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Results:
    """A table of results: ``rows`` (dicts), ``columns``, and the ``missing`` jobs."""

    def __init__(self, rows: list[dict], tags: list[str], missing=None, task: str = ""):
        self.rows = rows
        self.tags = tags                    # the tag columns, in order
        self.missing = list(missing or [])  # (Job, why)
        self.task = task

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def columns(self) -> list[str]:
        cols: dict = {}
        for r in self.rows:
            for k in r:
                cols.setdefault(k, None)
        return list(cols)

    def fields(self) -> list[str]:
        """The non-tag, non-id columns."""
        return [c for c in self.columns if c not in self.tags and c != "id"]

    def where(self, **tags) -> Results:
        """The rows whose tags match (``where(lr=0.001)``; values compared as text too)."""
        from .graph import tag_matches
        rows = [r for r in self.rows
                if all(k in r and tag_matches(r[k], str(v)) for k, v in tags.items())]
        return Results(rows, self.tags, self.missing, self.task)

    def by(self, *tags: str) -> Results:
        """One row per value of ``tags``: ``FIELD.mean``, ``FIELD.std`` of each numeric
        field over the other tags, and ``n``, the number of rows aggregated."""
        for t in tags:
            if t not in self.tags:
                raise KeyError(f"no tag {t!r}; tags: " + (", ".join(self.tags) or "(none)"))
        groups: dict = {}
        for r in self.rows:
            groups.setdefault(tuple(r.get(t) for t in tags), []).append(r)
        numeric = [f for f in self.fields() if any(_number(r.get(f)) for r in self.rows)]
        out = []
        for key in sorted(groups, key=_sort_key):
            rows = groups[key]
            row = dict(zip(tags, key))
            for f in numeric:
                values = [r[f] for r in rows if _number(r.get(f))]
                if values:
                    mean = sum(values) / len(values)
                    var = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)
                           if len(values) > 1 else 0.0)
                    row[f"{f}.mean"] = mean
                    row[f"{f}.std"] = math.sqrt(var)
            row["n"] = len(rows)
            out.append(row)
        return Results(out, list(tags), self.missing, self.task)

    # ------------------------------------------------------------------ exports
    def to_csv(self, path=None) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore",
                           lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _cell(v) for k, v in r.items()})
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return text

    def to_markdown(self) -> str:
        cols = self.columns
        lines = ["| " + " | ".join(_md(c) for c in cols) + " |",
                 "|" + "|".join("---" for _ in cols) + "|"]
        for r in self.rows:
            lines.append("| " + " | ".join(_md(_cell(r.get(c, ""))) for c in cols) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {"task": self.task, "tags": self.tags, "columns": self.columns, "rows": self.rows,
                "missing": [{"id": j.id, "task": j.task, "status": j.status, "why": why}
                            for j, why in self.missing]}

    def to_pandas(self):
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame(self.rows, columns=self.columns)

    def _repr_html_(self):
        from .notebook import table_html
        return table_html(self.columns, [[_cell(r.get(c, "")) for c in self.columns]
                                         for r in self.rows],
                          caption=f"{len(self.rows)} rows" + (
                              f", {len(self.missing)} missing" if self.missing else ""))

    def __repr__(self):
        return f"<Results {self.task}: {len(self.rows)} rows, {len(self.missing)} missing>"


def _sort_key(key):
    return tuple((0, v) if _number(v) else (1, str(v)) for v in key)


def _cell(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return "" if v is None else v


def _md(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def collect(jobs, read: str | None = None) -> Results:
    """The results table of ``jobs`` (Job objects): done ones are rows, others missing."""
    rows, missing, tags = [], [], {}
    task = ""
    for job in jobs:
        task = task or job.task
        if job.status != "done":
            missing.append((job, job.status))
            continue
        try:
            name = job.output_name(read)
            value = job.read(name)
        except (KeyError, OSError, ValueError) as e:
            missing.append((job, f"cannot read its output: {e}"))
            continue
        row = {"id": job.id}
        for k, v in job.tags.items():
            tags.setdefault(k, None)
            row[k] = v
        if isinstance(value, dict):
            flatten(value, "", row)
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            flatten(value[-1], "", row)         # a table: its last row (the final epoch)
        else:
            row[name] = value
        rows.append(row)
    return Results(rows, list(tags), missing, task)
