"""Calls of configs and tasks: binding the arguments, and making the values.

A call's arguments are coerced to the parameters' types, completed with defaults and
encoded; :mod:`xpmbuild.model` turns the entries that enter identity into the call's
encoding (and a job's id). Tags are inherited from the dependencies and the configs
passed. Calling a task makes a job; two calls with the same identity give the same job.
With an :class:`~.inputs.InputChecker`, every path a call receives must be a readable
file or folder.
"""
from __future__ import annotations

from .. import model as M
from ..servicedef import ServiceCall
from .errors import display_path


class Ctx:
    """Where relative paths are resolved, and the experiment root identities use."""

    __slots__ = ("base_dir", "root")

    def __init__(self, base_dir, root):
        self.base_dir = base_dir
        self.root = root


def _tag_display(value):
    if value is None or type(value) in (int, float, str, bool):
        return value
    if type(value) is M.PathValue:
        return value.path
    return str(value)


class Calls:
    """Makes the values of the calls of one evaluation (``plan`` None: no jobs)."""

    def __init__(self, plan: M.Plan | None, ctx: Ctx, inputs=None,
                 namespace: str | None = None):
        self.plan = plan
        self.ctx = ctx
        self.inputs = inputs            # an InputChecker: path values must be readable files
        # enters identity only when set: ids without it are unchanged (docs/language.md §6)
        self.namespace = namespace or None

    def bind(self, definition, kwargs, pos):
        """Check and complete the arguments of a call; compute its identity body.

        Only the arguments actually passed are encoded: a parameter left out takes its
        default, which is left out of the identity anyway (§3).
        """
        ctx = self.ctx
        values = {}
        tags = {}
        identity = []
        encode = M.encode
        for p, value, vpos in kwargs:
            tagged = type(value) is M.Tagged
            if tagged:
                value = value.value
            try:
                v = p.type.coerce(value, ctx)
            except M.TypeMismatch as err:
                raise vpos.error(f"{definition.name}({p.name}=...): {err}") from None
            if tagged:
                tags[p.name] = _tag_display(v)
            values[p.name] = v
            if not p.option:
                enc = encode(v)
                if enc != p.default_enc:
                    identity.append((p.name, p.key + enc))
        params = definition.params
        if len(values) != len(params):
            missing = []
            for p in params.values():
                if p.name not in values:
                    if p.has_default or p.type.optional:
                        # an optional parameter without a default defaults to None
                        values[p.name] = p.default
                    else:
                        missing.append(p.name)
            if missing:
                raise pos.error(f"{definition.kind} {definition.name}: missing argument"
                                f"{'s' if len(missing) > 1 else ''} " + ", ".join(missing))
            values = {name: values[name] for name in params}
        body = M.params_body(identity)
        deps = {}
        config_tags = None
        for v in values.values():
            t = type(v)
            if t is M.Job:
                deps[v.id] = v
            elif t is M.OutputRef:
                deps[v.job.id] = v.job
            elif t is M.ConfigValue:
                for d in v.deps:
                    deps[d.id] = d
                if v.tags:
                    config_tags = (config_tags or []) + [v.tags]
            elif t is list or t is dict:
                M.collect_deps(v, deps)
        # tags: the dependencies', then the configs', then the call's own (which win)
        inherited = {}
        for d in deps.values():
            if d.tags:
                inherited.update(d.tags)
        if config_tags:
            for ct in config_tags:
                inherited.update(ct)
        if inherited:
            inherited.update(tags)
            tags = inherited
        if self.inputs is not None:
            self.check_inputs(definition, values, pos)
        return values, tags, tuple(deps.values()), body

    def check_inputs(self, definition, values, pos):
        """Every path value received by this call (defaults included, options not) must be
        a readable regular file or folder: an error at the call otherwise."""
        inputs = self.inputs
        params = definition.params
        for name, v in values.items():
            t = type(v)
            if (t is M.PathValue or t is list or t is dict or t is M.ConfigValue) \
                    and not params[name].option:
                self._check_value(v, inputs, definition, name, pos)

    def _check_value(self, v, inputs, definition, name, pos):
        t = type(v)
        if t is M.PathValue:
            problem = inputs.problem(v.path)
            if problem is not None:
                shown = display_path(v.path)
                where = f" ({v.path})" if shown != v.path else ""
                origin = inputs.origin.get(v.path)
                raise pos.error(f"{definition.name}({name}=...): input path {shown}{where} "
                                f"{problem}" + (f" (given by {origin})" if origin else ""))
        elif t is list:
            for x in v:
                self._check_value(x, inputs, definition, name, pos)
        elif t is dict:
            for x in v.values():
                self._check_value(x, inputs, definition, name, pos)
        elif t is M.ConfigValue and id(v) not in inputs.configs:
            # a config made by a default (not checked at a call of its own)
            self.check_inputs(v.definition, v.values, pos)
            inputs.configs[id(v)] = v

    def make_config(self, definition, kwargs, pos):
        return self.new_config(definition, self.bind(definition, kwargs, pos))

    def new_config(self, definition, bound, pos=None):
        """The config value of a bound call (:meth:`bind`'s result); ``pos`` is not used
        (:meth:`new_job`'s signature)."""
        values, tags, deps, body = bound
        enc = M.config_encoding(definition.name, body)
        value = M.ConfigValue(definition, values, tags, deps, enc)
        if self.inputs is not None:     # its paths were checked at this call
            self.inputs.configs[id(value)] = value
        return value

    def attach_service(self, definition, kwargs, pos):
        """A service call in the plan: checked like a task's, recorded in the plan (no
        job, no identity); each service is attached once."""
        values = self.bind(definition, kwargs, pos)[0]
        first = self.plan.services.get(definition.name)
        if first is not None:
            if first.pos is not pos or first.values != values:
                raise pos.error(f"service {definition.name} is already attached to the "
                                f"experiment (line {first.pos.line}): each service is "
                                "attached once")
            return None
        self.plan.services[definition.name] = ServiceCall(definition, values, pos)
        return None

    def make_job(self, definition, kwargs, pos):
        return self.new_job(definition, self.bind(definition, kwargs, pos), pos)

    def new_job(self, definition, bound, pos):
        """The job of a bound call (:meth:`bind`'s result): the plan's job of that
        identity if there is one (it gets the call's tags it has not), else a new one."""
        values, tags, deps, body = bound
        job_id = M.identity_hash(M.job_encoding(definition.name, body, self.namespace))
        return self.job_of(definition, job_id, values, tags, deps, pos)

    def job_of(self, definition, job_id, values, tags, deps, pos):
        """The job of identity ``job_id``: the plan's if it has one (it gets the call's
        tags it has not), else a new one."""
        jobs = self.plan.jobs
        job = jobs.get(job_id)
        if job is not None:
            for k, v in tags.items():
                job.tags.setdefault(k, v)
            return job
        job = M.Job(definition, job_id, values, tags, deps, None, pos)
        jobs[job_id] = job
        return job
