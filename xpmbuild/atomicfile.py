"""The one atomic write of the project, in a module of its own (it imports only ``os``), so
the start-up paths (the help cache) use it without importing workspace.py."""
from __future__ import annotations

import os


def atomic_write(path: str, data: str | bytes, mode: int | None = None):
    """Write ``path`` whole or not at all (temp file + rename), with the permission bits
    ``mode`` if given; on failure (a full disk) the temp file is removed and the error
    raised."""
    tmp = f"{path}.tmp{os.getpid()}"
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    try:
        # os-level: no buffer object, no isatty/seek/fstat of a text file (a job's records
        # are written thousands of times a minute)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
