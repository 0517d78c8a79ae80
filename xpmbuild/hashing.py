"""Content hashes of files and folders, with a stat cache.

A file is read only when its (size, mtime_ns, inode) differ from the last time it was
hashed; the cache is kept in the workspace index between runs. Hashes are xxh3_128.
A folder's hash covers the relative names and contents of everything below it.
"""
from __future__ import annotations

import errno
import os
import stat as _stat

import xxhash

_CHUNK = 1 << 20


def file_digest(path: str) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while True:
            block = f.read(_CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


class HashCache:
    """path → (size, mtime_ns, inode, hash). ``dirty`` holds entries to persist."""

    __slots__ = ("entries", "dirty", "reads")

    def __init__(self, entries: dict | None = None):
        self.entries = entries or {}
        self.dirty: dict = {}
        self.reads = 0          # files actually read (for tests and benchmarks)

    def file_hash(self, path: str, st=None) -> str:
        if st is None:
            st = os.stat(path)
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self.entries.get(path)
        if cached is not None and cached[:3] == sig:
            return cached[3]
        digest = file_digest(path)
        self.reads += 1
        entry = sig + (digest,)
        self.entries[path] = entry
        self.dirty[path] = entry
        return digest

    def path_hash(self, path: str, follow: bool = True, ignore=None) -> str | None:
        """Hash of a file or folder; None when it does not exist.

        ``follow=False`` (a job's outputs): links inside a folder are hashed as links
        (their target's text), never followed out of it."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if _stat.S_ISDIR(st.st_mode):
            return self.dir_hash(path, follow, ignore)
        return self.file_hash(path, st)

    def dir_hash(self, path: str, follow: bool = True, ignore=None) -> str:
        """``ignore(name, is_dir)``: entries left out of the hash (code folders leave out
        ``__pycache__`` and compiled files)."""
        h = xxhash.xxh3_128()
        for dirpath, dirnames, filenames in os.walk(path):
            if ignore is not None:
                dirnames[:] = [d for d in dirnames if not ignore(d, True)]
                filenames = [f for f in filenames if not ignore(f, False)]
            dirnames.sort()
            rel = os.path.relpath(dirpath, path)
            h.update(b"D" + rel.encode("utf-8", "surrogateescape") + b"\0")
            names = filenames
            if not follow:
                links = [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
                if links:
                    dirnames[:] = [n for n in dirnames if n not in links]
                    names = filenames + links
            for name in sorted(names):
                full = os.path.join(dirpath, name)
                try:
                    if not follow and os.path.islink(full):
                        digest = "L" + os.readlink(full)
                    else:
                        st = os.stat(full)
                        # a FIFO or a device is never opened (it could block or never
                        # end): its type stands for its content
                        digest = (self.file_hash(full, st) if _stat.S_ISREG(st.st_mode)
                                  else "T%o" % _stat.S_IFMT(st.st_mode))
                except FileNotFoundError:    # a dangling link or a file removed meanwhile
                    digest = "-"
                except OSError as e:         # a symlink loop, a name too long, no access
                    digest = "!" + errno.errorcode.get(e.errno, str(e.errno))
                h.update(b"F" + name.encode("utf-8", "surrogateescape") + b"\0" +
                         digest.encode("utf-8", "surrogateescape") + b"\0")
        return "d" + h.hexdigest()

    def signature(self, path: str):
        """(size, mtime_ns, inode) of a file, or None; for folders None (always rehashed)."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if _stat.S_ISDIR(st.st_mode):
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ino)
