"""Whether a ``path`` input can be hashed: a readable regular file or folder
(language/inputs.py checks each input of a plan with it; an incremental run, the inputs
that changed since the last one, without importing the language)."""
from __future__ import annotations

import errno
import os
import stat as _stat


def path_problem(path: str) -> str | None:
    """None when ``path`` is a readable regular file or folder; else what is wrong."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            return "is a dangling symbolic link (its target does not exist)"
        return "does not exist"
    except NotADirectoryError:
        return "does not exist (a part of it is a file, not a folder)"
    except ValueError:          # an embedded NUL
        return "contains a NUL character"
    except UnicodeError:
        return "cannot be encoded as a file name"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop (too many levels of symbolic links)"
        if e.errno == errno.ENAMETOOLONG:
            return ("has a name too long for the file system (over 255 bytes for one name, "
                    "or over the path length limit)")
        if e.errno == errno.EACCES:
            return "cannot be reached (permission denied on a folder above it)"
        return f"cannot be read ({e.strerror or e})"
    mode = st.st_mode
    if _stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            return "is not readable (permission denied)"
        return None
    if _stat.S_ISDIR(mode):
        if not os.access(path, os.R_OK | os.X_OK):
            return "is a folder that cannot be read (permission denied)"
        return None
    if _stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file: reading it could block forever"
    if _stat.S_ISCHR(mode):
        return "is a character device (like /dev/zero), not a regular file or folder"
    if _stat.S_ISBLK(mode):
        return "is a block device, not a regular file or folder"
    if _stat.S_ISSOCK(mode):
        return "is a socket, not a regular file or folder"
    return "is not a regular file or folder"
