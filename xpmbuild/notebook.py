"""Jupyter views: HTML tables for plans, runs, job lists and results (``_repr_html_``),
and a run's live progress in a notebook cell. User text is always escaped."""
from __future__ import annotations

import html

STATUS_COLOUR = {"done": "#1a7f37", "failed": "#cf222e", "running": "#0969da",
                 "queued": "#0969da", "new": "#9a6700", "stale": "#9a6700", "waiting": "#6e7781",
                 "cancelled": "#8250df", "lost": "#8250df"}

_STYLE = ("<style>.xpm-t{border-collapse:collapse;font:12px/1.4 system-ui,sans-serif}"
          ".xpm-t th,.xpm-t td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;"
          "vertical-align:top}.xpm-t caption{text-align:left;font-weight:600;padding:4px 0}"
          "</style>")


def table_html(columns, rows, caption="", status_column=None, limit=500) -> str:
    e = html.escape
    out = [_STYLE, '<table class="xpm-t">']
    if caption:
        out.append(f"<caption>{e(caption)}</caption>")
    out.append("<tr>" + "".join(f"<th>{e(str(c))}</th>" for c in columns) + "</tr>")
    for row in rows[:limit]:
        cells = []
        for i, v in enumerate(row):
            text = e(str(v))
            if i == status_column:
                text = f'<span style="color:{STATUS_COLOUR.get(str(v), "inherit")}">{text}</span>'
            cells.append(f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if len(rows) > limit:
        out.append(f'<tr><td colspan="{len(columns)}">… and {len(rows) - limit} more</td></tr>')
    out.append("</table>")
    return "".join(out)


def _tags(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def jobs_html(jobs, caption="") -> str:
    rows = [[f"{j.task}/{j.short_id}", j.status, _tags(j.tags), "; ".join(map(str, j.reasons))]
            for j in jobs]
    return table_html(["job", "status", "tags", "why"], rows, caption or f"{len(rows)} jobs",
                      status_column=1)


def job_html(job) -> str:
    rows = [["folder", str(job.dir)], ["status", job.status], ["tags", _tags(job.tags)],
            ["params", repr(job.params)],
            ["outputs", ", ".join(f"{k}: {v.name}" for k, v in job.outputs.items())]]
    if job.duration is not None:
        rows.append(["duration", f"{job.duration:.3f} s"])
    return table_html(["", ""], rows, f"{job.task}/{job.short_id}")


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class NotebookReporter:
    """A run's progress in a notebook cell, updated in place (one display handle)."""

    def __init__(self, total: int):
        from IPython.display import HTML, display
        self.total, self.done, self.failed, self.running = total, 0, 0, {}
        self._HTML = HTML
        self.handle = display(HTML(self._render()), display_id=True)

    def _render(self):
        width = 100 * (self.done + self.failed) / max(self.total, 1)
        names = ", ".join(html.escape(n) for n in list(self.running)[:6])
        return (f'<div style="font:12px system-ui"><div style="background:#eee;width:300px">'
                f'<div style="background:#1a7f37;width:{width:.0f}%;height:8px"></div></div>'
                f"{self.done} done, {self.failed} failed of {self.total}"
                + (f" — running {names}" if names else "") + "</div>")

    def _update(self):
        self.handle.update(self._HTML(self._render()))

    def started(self, node):
        self.running[node.job.short] = True
        self._update()

    def finished(self, node):
        self.running.pop(node.job.short, None)
        if node.status == "done":
            self.done += 1
        else:
            self.failed += 1
        self._update()

    def up_to_date(self, node):
        self.done += 1

    def skipped(self, node):
        self.failed += 1

    def waiting_elsewhere(self, node):
        pass

    def tick(self, scheduler):
        pass

    def stop(self):
        self._update()
