"""Runs a ``python "module:function"`` action inside the job process.

``python -m xpmbuild.runner MODULE:FUNCTION HERE`` in the job folder: puts HERE (the
declaring file's directory) on ``sys.path``, reads ``params.json`` and calls the function
with one keyword argument per parameter and per output, decoded by serialization.py (the
same objects the Python API gives back): paths are ``pathlib.Path``; configs are read-only
objects with attribute access, of a class named after their type; dependencies are
:class:`~xpmbuild.job.Job` objects (``data.tokens`` is the absolute path of the output
``tokens``). Kept free of heavy imports: it runs once per job.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

from .serialization import decode


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or ":" not in argv[0]:
        print("usage: python -m xpmbuild.runner MODULE:FUNCTION HERE", file=sys.stderr)
        return 2
    target, here = argv
    module_name, func_name = target.split(":", 1)
    with open("params.json", encoding="utf-8") as f:
        doc = json.load(f)
    cwd = Path(os.getcwd())
    kwargs = {k: decode(v, cwd) for k, v in doc["params"].items()}
    for name, rel in doc["outputs"].items():
        kwargs[name] = cwd / rel
    sys.path.insert(0, here)
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if func is None:
        print(f"xpmbuild: module {module_name} ({getattr(module, '__file__', '?')}) has no "
              f"function {func_name!r}", file=sys.stderr)
        return 2
    result = func(**kwargs)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
