"""Unit tests of the retry policy (retries.py) and the routing conditions (routing.py)."""
from __future__ import annotations

import pytest

from xpmbuild.retries import RetryPolicy, cause, scale
from xpmbuild.routing import Condition


def test_causes_from_the_launchers_words():
    assert cause("time limit reached (TIMEOUT)") == "TIMEOUT"
    assert cause("time limit reached (walltime)") == "TIMEOUT"
    assert cause("node failure (NODE_FAIL)") == "NODE_FAIL"
    assert cause("out of memory (OUT_OF_MEMORY)") == "OUT_OF_MEMORY"
    assert cause("launcher error: sbatch: error") == "LAUNCHER_ERROR"
    assert cause("exit code 3") is None and cause(None) is None
    assert cause("anything", "NODE_FAIL") == "NODE_FAIL"


def test_policy_retries_only_the_causes_and_listed_codes():
    p = RetryPolicy({"retries": 2, "retry_on_exit": [75]})
    assert p.should_retry(1, "time limit reached (TIMEOUT)", 143)
    assert p.should_retry(2, None, 75)
    assert not p.should_retry(3, "time limit reached (TIMEOUT)", 143)    # none left
    assert not p.should_retry(1, "exit code 3", 3)
    assert not p.should_retry(1, "cancelled in Slurm", None)
    assert not RetryPolicy({}).should_retry(1, "time limit reached (TIMEOUT)", None)
    assert RetryPolicy({}, {"retries": 1}).should_retry(1, "out of memory", None)
    assert not RetryPolicy({"retries": 0}, {"retries": 1}).should_retry(1, "out of memory",
                                                                        None)


def test_escalation():
    p = RetryPolicy({"retries": 3, "on_retry": {"time": 2, "mem": 1.5}})
    req = {"time": "1h", "mem": "4G", "cpus": 2}
    assert p.requires_for(req, 1) is req
    assert p.requires_for(req, 2) == {"time": "7200s", "mem": "6144M", "cpus": 2}
    assert p.requires_for(req, 3) == {"time": "14400s", "mem": "9216M", "cpus": 2}
    assert scale("mem", "512", 2) == "1024M"


@pytest.mark.parametrize("text,task,requires,expected", [
    ("gpus >= 1", "t", {"gpus": 1}, True),
    ("gpus >= 1", "t", {}, False),
    ("cpus >= 8 and gpus == 0", "t", {"cpus": 8}, True),
    ("time > 4h or mem >= 64G", "t", {"time": "5h"}, True),
    ("time > 4h or mem >= 64G", "t", {"mem": "32G"}, False),
    ("mem >= 64G", "t", {}, False),
    ("task == train", "train", {}, True),
    ("task != 'train'", "train", {}, False),
])
def test_conditions(text, task, requires, expected):
    assert Condition(text).holds(task, requires) is expected


@pytest.mark.parametrize("text,message", [
    ("gpus", "expected KEY OP VALUE"), ("vram > 1", "unknown key 'vram'"),
    ("time > soon", "expected a duration"), ("task > a", "only be compared with"),
    ("gpus >= 1 and", "expected KEY OP VALUE")])
def test_bad_conditions(text, message):
    with pytest.raises(ValueError, match=message):
        Condition(text)
