"""The no-op fast path: when nothing changed, a run only stats files.

After a run (or plan) in which every selected job ended up done, a *manifest* is kept in
the workspace: what the command was (file, -D values, targets, name, working directory),
the content hash of every .xpm source read, and the (size, mtime_ns, inode, ctime_ns) of every
file the decision depended on — each job's state.json, its outputs, its ``path`` inputs
and python action modules. The next identical command first checks the manifest: if the
sources hash the same and every file stats the same, every job is still up to date (the
fingerprints are made only of those things), and the run ends there without parsing,
evaluating or hashing anything. Any difference, a folder among those files (its content
cannot be judged by one stat), or a forced rebuild falls back to the full path.
"""
from __future__ import annotations

import marshal
import os
from array import array
import stat as _stat

import xxhash

VERSION = 9


def routing(settings: dict | None, launcher: str | None = None) -> str:
    """What decides each job's launcher (routing.py), which the answer names: the run's
    launcher (``-l``, else the setting ``launcher``, else local) and the settings' ``tasks``
    and ``route``."""
    settings = settings or {}
    return repr((launcher or settings.get("launcher") or "local", settings.get("tasks") or {},
                 settings.get("route") or []))


def _key(ws_root, file, defines, name, targets, dry_run=False, namespace=None,
         routes_by="") -> dict:
    from . import __version__
    # a run's manifest also vouches for the experiment's record, which plan does not write
    return {"v": VERSION, "mode": "plan" if dry_run else "run", "namespace": namespace or "",
            "xpmbuild": __version__, "file": os.path.abspath(file),
            "workspace": os.path.abspath(ws_root),
            "cwd": os.getcwd(), "home": os.environ.get("HOME", ""),
            "defines": sorted((defines or {}).items()), "name": name or "",
            "targets": list(targets or ()), "routing": routes_by}


def _path(ws_root: str, key: dict) -> str:
    digest = xxhash.xxh3_64_hexdigest(repr(sorted(key.items())).encode())
    return os.path.join(ws_root, ".xpm", f"noop-{digest}.marshal")


def _sig(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    if _stat.S_ISDIR(st.st_mode):
        return "dir"
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _content(path):
    try:
        with open(path, "rb") as f:
            return xxhash.xxh3_128_hexdigest(f.read())
    except OSError:
        return None


def check(ws_root: str, file, defines, name, targets, dry_run=False, namespace=None,
          routes_by="", with_nodes=lambda m: True):
    """The manifest if nothing changed since it was written, else None. A plan is also
    answered by the manifest of the same command's run (which checks the same files and
    the experiment's record besides): a plan right after a run is a no-op too.
    ``with_nodes(m)``: whether the answer needs the nodes (``m["nodes_json"]``), kept after
    what the check reads, so that a run that only counts them never loads them."""
    for mode in ((True, False) if dry_run else (False,)):
        try:
            m = _check(_key(ws_root, file, defines, name, targets, mode, namespace,
                            routes_by), with_nodes)
        except Exception:       # a damaged manifest only costs the fast path
            m = None
        if m is not None:
            return m
    return None


# what the last failed check of this process saw: (key, manifest, index of the first
# changed file), so that the incremental run after it (incremental.py) starts from there
_checked: list = []


def _check(key, with_nodes):
    m = load(key, with_nodes)
    if m is None:
        return None
    changed = changed_paths(m, first=True)
    if changed:
        _checked[:] = [(key, m, changed[0])]
        return None
    return m


def checked(key):
    """(manifest, index of its first changed file) if this process's last check was of
    ``key`` and found a change (the files before it were found unchanged), else None."""
    if _checked and _checked[0][0] == key:
        return _checked[0][1], _checked[0][2]
    return None


def load(key, with_nodes=lambda m: False):
    """The manifest of ``key`` if the sources it was made from are unchanged, else None
    (the files it lists are not looked at: :func:`changed_paths`)."""
    try:
        with open(_path(key["workspace"], key), "rb") as f:
            m = marshal.load(f)
            if type(m) is not dict or m.get("key") != key:
                return None
            if with_nodes(m):       # the second object of the same file
                m["nodes_json"] = marshal.load(f)
                if type(m["nodes_json"]) is not str:
                    return None
    except (OSError, ValueError, EOFError, TypeError):
        return None
    for path, digest in m["sources"].items():
        if _content(path) != digest:
            return None
    return m


def nodes_json(m) -> str | None:
    """The manifest's second object (the nodes as JSON), read now if not yet."""
    if "nodes_json" not in m:
        try:
            with open(_path(m["key"]["workspace"], m["key"]), "rb") as f:
                if marshal.load(f).get("key") != m["key"]:
                    return None
                m["nodes_json"] = marshal.load(f)
        except (OSError, ValueError, EOFError, TypeError, AttributeError):
            return None
    return m["nodes_json"] if type(m["nodes_json"]) is str else None


def changed_paths(m, first=False, start=0) -> list[int]:
    """The indices (in ``m["paths"]``) of the files that no longer stat as recorded
    (``first``: stop at the first one; ``start``: the files before it are known to be
    unchanged)."""
    sigs = array("q")
    sigs.frombytes(m["sigs"])
    stat = os.stat
    changed = []
    i = 4 * start
    paths = m["paths"].split("\0")
    for k in range(start, len(paths)):
        path = paths[k]
        try:
            st = stat(path)
        except OSError:
            st = None
        if st is None or st.st_size != sigs[i] or st.st_mtime_ns != sigs[i + 1] or \
                st.st_ino != sigs[i + 2] or st.st_ctime_ns != sigs[i + 3]:
            changed.append(k)
            if first:
                break
        i += 4
    return changed


def record(ws_root: str, file, defines, name, targets, plan, nodes, dry_run=False,
           namespace=None, routes=None, launcher_name="local", routes_by="", carry=None):
    """Write the manifest after a run in which every job is done (else remove it).
    ``routes`` ({task: launcher}) and ``launcher_name`` (the default) give each node its
    launcher, as the full path's --json does; ``routes_by`` (:func:`routing`) is what
    decided them. ``carry``: the run answered from an earlier manifest (incremental.py):
    the same plan, so the same files (only those of the jobs decided again are looked at
    again, :func:`_record_carried`) and the same nodes' JSON. Each node's files are kept
    apart (``offsets``/``owned``), so that the next run can tell which jobs a changed file
    concerns."""
    from .code import CodeFinder, code_stat_paths
    from .rebuild import input_paths
    key = _key(ws_root, file, defines, name, targets, dry_run, namespace, routes_by)
    path = _path(ws_root, key)
    if not nodes or any(n.status != "done" for n in nodes):
        try:
            os.unlink(path)
        except OSError:
            pass
        return False
    if carry is not None and carry.is_run == (not dry_run) and carry.nodes_json is not None:
        return _record_carried(path, carry)
    seen: dict = {}
    finder = CodeFinder()
    for task in plan.tasks.values():
        # a code folder is judged by the stat of each of its folders and files
        for p in (q for c in finder.files(task) for q in code_stat_paths(c)):
            if p not in seen:
                try:
                    st = os.stat(p)
                except OSError:
                    return False
                seen[p] = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    # the experiment's record: if another run rewrote it, the full path records this plan
    if not dry_run:
        record_file = os.path.join(ws_root, "experiments", plan.name, "jobs.jsonl")
        sig = _sig(record_file)
        if sig is None or sig == "dir":
            return False
        seen[record_file] = sig
    fixed = len(seen)
    where = {p: k for k, p in enumerate(seen)}
    offsets, owned = array("i", [0]), array("i")
    for n in nodes:
        job = n.job
        files = [n.dir + "/state.json"]
        files += [n.dir + "/" + rel for rel in job.task.outputs.values()]
        files += input_paths(job)
        for p in files:
            k = where.get(p)
            if k is None:
                sig = _sig(p)
                if sig is None or sig == "dir":
                    return False      # a folder or a missing file: no fast path
                k = where[p] = len(seen)
                seen[p] = sig
            owned.append(k)
        offsets.append(len(owned))
    sigs = array("q")
    for sig in seen.values():
        sigs.extend(sig)
    sources = {s: _content(s) for s in plan.sources}
    # kept as one string and byte arrays: loading them costs almost nothing; the nodes
    # (for --json and short plan tables) are a second object after it, read only if needed
    manifest = {
        "key": key,
        "sources": sources,
        "paths": "\0".join(seen), "sigs": sigs.tobytes(), "fixed": fixed,
        "offsets": offsets.tobytes(), "owned": owned.tobytes(),
        "ids": ids_digest([n.job.id for n in nodes]),
        "experiment": plan.name,
        "count": len(nodes),
    }
    text = carry.nodes_json if carry is not None else None
    if text is None:
        import json
        from . import schema
        text = json.dumps([
            dict(schema.node(n.job.id, n.job.task.name, n.dir, "done", (),
                             [d.id for d in n.job.deps], n.job.tags, False),
                 launcher=(routes or {}).get(n.job.task.name, launcher_name))
            for n in nodes])
    # the plan table has a launcher column when jobs go to several launchers
    manifest["routed"] = any(v != launcher_name for v in (routes or {}).values())
    from .workspace import atomic_write
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, marshal.dumps(manifest) + marshal.dumps(text))
    if carry is None:           # the plan itself, for the next run that finds changes
        from . import plancache
        plancache.store(ws_root, key, sources, plan)
    return True


def ids_digest(ids) -> str:
    """What the manifest's nodes are, in order (an incremental run checks it is the same)."""
    return xxhash.xxh3_128_hexdigest("\0".join(ids).encode())


def _record_carried(path: str, carry) -> bool:
    """The manifest of an incremental run (incremental.py) from the one it was answered
    from: the same plan, so the same files; only those of the jobs it decided again, and
    the code files and the experiment's record, are looked at again."""
    m = carry.manifest
    sigs = array("q", carry.sigs)
    todo = set(range(m["fixed"]))
    offsets, owned = carry.offsets, carry.owned
    for pos in carry.dirty:
        todo.update(owned[offsets[pos]:offsets[pos + 1]])
    paths = carry.paths
    for k in todo:
        sig = _sig(paths[k])
        if sig is None or sig == "dir":
            try:
                os.unlink(path)
            except OSError:
                pass
            return False
        sigs[4 * k:4 * k + 4] = array("q", sig)
    text = carry.nodes_json
    if text is None:
        return False
    m["sigs"] = sigs.tobytes()
    from .workspace import atomic_write
    atomic_write(path, marshal.dumps(m) + marshal.dumps(text))
    return True
