"""Unit tests of slurm_query.py: what Slurm's commands answer, parsed (the texts are those
Slurm 22.05 printed on the test cluster), and an answer told from no answer."""
from __future__ import annotations

import pytest

from xpmbuild.connectors.local import CommandResult
from xpmbuild.launchers.base import ClusterUnreachable
from xpmbuild.launchers.slurm_query import (check, expand, parse_clock, parse_sacct,
                                            parse_size, parse_squeue)


def test_array_ranges_are_expanded():
    assert expand("433_[2-5]") == ["433_2", "433_3", "433_4", "433_5"]
    assert expand("433_[0,3-4%2]") == ["433_0", "433_3", "433_4"]
    assert expand("433_7") == ["433_7"] and expand("432") == ["432"]


def test_squeue_lists_pending_tasks_as_a_range():
    text = "433_[2-5]|PENDING|Resources\n433_1|RUNNING|None\n433_0|RUNNING|None\n"
    got = parse_squeue(text)
    assert got["433_4"] == ("PENDING", "Resources") and got["433_0"] == ("RUNNING", "None")
    assert len(got) == 6


def test_unknown_ids_are_an_answer_an_unreachable_controller_is_not():
    check(CommandResult(0, "", ""), "squeue", unknown_is_answer=True)
    check(CommandResult(1, "", "slurm_load_jobs error: Invalid job id specified\n"), "squeue",
          unknown_is_answer=True)
    with pytest.raises(ClusterUnreachable, match="Unable to contact"):
        check(CommandResult(1, "", "slurm_load_jobs error: Unable to contact slurm controller "
                                   "(connect failure)\n"), "squeue", unknown_is_answer=True)
    with pytest.raises(ClusterUnreachable):     # sacct: any failure is no answer
        check(CommandResult(1, "", "sacct: error: Problem talking to the database"), "sacct")


def test_sacct_records_and_resources():
    text = ("433_0|COMPLETED|0:0|00:00:57|00:00.003||None\n"
            "433_0.batch|COMPLETED|0:0|00:00:57|00:00.003|3220K|\n"
            "433_[2-5]|CANCELLED by 0|0:0|00:00:00|00:00:00||None\n"
            "440|TIMEOUT|0:0|1-00:00:02|01:02:03|0|None\n")
    got = parse_sacct(text)
    assert got["433_0"]["state"] == "COMPLETED"
    assert got["433_0"]["resources"] == {"wall": 57.0, "cpu": 0.003, "max_rss": 3220 * 1024}
    assert [got[f"433_{i}"]["state"] for i in range(2, 6)] == ["CANCELLED"] * 4
    assert got["440"]["resources"] == {"wall": 86402.0, "cpu": 3723.0}


def test_clock_and_size():
    assert parse_clock("00:01.500") == 1.5 and parse_clock("2-01:00:00") == 176400
    assert parse_clock("") is None and parse_size("12M") == 12 * 1024 ** 2
    assert parse_size("") is None


def test_a_task_record_beats_its_array_range_in_any_order():
    text = ("687_[2-11]|PENDING|0:0|00:00:00|00:00:00||None\n"
            "687_2|COMPLETED|0:0|00:00:06|00:00.089||None\n")
    got = parse_sacct(text)
    assert got["687_2"]["state"] == "COMPLETED" and got["687_3"]["state"] == "PENDING"
    text = "687_2|COMPLETED|0:0|00:00:06|00:00.089||None\n" \
           "687_[2-11]|PENDING|0:0|00:00:00|00:00:00||None\n"
    assert parse_sacct(text)["687_2"]["state"] == "COMPLETED"
