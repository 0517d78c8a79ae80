"""doc: the reference of an experiment's configs and tasks (xpmbuild/taskdoc.py)."""
from __future__ import annotations

import sys

import rich_click as click

from .common import _fail, _os_error, file_argument, main


def load_declarations(file):
    """Check FILE's declarations (and its imports'), without running its plan; language
    errors exit 2 with FILE:LINE:COL."""
    from ..language import XpmError, check
    try:
        return check(file)
    except XpmError as err:
        _fail(err.render())
    except RecursionError:
        _fail(f"{file}: error: the file nests too deeply (recursion limit)")


@main.command("doc")
@file_argument
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown",
              show_default=True, help="Markdown (GitHub-flavoured) or one HTML page.")
@click.option("-o", "--output", "out", metavar="OUT", type=click.Path(dir_okay=False),
              help="Write to this file instead of the standard output.")
def doc(file, fmt, out):
    """Write the reference of FILE's configs and tasks (Markdown or HTML).

    FILE and the files it imports: docstrings, parameters with their types and defaults,
    options, outputs, requirements and actions, with links between types. The plan is not
    run."""
    from ..taskdoc import document
    text = document(load_declarations(file), fmt)
    if out is None:
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:
            sys.stdout.write(text)
        else:       # UTF-8 whatever the locale: docstrings may hold any character
            stream.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        _fail(_os_error(err))
