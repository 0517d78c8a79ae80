"""The .xpm language: grammar → syntax tree → checked declarations → plan of jobs."""
from .errors import XpmError
from .evaluate import evaluate
from .check import check

__all__ = ["XpmError", "evaluate", "check"]
