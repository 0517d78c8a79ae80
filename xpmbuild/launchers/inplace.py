"""Whether a job's command may run in its wrapper's own shell, without a subshell.

The wrapper (base.job_wrapper) runs ``command.sh`` in a subshell, a fork of bash (~0.5 ms
of CPU a job, a fifth of a trivial job's cost), so that nothing the command does can skip
or change the exit record that the wrapper's EXIT trap writes, nor keep the folder's lock:
an ``exec`` (the shell replaced, no trap), a ``trap`` of its own, a function named like a
builtin the trap uses, a change of ``IFS``, a background process (it would keep the lock).

A command that cannot do any of that runs in the wrapper's shell instead, in a group whose
redirection closes the lock's descriptor (bash keeps its copy close-on-exec: no program
the command starts inherits it). The test is textual and conservative: anything that could
expand to a word we cannot see (``$``, backquotes, globs, braces, backslashes), start a
subshell or a background process, or name a builtin that changes the shell itself, sends
the command to the subshell. A false "no" only costs the fork; a "yes" must be certain.
"""
from __future__ import annotations

import os
import re

#: ``[``, ``]``, ``[[``, ``]]`` as words of their own (a test), not globs
_TEST_BRACKETS = re.compile(r"(?<![^\s;&|])(?:\[\[?|\]\]?)(?![^\s;&|])")
#: characters that may build a word we cannot see, or start a subshell, a group, a
#: background job or a here-document; a comment (``#``) is refused too
_REFUSED_CHARS = re.compile(r"[$`\\(){}*?\[\]#\x00-\x08\x0b-\x1f\x7f]|<<|<>")
#: ``&`` that is not part of ``&&``, ``>&``, ``<&``, ``|&`` or ``&>``: a background job
_BACKGROUND = re.compile(r"(?<![&<>|])&(?![&>])")
#: builtins and keywords that change the shell itself, once quotes are removed (so that
#: ``ex''ec`` is seen as ``exec``); as whole words, wherever they stand
_REFUSED_WORDS = re.compile(
    r"(?<![\w.\-/])(exec|eval|source|trap|enable|builtin|command|alias|function|declare|"
    r"typeset|readonly|local|ulimit|shopt|set|unset|coproc|hash|read|readarray|mapfile|"
    r"let|getopts|disown|caller|wait|kill|return|umask|times)(?![\w.\-/])")
#: ``printf -v NAME`` assigns a variable
_PRINTF_V = re.compile(r"(?<![\w.\-/])printf\s+-v")
#: ``.`` as a command (sourcing a file)
_DOT = re.compile(r"(?:^|[\s;&|!])\.(?:\s|$)")
#: a name the wrapper or bash depends on, wherever it stands (an assignment, ``for IFS in``,
#: ``getopts o XPM_JOB_DIR``; reading one needs ``$``, refused already)
_NAMES = re.compile(r"(?<!\w)(IFS|BASH\w*|XPM_\w*|SHELLOPTS|PS4)(?!\w)")


def runs_in_place(action_text: str) -> bool:
    """True only when the command certainly cannot skip or change the wrapper's record."""
    words = _TEST_BRACKETS.sub(" ", action_text)
    if _REFUSED_CHARS.search(words) or _BACKGROUND.search(words):
        return False
    bare = action_text.replace("'", "").replace('"', "")
    return not (_REFUSED_WORDS.search(bare) or _DOT.search(bare) or _NAMES.search(bare)
                or _PRINTF_V.search(bare))


def environment_allows(env=None) -> bool:
    """A shell function exported by the environment (``BASH_FUNC_*``) or a ``BASH_ENV``
    file could redefine what the trap runs: then every command takes the subshell."""
    return not any(k.startswith("BASH_FUNC_") or k == "BASH_ENV"
                   for k in (os.environ if env is None else env))
