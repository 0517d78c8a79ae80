"""A call site's binding without the general path's dispatch, for the usual arguments.

:meth:`.calls.Calls.bind` handles every value a parameter may receive. Most calls of a
plan pass values that fit their parameter's type as they are (a job to a task-typed
parameter, an int to an ``int``, a string to a ``path``...). For one call site, what
can be decided once is decided when it is compiled: each passed parameter's kind (from
its type), the order of the identity entries (by name), the values the parameters left
out take, which parameters may carry dependencies or input paths. Then
:meth:`FastBind.bind` binds one call with a few type tests per argument, and gives
exactly what ``Calls.bind`` would give, or ``None`` when it cannot tell (a value that
needs a conversion it does not make, a ``tag`` of an odd value, an input path with a
problem, a config not checked yet...): then ``Calls.bind`` binds that call, and reports
its errors at their positions. It never raises an error of its own and changes nothing
``Calls.bind`` would not (it fills the same caches: paths, input checks).

A site is bound by ``Calls.bind`` alone (:func:`fast_binder` gives ``None``) when a
parameter's type is a list, a dict (values that may nest jobs and paths), or when a
parameter left out is required or defaults to anything but a plain scalar.
"""
from __future__ import annotations

from .. import model as M
from .calls import _tag_display

# the kinds of parameters (by type) bound here
_INT, _FLOAT, _STR, _BOOL, _JOB, _CONFIG, _PATH, _CHOICE = range(8)
_PRIMS = {"int": _INT, "float": _FLOAT, "str": _STR, "bool": _BOOL}
_SMALL = 1 << 53            # ints that convert to float exactly and never overflow
_SCALARS = (int, float, str, bool)

_Job, _Tagged, _ConfigValue = M.Job, M.Tagged, M.ConfigValue
_PathValue, _OutputRef = M.PathValue, M.OutputRef
_json_str = M._json_str


def _kind(t):
    """(kind, the definition or type it needs, optional) of a parameter's type; None:
    not bound here."""
    optional = type(t) is M.OptionalType
    if optional:
        t = t.inner
    tt = type(t)
    if tt is M.Prim:
        return _PRIMS[t.name], None, optional
    if tt is M.TaskType:
        return _JOB, t.definition, optional
    if tt is M.ConfigType:
        return _CONFIG, t.definition, optional
    if tt is M.PathType:
        return _PATH, t, optional
    if tt is M.ChoiceType:
        return _CHOICE, t, optional
    return None


def fast_binder(calls, definition, params):
    """The :class:`FastBind` of a call of ``definition`` passing ``params`` (ParamDefs,
    in the call's order), or None when its calls are all left to ``Calls.bind``."""
    slots = []
    for p in params:
        kind = _kind(p.type)
        if kind is None:
            return None
        slots.append((p.name,) + kind)
    passed = {p.name for p in params}
    defaults = []
    for p in definition.params.values():
        if p.name in passed:
            continue
        if not (p.has_default or p.type.optional):
            return None         # a missing argument: Calls.bind reports it
        d = p.default
        if d is not None and type(d) not in _SCALARS:
            return None         # a path, a config, a list...: checked and walked there
        defaults.append((p.name, d))
    return FastBind(calls, definition, params, slots, defaults)


class FastBind:
    """Binds the calls of one call site (see the module's docstring)."""

    __slots__ = ("calls", "slots", "defaults", "order", "identity", "carriers", "inputs")

    def __init__(self, calls, definition, params, slots, defaults):
        self.calls = calls
        self.slots = tuple(slots)
        self.defaults = tuple(defaults)
        # the values' order: the call's when it passes every parameter, else the
        # declaration's (what Calls.bind makes); None: the call's
        names = [p.name for p in params]
        declared = list(definition.params)
        natural = names + [n for n, _ in defaults]
        self.order = declared if defaults and natural != declared else None
        # the identity entries, sorted by name (params_body's order): (index, key, default)
        self.identity = tuple(sorted(((i, p.key, p.default_enc) for i, p in enumerate(params)
                                      if not p.option), key=lambda e: params[e[0]].name))
        # the parameters whose values may bring dependencies (and configs' tags), in the
        # values' order; and those whose values are input paths to check
        final = self.order or natural
        kinds = {p.name: s[1] for p, s in zip(params, slots)}
        self.carriers = tuple(n for n in final if kinds.get(n) in (_JOB, _CONFIG, _PATH))
        self.inputs = tuple(p.name for p, s in zip(params, slots)
                            if s[1] in (_CONFIG, _PATH) and not p.option)

    def bind(self, vals):
        """(values, tags, deps, body) as ``Calls.bind`` gives them for the values ``vals``
        of the call's arguments (in the call's order); None: ask ``Calls.bind``."""
        values = {}
        encs = []
        tags = None
        ctx = self.calls.ctx
        for (name, kind, arg, optional), v in zip(self.slots, vals):
            t = type(v)
            tagged = t is _Tagged
            if tagged:
                v = v.value
                t = type(v)
            if kind is _JOB:
                if t is not _Job or v.task is not arg:
                    if v is None and optional:
                        enc = "null"
                    else:
                        return None
                else:
                    enc = '{"job":"' + v.id + '"}'
            elif kind is _INT:
                if t is int:
                    enc = str(v)
                elif v is None and optional:
                    enc = "null"
                else:
                    return None
            elif kind is _FLOAT:
                if t is not float:
                    if t is int and -_SMALL < v < _SMALL:
                        v = float(v)
                    elif v is None and optional:
                        v = None
                    else:
                        return None
                if v is None:
                    enc = "null"
                elif v - v == 0.0:          # finite
                    enc = repr(v)
                else:
                    enc = M.encode(v)
            elif kind is _STR:
                if t is str:
                    enc = _json_str(v)
                elif v is None and optional:
                    enc = "null"
                else:
                    return None
            elif kind is _PATH:
                if t is str or t is _PathValue or t is _OutputRef:
                    try:
                        v = arg.coerce(v, ctx)
                    except M.TypeMismatch:
                        return None
                    enc = v.enc
                elif v is None and optional:
                    enc = "null"
                else:
                    return None
            elif kind is _CONFIG:
                if t is _ConfigValue and v.definition is arg:
                    enc = v.enc
                elif v is None and optional:
                    enc = "null"
                else:
                    return None
            elif kind is _BOOL:
                if t is bool:
                    enc = "true" if v else "false"
                elif v is None and optional:
                    enc = "null"
                else:
                    return None
            else:                           # _CHOICE: scalars only
                if v is None and optional:
                    enc = "null"
                elif t in _SCALARS:
                    try:
                        v = arg.coerce(v, ctx)
                    except M.TypeMismatch:
                        return None
                    enc = M.encode(v)
                else:
                    return None
            if tagged:
                if tags is None:
                    tags = {}
                tags[name] = _tag_display(v)
            values[name] = v
            encs.append(enc)
        return self._complete(values, encs, tags)

    def _complete(self, values, encs, tags):
        """The rest of :meth:`bind`, once every argument is converted and encoded."""
        for name, d in self.defaults:
            values[name] = d
        if self.order is not None:
            values = {name: values[name] for name in self.order}
        if self.inputs:
            checker = self.calls.inputs
            if checker is not None:
                for name in self.inputs:
                    v = values[name]
                    t = type(v)
                    if t is _PathValue:
                        if checker.problem(v.path) is not None:
                            return None     # Calls.bind reports it
                    elif t is _ConfigValue and id(v) not in checker.configs:
                        return None         # a config made by a default: checked there
        parts = []
        for i, key, default in self.identity:
            enc = encs[i]
            if enc != default:
                parts.append(key + enc)
        body = ",".join(parts)
        deps = {}
        config_tags = None
        for name in self.carriers:
            v = values[name]
            t = type(v)
            if t is _Job:
                deps[v.id] = v
            elif t is _OutputRef:
                deps[v.job.id] = v.job
            elif t is _ConfigValue:
                for d in v.deps:
                    deps[d.id] = d
                if v.tags:
                    config_tags = (config_tags or []) + [v.tags]
        if tags is None:
            tags = {}
        # tags: the dependencies', then the configs', then the call's own (which win)
        inherited = None
        for d in deps.values():
            if d.tags:
                if inherited is None:
                    inherited = {}
                inherited.update(d.tags)
        if config_tags:
            if inherited is None:
                inherited = {}
            for ct in config_tags:
                inherited.update(ct)
        if inherited:
            inherited.update(tags)
            tags = inherited
        return values, tags, deps, body


def compile_call(calls, definition, kwargs, pos):
    """The closure of a call of a config, a task or a service: ``kwargs`` are
    (ParamDef, the closure of its value, the value's position), in the call's order. The
    arguments are evaluated first, in that order, then bound (:class:`FastBind`, or
    ``Calls.bind``)."""
    if definition.kind == "service":
        attach = calls.attach_service
        return lambda env: attach(definition, [(p, f(env), vpos) for p, f, vpos in kwargs],
                                  pos)
    new = calls.new_job if definition.kind == "task" else calls.new_config
    binder = fast_binder(calls, definition, [p for p, _, _ in kwargs])
    fast = binder.bind if binder is not None else (lambda vals: None)
    checked = calls.bind
    plain = [(p, vpos) for p, _, vpos in kwargs]

    def slow(vals):
        return checked(definition, [(p, v, vpos) for (p, vpos), v in zip(plain, vals)], pos)

    fs = [f for _, f, _ in kwargs]
    if len(fs) == 1:
        f0, = fs

        def call(env):
            vals = (f0(env),)
            return new(definition, fast(vals) or slow(vals), pos)
    elif len(fs) == 2:
        f0, f1 = fs

        def call(env):
            vals = (f0(env), f1(env))
            return new(definition, fast(vals) or slow(vals), pos)
    elif len(fs) == 3:
        f0, f1, f2 = fs

        def call(env):
            vals = (f0(env), f1(env), f2(env))
            return new(definition, fast(vals) or slow(vals), pos)
    else:
        def call(env):
            vals = [f(env) for f in fs]
            return new(definition, fast(vals) or slow(vals), pos)
    return call
