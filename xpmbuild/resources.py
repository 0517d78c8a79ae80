"""Resource requirements (``requires cpus=, mem=, gpus=, time=``): the one reading of a
duration, shared by the language (which checks them) and the launchers (which format them
for their cluster). Launchers never import the language."""
from __future__ import annotations

import re

ESCALATED = ("time", "mem")      # what `requires on_retry=` may multiply
_DURATION = re.compile(r"(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", re.I)
_CLOCK = re.compile(r"(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?")


def parse_duration(text: str) -> int | None:
    """Seconds in "2h", "1h30m", "90s", "45m", "1d", "HH:MM:SS" or "D-HH:MM:SS"; None if
    invalid."""
    text = text.strip()
    m = _CLOCK.fullmatch(text)
    if m:
        d, a, b, c = m.groups()
        days = int(d or 0)
        if c is None:      # MM:SS as Slurm reads it
            return days * 86400 + int(a) * 60 + int(b)
        return days * 86400 + int(a) * 3600 + int(b) * 60 + int(c)
    m = _DURATION.fullmatch(text)
    if not text or not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s
