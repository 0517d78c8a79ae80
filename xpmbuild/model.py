"""The checked model: types, config and task definitions, values, jobs, and identity.

A :class:`TaskDef` or :class:`ConfigDef` is a checked declaration. Calling one in the
plan makes a :class:`ConfigValue` or a :class:`Job`. Each value knows its canonical
identity encoding, computed once when it is made from its arguments' already-computed
encodings (docs/language.md §6 is the contract; ``ENCODING_VERSION`` names it).

The job id is ``xxh3_128`` of ``ENCODING_PREFIX + encoding``: changing anything in
:func:`encode` changes every user's job ids, so it needs a new ``ENCODING_VERSION``
and a migration (tests/golden_ids.json pins it).
"""
from __future__ import annotations

import json
import os

import xxhash

ENCODING_VERSION = 1
ENCODING_PREFIX = b"xpm-identity-v1\x00"

_json_str = json.JSONEncoder(ensure_ascii=False).encode


class TypeMismatch(Exception):
    """A value does not fit a declared type; the caller adds the position."""


# ----------------------------------------------------------------------------- values


class PathValue:
    """A ``path`` value: an absolute path, encoded relative to the experiment root."""

    __slots__ = ("path", "enc")

    def __init__(self, path: str, root: str):
        self.path = path
        rel = os.path.relpath(path, root)
        shown = path if rel == ".." or rel.startswith(".." + os.sep) else rel
        self.enc = '{"path":' + _json_str(shown.replace(os.sep, "/")) + "}"

    def __eq__(self, other):
        return isinstance(other, PathValue) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def __repr__(self):
        return f"path({self.path!r})"

    def __str__(self):
        return self.path


class OutputRef:
    """``job.output``: a path inside another job's directory (makes that job a dependency)."""

    __slots__ = ("job", "name", "enc")

    def __init__(self, job: "Job", name: str):
        self.job = job
        self.name = name
        self.enc = '{"output":[' + _json_str(job.id) + "," + _json_str(name) + "]}"

    @property
    def relpath(self) -> str:
        return self.job.task.outputs[self.name]

    def __eq__(self, other):
        return isinstance(other, OutputRef) and other.enc == self.enc

    def __hash__(self):
        return hash(self.enc)

    def __repr__(self):
        return f"{self.job.task.name}/{self.job.id[:8]}.{self.name}"


class Tagged:
    """``tag(value)`` before it is passed to a parameter (which names the tag)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class ConfigValue:
    """An instance of a config: its values (all parameters), tags and dependencies."""

    __slots__ = ("definition", "values", "tags", "deps", "enc")

    def __init__(self, definition, values, tags, deps, enc):
        self.definition = definition
        self.values = values
        self.tags = tags
        self.deps = deps
        self.enc = enc

    def __eq__(self, other):
        return isinstance(other, ConfigValue) and other.enc == self.enc

    def __hash__(self):
        return hash(self.enc)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{self.definition.name}({inner})"


class Job:
    """One job of the plan: a task applied to values. ``id`` is its identity."""

    __slots__ = ("task", "id", "values", "tags", "deps", "pos")

    def __init__(self, task, job_id, values, tags, deps, enc=None, pos=None):
        self.task = task
        self.id = job_id
        self.values = values
        self.tags = tags
        self.deps = deps          # tuple of Job, in first-use order, no duplicates
        self.pos = pos
        # ``enc`` (the reference form {"job": id}) is made from the id when asked for:
        # a 100k-job plan need not keep 100k copies
        assert enc is None or enc == job_reference(job_id)

    @property
    def enc(self) -> str:
        """The identity encoding's reference form: ``{"job":"ID"}``."""
        return job_reference(self.id)

    @property
    def name(self) -> str:
        return f"{self.task.name}/{self.id}"

    @property
    def short(self) -> str:
        return f"{self.task.name}/{self.id[:8]}"

    def __repr__(self):
        return f"<job {self.short}>"


def encode(value) -> str:
    """Canonical identity encoding of an already type-checked value (docs/language.md §6)."""
    t = type(value)
    if t is str:
        return _json_str(value)
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            return '{"float":"' + repr(value) + '"}'
        return repr(value)
    if value is None:
        return "null"
    if t is list:
        return "[" + ",".join([encode(v) for v in value]) + "]"
    if t is dict:
        return '{"dict":{' + ",".join(
            [_json_str(k) + ":" + encode(value[k]) for k in sorted(value)]) + "}}"
    return value.enc


def identity_hash(encoding: str) -> str:
    return xxhash.xxh3_128_hexdigest(ENCODING_PREFIX + encoding.encode("utf-8"))


# The encodings of a call (docs/language.md §6). The language binds a call's arguments
# and hands over the entries of those that enter identity; these functions alone spell
# out the encoding around them.


def params_body(entries: list) -> str:
    """The ``params`` of a call's encoding: ``(name, ParamDef.key + encode(value))``
    entries of the arguments that enter identity (not options, not equal to the default),
    sorted by name (``entries`` is sorted in place), joined by commas."""
    if len(entries) > 1:
        entries.sort()
    return ",".join([kv for _, kv in entries])


def config_encoding(config_name: str, body: str) -> str:
    """The encoding of a config value: ``{"config":NAME,"params":{BODY}}``."""
    return '{"config":' + _json_str(config_name) + ',"params":{' + body + "}}"


def job_encoding(task_name: str, body: str, namespace: str | None = None) -> str:
    """The encoding whose :func:`identity_hash` is a job's id:
    ``{"task":NAME,"params":{BODY}}``, with ``"namespace":NS,`` first when the
    ``namespace`` setting is set (only then: ids without one are unchanged)."""
    head = _JOB_HEADS.get((task_name, namespace))
    if head is None:        # the same few per plan: encoded once each
        head = '{"namespace":' + _json_str(namespace) + "," if namespace else "{"
        head = _JOB_HEADS[(task_name, namespace)] = \
            head + '"task":' + _json_str(task_name) + ',"params":{'
    return head + body + "}}"


_JOB_HEADS: dict = {}


def job_reference(job_id: str) -> str:
    """How a job stands in the encoding of a value that depends on it: ``{"job":ID}``."""
    return '{"job":"' + job_id + '"}'


def collect_deps(value, out: dict):
    """Add every job ``value`` depends on to ``out`` (an ordered dict used as a set)."""
    t = type(value)
    if t is Job:
        out[value.id] = value
    elif t is OutputRef:
        out[value.job.id] = value.job
    elif t is ConfigValue:
        for d in value.deps:
            out[d.id] = d
    elif t is list:
        for v in value:
            collect_deps(v, out)
    elif t is dict:
        for v in value.values():
            collect_deps(v, out)


# ----------------------------------------------------------------------------- types


class Type:
    name = "?"
    optional = False

    def coerce(self, value, ctx):
        """Return the value converted to this type, or raise :class:`TypeMismatch`."""
        raise NotImplementedError

    def __str__(self):
        return self.name


def describe(value) -> str:
    """A value's type in the language's words, for error messages."""
    t = type(value)
    if value is None:
        return "None"
    if t is bool:
        return "bool"
    if t in (int, float, str, list, dict):
        return t.__name__
    if t is PathValue:
        return "path"
    if t is OutputRef:
        return f"output {value.name} of a {value.job.task.name} job (a path)"
    if t is ConfigValue:
        return f"config {value.definition.name}"
    if t is Job:
        return f"job of task {value.task.name}"
    if t is Tagged:
        return describe(value.value)
    if t is range:
        return "range"
    if isinstance(value, ConfigDef):      # a declaration's name, not called
        return f"the {value.kind} {value.name} itself (call it: {value.name}(...))"
    return t.__name__


class Prim(Type):
    def __init__(self, name):
        self.name = name

    def coerce(self, value, ctx):
        n = self.name
        t = type(value)
        if n == "int":
            if t is int:
                return value
        elif n == "float":
            if t is float:
                return value
            if t is int:
                return float(value)
        elif n == "str":
            if t is str:
                return value
        elif n == "bool":
            if t is bool:
                return value
        raise TypeMismatch(f"expected {n}, got {describe(value)}")


_PATHS: dict = {}      # (base_dir, root, text) -> PathValue: the same string, the same value


class PathType(Type):
    name = "path"

    def coerce(self, value, ctx):
        t = type(value)
        if t is str:
            key = (ctx.base_dir, ctx.root, value)
            pv = _PATHS.get(key)
            if pv is not None:
                return pv
            if not value:
                raise TypeMismatch("expected a path, got an empty string")
            full = os.path.join(ctx.base_dir, os.path.expanduser(value))
            pv = _PATHS[key] = PathValue(os.path.normpath(full), ctx.root)
            return pv
        if t is PathValue or t is OutputRef:
            return value
        raise TypeMismatch(f"expected path (a string), got {describe(value)}")


class ListType(Type):
    def __init__(self, item: Type):
        self.item = item
        self.name = f"list[{item}]"

    def coerce(self, value, ctx):
        if type(value) is not list:
            raise TypeMismatch(f"expected {self.name}, got {describe(value)}")
        item = self.item
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item.coerce(v, ctx))
            except TypeMismatch as e:
                raise TypeMismatch(f"item {i}: {e}") from None
        return out


class DictType(Type):
    def __init__(self, item: Type):
        self.item = item
        self.name = f"dict[{item}]"

    def coerce(self, value, ctx):
        if type(value) is not dict:
            raise TypeMismatch(f"expected {self.name}, got {describe(value)}")
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise TypeMismatch(f"dict keys must be strings, got {describe(k)}")
            try:
                out[k] = self.item.coerce(v, ctx)
            except TypeMismatch as e:
                raise TypeMismatch(f"key {k!r}: {e}") from None
        return out


class ChoiceType(Type):
    def __init__(self, choices):
        self.choices = list(choices)
        self.name = "choice(" + ", ".join(repr(c) if isinstance(c, str) else str(c)
                                          for c in self.choices) + ")"

    def coerce(self, value, ctx):
        for c in self.choices:
            if type(c) is type(value) and c == value:
                return value
            if type(c) is float and type(value) is int and c == value:
                return c
        shown = repr(value) if isinstance(value, (str, int, float, bool)) or value is None \
            else describe(value)
        raise TypeMismatch(f"{shown} is not one of " + ", ".join(
            repr(c) for c in self.choices))


class ConfigType(Type):
    def __init__(self, definition):
        self.definition = definition
        self.name = definition.name

    def coerce(self, value, ctx):
        if type(value) is ConfigValue and value.definition is self.definition:
            return value
        raise TypeMismatch(f"expected config {self.name}, got {describe(value)}")


class TaskType(Type):
    def __init__(self, definition):
        self.definition = definition
        self.name = definition.name

    def coerce(self, value, ctx):
        if type(value) is Job and value.task is self.definition:
            return value
        raise TypeMismatch(f"expected a job of task {self.name}, got {describe(value)}")


class OptionalType(Type):
    optional = True

    def __init__(self, inner: Type):
        self.inner = inner
        self.name = f"{inner}?"

    def coerce(self, value, ctx):
        if value is None:
            return None
        return self.inner.coerce(value, ctx)


PRIMITIVES = {"int": Prim("int"), "float": Prim("float"), "str": Prim("str"),
              "bool": Prim("bool"), "path": PathType()}


# ----------------------------------------------------------------------------- definitions


class ParamDef:
    __slots__ = ("name", "type", "has_default", "default", "default_enc", "option", "pos", "key")

    def __init__(self, name, type_, option, pos):
        self.name = name
        self.type = type_
        self.option = option
        self.pos = pos
        self.has_default = False
        self.default = None
        # The encoding of the default, left out of identities. A `T?` parameter without
        # a default defaults to None, so None is left out too (adding one never changes ids).
        self.default_enc = "null" if type_.optional else None
        self.key = _json_str(name) + ":"     # the parameter's name in an identity body


class ConfigDef:
    """A checked ``config`` declaration (and the base of :class:`TaskDef`)."""

    kind = "config"

    def __init__(self, name: str, file: str, here: str, doc: str | None = None,
                 params: dict | None = None, pos=None):
        self.name = name
        self.file = file
        self.here = here                # directory of the declaring file
        self.doc = doc
        self.params = {} if params is None else params  # name -> ParamDef, declaration order
        self.pos = pos

    def __repr__(self):
        return f"<{self.kind} {self.name}>"


class Template:
    """A parsed shell template: literal text and placeholders (tuples of names)."""

    def __init__(self, text: str, parts: list, contexts: list | None = None):
        self.text = text
        self.parts = parts              # str | tuple[str, ...]
        # aligned with parts: None for text, the shell context of each placeholder
        # (shellquote.TOP, DQ, SQ, ANSI: how its value is quoted); empty: all TOP
        self.contexts = [] if contexts is None else contexts

    def __repr__(self):
        return f"Template({self.text!r})"

    def names(self):
        return [p for p in self.parts if type(p) is tuple]


class TaskDef(ConfigDef):
    kind = "task"

    def __init__(self, name: str, file: str, here: str, doc: str | None = None,
                 params: dict | None = None, pos=None, outputs: dict | None = None,
                 requires: dict | None = None, action_kind: str = "shell", action=None,
                 uses: list | None = None):
        super().__init__(name, file, here, doc, params, pos)
        self.outputs = {} if outputs is None else outputs      # name -> relative path
        self.requires = {} if requires is None else requires   # cpus/mem/gpus/time -> value
        self.action_kind = action_kind                         # "shell" | "python"
        self.action = action                # Template (shell) | "module:function"
        # `uses` lines: absolute normalized paths (files or folders) whose content is part
        # of the jobs' fingerprint, in declaration order, without duplicates; never identity
        self.uses = [] if uses is None else uses

    @property
    def has_options(self) -> bool:
        return any(p.option for p in self.params.values())


class Plan:
    """The result of evaluating an experiment file: its jobs, in creation order.

    Creation order is a topological order: a job can only depend on jobs made before it.
    (Plain classes here, not dataclasses: importing dataclasses costs a run ~12 ms.)
    """

    def __init__(self, file: str, name: str, root: str, jobs: dict | None = None,
                 tasks: dict | None = None, configs: dict | None = None,
                 args: dict | None = None, sources: list | None = None,
                 services: dict | None = None):
        self.file = file
        self.name = name
        self.root = root
        self.jobs = {} if jobs is None else jobs                # id -> Job
        self.tasks = {} if tasks is None else tasks             # name -> TaskDef
        self.configs = {} if configs is None else configs       # name -> ConfigDef
        self.args = {} if args is None else args                # name -> value
        self.sources = [] if sources is None else sources       # every .xpm file read
        self.services = {} if services is None else services   # name -> ServiceCall

    def __repr__(self):
        return f"<plan {self.name}: {len(self.jobs)} jobs>"

    def __len__(self):
        return len(self.jobs)
