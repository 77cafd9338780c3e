"""The run record format: what is required, what is optional, and how the factory id is read."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.extract.pipeline import activities_by_name
from lineage.extract.runrecord import FactoryId, RunRecord, RunRecordError
from tests.conftest import load_adf_example

FACTORY = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1"


def minimal(**extra: Any) -> dict[str, Any]:
    return {
        "factory": FACTORY,
        "pipelineRun": {"runId": "r-1", "pipelineName": "p"},
        "activityRuns": [],
        **extra,
    }


def test_minimal_record_needs_only_three_keys() -> None:
    record = RunRecord.from_json(minimal())
    assert record.run_id == "r-1"
    assert record.pipelines == {} and record.datasets == {}
    assert record.factory == FactoryId("sub-1", "rg-1", "adf-1")


@pytest.mark.parametrize("missing", ["factory", "pipelineRun", "activityRuns"])
def test_each_required_key_is_named_when_missing(missing: str) -> None:
    doc = minimal()
    del doc[missing]
    with pytest.raises(RunRecordError, match=missing):
        RunRecord.from_json(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        (minimal(activityRuns={}), "activityRuns must be a list"),
        (minimal(activityRuns=[{"activityName": "a", "activityType": "Copy"}]), r"activityRuns\[0\].activityRunId"),
        (minimal(pipelineRun={"runId": "", "pipelineName": "p"}), "pipelineRun.runId"),
        (minimal(datasets=[]), "datasets must be an object"),
        (minimal(factory="/subscriptions/x/resourceGroups/y"), "factory must be a resource id"),
        (minimal(factory=42), "factory must be a resource id"),
    ],
)
def test_malformed_records_are_rejected_with_the_reason(doc: Any, message: str) -> None:
    with pytest.raises(RunRecordError, match=message):
        RunRecord.from_json(doc)


def test_factory_id_fixed_segments_are_case_insensitive_and_canonicalized() -> None:
    factory = FactoryId.parse(
        "/SUBSCRIPTIONS/sub-1/resourcegroups/rg-1/providers/microsoft.datafactory/FACTORIES/adf-1/"
    )
    assert factory.resource_id == FACTORY


def test_factory_id_rejects_hostile_segments() -> None:
    with pytest.raises(RunRecordError, match="invalid segment"):
        FactoryId.parse("/subscriptions/sub 1/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f")


def test_system_variables_and_global_parameters() -> None:
    record = RunRecord.from_json(minimal(
        pipelineRun={"runId": "r-1", "pipelineName": "p", "runStart": "2026-11-24T01:00:00Z",
                     "invokedBy": {"name": "Nightly", "id": "t-1", "invokedByType": "ScheduleTrigger"}},
        globalParameters={"zone": {"type": "String", "value": "bronze"}},
    ))
    assert record.system_variables() == {
        "RunId": "r-1", "Pipeline": "p", "DataFactory": "adf-1", "TriggerTime": "2026-11-24T01:00:00Z",
        "TriggerName": "Nightly", "TriggerId": "t-1", "TriggerType": "ScheduleTrigger",
    }
    assert record.global_parameter_values() == {"zone": "bronze"}


def test_record_from_the_public_example_bodies(shared_dir: Any) -> None:
    run = load_adf_example(shared_dir, "PipelineRuns_Get")
    activity_runs = load_adf_example(shared_dir, "ActivityRuns_QueryByPipelineRun")["value"]
    pipeline = load_adf_example(shared_dir, "Pipelines_Get")
    record = RunRecord.from_json({
        "factory": FACTORY, "pipelineRun": run, "activityRuns": activity_runs,
        "pipelines": {run["pipelineName"]: pipeline},
    })
    assert [r["activityType"] for r in record.activity_runs] == ["ForEach", "Copy"]
    nested = activities_by_name(pipeline)
    assert set(nested) == {"ExampleForeachActivity", "ExampleCopyActivity"}
    assert nested["ExampleCopyActivity"]["type"] == "Copy"


def test_nested_activities_of_every_container_are_found() -> None:
    def act(name: str, kind: str = "Copy", **props: Any) -> dict[str, Any]:
        return {"name": name, "type": kind, "typeProperties": props}

    pipeline = {"properties": {"activities": [
        act("If", "IfCondition", ifTrueActivities=[act("InTrue")], ifFalseActivities=[
            act("Loop", "ForEach", activities=[act("Until", "Until", activities=[act("Deep")])])]),
        act("Switch", "Switch", cases=[{"value": "a", "activities": [act("CaseA")]}],
            defaultActivities=[act("Default")]),
    ]}}
    assert sorted(activities_by_name(pipeline)) == sorted(
        ["If", "InTrue", "Loop", "Until", "Deep", "Switch", "CaseA", "Default"])
