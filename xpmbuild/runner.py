"""Runs a ``python "module:function"`` action inside the job process.

``python -m xpmbuild.runner MODULE:FUNCTION HERE`` in the job folder: puts HERE (the
declaring file's directory) on ``sys.path``, reads ``params.json`` and calls the function
with one keyword argument per parameter and per output. Paths are ``pathlib.Path``;
configs are read-only objects with attribute access; dependencies are objects whose
attributes are their outputs' absolute paths. Kept free of heavy imports: it runs once
per job.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path


class ReadOnly:
    """Attribute access to a config's fields (or a dependency's outputs); no assignment."""

    def __init__(self, kind: str, name: str, fields: dict):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, attr):
        fields = object.__getattribute__(self, "_fields")
        try:
            return fields[attr]
        except KeyError:
            raise AttributeError(f"{self._kind} {self._name} has no attribute {attr!r}") \
                from None

    def __setattr__(self, attr, value):
        raise AttributeError(f"{self._kind} {self._name} is read-only")

    def __iter__(self):
        return iter(self._fields.items())

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{self._name}({inner})"


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$path" in value:
            return Path(value["$path"]).resolve()
        if "$dict" in value:
            return {k: decode(v) for k, v in value["$dict"].items()}
        if "$config" in value:
            return ReadOnly("config", value["$config"],
                            {k: decode(v) for k, v in value["fields"].items()})
        if "$job" in value:
            base = Path(value["dir"]).resolve()
            outputs = {k: base / rel for k, rel in value["outputs"].items()}
            outputs["dir"] = base
            return ReadOnly("job of task", value["$job"], outputs)
    return value


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or ":" not in argv[0]:
        print("usage: python -m xpmbuild.runner MODULE:FUNCTION HERE", file=sys.stderr)
        return 2
    target, here = argv
    module_name, func_name = target.split(":", 1)
    with open("params.json", encoding="utf-8") as f:
        doc = json.load(f)
    kwargs = {k: decode(v) for k, v in doc["params"].items()}
    cwd = Path(os.getcwd())
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
