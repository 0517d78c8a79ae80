"""The index: ``.xpm/index.sqlite``, a cache of file hashes and job states.

It is only a cache: the job folders are the truth. On a writable workspace it is opened
for writing, a corrupt file (not a database) is dropped and tables of a foreign schema are
replaced. On a read-only one it is opened read-only (``mode=ro``, else ``immutable=1``) and
never removed; an index that cannot be opened or read is worked without, with a warning.
"""
from __future__ import annotations

import os
import sqlite3

import xxhash

_digest = xxhash.xxh3_64_digest


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def _uri_path(path: str) -> str:
    """``path`` percent-encoded for a ``file:`` URI, as urllib.parse.quote does (its
    import, with ipaddress, is ~5 ms of every run)."""
    return "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}"
                   for b in os.fsencode(path))


class Index:
    def __init__(self, meta: str, writable, warn):
        self.meta = meta                 # the workspace's .xpm folder
        self.writable = writable         # () -> whether the workspace can be written
        self.warn = warn
        self._db = None
        self._db_readonly = False        # opened read-only: never written
        self._no_index = False           # the index cannot be used: work without it

    _TABLES = {
        "files": "path TEXT PRIMARY KEY, size INT, mtime_ns INT, ino INT, hash TEXT",
        "job_states": "id TEXT PRIMARY KEY, size INT, mtime_ns INT, ino INT, ctime_ns INT, "
                      "state BLOB",
    }

    def _connect(self):
        """The index, or None when there is none to use.

        On a writable workspace it is opened for writing, a corrupt file (not a database)
        is dropped and tables of a foreign schema are replaced: it is only a cache. On a
        read-only one it is opened read-only (``mode=ro``, else ``immutable=1``) and never
        removed; an index that cannot be opened or read is worked without."""
        if self._db is not None or self._no_index:
            return self._db
        path = os.path.join(self.meta, "index.sqlite")
        writable = self.writable()
        if os.path.lexists(self.meta) and not os.path.isdir(self.meta):
            return self._without_index(f"{self.meta} is not a folder")
        if writable:
            try:
                os.makedirs(self.meta, exist_ok=True)
            except OSError as err:
                return self._without_index(f"{self.meta}: {err.strerror}")
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                os.rmdir(path)          # an empty folder in its place: nothing lost
            except OSError:
                return self._without_index(f"{path} is a folder, not an index")
        if not writable:
            return self._open_readonly(path)
        for attempt in range(2):
            try:
                db = sqlite3.connect(path, timeout=30, isolation_level=None)
            except sqlite3.Error as err:
                return self._without_index(f"{path}: {err}")
            phase = "open"
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                phase = "schema"
                self._schema(db, fix=True)
            except sqlite3.Error as err:
                db.close()
                if attempt or not _corrupt(err, phase == "schema"):
                    # locked for too long, or an I/O error: not a reason to drop it
                    return self._without_index(f"{path}: {err}")
                self.warn(f"{path} is not a valid index ({err}): dropped and rebuilt "
                          "(it is only a cache)")
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.unlink(path + suffix)
                    except FileNotFoundError:
                        pass
                    except OSError as err2:
                        return self._without_index(f"{path}{suffix}: {err2.strerror}")
                continue
            self._db = db
            return db
        return None

    def _open_readonly(self, path):
        if not os.path.isfile(path):
            self._no_index = True
            return None
        uri = "file:" + _uri_path(path)
        for mode in ("?mode=ro", "?immutable=1"):
            try:
                db = sqlite3.connect(uri + mode, uri=True, timeout=5, isolation_level=None)
            except sqlite3.Error:
                continue
            try:
                if not self._schema(db, fix=False):
                    db.close()
                    break                # another schema: nothing of it can be used
                self._db, self._db_readonly = db, True
                return db
            except sqlite3.Error:
                db.close()
        self._no_index = True            # read-only and unreadable: work without it
        return None

    def _schema(self, db, fix: bool) -> bool:
        """Whether the index has our tables; with ``fix``, (re)creates those that differ."""
        ok = True
        for table, columns in self._TABLES.items():
            want = [c.split()[0] for c in columns.split(", ")]
            have = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            if have == want:
                continue
            ok = False
            if fix:
                if have:
                    db.execute(f"DROP TABLE {table}")
                db.execute(f"CREATE TABLE {table} ({columns})")
        return ok or fix

    def _without_index(self, why: str):
        self._no_index = True
        self.warn(f"working without the index ({why})")
        return None

    def load(self) -> tuple[dict, dict]:
        """(file hashes, job states) as cached: path -> (size, mtime_ns, ino, hash) and
        id -> (size, mtime_ns, ino, ctime_ns, state).

        A state is kept as its marshal bytes after an 8-byte xxh3 digest of them (see
        :meth:`save`); only rows whose digest matches are returned, their bytes without it:
        the record they hold is the one this program checked (read back from a valid
        state.json, or written by it) before caching it. A row damaged on disk, or written
        without a digest, is left out: its job's state.json is read again."""
        db = self._connect()
        if db is None:
            return {}, {}
        try:
            files = {p: (s, m, i, h) for p, s, m, i, h
                     in db.execute("SELECT path, size, mtime_ns, ino, hash FROM files")}
            rows = {}
            digest = _digest
            for i, s, m, n, c, blob in db.execute(
                    "SELECT id, size, mtime_ns, ino, ctime_ns, state FROM job_states"):
                if type(blob) is bytes and len(blob) > 8:
                    body = blob[8:]
                    if digest(body) == blob[:8]:
                        rows[i] = (s, m, n, c, body)
        except (sqlite3.Error, ValueError, TypeError):
            return {}, {}
        return files, rows

    def load_lazy(self):
        """Like :meth:`load`, each entry read when first asked for (a run that decides a
        few jobs again needs a few of them: incremental.py)."""
        db = self._connect()
        if db is None:
            return {}, {}

        def state_row(r):
            s, m, n, c, blob = r
            if type(blob) is bytes and len(blob) > 8 and _digest(blob[8:]) == blob[:8]:
                return (s, m, n, c, blob[8:])
            return None
        return (_Lazy(db, "SELECT size, mtime_ns, ino, hash FROM files WHERE path=?", tuple),
                _Lazy(db, "SELECT size, mtime_ns, ino, ctime_ns, state FROM job_states "
                          "WHERE id=?", state_row))

    def save(self, files: dict, rows: dict) -> bool:
        """Write new entries in one transaction (False: not written, kept for later)."""
        db = self._connect()
        if db is None or self._db_readonly:
            return False
        try:
            db.execute("BEGIN IMMEDIATE")
            if files:
                db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)",
                               [(p,) + e for p, e in files.items()])
            if rows:
                digest = _digest
                db.executemany("INSERT OR REPLACE INTO job_states VALUES (?,?,?,?,?,?)",
                               [(i,) + r[:4] + (digest(r[4]) + r[4],)
                                for i, r in rows.items()])
            db.execute("COMMIT")
            return True
        except sqlite3.DatabaseError:
            try:
                db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass
            return False

    def close(self):
        if self._db is not None:
            self._db.close()
            self._db = None


class _Lazy:
    """One table of the index as the dict the workspace reads it as (``get``, ``[]=``),
    each key looked up once, when first asked for."""

    __slots__ = ("_db", "_sql", "_make", "_known")

    def __init__(self, db, sql: str, make):
        self._db, self._sql, self._make = db, sql, make
        self._known: dict = {}

    def get(self, key, default=None):
        known = self._known
        if key in known:
            value = known[key]
        else:
            try:
                row = self._db.execute(self._sql, (key,)).fetchone()
            except (sqlite3.Error, ValueError, TypeError):
                row = None
            value = known[key] = self._make(row) if row is not None else None
        return default if value is None else value

    def __setitem__(self, key, value):
        self._known[key] = value

    def __bool__(self):
        return True


def _corrupt(err: sqlite3.Error, schema=False) -> bool:
    """A file that is not a database, a damaged one, or (``schema``) one whose foreign
    schema cannot be replaced — not one that is locked, read-only or on a full disk."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        # SQLITE_CORRUPT, SQLITE_NOTADB; SQLITE_ERROR while fixing the schema (a view...)
        return code & 0xff in ((11, 26, 1) if schema else (11, 26))
    return type(err) is sqlite3.DatabaseError or (schema and "locked" not in str(err))
