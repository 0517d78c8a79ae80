"""Functions written for one place of a plan (a call site, an operator), compiled once
per text: what a site's function says depends only on the kinds of its values, never on
the values, names or definitions (constants of its namespace), so a file of 500 calls of
the same shape compiles one function's text, and each site only binds its constants."""
from __future__ import annotations

_CODE: dict = {}                # source text -> its compiled module code


def written(source: str, name: str, namespace: dict):
    """The function ``name`` that ``source`` defines, its globals ``namespace``."""
    code = _CODE.get(source)
    if code is None:
        if len(_CODE) >= 1024:
            _CODE.clear()
        code = _CODE[source] = compile(source, f"<written {name}>", "exec")
    exec(code, namespace)       # noqa: S102 - our own text, no user text in it
    return namespace[name]
