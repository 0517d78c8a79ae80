"""A notebook executed by a real Jupyter kernel (nbclient + ipykernel): the sweep example's
analysis notebook runs the sweep from Python and shows plans, runs, results and a job as
HTML tables."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sweep"


@pytest.mark.slow
def test_the_analysis_notebook_runs_in_a_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    folder = tmp_path / "sweep"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("XPM_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("XPM_SETTINGS_USER", os.devnull + "-none")
    nb = nbformat.read(folder / "analysis.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    # the plan, the run (and its live progress), the results, the groups
    assert any("would run" in h for h in html) and any(" ran" in h for h in html)
    assert any("perplexity" in h and "missing" not in h for h in html)
    assert any("perplexity.mean" in h for h in html)
    last = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "'Optimizer'" in last and "perplexity" in last
    assert len(list((tmp_path / "ws" / "jobs" / "evaluate").iterdir())) == 4
