"""A damaged, read-only or full workspace: always a clear message, never a traceback.

Everything goes through the real command line on a real workspace: a job folder's record
(state.json) that is not a record or has fields of the wrong type, folders where files
should be, an index of a foreign schema or no database at all, ``-w`` naming a file, a
record put back with its old size and mtime, a read-only workspace (a bind mount when
root), and a disk that fills up mid-run (a small tmpfs when root). A damaged record
counts as a lost build, is named in a warning on stderr and is rebuilt; the index (a
cache) never overrides a job folder's own record and is never deleted because it cannot
be written.

The read-only and full-disk tests need root (mount); elsewhere read-only uses chmod and
the full disk is skipped with a reason — never in CI (``CI=true``), where they must run.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read, read_bytes, xpmbuild  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# `a` records each execution in runs.log; `b` depends on `a` (its output is the same
# after a rebuild, so `b` stays up to date: early cut-off)
EXPERIMENT = """\
task a {
    x: int = 0
    output o = "o.txt"
    shell "echo a >> {here}/runs.log; echo {x} > {o}"
}
task b {
    dep: a
    output o = "o.txt"
    shell "echo b >> {here}/runs.log; cat {dep.o} > {o}"
}
b(dep=a(x=1))
"""


@pytest.fixture
def proj(tmp_path):
    p = Project(tmp_path, EXPERIMENT)
    p.run()
    assert p.executions() == ["a", "b"]
    return p


def clean(r: subprocess.CompletedProcess):
    """No traceback, no Python exception name, in anything printed."""
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "Error:" not in out.replace("error:", ""), describe(r)


def status_cmd(p: Project, *args):
    return xpmbuild("status", "-w", p.ws, *args, cwd=p.root, env=p.env)


def jobs_cmd(p: Project, *args):
    return xpmbuild("jobs", *args, "-w", p.ws, cwd=p.root, env=p.env)


def status_json(p: Project) -> dict:
    r = status_cmd(p, "--json")
    assert r.returncode == 0, describe(r)
    clean(r)
    return {n["task"]: n for n in json.loads(r.stdout)["nodes"]}


def index_path(p: Project) -> str:
    return os.path.join(p.ws, ".xpm", "index.sqlite")


# ---------------------------------------------------------------------- damaged records

DAMAGED_RECORDS = {
    "a list": "[]",
    "a number": "42",
    "a string": '"x"',
    "null": "null",
    "an empty object": "{}",
    "status a number": '{"status": 3}',
    "status unknown": '{"status": "bogus"}',
    "status [/] (markup)": '{"status": "[/]"}',
    "outputs a list": '{"status": "done", "outputs": [], "fingerprint": "f"}',
    "outputs entry a number": '{"status": "done", "outputs": {"o": 5}, "fingerprint": "f"}',
    "outputs entry short": '{"status": "done", "outputs": {"o": [1, 2]}, "fingerprint": "f"}',
    "fingerprint a number": '{"status": "done", "fingerprint": 5}',
    "trace a list": '{"status": "done", "fingerprint": "f", "trace": []}',
    "trace.action a number": '{"status": "done", "fingerprint": "f", "trace": {"action": 1}}',
    "trace.deps wrong": '{"status": "done", "fingerprint": "f", '
                        '"trace": {"action": "x", "inputs": {}, "deps": {"d": [1]}}}',
    "trace.inputs a list": '{"status": "done", "fingerprint": "f", '
                           '"trace": {"action": "x", "inputs": [], "deps": {}}}',
    "exit_code a string": '{"status": "failed", "exit_code": "3"}',
    "reason an object": '{"status": "failed", "reason": {"x": 1}}',
    "dep_tasks wrong": '{"status": "running", "dep_tasks": {"d": 1}}',
    "launcher_id a list": '{"status": "running", "launcher": "local", "launcher_id": [1]}',
    "not JSON": "{not json",
    "truncated": '{"status": "do',
    "empty": "",
    "invalid UTF-8": b'{"status": "\xff\xfe"}',
    "nested 100000 deep": "[" * 100000 + "]" * 100000,
}


@pytest.mark.parametrize("content", list(DAMAGED_RECORDS.values()), ids=list(DAMAGED_RECORDS))
def test_a_damaged_record_counts_as_lost_is_named_and_rebuilt(proj, content):
    a_dir = proj.job_dir("a")
    state_file = os.path.join(a_dir, "state.json")
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(state_file, mode) as f:
        f.write(content)

    # plan: a would run (lost), b waits on it; the warning names the file
    doc = proj.plan_json()
    a, b = proj.node("a"), proj.node("b")
    assert a["status"] == "lost" and a["will_run"], a
    assert any("state.json is damaged" in r for r in a["reasons"]), a
    assert b["will_run"], b          # it runs only if a's output changes (it will not)
    r = proj.cli("plan")
    assert r.returncode == 0, describe(r)
    clean(r)
    assert state_file in "".join(r.stderr.split()) and "warning:" in r.stderr, describe(r)

    # status and jobs list: the job is lost, the file named
    assert status_json(proj)["a"]["status"] == "lost"
    for r in (jobs_cmd(proj, "list"),):
        assert r.returncode == 0, describe(r)
        clean(r)
        assert "state.json" in r.stderr, describe(r)

    # run: a is rebuilt, b is not (same output), the record is whole again
    r = proj.run()
    clean(r)
    assert proj.executions() == ["a"], describe(r)
    st = json.loads(read(state_file))
    assert st["status"] == "done" and isinstance(st["outputs"], dict), st
    r = proj.run()
    assert proj.executions() == [] and "warning" not in r.stderr, describe(r)


def test_a_damaged_dependency_record_never_crashes_its_dependents(proj):
    """A dependency whose record has wrong-typed outputs: its dependents' traces are not
    made from them (a traceback today would come from `v[3]` on a number)."""
    with open(os.path.join(proj.job_dir("a"), "state.json"), "w") as f:
        f.write('{"status": "done", "fingerprint": "f", "outputs": {"o": 7}}')
    proj.plan_json()
    assert proj.node("a")["will_run"]
    r = proj.run()
    clean(r)
    assert proj.executions() == ["a"]


# ---------------------------------------------------------------------- folders for files

def test_a_folder_in_place_of_state_json_is_a_lost_build_and_replaced(proj):
    a_dir = proj.job_dir("a")
    path = os.path.join(a_dir, "state.json")
    os.unlink(path)
    os.makedirs(os.path.join(path, "inside"))
    doc = proj.plan_json()
    assert proj.node("a")["status"] == "lost" and proj.node("a")["will_run"], doc
    r = status_cmd(proj)
    assert r.returncode == 0 and path in "".join(r.stderr.split()), describe(r)
    clean(r)
    r = proj.run()
    clean(r)
    assert proj.executions() == ["a"]
    assert os.path.isfile(path) and proj.state(a_dir)["status"] == "done"


def test_a_folder_in_place_of_params_json_is_rewritten(proj):
    a_dir = proj.job_dir("a")
    os.unlink(os.path.join(a_dir, "params.json"))
    os.makedirs(os.path.join(a_dir, "params.json", "inside"))
    for r in (proj.plan(), status_cmd(proj), jobs_cmd(proj, "list")):
        assert r.returncode == 0, describe(r)
        clean(r)
    r = proj.run("--force", "a")
    clean(r)
    assert proj.executions() == ["a"]
    assert json.loads(read(os.path.join(a_dir, "params.json")))["task"] == "a"


@pytest.mark.parametrize("empty", [True, False], ids=["empty folder", "folder with a file"])
def test_a_folder_in_place_of_the_index(proj, empty):
    index = index_path(proj)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index + suffix)
    os.mkdir(index)
    if not empty:
        with open(os.path.join(index, "keep.txt"), "w") as f:
            f.write("someone's file\n")
    for r in (proj.plan(), status_cmd(proj), jobs_cmd(proj, "list"), proj.run()):
        assert r.returncode == 0, describe(r)
        clean(r)
        if not empty:       # worked without the index, and said so (or needed none: a
            # no-op run, or a plan right after a run, is answered from the no-op manifest)
            assert "index.sqlite" in r.stderr or "up to date" in r.stdout or \
                re.search(r"\b0 of \d+ jobs\s+would run", r.stdout), describe(r)
    assert proj.executions() == []
    if empty:               # an empty folder is replaced by the index
        assert os.path.isfile(index)
    else:                   # a folder with something in it is left alone
        assert read(os.path.join(index, "keep.txt")) == "someone's file\n"


# ---------------------------------------------------------------------- the index

def _foreign_index(path, statements):
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


INDEX_FAULTS = {
    "not a database": None,
    "tables with other columns": ["CREATE TABLE files (x)", "CREATE TABLE job_states (a, b, c)"],
    "the old schema (size, mtime_ns only)": [
        "CREATE TABLE files (path TEXT PRIMARY KEY, size INT, mtime_ns INT, ino INT, hash TEXT)",
        "CREATE TABLE job_states (id TEXT PRIMARY KEY, size INT, mtime_ns INT, state BLOB)"],
    "a view where a table should be": ["CREATE VIEW files AS SELECT 1 AS x",
                                       "CREATE TABLE job_states (q)"],
    "other tables only": ["CREATE TABLE t (x)"],
}


@pytest.mark.parametrize("fault", list(INDEX_FAULTS), ids=list(INDEX_FAULTS))
def test_a_foreign_or_corrupt_index_is_replaced(proj, fault):
    index = index_path(proj)
    if INDEX_FAULTS[fault] is None:
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index + suffix)
        with open(index, "wb") as f:
            f.write(b"this is not a database\n" * 100)
    else:
        _foreign_index(index, INDEX_FAULTS[fault])
    for r in (status_cmd(proj), jobs_cmd(proj, "list"), proj.plan()):
        assert r.returncode == 0, describe(r)
        clean(r)
    assert status_json(proj)["a"]["status"] == "done"
    r = proj.run()
    clean(r)
    assert proj.executions() == []
    # the index is ours again: both tables with their columns, and it caches the states
    db = sqlite3.connect(index)
    cols = [row[1] for row in db.execute("PRAGMA table_info(job_states)")]
    assert cols == ["id", "size", "mtime_ns", "ino", "ctime_ns", "state"], cols
    db.close()


def test_an_index_row_that_is_not_a_record_is_not_used(proj):
    """A row matching the file's stat but whose state is garbage: the file is read."""
    r = status_cmd(proj)          # the index holds both states now
    assert r.returncode == 0
    a_dir = proj.job_dir("a")
    db = sqlite3.connect(index_path(proj))
    n = db.execute("UPDATE job_states SET state = ? WHERE id = ?",
                   (b"\x00garbage", os.path.basename(a_dir))).rowcount
    db.commit()
    db.close()
    assert n == 1
    assert status_json(proj)["a"]["status"] == "done"
    r = proj.run("--force", "b")
    clean(r)
    assert proj.executions() == ["b"]


def _put_back(path, how):
    """Replace ``path`` by another record of the same size, then set its mtime back."""
    st = os.stat(path)
    text = read(path)
    assert '"status": "done"' in text
    other = text.replace('"status": "done"', '"status": "lost"')
    if how == "in place":               # cp -p over it: same inode
        with open(path, "r+") as f:
            f.write(other)
    else:
        with open(path + ".new", "w") as f:
            f.write(other)
        os.replace(path + ".new", path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(path)
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("how", ["in place", "renamed over"])
def test_a_record_put_back_with_its_old_size_and_mtime_is_read(proj, how):
    """The index caches states by (size, mtime_ns, inode, ctime_ns): a state.json
    replaced by one of the same size with its mtime set back (``cp -p`` of an old copy,
    ``os.utime``) is still read — the ctime moved, and utime cannot set it back.
    (``plan a``: a command other than the fixture's, so the no-op manifest is not used.)"""
    db = sqlite3.connect(index_path(proj))
    a_id = os.path.basename(proj.job_dir("a"))
    assert db.execute("SELECT count(*) FROM job_states WHERE id = ?", (a_id,)).fetchone()[0]
    db.close()
    _put_back(os.path.join(proj.job_dir("a"), "state.json"), how)
    proj.plan_json("a")
    assert proj.node("a")["status"] == "lost" and proj.node("a")["will_run"], proj.last
    assert status_json(proj)["a"]["status"] == "lost"
    proj.run("a")
    assert proj.executions() == ["a"]


@pytest.mark.parametrize("how", ["in place", "renamed over"])
def test_the_no_op_path_reads_a_record_put_back_with_its_old_size_and_mtime(proj, how):
    proj.run()                   # the index and the no-op manifest know every job
    _put_back(os.path.join(proj.job_dir("a"), "state.json"), how)
    proj.plan_json()
    assert proj.node("a")["status"] == "lost" and proj.node("a")["will_run"], proj.last
    proj.run()
    assert proj.executions() == ["a"]


# ---------------------------------------------------------------------- -w names a file

@pytest.mark.parametrize("where", ["workspace", "jobs"])
def test_a_file_where_the_workspace_or_its_jobs_folder_should_be(tmp_path, where):
    p = Project(tmp_path, EXPERIMENT)
    target = p.ws if where == "workspace" else os.path.join(p.ws, "jobs")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as f:
        f.write("a file\n")
    runs = [p.cli("run"), p.cli("plan"), p.cli("plan", "--json"), status_cmd(p),
            status_cmd(p, "--json"), jobs_cmd(p, "list"), jobs_cmd(p, "log", "a"),
            jobs_cmd(p, "clean", "--all")]
    for r in runs:
        assert r.returncode == 2, describe(r)
        clean(r)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and target in lines[0] \
            and "file" in lines[0], describe(r)
    assert read(target) == "a file\n"


def test_a_file_where_the_meta_folder_should_be(proj):
    meta = os.path.join(proj.ws, ".xpm")
    shutil.rmtree(meta)
    with open(meta, "w") as f:
        f.write("a file\n")
    # reading works without the index (and says so)
    for r in (status_cmd(proj), jobs_cmd(proj, "list"), proj.plan()):
        assert r.returncode == 0, describe(r)
        clean(r)
        assert ".xpm" in r.stderr, describe(r)
    assert status_json(proj)["a"]["status"] == "done"
    # run needs it: one clear line
    r = proj.run(expect=2)
    clean(r)
    assert r.stderr.count("\n") == 1 and meta in r.stderr, describe(r)


# ---------------------------------------------------------------------- read-only workspace

@contextlib.contextmanager
def read_only(path):
    """``path`` made read-only: a read-only bind mount onto itself when root (chmod does
    not stop root), else chmod. Undone on exit."""
    if IS_ROOT:
        mounted = False
        try:
            r = subprocess.run(["mount", "--bind", path, path], capture_output=True, text=True)
            if r.returncode != 0:
                _cannot(f"mount --bind failed: {r.stderr.strip()}")
            mounted = True
            r = subprocess.run(["mount", "-o", "remount,bind,ro", path], capture_output=True,
                               text=True)
            if r.returncode != 0:
                _cannot(f"remount read-only failed: {r.stderr.strip()}")
            yield "bind mount"
        finally:
            if mounted:
                subprocess.run(["umount", path], check=True)
        return
    modes = {}
    for d, dirs, files in os.walk(path):
        for x in [d] + [os.path.join(d, f) for f in files]:
            modes[x] = os.stat(x).st_mode
            os.chmod(x, modes[x] & ~0o222)
    try:
        yield "chmod"
    finally:
        for x, mode in modes.items():
            os.chmod(x, mode)


def _cannot(why):
    if IN_CI:
        pytest.fail(f"cannot make a read-only or small file system in CI: {why}")
    pytest.skip(f"needs mount (root in a container that allows it): {why}")


def _snapshot(folder):
    out = {}
    for d, dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns, read_bytes(p))
    return out


def test_a_read_only_workspace_can_be_read_and_refuses_run(proj):
    # a failed job too, so that status has something to say
    b_state = dict(proj.state(proj.job_dir("b")), status="failed", reason="exit code 3")
    with open(os.path.join(proj.job_dir("b"), "state.json"), "w") as f:
        json.dump(b_state, f)
    a_short = "a/" + os.path.basename(proj.job_dir("a"))[:8]
    before = _snapshot(proj.ws)
    with read_only(proj.ws):
        for r in (status_cmd(proj), status_cmd(proj, "--json"), jobs_cmd(proj, "list"),
                  jobs_cmd(proj, "list", "--json"), jobs_cmd(proj, "log", a_short),
                  jobs_cmd(proj, "path", a_short), proj.plan(), proj.plan("--json")):
            assert r.returncode == 0, describe(r)
            clean(r)
            assert "warning" not in r.stderr, describe(r)
        assert status_json(proj)["b"]["status"] == "failed"
        doc = proj.plan_json()
        assert proj.node("b")["will_run"] and not proj.node("a")["will_run"], doc
        for args in ((), ("--force-all",), ("-k",), ("--json",)):
            r = proj.run(*args, expect=2)
            clean(r)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "read-only" in lines[0] and proj.ws in lines[0], \
                describe(r)
        assert _snapshot(proj.ws) == before        # nothing written, nothing deleted
    r = proj.run()                                 # writable again: b is rebuilt
    assert proj.executions() == ["b"]


@pytest.mark.parametrize("fault", ["not a database", "a foreign schema", "a WAL left behind"])
def test_a_read_only_workspace_never_loses_its_index(proj, fault):
    index = index_path(proj)
    if fault == "not a database":
        with open(index, "wb") as f:
            f.write(b"garbage\n" * 64)
    elif fault == "a foreign schema":
        _foreign_index(index, ["CREATE TABLE job_states (a, b, c)"])
    else:
        # a writer killed mid-work leaves index.sqlite-wal (and -shm) behind
        code = ("import sqlite3, os, sys\n"
                "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "db.execute('PRAGMA journal_mode=WAL')\n"
                "db.execute('PRAGMA wal_autocheckpoint=0')\n"
                "db.execute(\"INSERT OR REPLACE INTO files VALUES ('x', 1, 2, 3, 'h')\")\n"
                "os._exit(0)\n")
        subprocess.run([sys.executable, "-c", code, index], check=True)
        assert os.path.exists(index + "-wal")
    before = _snapshot(os.path.join(proj.ws, ".xpm"))
    with read_only(proj.ws):
        for r in (status_cmd(proj), jobs_cmd(proj, "list"), proj.plan()):
            assert r.returncode == 0, describe(r)
            clean(r)
        assert status_json(proj)["a"]["status"] == "done"
        assert _snapshot(os.path.join(proj.ws, ".xpm")) == before
    assert os.path.exists(index)


def test_a_read_only_workspace_with_a_result_nobody_recorded(proj):
    """A job recorded as running whose exit file says it ended (its xpmbuild was killed):
    on a read-only workspace status shows the result without writing it."""
    import socket
    a_dir = proj.job_dir("a")
    st = dict(proj.state(a_dir), status="running", launcher="local", launcher_type="local",
              host=socket.gethostname(), launcher_id=2 ** 22 + 12345)
    with open(os.path.join(a_dir, "state.json"), "w") as f:
        json.dump(st, f)
    with open(os.path.join(a_dir, ".xpm-exit"), "w") as f:
        f.write("0\n")
    with read_only(proj.ws):
        for r in (status_cmd(proj), jobs_cmd(proj, "list"), proj.plan()):
            assert r.returncode == 0, describe(r)
            clean(r)


def test_run_into_a_folder_it_cannot_create(tmp_path):
    parent = tmp_path / "archive"
    parent.mkdir()
    p = Project(tmp_path, EXPERIMENT)
    p.ws = str(parent / "ws")
    with read_only(str(parent)):
        r = p.run(expect=2)
        clean(r)
        assert r.stderr.count("\n") == 1 and p.ws in r.stderr, describe(r)
        r = p.plan()                  # nothing to read: everything would run
        clean(r)
    assert not os.path.exists(p.ws)


# ---------------------------------------------------------------------- a full disk

BIG = """\
task big {
    i: int
    output o = "o.bin"
    shell "echo {i} >> {here}/runs.log; head -c 700000 /dev/zero > {o}"
}
task small {
    dep: big
    output o = "o.txt"
    shell "wc -c < {dep.o} > {o}"
}
for i in range(6) {
    small(dep=big(i=tag(i)))
}
"""


@contextlib.contextmanager
def small_disk(path, size="2m"):
    if not IS_ROOT:
        _cannot("not root")
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        _cannot(f"mount -t tmpfs failed: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=True)


def _records_are_true(p: Project):
    """Every job recorded done has every output, as recorded; no temp file is left."""
    import xxhash
    done = 0
    for d in p.job_dirs("big") + p.job_dirs("small"):
        assert not glob.glob(os.path.join(d, "*.tmp*")), os.listdir(d)
        try:
            st = json.loads(read(os.path.join(d, "state.json")))
        except FileNotFoundError:
            continue
        except ValueError:
            raise AssertionError(f"{d}/state.json is not whole: {read(d + '/state.json')!r}")
        if st.get("status") != "done":
            continue
        done += 1
        for name, rec in st["outputs"].items():
            rel = "o.bin" if "/big/" in d else "o.txt"
            data = read_bytes(os.path.join(d, rel))
            assert len(data) == rec[0] and xxhash.xxh3_128_hexdigest(data) == rec[3], (d, st)
            if rel == "o.bin":
                assert len(data) == 700000, d
    return done


def test_a_full_disk_mid_run_fails_clearly_keeps_going_and_records_only_the_truth(tmp_path):
    with small_disk(str(tmp_path / "disk")) as disk:
        p = Project(tmp_path, BIG)
        p.ws = os.path.join(disk, "ws")
        r = p.run("-k", "-j", "1", expect=None, timeout=120)
        clean(r)
        assert r.returncode == 1, describe(r)
        assert "No space left on device" in r.stdout + r.stderr, describe(r)
        # -k: every big job was tried (ran, or failed to be recorded as started), though
        # the disk holds only two of their outputs
        ran = p.executions()
        assert 2 <= len(ran) <= 6 and set(ran) <= {str(i) for i in range(6)}, describe(r)
        for d in p.job_dirs("big"):
            short = "big/" + os.path.basename(d)[:8]
            assert f"done    {short}" in r.stderr or f"FAILED  {short}" in r.stderr, describe(r)
        assert len(p.job_dirs("big")) == 6
        done = _records_are_true(p)
        assert 1 <= done < 12, done

        # the next run on the still-full disk: the same clear failure, no hang
        r = p.run("-k", "-j", "1", expect=None, timeout=120)
        clean(r)
        assert r.returncode == 1, describe(r)
        _records_are_true(p)
        for r in (status_cmd(p), jobs_cmd(p, "list"), p.plan()):
            assert r.returncode == 0, describe(r)
            clean(r)

        # room again: what was not built is built, what was is not redone
        subprocess.run(["mount", "-o", "remount,size=16m", disk], check=True)
        p.executions()
        r = p.run("-j", "1")
        assert _records_are_true(p) == 12
        assert all(n["status"] == "done" for n in p.run_json()["nodes"])


def test_a_full_disk_without_keep_going_stops_cleanly(tmp_path):
    with small_disk(str(tmp_path / "disk")) as disk:
        p = Project(tmp_path, BIG)
        p.ws = os.path.join(disk, "ws")
        r = p.run("-j", "1", expect=None, timeout=120)
        clean(r)
        assert r.returncode == 1, describe(r)
        assert "No space left on device" in r.stdout + r.stderr, describe(r)
        assert len(p.executions()) < 6
        _records_are_true(p)
