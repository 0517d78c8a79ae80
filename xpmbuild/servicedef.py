"""A ``service`` declaration, checked, and its call in a plan (monitor.md "Services";
docs/language.md §11): beside the config and task definitions of model.py."""
from __future__ import annotations

from .model import ConfigDef


class ServiceDef(ConfigDef):
    """A checked ``service`` declaration (monitor.md): parameters, a shell template and a
    url template, both of which may name ``{port}`` (a free port chosen at start)."""

    kind = "service"

    def __init__(self, name: str, file: str, here: str, doc: str | None = None,
                 params: dict | None = None, pos=None, action=None, url=None):
        super().__init__(name, file, here, doc, params, pos)
        self.action = action                           # Template of the shell text
        self.url = url                                 # Template of the url


class ServiceCall:
    """A service attached to the experiment by a call in the plan: no job, no identity."""

    __slots__ = ("definition", "values", "pos")

    def __init__(self, definition, values, pos=None):
        self.definition = definition
        self.values = values
        self.pos = pos

    @property
    def name(self) -> str:
        return self.definition.name
