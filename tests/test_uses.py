"""`uses` lines in task bodies (issue 7, code tracking).

``uses "scripts/", "lib/helpers.py"`` names files and folders, relative to the declaring
file's folder, whose content is part of the task's fingerprint. They are parsed and
checked here (each must exist, at the string's position), stored on ``TaskDef.uses``
(absolute, normalized, in order, without duplicates) and never enter job identity.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import describe, xpmbuild, clean_env  # noqa: E402
from conftest import plan_of, write_xpm, xpm_error  # noqa: E402


def make_files(tmp_path, *names):
    for name in names:
        p = tmp_path / name
        if name.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("x\n")


TASK = '''\
task train {{
    """Train."""
    {uses}
    lr: float = 0.1
    output model = "model.bin"
    shell "python {{here}}/train.py {{lr}} > {{model}}"
}}
train(lr=0.5)
'''


def test_uses_paths_are_absolute_normalized_in_order_and_deduplicated(tmp_path):
    make_files(tmp_path, "scripts/", "lib/helpers.py", "train.py")
    plan = plan_of(tmp_path, TASK.format(uses='uses "scripts/", "lib/helpers.py"\n'
                                              '    uses "./lib//helpers.py", "train.py", "scripts"'))
    assert plan.tasks["train"].uses == [str(tmp_path / "scripts"),
                                        str(tmp_path / "lib" / "helpers.py"),
                                        str(tmp_path / "train.py")]


def test_uses_does_not_change_job_ids(tmp_path):
    make_files(tmp_path, "scripts/", "train.py")
    without = plan_of(tmp_path, TASK.format(uses=""))
    with_uses = plan_of(tmp_path, TASK.format(uses='uses "scripts", "train.py"'))
    assert list(without.jobs) == list(with_uses.jobs)
    assert without.tasks["train"].uses == []


def test_uses_is_relative_to_the_declaring_file(tmp_path):
    make_files(tmp_path, "lib/tools/", "tools/")
    lib = ('task prep {\n    uses "tools"\n    output o = "o"\n    shell "echo > {o}"\n}\n')
    plan = plan_of(tmp_path, 'import "lib/defs.xpm"\nprep()\n', files={"lib/defs.xpm": lib})
    assert plan.tasks["prep"].uses == [str(tmp_path / "lib" / "tools")]


def test_a_missing_uses_path_is_an_error_at_its_string(tmp_path):
    make_files(tmp_path, "scripts/")
    err = xpm_error(tmp_path, TASK.format(uses='uses "scripts", "lib/nope.py"'))
    assert (err.line, err.column) == (3, 21), err.render()
    assert "uses 'lib/nope.py'" in err.message and "does not exist" in err.message
    assert "relative to the folder of main.xpm" in err.message


def test_a_uses_path_that_is_not_a_file_or_folder_is_an_error(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    err = xpm_error(tmp_path, TASK.format(uses='uses "pipe"'))
    assert (err.line, err.column) == (3, 10) and "named pipe" in err.message, err.render()


def test_an_empty_uses_path_is_an_error(tmp_path):
    err = xpm_error(tmp_path, TASK.format(uses='uses ""'))
    assert (err.line, err.column) == (3, 10) and "uses needs a path" in err.message


def test_uses_in_a_config_is_an_error(tmp_path):
    make_files(tmp_path, "lib/")
    err = xpm_error(tmp_path, 'config C {\n    x: int = 1\n    uses "lib"\n}\n')
    assert (err.line, err.column) == (3, 5)
    assert err.message == "`uses` is only allowed in a task, not a config"


@pytest.mark.parametrize("text, line, column, fragment", [
    ('task t {\n    use "lib"\n    output o = "o"\n    shell "echo > {o}"\n}\n', 2, 5,
     "unexpected 'use' before a string in a declaration body (did you mean `uses`?)"),
    ('task t {\n    uses\n    output o = "o"\n    shell "echo > {o}"\n}\n', 2, 9,
     "unexpected end of line"),
    ('task t {\n    uses "lib",\n    output o = "o"\n    shell "echo > {o}"\n}\n', 2, 16,
     "unexpected end of line; expected a string"),
    ('task t {\n    uses lib\n    output o = "o"\n    shell "echo > {o}"\n}\n', 2, 10,
     "unexpected"),
])
def test_uses_syntax_errors(tmp_path, text, line, column, fragment):
    make_files(tmp_path, "lib/")
    err = xpm_error(tmp_path, text)
    assert (err.line, err.column) == (line, column), err.render()
    assert fragment in err.message, err.render()


def test_uses_is_still_a_name_elsewhere(tmp_path):
    """Only a body line `uses "..."` is the keyword: a parameter or variable may be called
    uses."""
    plan = plan_of(tmp_path, 'task t {\n    uses: int\n    output o = "o"\n'
                             '    shell "echo {uses} > {o}"\n}\nuses = 3\nt(uses=uses)\n')
    assert [j.values["uses"] for j in plan.jobs.values()] == [3]
    assert plan.tasks["t"].uses == []


def test_uses_through_the_command_line(tmp_path):
    make_files(tmp_path, "scripts/")
    path = write_xpm(tmp_path, TASK.format(uses='uses "scripts/", "gone.sh"'), "exp.xpm")
    for command in ("check", "plan", "run"):
        args = [command, path] + ([] if command == "check" else ["-w", tmp_path / "ws"])
        r = xpmbuild(*args, cwd=tmp_path, env=clean_env())
        assert r.returncode == 2, describe(r)
        assert r.stderr.startswith("exp.xpm:3:22: error: uses 'gone.sh': gone.sh"), describe(r)
        assert "Traceback" not in r.stderr
    make_files(tmp_path, "gone.sh")
    r = xpmbuild("check", path, cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, describe(r)
