"""jobfolder.escaping_output: the fast path (no link on the way) and the realpath path agree
with what the file system says, on real folders and links."""
from __future__ import annotations

import os

from xpmbuild.jobfolder import escaping_output


def make(tmp_path):
    job = tmp_path / "ws" / "jobs" / "t" / "id"
    (job / "sub").mkdir(parents=True)
    (job / "out.txt").write_text("x")
    (job / "sub" / "deep.txt").write_text("x")
    outside = tmp_path / "elsewhere"
    (outside / "d").mkdir(parents=True)
    (outside / "f.txt").write_text("x")
    (outside / "d" / "g.txt").write_text("x")
    return str(job), outside


def test_outputs_inside_the_folder_do_not_escape(tmp_path):
    job, _ = make(tmp_path)
    for rel in ("out.txt", "sub/deep.txt", "./out.txt", "sub//deep.txt", "missing.txt",
                "sub/missing/x.txt", "out.txt/below"):
        assert escaping_output(job, rel) is None, rel


def test_a_link_leading_out_is_found_last_or_on_the_way(tmp_path):
    job, outside = make(tmp_path)
    os.symlink(outside / "f.txt", os.path.join(job, "f.txt"))
    os.symlink(outside / "d", os.path.join(job, "d"))
    assert escaping_output(job, "f.txt") == str(outside / "f.txt")
    assert escaping_output(job, "d/g.txt") == str(outside / "d" / "g.txt")


def test_a_link_that_stays_inside_and_dot_dot_paths(tmp_path):
    job, outside = make(tmp_path)
    os.symlink("sub", os.path.join(job, "alias"))
    assert escaping_output(job, "alias/deep.txt") is None
    assert escaping_output(job, "sub/../out.txt") is None
    rel = os.path.relpath(outside / "f.txt", job)       # ../../../../elsewhere/f.txt
    assert escaping_output(job, rel) == str(outside / "f.txt")


def test_a_dangling_link_leading_out_escapes(tmp_path):
    job, outside = make(tmp_path)
    os.symlink(outside / "nothing", os.path.join(job, "gone.txt"))
    assert escaping_output(job, "gone.txt") == str(outside / "nothing")
