"""The fault suite, small: 50 runs through Azurite, the local servers and a worker OS process, while Purview and
Data Factory fail in every way the suite knows, events arrive twice and the worker is killed; the outcome must match
a calm run exactly. The full suite (1,000 runs) is ``python -m benchmarks.faults``."""

from __future__ import annotations

import json

import pytest

from benchmarks import faults
from lineage.cli.main import main
from lineage.local.azurite import Azurite

pytestmark = pytest.mark.integration


def test_fifty_runs_through_every_fault_end_as_a_calm_run_does(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    report = faults.run_suite(faults.Config.small(), azurite=azurite)
    report.print()  # shown when the test fails
    assert report.problems == []
    # every kind of trouble really happened
    assert report.kills == 2 and report.killed_mid_write
    assert report.worker_starts == 3
    assert report.duplicates > 0
    assert report.holds > 0 and report.waits >= report.holds
    for served in (report.purview_faults, report.adf_faults):
        assert served["429 with Retry-After"] > 0 and served["503"] > 0 and served["dropped connection"] > 0
    assert report.purview_faults["429"] > 0 and report.purview_faults["500"] > 0
    assert report.purview_faults["late answer"] > 0 and report.adf_faults["slow answer"] > 0
    assert report.adf_faults["500"] > 0
    # and every run still ended where it must, with Purview as a calm run leaves it
    assert report.ended == report.expected
    assert report.expected["pushed"] > 0 and report.expected["skipped"] > 0 and report.expected["poisoned"] > 0
    assert sum(report.poison_by_class.values()) >= report.expected["poisoned"]
    assert report.difference is not None and report.difference.none
    assert report.entities == report.reference_entities == report.said_entities > 0
    assert report.edges == report.reference_edges > 0
    # and the operator's view of lineage status says the same, from the run ledger
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    monkeypatch.delenv("AzureWebJobsStorage__tableServiceUri", raising=False)
    monkeypatch.setenv("LINEAGE_LEDGER_TABLE", report.ledger_table)
    capsys.readouterr()
    assert main(["status", "--output", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["count"] == sum(report.expected.values())
    assert status["outcomes"] == {"pushed": report.ended["pushed"], "skipped": report.ended["skipped"],
                                  "waiting": 0, "poisoned": report.ended["poisoned"]}
    assert all(run["reason"] for run in status["runs"] if run["outcome"] != "pushed")
