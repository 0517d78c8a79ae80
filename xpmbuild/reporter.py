"""The interface of the scheduler's event receivers (report.py renders them): its own
module, so that drawing a table never imports the scheduler."""
from __future__ import annotations


class Reporter:
    """Receives scheduling events; the CLI renders them (rich or plain lines)."""

    def started(self, node): pass
    def finished(self, node): pass
    def skipped(self, node): pass
    def up_to_date(self, node): pass
    def waiting_elsewhere(self, node): pass
    def tick(self, scheduler): pass
    def message(self, text): pass           # a line for the user (services' URLs...)
    def notice(self, text): pass            # e.g. the cluster does not answer
