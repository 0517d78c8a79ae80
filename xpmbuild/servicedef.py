"""A ``service`` declaration, checked, and its call in a plan (monitor.md "Services";
docs/language.md §11): beside the config and task definitions of model.py."""
from __future__ import annotations

from dataclasses import dataclass

from .model import ConfigDef


@dataclass(eq=False)
class ServiceDef(ConfigDef):
    """A checked ``service`` declaration (monitor.md): parameters, a shell template and a
    url template, both of which may name ``{port}`` (a free port chosen at start)."""

    action: object = None                          # Template of the shell text
    url: object = None                             # Template of the url
    kind = "service"


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
