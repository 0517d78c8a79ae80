"""examples/tensorboard through the real path: `run --keep-services` builds the sweep and
starts TensorBoard (from PyPI) over the jobs' event files; its URL answers, lists the
runs by the jobs' tags and serves their scalars; `services stop` ends it."""
from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request

import pytest

from conftest import EXAMPLES, run_cli

pytest.importorskip("tensorboard")
if shutil.which("tensorboard") is None:
    pytest.skip("no tensorboard command", allow_module_level=True)

RUNS = sorted(f"lr={lr},seed={s}" for lr in (0.003, 0.01, 0.03) for s in range(2))


def _json(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def wait_for(cond, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_tensorboard_lists_the_runs_by_their_tags(tmp_path):
    folder = tmp_path / "tensorboard"
    shutil.copytree(EXAMPLES / "tensorboard", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    ws = tmp_path / "ws"
    code, out, err = run_cli("run", "tensorboard.xpm", "-w", ws, "--keep-services",
                             cwd=folder, timeout=180)
    assert code == 0, out + err
    [info] = json.loads(run_cli("services", "list", "-w", ws, "--json")[1])["services"]
    try:
        assert info["state"] == "running", info
        assert f"service tensorboard: {info['url']}" in err
        runs = wait_for(lambda: (_json(info["url"] + "data/runs") or None) and
                        sorted(_json(info["url"] + "data/runs")) == RUNS and
                        _json(info["url"] + "data/runs"), "TensorBoard to list the runs")
        assert sorted(runs) == RUNS
        query = urllib.parse.urlencode({"run": "lr=0.03,seed=0", "tag": "loss"})
        points = wait_for(lambda: _json(info["url"] + "data/plugin/scalars/scalars?" + query),
                          "the loss of a run")
        assert len(points) == 200 and points[-1][1] == 200     # [wall time, step, value]
        assert points[-1][2] < points[0][2]                     # the loss went down
    finally:
        code, out, err = run_cli("services", "stop", "-w", ws, "tensorboard")
    assert code == 0 and "stopped" in out, err
    assert _json(info["url"] + "data/runs") is None             # no longer answers
