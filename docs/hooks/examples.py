"""mkdocs hook: a reference page for each example experiment, written by `xpmbuild doc`.

For each folder ``examples/NAME/``, its experiment files (the ``.xpm`` files at its top
that no other one there imports) become the page ``examples/NAME.md``: the example's
README, then the reference of the file's configs and tasks (xpmbuild/taskdoc.py, the
Markdown of ``xpmbuild doc FILE``). Nothing is written to the repository; a file that
does not check fails the build.
"""
from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_IMPORT = re.compile(r'^\s*import\s+"([^"]+)"', re.M)


def experiment_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.xpm"))
    imported = set()
    for f in files:
        for name in _IMPORT.findall(f.read_text(encoding="utf-8")):
            imported.add((folder / name).resolve())
    return [f for f in files if f.resolve() not in imported]


def _demote(markdown: str) -> str:
    """Headings one level down, so that the page has one title."""
    return re.sub(r"^(#+) ", r"#\1 ", markdown, flags=re.M)


def page(folder: Path) -> str:
    from xpmbuild.language import check
    from xpmbuild.taskdoc import document
    readme = folder / "README.md"
    parts = []
    if readme.exists():
        parts.append(readme.read_text(encoding="utf-8").rstrip() + "\n")
    else:
        parts.append(f"# {folder.name}\n")
    for f in experiment_files(folder):
        rel = f.relative_to(ROOT).as_posix()
        parts.append(f"The reference below is what `xpmbuild doc {rel}` writes.\n")
        parts.append(_demote(document(check(str(f)), "markdown")))
    return "\n".join(parts)


def on_files(files, config, **kwargs):
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        if not experiment_files(folder):
            continue
        files.append(File.generated(config, f"examples/{folder.name}.md",
                                    content=page(folder)))
    return files
