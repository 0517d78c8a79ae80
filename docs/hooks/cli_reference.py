"""mkdocs hook: tidy the CLI reference that mkdocs-click generates from the commands.

Click 8.2+ marks an option without a default with a sentinel, which mkdocs-click prints
as the default (``Sentinel.UNSET``); such an option has no default, so the cell is left
empty. Nothing else is changed: the page stays generated from the code.
"""
import re

_UNSET = re.compile(r"<code>(?:Sentinel\.UNSET|_?UNSET)</code>")


def on_page_content(html, page, **kwargs):
    if page.file.src_uri == "cli.md":
        html = _UNSET.sub("", html)
    return html
