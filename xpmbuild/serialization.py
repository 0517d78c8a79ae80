"""Serialization: a job's parameters back from its ``params.json``, typed.

``params.json`` keeps each value's type with ``$`` keys (actions.to_json). :func:`decode`
turns them back into the objects a ``python`` action receives and an analysis reads — one
implementation for both (runner.py and the Python API):

- a config: a read-only :class:`Config` whose class is named after the config's type
  (``type(opt).__name__ == "Optimizer"``), with attribute access (``opt.lr``);
- a path: an absolute ``pathlib.Path`` (relative ones are relative to the job folder);
- a dependency: a :class:`~xpmbuild.job.Job` (``data.outputs["tokens"]``, or ``data.tokens``);
- a dict, a list: the same, decoded inside.

Kept free of heavy imports: the runner imports it in every python job.
"""
from __future__ import annotations

from pathlib import Path


class Config:
    """A config value read back: read-only attributes, iteration over (name, value)."""

    __slots__ = ("_fields",)
    type_name = "Config"

    def __init__(self, fields: dict):
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, attr):
        try:
            return object.__getattribute__(self, "_fields")[attr]
        except KeyError:
            raise AttributeError(f"config {self.type_name} has no attribute {attr!r}") from None

    def __setattr__(self, attr, value):
        raise AttributeError(f"config {self.type_name} is read-only")

    def __iter__(self):
        return iter(self._fields.items())

    def __eq__(self, other):
        return type(other) is type(self) and other._fields == self._fields

    def __hash__(self):
        return hash((self.type_name, tuple(sorted(self._fields))))

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{self.type_name}({inner})"

    def to_dict(self) -> dict:
        return {k: plain(v) for k, v in self._fields.items()}


_CLASSES: dict[str, type] = {}


def config_class(name: str) -> type:
    """The class of configs of type ``name`` (one per name, so isinstance works)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = _CLASSES[name] = type(name, (Config,), {"__slots__": (), "type_name": name})
    return cls


def decode(value, base: Path):
    """A ``params.json`` value as an object; ``base``: the job folder."""
    if isinstance(value, list):
        return [decode(v, base) for v in value]
    if isinstance(value, dict):
        if "$path" in value:
            return (base / value["$path"]).resolve()
        if "$dict" in value:
            return {k: decode(v, base) for k, v in value["$dict"].items()}
        if "$config" in value:
            return config_class(value["$config"])(
                {k: decode(v, base) for k, v in (value.get("fields") or {}).items()})
        if "$job" in value:
            from .job import Job
            return Job((base / value["dir"]).resolve(), task=value["$job"],
                       outputs=value.get("outputs"))
    return value


def plain(value):
    """JSON-compatible data of a decoded value (paths as text, jobs as their task/id)."""
    from .job import Job
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Job):
        return {"task": value.task, "id": value.id}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
