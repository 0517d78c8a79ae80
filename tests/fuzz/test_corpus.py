"""Every file of tests/fuzz/corpus/ through the real command line, ``xpmbuild check``.

The corpus holds one small file per class of hostile input (invalid escapes, NUL,
invalid UTF-8, huge numbers, deep nesting, resource bombs, line breaks the lexer does not
count, unmatched template braces, long lines); it only grows. ``NAME.args`` beside
``NAME.xpm`` gives extra arguments (one per line, e.g. ``-D`` and ``n=...``).

Each run has a 2 GB address-space limit and a timeout. It must exit 0 or 2, never with a
traceback; on 2, stderr is ``FILE:LINE:COL: error: ...``, the line LINE of the file as
the lexer counts lines (split on "\\n") and a caret under COL (tests/fuzz/fuzzcheck.py).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzcheck import check_rendered

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted(CORPUS.glob("*.xpm"))
MEMORY = 2 * 1024 ** 3
TIMEOUT = 60


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_check(path: Path):
    args = ["check", path.name]
    extra = path.with_suffix(".args")
    if extra.exists():
        args += extra.read_text().splitlines()
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "xpmbuild.cli", *args], cwd=CORPUS,
                          env=env, capture_output=True, timeout=TIMEOUT,
                          preexec_fn=_limit_memory)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def _read(shown: str):
    path = CORPUS / shown
    return path.read_bytes() if path.is_file() else None


def test_the_corpus_has_every_class():
    names = {p.stem.split("_")[0] for p in FILES}
    assert {"escape", "nul", "utf8", "int", "float", "deep", "bomb", "linebreak",
            "template", "long"} <= names


# The classes whose files must be refused (not merely survive), with what the message says.
REFUSED = {
    "escape": "escape", "nul_": "NUL", "utf8": "UTF-8", "int_huge": "digits",
    "int_growth": "digits", "int_str": "digits", "int_pow": "digits", "float": "float",
    "deep": "nested", "bomb": ("at most", "more than"), "template": "unmatched",
}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file(path):
    code, out, err = run_check(path)
    assert "Traceback" not in out + err, err
    assert code in (0, 2), (code, out, err)
    if code == 2:
        problem = check_rendered(err.rstrip("\n"), _read)
        assert problem is None, f"{problem}\n{err[:2000]}"
    fragment = next((v for k, v in REFUSED.items() if path.stem.startswith(k)), None)
    if fragment is not None:    # hostile: refused, with a clear message
        fragments = (fragment,) if isinstance(fragment, str) else fragment
        assert code == 2 and any(f in err.split("\n")[0] for f in fragments), err[:1000]
