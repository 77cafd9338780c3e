"""An activity that ran many times in one pipeline run (a ForEach's iterations) is one activity entity, and it shows
the worst of its runs: a loop with one failed iteration failed. Its error message is that run's; its rows are the sum.

Worst first: Failed, Cancelled, TimedOut, InProgress, Queued, any other status, Succeeded (written as Purview's own
integration writes it, ``Completed``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from tests.conftest import SAMPLES

LOOP = json.loads((SAMPLES / "foreach_adls_to_synapse.json").read_text())
WORST_FIRST = ["Failed", "Cancelled", "TimedOut", "InProgress", "Queued", "Skipped", "Succeeded"]
SHOWN = {"Succeeded": "Completed"}


def copy_activity(statuses: list[str], errors: list[str] | None = None) -> dict[str, Any]:
    """The sample loop's Copy activity entity after its three iterations ended with these statuses."""
    doc = copy.deepcopy(LOOP)
    runs = [r for r in doc["activityRuns"] if r["activityName"] == "CopyTableToSynapse"]
    assert len(runs) == len(statuses) == 3
    for run, status, error in zip(runs, statuses, errors or [""] * 3, strict=True):
        run["status"] = status
        run["error"] = {"errorCode": "2200" if error else "", "message": error,
                        "failureType": "UserError" if error else "", "target": run["activityName"]}
    written = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    [activity] = [e for e in written["entities"] if e["typeName"] == "adf_copy_activity"]
    attributes: dict[str, Any] = activity["attributes"]
    return attributes


@pytest.mark.parametrize("worse", range(len(WORST_FIRST) - 1), ids=lambda i: WORST_FIRST[i])
def test_the_worse_status_wins_wherever_its_run_sits(worse: int) -> None:
    for better in WORST_FIRST[worse + 1:]:
        for where in range(3):
            statuses = [better] * 3
            statuses[where] = WORST_FIRST[worse]
            assert copy_activity(statuses)["status"] == WORST_FIRST[worse], (statuses, better)


def test_an_activity_all_of_whose_runs_succeeded_is_completed() -> None:
    assert copy_activity(["Succeeded"] * 3)["status"] == "Completed"


def test_the_error_message_is_the_worst_runs() -> None:
    attributes = copy_activity(["Succeeded", "Failed", "Cancelled"], ["", "Sink table is locked", "Stopped by user"])
    assert attributes["status"] == "Failed"
    assert attributes["errorMessage"] == "2200: Sink table is locked"


def test_rows_add_up_and_the_last_run_time_is_the_latest_end() -> None:
    attributes = copy_activity(["Succeeded", "Failed", "Succeeded"])
    runs = [r for r in LOOP["activityRuns"] if r["activityName"] == "CopyTableToSynapse"]
    assert attributes["rowCount"] == sum(r["output"]["rowsCopied"] for r in runs)
    assert attributes["lastRunTime"] == 1795572282200  # 2026-11-25T02:04:42.2008422Z, the third run's end
