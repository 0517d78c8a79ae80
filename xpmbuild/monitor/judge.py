"""The status of a job row as ``status`` gives it (status.records): a record's own status,
and for one recorded as queued or running :func:`recovery.assess`'s judgement, with the
cluster launchers asked once per launcher at most every ten seconds. A job that ended while
no xpmbuild watched is shown as recording it would make it (``rebuild.record_end``, the
dry run's way), never recorded here."""
from __future__ import annotations

import time

from ..workspace import ACTIVE


class Judge:
    def __init__(self, ws, launchers=None, every: float = 10.0):
        self.ws, self.launchers, self.every = ws, launchers, every
        self._live: dict = {}                   # launcher id -> the cluster's word
        self._live_at = -1e9

    def status(self, row, rows: dict, read_params) -> tuple[str, list]:
        """(status, reasons) of ``row`` (``rows``: every row, for its dependencies'
        records; ``read_params(row)`` fills ``row.outputs``)."""
        state = row.state
        if state is None:
            return "new", []
        status = state.get("status", "lost")
        reasons = [state["reason"]] if state.get("reason") else []
        if status not in ACTIVE:
            return status, reasons
        from ..recovery import ENDED, assess
        launchers = self.launchers
        known = launchers is not None and state.get("launcher") in launchers
        a = assess(self.ws, row.dir, state, self._ask if known else None)
        if a.verdict == ENDED:          # what recording it would give (never written here)
            from ..rebuild import record_end
            if not row.outputs:
                read_params(row)

            def dep_state(dep_id):      # the whole record (the table keeps a part)
                dep = rows.get(dep_id)
                return self.ws.read_state(dep.dir) if dep is not None else None
            try:
                new = record_end(self.ws, row.dir, row.id, row.outputs, state, a.exit_code,
                                 None, None, dep_state)
            except OSError:
                return status, [a.reason]
            return new.get("status", "lost"), [a.reason] + (
                [new["reason"]] if new.get("reason") else [])
        return a.status, [a.reason] if a.reason else []

    def _ask(self, st):
        lid = str(st.get("launcher_id"))
        if lid not in self._live:
            raise RuntimeError("no answer yet")
        return self._live[lid]

    def query(self, rows: dict):
        """The cluster launchers' word on their active jobs: one query per launcher, at
        most every ``every`` seconds."""
        if self.launchers is None or time.monotonic() - self._live_at < self.every:
            return
        self._live_at = time.monotonic()
        active: dict = {}
        for row in list(rows.values()):
            st = row.state
            if st and st.get("status") in ACTIVE and st.get("launcher") in self.launchers:
                active.setdefault(st["launcher"], []).append(st)
        live = {}
        for name, states in active.items():
            try:
                live.update(self.launchers[name].live_states(states))
            except Exception:
                pass
        self._live = live
