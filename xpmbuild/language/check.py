"""Syntax trees → checked declarations.

Loads the main file and its imports (cycles and missing files are errors at the
``import`` line), gathers every ``config`` and ``task`` (duplicates are errors),
resolves types, evaluates and checks defaults, checks outputs, ``requires`` and action
templates (an unknown ``{name}`` is an error at its place in the string), and rejects
task types that depend on themselves.
"""
from __future__ import annotations

import os
import re

from .. import model as M
from ..servicedef import ServiceDef
from .. import shellquote
from . import syntax as S
from .declarations import BUILTINS, Declarations
from .defaults import DefaultEvaluator
from .errors import Pos, display_path, suggest
from .inputs import path_problem
from .parser import parse_file
from .requirements import REQUIREMENTS, requirement_value



# ----------------------------------------------------------------------------- loading


def load(path: str) -> tuple[S.Module, list[S.Module]]:
    """Parse ``path`` and, recursively, the files it imports. Returns (main, all modules)."""
    path = os.path.abspath(path)
    order: list[S.Module] = []
    done: dict[str, S.Module] = {}
    stack: list[str] = []

    def visit(file: str, via: S.Import | None):
        if file in stack:
            cycle = " -> ".join(os.path.basename(f) for f in stack[stack.index(file):] + [file])
            raise via.pos.error(f"import cycle: {cycle}")
        if file in done:
            return done[file]
        if via is not None and not os.path.isfile(file):
            raise via.pos.error(f"imported file not found: {via.path} (looked for {file})")
        module = parse_file(file)
        stack.append(file)
        for imp in module.imports:
            target = os.path.normpath(os.path.join(os.path.dirname(file), imp.path))
            visit(target, imp)
        stack.pop()
        done[file] = module
        order.append(module)
        return module

    main = visit(path, None)
    return main, order


def check(path: str) -> Declarations:
    main, modules = load(path)
    decls = Declarations(main, modules, os.path.dirname(os.path.abspath(path)))
    syntax_of: dict[str, S.ConfigDecl] = {}

    # 1. names: gather, reject duplicates
    for module in modules:
        for d in module.decls:
            if d.name in syntax_of:
                first = syntax_of[d.name].pos
                raise d.pos.error(f"{d.kind} {d.name} is already declared at "
                                  f"{display_path(first.file)}:{first.line}")
            if d.name in BUILTINS or d.name in M.PRIMITIVES or d.name in ("list", "dict",
                                                                          "choice"):
                raise d.pos.error(f"{d.name!r} is a built-in name and cannot be declared")
            syntax_of[d.name] = d
            cls = {"task": M.TaskDef, "service": ServiceDef}.get(d.kind, M.ConfigDef)
            definition = cls(name=d.name, file=d.file, here=os.path.dirname(d.file),
                             doc=d.doc, pos=d.pos)
            decls.defs[d.name] = definition
            {"task": decls.tasks, "service": decls.services}.get(
                d.kind, decls.configs)[d.name] = definition

    # 2. parameters and their types (defaults wait until every type is known)
    for name, d in syntax_of.items():
        definition = decls.defs[name]
        for p in d.params:
            if p.name in definition.params:
                raise p.pos.error(f"parameter {p.name} is declared twice in {d.kind} {name}")
            definition.params[p.name] = M.ParamDef(p.name, resolve_type(p.type, decls), p.option,
                                                   p.pos)
        if d.kind == "task":
            _check_task_body(d, definition)
        elif d.kind == "service":
            for p in d.params:
                if p.name in ("here", "port"):
                    raise p.pos.error(f"`{p.name}` is reserved in a service (" + (
                        "the free port xpmbuild chooses)" if p.name == "port" else
                        "the directory of the .xpm file)"))

    # 3. task types that need themselves can never be built
    _check_task_cycles(syntax_of, decls)

    # 4. defaults (may call configs, whose own defaults are then needed first)
    DefaultEvaluator(decls, syntax_of).run()

    # 5. shell templates (after types: {p.q} needs p's type)
    for name, d in syntax_of.items():
        definition = decls.defs[name]
        if d.kind == "task" and d.action.kind == "shell":
            definition.action = parse_template(d.action, definition, decls)
        elif d.kind == "service":
            definition.action = parse_template(d.action, definition, decls)
            if ("port",) not in definition.action.parts:
                raise d.action.text_pos.error(
                    f"the shell of service {name} must pass {{port}} (the free port xpmbuild "
                    "chooses) to the program it starts")
            definition.url = parse_template(d.url, definition, decls, shell=False)
    return decls


def resolve_type(t: S.TypeExpr, decls: Declarations) -> M.Type:
    if t.choices is not None:
        if t.name != "choice":
            raise t.pos.error(f"unknown type {t.name}(...); only choice(...) takes values")
        if not t.choices:
            raise t.pos.error("choice(...) needs at least one value")
        result = M.ChoiceType(t.choices)
    elif t.param is not None:
        if t.name not in ("list", "dict"):
            if t.name not in M.PRIMITIVES and t.name not in decls.defs and t.name != "choice":
                raise t.pos.error(f"unknown type {t.name}"
                                  f"{suggest(t.name, ['list', 'dict'] + list(M.PRIMITIVES))}")
            raise t.pos.error(f"type {t.name} takes no parameter; only list[T] and dict[T] do")
        inner = resolve_type(t.param, decls)
        result = M.ListType(inner) if t.name == "list" else M.DictType(inner)
    elif t.name in M.PRIMITIVES:
        result = M.PRIMITIVES[t.name]
    elif t.name in decls.defs:
        definition = decls.defs[t.name]
        if definition.kind == "service":
            raise t.pos.error(f"{t.name} is a service, not a type: a service is attached to "
                              "the experiment, nothing can take one as a parameter")
        result = M.TaskType(definition) if definition.kind == "task" else M.ConfigType(definition)
    elif t.name in ("list", "dict"):
        raise t.pos.error(f"{t.name} needs an item type: {t.name}[T]")
    elif t.name == "choice":
        raise t.pos.error('choice needs its values: choice("a", "b")')
    else:
        known = list(M.PRIMITIVES) + ["list", "dict", "choice"] + list(decls.defs)
        raise t.pos.error(f"unknown type {t.name}{suggest(t.name, known)}")
    if t.optional:
        result = M.OptionalType(result)
    return result


def _check_task_body(d: S.ConfigDecl, definition: M.TaskDef):
    for o in d.outputs:
        if o.name in definition.params:
            raise o.pos.error(f"output {o.name} has the name of a parameter of task {d.name}: "
                              "parameters and outputs may not share a name")
        if o.name in definition.outputs:
            raise o.pos.error(f"output {o.name} is declared twice in task {d.name}")
        if o.name == "here":
            raise o.pos.error("`here` is reserved (the directory of the .xpm file)")
        rel = o.path
        norm = os.path.normpath(rel) if rel else ""
        if not rel or os.path.isabs(rel) or norm == "." or norm.startswith(".."):
            raise o.pos.error(f"output {o.name} must be a relative path inside the job "
                              f"directory, got {rel!r}")
        if norm in ("params.json", "command.sh", "stdout.log", "stderr.log", "state.json") \
                or norm.startswith(".xpm"):
            raise o.pos.error(f"output {o.name} would overwrite the job's own file {norm}")
        definition.outputs[o.name] = norm.replace(os.sep, "/")
    for p in d.params:
        if p.name == "here":
            raise p.pos.error("`here` is reserved (the directory of the .xpm file)")
    for r in d.requires:
        if r.name not in REQUIREMENTS:
            raise r.pos.error(f"unknown requirement {r.name}; expected one of "
                              + ", ".join(REQUIREMENTS))
        if r.name in definition.requires:
            raise r.pos.error(f"requirement {r.name} is given twice")
        value = requirement_value(r)
        definition.requires[r.name] = value
    for text, pos in d.uses:
        if not text:
            raise pos.error("uses needs a path (a file or a folder), got an empty string")
        full = os.path.normpath(os.path.join(definition.here, os.path.expanduser(text)))
        problem = path_problem(full)
        if problem is not None:
            shown = display_path(full)
            raise pos.error(f"uses {text!r}: {shown}" + (f" ({full})" if shown != full else "")
                            + f" {problem} (paths are relative to the folder of "
                            f"{os.path.basename(definition.file)})")
        if full not in definition.uses:
            definition.uses.append(full)
    a = d.action
    definition.action_kind = a.kind
    if a.kind == "python":
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", a.text):
            raise a.text_pos.error(f'python action must be "module:function", got {a.text!r}')
        definition.action = a.text


def _check_task_cycles(syntax_of, decls: Declarations):
    """A task whose (non-optional) parameters need a job of itself can never be built."""
    def needs(t: M.Type):
        if isinstance(t, M.TaskType):
            yield t.definition.name
        elif isinstance(t, (M.ListType, M.DictType)):
            yield from needs(t.item)
        elif isinstance(t, M.ConfigType):
            for p in t.definition.params.values():
                if not p.type.optional:
                    yield from needs(p.type)

    graph = {}
    for name, definition in decls.defs.items():
        edges = []
        for p in definition.params.values():
            if p.type.optional:
                continue
            for target in needs(p.type):
                edges.append((target, p))
        graph[name] = edges

    state = {}

    def visit(name, path):
        state[name] = 1
        for target, p in graph[name]:
            if state.get(target) == 1:
                chain = [n for n, _ in path] + [name, target]
                start = chain.index(target)
                raise p.pos.error("dependency cycle between tasks: " +
                                  " -> ".join(chain[start:]) +
                                  " (no job of these tasks could ever be made)")
            if target not in state:
                visit(target, path + [(name, p)])
        state[name] = 2

    for name in decls.tasks:
        if name not in state:
            visit(name, [])


# ----------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _template_pos(action: S.Action, index: int) -> Pos:
    """Where character ``index`` of the action's string is in the source: escapes,
    line continuations and a triple-quoted string's indentation accounted for."""
    return action.index_pos(index)


def parse_template(action: S.Action, task: M.TaskDef, decls: Declarations,
                   shell: bool = True) -> M.Template:
    """A ``shell`` template (or a service's ``url``, ``shell=False``: not quoted)."""
    text = action.text
    what = "shell" if shell else "url"
    parts: list = []
    buf = []
    positions: dict[int, Pos] = {}     # index in parts -> the placeholder's position
    last = 0
    for m in _PLACEHOLDER.finditer(text):
        buf.append(text[last:m.start()])
        last = m.end()
        tok = m.group(0)
        if tok == "{{":
            buf.append("{")
            continue
        if tok == "}}":
            buf.append("}")
            continue
        if tok in ("{", "}"):
            pos = _template_pos(action, m.start())
            raise pos.error(f"unmatched {tok!r} in {what} template; write {tok * 2} for a "
                            "literal brace")
        inner = m.group(1).strip()
        pos = _template_pos(action, m.start())
        chain = tuple(inner.split("."))
        if not all(re.fullmatch(r"[A-Za-z_]\w*", c) for c in chain):
            raise pos.error(f"invalid placeholder {tok}: expected {{name}} or {{name.field}}")
        _check_placeholder(chain, task, pos)
        if buf:
            parts.append("".join(buf))
            buf = []
        parts.append(chain)
        positions[len(parts) - 1] = pos
    buf.append(text[last:])
    if "".join(buf):
        parts.append("".join(buf))
    template = M.Template(text, parts)
    if not shell:
        return template
    try:    # where each value lands for the shell: how to quote it, or an error here
        template.contexts = shellquote.contexts(parts)
    except shellquote.ContextError as err:
        raise positions[err.index].error(err.message) from None
    return template


def _check_placeholder(chain, task: M.TaskDef, pos: Pos):
    head = chain[0]
    outputs = getattr(task, "outputs", {})
    extra = ["port"] if task.kind == "service" else []    # a service's free port
    if head == "here" or head in outputs or head in extra:
        if len(chain) > 1:
            raise pos.error(f"{{{head}}} is a {'path' if head != 'port' else 'port number'} "
                            f"and has no field {chain[1]!r}")
        return
    if head not in task.params:
        known = list(task.params) + list(outputs) + ["here"] + extra
        where = "shell template of task" if task.kind == "task" else "template of service"
        raise pos.error(f"unknown name {head!r} in {where} {task.name}"
                        f"{suggest(head, known)}; known: {', '.join(known)}")
    t = task.params[head].type
    where = head
    each = False        # under a list: the field of each item (``{parts.out}``)
    for attr in chain[1:]:
        inner = t.inner if isinstance(t, M.OptionalType) else t
        if isinstance(inner, M.ListType) and not each:
            each, inner = True, inner.item
            inner = inner.inner if isinstance(inner, M.OptionalType) else inner
            if not isinstance(inner, (M.ConfigType, M.TaskType)):
                raise pos.error(f"{where} has type {t} and no field {attr!r} (a field of "
                                f"each item needs a list of configs or jobs)")
        if isinstance(inner, M.ConfigType) and not isinstance(inner, M.TaskType):
            params = inner.definition.params
            if attr not in params:
                raise pos.error(f"config {inner.name} ({where}) has no field {attr!r}"
                                f"{suggest(attr, params)}")
            t = params[attr].type
        elif isinstance(inner, M.TaskType):
            d = inner.definition
            if attr in d.outputs:
                t = M.PRIMITIVES["path"]
            elif attr in d.params:
                t = d.params[attr].type
            else:
                raise pos.error(f"task {d.name} ({where}) has no output or parameter {attr!r}"
                                f"{suggest(attr, list(d.outputs) + list(d.params))}")
        else:
            raise pos.error(f"{where} has type {t} and no field {attr!r}")
        if each and isinstance(t.inner if isinstance(t, M.OptionalType) else t,
                               (M.ListType, M.DictType)):
            raise pos.error(f"{where}.{attr} is a {t} of each item of {head}: a list of "
                            f"lists or dicts has no words for the shell")
        where = f"{where}.{attr}"
