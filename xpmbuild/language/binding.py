"""A call site compiled into one function: its arguments evaluated, bound, and its value made.

:meth:`.calls.Calls.bind` handles every value a parameter may receive. Most calls of a
plan pass values that fit their parameter's type as they are (a job to a task-typed
parameter, an int to an ``int``, a string to a ``path``...). For one call site, what can
be decided once is decided when it is compiled: each passed parameter's kind (from its
type), the order of the identity entries (by name), the values' order, the values the
parameters left out take, which parameters may carry dependencies or input paths. The
call's function is then written for that site alone (:func:`compile_call`: straight-line
code, a few type tests per argument, no loop) and gives exactly what ``Calls.bind``
would give — or, when a value is not one it binds as it is (a conversion it does not
make, an odd value under a ``tag``, a float that is not finite, an input path with a
problem, a config not checked yet...), hands the call's argument values to
``Calls.bind``, which binds them and reports errors at their positions. The written code
raises no error of its own and changes nothing ``Calls.bind`` would not (it fills the same
caches: paths, input checks). Nothing of the user's text enters the written code: names,
keys, definitions and defaults are constants of its namespace. A site is written once it
has run a few times (:mod:`.writing`); until then ``Calls.bind`` binds its calls.

A site is left to ``Calls.bind`` alone when a parameter's type is a dict or a list of
anything but jobs (values that may nest jobs and paths), or when a parameter left out is
required or defaults to a list or a dict holding paths or configs.
"""
from __future__ import annotations

from .. import model as M
from .calls import _tag_display
from .operators import Inline
from .writing import warming

_SCALARS = (int, float, str, bool)
_DEFAULTS = _SCALARS + (M.PathValue, M.ConfigValue)      # defaults a written site takes
_SMALL = 1 << 53            # ints that convert to float exactly and never overflow

# The encodings of the last finite non-zero floats encoded (a sweep's few values, over and
# over): equal floats that are not zeros have the same bits, hence the same repr (0.0
# and -0.0 are equal keys but differ: zeros are never kept, so never found).
_FLOATS: dict = {}
_UNSEEN = object()


def _float_enc(x):
    e = repr(x)
    if x:
        if len(_FLOATS) >= 4096:
            _FLOATS.clear()
        _FLOATS[x] = e
    return e


def _plain_default(d) -> bool:
    """Whether a written site takes the default ``d`` as it is: a scalar, a path or a
    config (checked and walked by the written code), a list or a dict of scalars (nothing
    in it to check or to depend on)."""
    t = type(d)
    if d is None or t in _DEFAULTS:
        return True
    if t is list or t is dict:
        return all(x is None or type(x) in _SCALARS or
                   (type(x) in (list, dict) and _plain_default(x))
                   for x in (d if t is list else d.values()))
    return False


def _kind(t):
    """(kind, optional) of a parameter's type; None: not bound here."""
    optional = type(t) is M.OptionalType
    if optional:
        t = t.inner
    tt = type(t)
    if tt is M.Prim:
        return t.name, optional, t          # "int", "float", "str", "bool"
    if tt is M.ListType and type(t.item) is M.TaskType:
        return "jobs", optional, t.item         # list[TASK]: an aggregate's parts
    kind = {M.TaskType: "job", M.ConfigType: "config", M.PathType: "path",
            M.ChoiceType: "choice"}.get(tt)
    if kind is None:
        return None
    return kind, optional, t


# How each kind converts ``{w}`` (its type in ``t``) and encodes it into ``{e}``: lines
# before, then the condition under which ``{body}`` encodes it; otherwise the call is
# handed to Calls.bind (``{decline}``). ``{a}`` names the definition (a job's, a
# config's) or the type (a path, a choice).
_CONVERT = {
    "job": ("", "t is _Job and {w}.task is {a}",
            "{e} = '{{\"job\":\"' + {w}.id + '\"}}'"),
    "int": ("", "t is int", "{e} = str({w})"),
    "float": ("if t is int and -_SMALL < {w} < _SMALL:\n    {w} = float({w})\n    t = float",
              "t is float and {w} - {w} == 0.0",             # finite
              "{e} = _FLOATS.get({w})\nif {e} is None:\n"
              "    {e} = _float_enc({w})"),
    "str": ("", "t is str", "{e} = _json_str({w})"),
    "bool": ("", "t is bool", "{e} = 'true' if {w} else 'false'"),
    # a string: PathType.coerce's value (its cache read first, as it reads it)
    "path": ("if t is str:\n    x = _PATHS.get((CTX.base_dir, CTX.root, {w}))\n"
             "    if x is None:\n        try:\n            x = {a}.coerce({w}, CTX)\n"
             "        except _TypeMismatch:\n            {decline}\n    {w} = x\n"
             "    t = _PathValue",
             "t is _PathValue or t is _OutputRef", "{e} = {w}.enc"),
    "config": ("", "t is _ConfigValue and {w}.definition is {a}", "{e} = {w}.enc"),
    "jobs": ("", "t is list",
             "for x in {w}:\n    if type(x) is not _Job or x.task is not {a}:\n"
             "        {decline}\n{w} = list({w})\n"
             "{e} = '[' + ','.join(['{{\"job\":\"' + x.id + '\"}}' for x in {w}]) + ']'"),
    "choice": ("", "t in _SCALARS",
               "try:\n    {w} = {a}.coerce({w}, CTX)\nexcept _TypeMismatch:\n    {decline}\n"
               "{e} = _encode({w})"),
}


def _block(text, n=4):
    pad = " " * n
    return "".join(pad + line + "\n" for line in text.splitlines())


class _Writer:
    """The source of one call site's function, and the constants it names."""

    def __init__(self, calls, definition, n, new, slow, pos):
        self.ns = {"_Job": M.Job, "_Tagged": M.Tagged, "_ConfigValue": M.ConfigValue,
                   "_PathValue": M.PathValue, "_OutputRef": M.OutputRef,
                   "_json_str": M._json_str, "_encode": M.encode, "_tag_display": _tag_display,
                   "_TypeMismatch": M.TypeMismatch, "_SMALL": _SMALL, "_SCALARS": _SCALARS,
                   "_FLOATS": _FLOATS, "_float_enc": _float_enc, "_PATHS": M._PATHS,
                   "_UNSEEN": _UNSEEN,
                   "CTX": calls.ctx, "CHECKER": calls.inputs, "NEW": new, "SLOW": slow,
                   "DEF": definition, "POS": pos, "JOB_OF": calls.job_of,
                   "_identity_hash": M.identity_hash}
        self.calls = calls
        self.lines = []
        # the values as evaluated go to Calls.bind
        self.decline = "return NEW(DEF, SLOW((" + "".join(f"v{i}, " for i in range(n)) + \
            ")), POS)"

    def const(self, name, value):
        self.ns[name] = value
        return name

    def emit(self, text, indent=4):
        self.lines.append(_block(text, indent))

    def convert(self, i, kind, optional):
        """The lines that convert and encode the argument ``i``."""
        prelude, cond, body = _CONVERT[kind]
        fill = {"w": f"w{i}", "e": f"e{i}", "a": f"A{i}", "decline": self.decline}
        prelude, cond, body = (x.format(**fill) for x in (prelude, cond, body))
        text = (prelude + "\n" if prelude else "") + f"if {cond}:\n" + _block(body) + \
            "else:\n    " + self.decline
        if optional:
            text = f"if w{i} is None:\n    e{i} = 'null'\nelse:\n" + _block(text)
        return text


def fast_call(calls, definition, kwargs, pos, new, slow):
    """How to write the function of one call site (``env`` -> the call's value): a
    function giving its (source, namespace), or None when its calls are all left to
    ``Calls.bind``. ``kwargs``: (ParamDef, closure of the value, position) in the call's
    order; ``new(definition, bound, pos)`` makes the value of a bound call,
    ``slow(values)`` binds the arguments' values with ``Calls.bind``."""
    params = [p for p, _, _ in kwargs]
    kinds = [_kind(p.type) for p in params]
    if None in kinds:
        return None
    passed = {p.name for p in params}
    defaults = {}
    for p in definition.params.values():
        if p.name not in passed:
            if not (p.has_default or p.type.optional):
                return None         # a missing argument: Calls.bind reports it
            if not _plain_default(p.default):
                return None         # a list or a dict of paths, configs: walked there
            defaults[p.name] = p.default
    return lambda: _write(calls, definition, kwargs, pos, new, slow, params, kinds, defaults)


def _write(calls, definition, kwargs, pos, new, slow, params, kinds, defaults):
    """(source, namespace) of a call site's function (see :func:`fast_call`)."""
    w = _Writer(calls, definition, len(kwargs), new, slow, pos)
    # the arguments, evaluated in the call's order (a variable is read in place, an
    # operator written out: operators.Inline)
    inline = Inline(w.ns)
    for i, (_, f, _) in enumerate(kwargs):
        name = getattr(f, "env_name", None)
        if name is not None:
            w.emit(f"try:\n    v{i} = env[{w.const(f'NAME{i}', name)}]\n"
                   f"except KeyError:\n    raise {w.const(f'UNSET{i}', f.unset)}() from None")
        elif getattr(f, "written", None) is not None:
            lines, r = inline.binop(*f.written, depth=1)
            w.emit(lines + f"v{i} = {r}")
        else:
            w.emit(f"v{i} = {w.const(f'F{i}', f)}(env)")
    w.emit("tags = {}")
    # each argument converted (wI) and encoded (eI), in the call's order; its tag
    for i, (p, (kind, optional, t)) in enumerate(zip(params, kinds)):
        w.const(f"A{i}", t.definition if kind in ("job", "config", "jobs") else t)
        w.emit(f"w{i} = v{i}\nt = type(w{i})\nif t is _Tagged:\n    w{i} = w{i}.value\n"
               f"    t = type(w{i})\n    g{i} = True\nelse:\n    g{i} = False")
        w.emit(w.convert(i, kind, optional))
        w.emit(f"if g{i}:\n    tags[{w.const(f'N{i}', p.name)}] = _tag_display(w{i})")
    _finish(w, definition, params, kinds, defaults)
    return "def call(env):\n" + "".join(w.lines), w.ns


def _finish(w, definition, params, kinds, defaults):
    """The rest of a site's function: the values (in Calls.bind's order), the input
    checks, the identity body, the dependencies and the inherited tags."""
    index = {p.name: i for i, p in enumerate(params)}
    order = list(definition.params) if defaults else [p.name for p in params]
    # (expression, kind, optional) of each value, in the values' order
    final = []
    for name in order:
        if name in index:
            i = index[name]
            final.append((f"w{i}", kinds[i][0], kinds[i][1]))
        else:
            d = defaults[name]
            kind = {M.PathValue: "path", M.ConfigValue: "config"}.get(type(d), "scalar")
            final.append((w.const(f"DV_{len(final)}", d), kind, d is None))
    w.emit("values = {" + ", ".join(f"{w.const(f'K_{k}', name)}: {expr}" for k, (name, (
        expr, _, _)) in enumerate(zip(order, final))) + "}")
    if w.ns["CHECKER"] is not None:         # every input path a readable file or folder
        for name, (expr, kind, _) in zip(order, final):
            if definition.params[name].option:
                continue
            if kind == "path":      # InputChecker.problem, its memo read first
                w.emit(f"if type({expr}) is _PathValue:\n"
                       f"    x = CHECKER.memo.get({expr}.path, _UNSEEN)\n"
                       f"    if x is _UNSEEN:\n        x = CHECKER.problem({expr}.path)\n"
                       f"    if x is not None:\n        {w.decline}")
            elif kind == "config":      # checked at its call (a default's: by Calls.bind)
                w.emit(f"if type({expr}) is _ConfigValue and id({expr}) not in "
                       f"CHECKER.configs:\n    {w.decline}")
    # the identity body: the entries sorted by name, those equal to the default left out
    entries = sorted((p.name, i) for i, p in enumerate(params) if not p.option)
    keys = [(i, w.const(f"P{i}", params[i].key), params[i].default_enc) for _, i in entries]
    if all(d is None for _, _, d in keys):
        w.emit('body = f"' + ",".join(f"{{{k}}}{{e{i}}}" for i, k, _ in keys) + '"')
    else:
        w.emit("parts = []")
        for i, k, d in keys:
            add = f"parts.append({k} + e{i})"
            w.emit(add if d is None else f"if e{i} != {w.const(f'D{i}', d)}:\n    {add}")
        w.emit("body = ','.join(parts)")
    _dependencies(w, [f for f in final if f[1] in ("job", "jobs", "config", "path")])
    if definition.kind != "task":
        w.emit("return NEW(DEF, (values, tags, deps, body), POS)")
        return
    # a job: its encoding around the body (model.job_encoding's, cut at the body), its id
    head, tail = M.job_encoding(definition.name, "\x00", w.calls.namespace).split("\x00")
    w.const("HEAD", head)
    w.const("TAIL", tail)
    w.const("JOBS", w.calls.plan.jobs)
    # a new job made in place (Calls.job_of's own way); the plan's gets the call's tags
    w.emit("job_id = _identity_hash(HEAD + body + TAIL)\nif job_id not in JOBS:\n"
           "    job = JOBS[job_id] = _Job(DEF, job_id, values, tags, deps, None, POS)\n"
           "    return job\nreturn JOB_OF(DEF, job_id, values, tags, deps, POS)")


def _dependencies(w, carriers):
    """The dependencies of the values that may bring some (in the values' order), and
    the tags: the dependencies', then the configs', then the call's own (which win)."""
    if not carriers:
        w.emit("deps = ()")
        return
    if len(carriers) == 1 and carriers[0][1:] == ("job", False):
        x = carriers[0][0]
        w.emit(f"deps = ({x},)\nif {x}.tags:\n    inherited = dict({x}.tags)\n"
               "    inherited.update(tags)\n    tags = inherited")
        return
    w.emit("found = {}\nconfig_tags = []")
    for x, kind, optional in carriers:
        if kind == "job":
            w.emit(f"found[{x}.id] = {x}" if not optional else
                   f"if {x} is not None:\n    found[{x}.id] = {x}")
        elif kind == "jobs":
            w.emit(f"for d in {x}:\n    found[d.id] = d" if not optional else
                   f"if {x} is not None:\n    for d in {x}:\n        found[d.id] = d")
        elif kind == "path":
            w.emit(f"if type({x}) is _OutputRef:\n    found[{x}.job.id] = {x}.job")
        else:
            w.emit(f"if {x} is not None:\n    for d in {x}.deps:\n        found[d.id] = d"
                   f"\n    if {x}.tags:\n        config_tags.append({x}.tags)")
    w.emit("inherited = {}\nfor d in found.values():\n    if d.tags:\n"
           "        inherited.update(d.tags)\nfor ct in config_tags:\n"
           "    inherited.update(ct)\nif inherited:\n    inherited.update(tags)\n"
           "    tags = inherited\ndeps = tuple(found.values())")


def compile_call(calls, definition, kwargs, pos):
    """The closure of a call of a config, a task or a service: ``kwargs`` are
    (ParamDef, the closure of its value, the value's position), in the call's order. The
    arguments are evaluated first, in that order, then bound (by the site's own function
    when :func:`fast_call` writes one, else by ``Calls.bind``)."""
    if definition.kind == "service":
        attach = calls.attach_service
        return lambda env: attach(definition, [(p, f(env), vpos) for p, f, vpos in kwargs],
                                  pos)
    new = calls.new_job if definition.kind == "task" else calls.new_config
    checked = calls.bind
    plain = [(p, vpos) for p, _, vpos in kwargs]

    def slow(vals):
        return checked(definition, [(p, v, vpos) for (p, vpos), v in zip(plain, vals)], pos)

    fs = [f for _, f, _ in kwargs]

    def general(env):
        return new(definition, slow([f(env) for f in fs]), pos)
    write = fast_call(calls, definition, kwargs, pos, new, slow)
    if write is None:
        return general
    # a list of jobs (an aggregate's parts, often run once): the general binding costs a
    # few calls per item, the written one none
    lists = any(_kind(p.type)[0] == "jobs" for p, _, _ in kwargs)
    return warming(write, "call", general, at_once=lists)
