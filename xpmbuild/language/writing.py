"""Functions written for one place of a plan (a call site, an operator).

A place's function is written once the place has run ``AFTER`` times (a loop's body, not
a call run once: writing and compiling cost more than a few general runs), and compiled
once per text: what a function says depends only on the kinds of its place's values,
never on the values, names or definitions (constants of its namespace), so 500 calls of
one shape compile one text. Until then the place runs its general closure. The function
the place's parent holds is the same object throughout: its code is replaced by the
written one (whoever holds it then runs the written code, with no call in between).
"""
from __future__ import annotations

AFTER = 16                      # runs of a place before its function is written
_CODE: dict = {}                # source text -> its compiled module code
_STUB = "def {name}(env):\n    return _WARM(env)\n"


def written(source: str, name: str, namespace: dict):
    """The function ``name`` that ``source`` defines, its globals ``namespace``."""
    code = _CODE.get(source)
    if code is None:
        if len(_CODE) >= 1024:
            _CODE.clear()
        code = _CODE[source] = compile(source, f"<written {name}>", "exec")
    exec(code, namespace)       # noqa: S102 - our own text, no user text in it
    return namespace[name]


def warming(write, name: str, general, at_once=False):
    """The function of a place: ``general(env)`` for its first ``AFTER`` runs, then the
    code ``write()`` gives (``(source, namespace)``: the source defines ``name``);
    ``at_once``: written before its first run (a run costs more than writing it)."""
    if AFTER <= 0 or at_once:
        source, namespace = write()
        return written(source, name, namespace)
    namespace: dict = {}
    runs = 0

    def warm(env):
        nonlocal runs
        runs += 1
        if runs == AFTER:
            source, constants = write()
            namespace.update(constants)
            fn.__code__ = written(source, name, namespace).__code__
            namespace[name] = fn
        return general(env)
    namespace["_WARM"] = warm
    fn = written(_STUB.format(name=name), name, namespace)
    return fn
