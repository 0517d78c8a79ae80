"""Code a job's result depends on, found without a declaration in the common case.

A task's *code files* are part of its jobs' fingerprints (by content), so editing a script
rebuilds the jobs that run it:

- files under the task's folder (the folder of the ``.xpm`` file declaring it) that its
  ``shell`` template names: ``{here}/prepare.py`` and literal paths (``scripts/x.sh``,
  or absolute ones inside that folder) — only paths written out in full: a path built from
  a placeholder (``{here}/{script}``) is not followed, nor a file the command writes
  (``>> {here}/runs.log``);
- a ``python "module:function"`` action's module;
- what the task declares with ``uses "scripts/", "lib/helpers.py"`` (files or folders);
- and, for every Python file among these, the local modules it imports, transitively
  (``import x``, ``from pkg import mod``, relative imports): files under the task's
  folder. Installed packages are not tracked.

Any edit of a tracked file, comments included, rebuilds: the content is hashed as it is
(reading the code's meaning is not worth a wrong "up to date"). In folders, ``__pycache__``,
``.git`` and compiled files are left out.
"""
from __future__ import annotations

import os
import re

_WORD = re.compile(r"""[^\s;|&<>()'"`$]+""")
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class CodeFinder:
    """Code files per task, found once per task and run."""

    def __init__(self):
        self._tasks: dict[int, list[str]] = {}
        self._imports: dict[str, list[str]] = {}

    def files(self, task) -> list[str]:
        """Absolute paths of the task's code files (files and folders), in a stable order."""
        key = id(task)
        found = self._tasks.get(key)
        if found is None:
            found = self._find(task)
            self._tasks[key] = found
        return found

    def _find(self, task) -> list[str]:
        here = os.path.realpath(task.here)
        roots: list[str] = []
        if task.action_kind == "shell":
            roots += shell_named_files(task.action, here)
        else:
            from .actions import python_module_file
            mod = python_module_file(task)
            if mod:
                roots.append(os.path.realpath(mod))
        roots += [os.path.realpath(p) for p in task.uses]
        out, seen = [], set()
        stack = list(reversed(roots))
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            out.append(p)
            if p.endswith(".py") and os.path.isfile(p):
                stack.extend(reversed(self.local_imports(p, here)))
        return sorted(out)

    def local_imports(self, path: str, here: str) -> list[str]:
        """Files of the modules ``path`` imports that are under ``here``."""
        found = self._imports.get(path)
        if found is None:
            found = _local_imports(path, here)
            self._imports[path] = found
        return found


def shell_named_files(template, here: str) -> list[str]:
    """Files under ``here`` that a shell template names in full."""
    out = []
    parts = template.parts
    for i, part in enumerate(parts):
        if type(part) is not str:
            continue
        after_here = i > 0 and parts[i - 1] == ("here",)
        for m in _WORD.finditer(part):
            word = m.group(0)
            before = part[:m.start()]
            if after_here and m.start() == 0 and i > 1 and type(parts[i - 2]) is str:
                before = parts[i - 2]
            if before.rstrip().endswith(">"):
                continue        # written by the command (> FILE, >> FILE): not its code
            if after_here and m.start() == 0 and word.startswith("/"):
                candidate = here + word
            elif word.startswith("/"):
                candidate = word
            elif "/" in word or "." in word:
                candidate = os.path.join(here, word)
            else:
                continue
            # a word glued to a following placeholder is only a prefix of a path
            if m.end() == len(part) and i + 1 < len(parts):
                continue
            candidate = os.path.realpath(candidate)
            if _inside(candidate, here) and os.path.isfile(candidate):
                out.append(candidate)
    return out


def _module_files(base: str, dotted: str) -> list[str]:
    """The file of module ``dotted`` under ``base`` and its packages' ``__init__.py``."""
    out = []
    parts = [p for p in dotted.split(".") if p]
    d = base
    for i, part in enumerate(parts):
        pkg = os.path.join(d, part)
        if i == len(parts) - 1:
            for c in (pkg + ".py", os.path.join(pkg, "__init__.py")):
                if os.path.isfile(c):
                    out.append(c)
                    break
        else:
            init = os.path.join(pkg, "__init__.py")
            if os.path.isfile(init):
                out.append(init)
            elif not os.path.isdir(pkg):
                return []
        d = pkg
    return out


def _local_imports(path: str, here: str) -> list[str]:
    import ast
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []       # it will fail when it runs; its own content is still tracked
    folder = os.path.dirname(path)
    search = [folder] if folder == here else [folder, here]
    names: list[tuple[str, str]] = []      # (base folder, dotted name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names += [(b, alias.name) for b in search]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = folder
                for _ in range(node.level - 1):
                    base = os.path.dirname(base)
                bases = [base]
            else:
                bases = search
            mod = node.module or ""
            for b in bases:
                if mod:
                    names.append((b, mod))
                for alias in node.names:      # from pkg import submodule
                    names.append((b, f"{mod}.{alias.name}" if mod else alias.name))
    out = []
    for base, dotted in names:
        for f in _module_files(base, dotted):
            f = os.path.realpath(f)
            if _inside(f, here) and f != path and f not in out:
                out.append(f)
    return out


def ignored(name: str, is_dir: bool) -> bool:
    """What a code folder's hash and stat list leave out."""
    return name in _SKIP_DIRS if is_dir else name.endswith(_SKIP_SUFFIXES)


def code_hash(hashes, path: str) -> str | None:
    """The content hash of a code file or folder (None when it is gone); a folder is
    hashed by hashing.py, without what :func:`ignored` leaves out."""
    try:
        return hashes.path_hash(path, ignore=ignored)
    except OSError:
        return None


def code_stat_paths(path: str) -> list[str]:
    """Every file and folder whose stat tells a change of a code path (for the no-op
    manifest): the file, or a folder with all its folders and files."""
    if not os.path.isdir(path):
        return [path]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d, True))
        out.append(dirpath)
        out += [os.path.join(dirpath, n) for n in sorted(filenames) if not ignored(n, False)]
    return out
