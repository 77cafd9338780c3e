"""Building run records in tests: real API body shapes, small enough to read in the test that uses them."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord

SUB = "6f1c7c3e-2a7b-4c1e-9d55-3b1f0f4a9e21"
FACTORY = f"/subscriptions/{SUB}/resourceGroups/rg-data-platform/providers/Microsoft.DataFactory/factories/contoso-adf"
PIPELINE_QN = f"{FACTORY}/pipelines/Load"
RUN_ID = "0b6bb3a4-8f0e-4a57-9d43-4d1b6b8f1c11"


def expr(text: str) -> dict[str, str]:
    return {"value": text, "type": "Expression"}


def dataset(name: str, kind: str, linked_service: str, type_props: dict[str, Any], *,
            parameters: dict[str, Any] | None = None, ls_parameters: dict[str, Any] | None = None,
            schema: list[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "type": kind,
        "linkedServiceName": {"referenceName": linked_service, "type": "LinkedServiceReference",
                              **({"parameters": ls_parameters} if ls_parameters else {})},
        "typeProperties": type_props,
    }
    if parameters:
        props["parameters"] = parameters
    if schema:
        props["schema"] = [{"name": c, "type": "String"} for c in schema]
    return {"id": f"{FACTORY}/datasets/{name}", "name": name, "type": "Microsoft.DataFactory/factories/datasets",
            "properties": props}


def linked_service(name: str, kind: str, type_props: dict[str, Any], *,
                   parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"type": kind, "typeProperties": type_props}
    if parameters:
        props["parameters"] = parameters
    return {"id": f"{FACTORY}/linkedservices/{name}", "name": name,
            "type": "Microsoft.DataFactory/factories/linkedservices", "properties": props}


def copy_activity(name: str, source_ds: str, sink_ds: str, *, source_params: dict[str, Any] | None = None,
                  sink_params: dict[str, Any] | None = None, type_props: dict[str, Any] | None = None,
                  user_properties: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "name": name, "type": "Copy",
        "inputs": [{"referenceName": source_ds, "type": "DatasetReference", "parameters": source_params or {}}],
        "outputs": [{"referenceName": sink_ds, "type": "DatasetReference", "parameters": sink_params or {}}],
        "typeProperties": type_props or {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "AzureSqlSink"}},
        **extra,
    }
    if user_properties:
        activity["userProperties"] = user_properties
    return activity


def activity_run(name: str, kind: str, run_id: str, *, status: str = "Succeeded", start: str = "2026-11-24T01:00:00Z",
                 end: str = "2026-11-24T01:01:00Z", output: dict[str, Any] | None = None,
                 input: dict[str, Any] | None = None, user_properties: dict[str, Any] | None = None,
                 error: str = "") -> dict[str, Any]:
    return {
        "activityName": name, "activityType": kind, "activityRunId": run_id, "pipelineName": "Load",
        "pipelineRunId": RUN_ID, "status": status, "activityRunStart": start, "activityRunEnd": end,
        "durationInMs": 60000, "input": input if input is not None else {}, "output": output or {},
        "userProperties": user_properties or {}, "linkedServiceName": "", "retryAttempt": None,
        "error": {"errorCode": "2200" if error else "", "message": error, "failureType": "UserError" if error else "",
                  "target": name},
    }


def record(activities: list[dict[str, Any]], runs: list[dict[str, Any]], *, datasets: list[dict[str, Any]],
           linked_services: list[dict[str, Any]], parameters: dict[str, str] | None = None,
           global_parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "factory": FACTORY,
        "pipelineRun": {"runId": RUN_ID, "pipelineName": "Load", "status": "Succeeded",
                        "runStart": "2026-11-24T01:00:00Z", "runEnd": "2026-11-24T01:05:00Z",
                        "parameters": parameters or {}, "invokedBy": {"name": "Manual", "id": "m-1"}},
        "activityRuns": runs,
        "pipelines": {"Load": {"id": f"{FACTORY}/pipelines/Load", "name": "Load",
                               "properties": {"activities": activities}}},
        "datasets": {d["name"]: d for d in datasets},
        "linkedServices": {ls["name"]: ls for ls in linked_services},
    }
    if global_parameters:
        doc["globalParameters"] = global_parameters
    return copy.deepcopy(doc)


BLOB_LS = linked_service("RawBlob", "AzureBlobStorage", {"serviceEndpoint": "https://contosoraw.blob.core.windows.net/"})
SQL_LS = linked_service("SalesSql", "AzureSqlDatabase", {
    "connectionString": "Integrated Security=False;Encrypt=True;Data Source=contoso-sql.database.windows.net;"
                        "Initial Catalog=sales;User ID=loader",
    "password": {"type": "SecureString", "value": "**********"}})
CSV_DS = dataset("SalesCsv", "DelimitedText", "RawBlob", {
    "location": {"type": "AzureBlobStorageLocation", "container": "sales",
                 "folderPath": expr("@concat('daily/', dataset().day)"), "fileName": "sales.csv"}},
    parameters={"day": {"type": "String"}}, schema=["id", "amount", "region"])
TABLE_DS = dataset("SalesTable", "AzureSqlTable", "SalesSql", {"schema": "dbo", "table": expr("@dataset().table")},
                   parameters={"table": {"type": "String", "defaultValue": "DailySales"}},
                   schema=["id", "amount", "Region"])


def ended_at(doc: dict[str, Any], ended: datetime) -> dict[str, Any]:
    """The same run (same ids) moved in time so that it ends at ``ended``: a window relative to now still finds the
    samples, however long after they were written the tests run (Data Factory keeps 45 days)."""
    clone = copy.deepcopy(doc)
    shift = ended - datetime.fromisoformat(doc["pipelineRun"]["runEnd"])

    def moved(stamp: str) -> str:
        return (datetime.fromisoformat(stamp) + shift).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    run = clone["pipelineRun"]
    for key in ("runStart", "runEnd", "lastUpdated"):
        if run.get(key):
            run[key] = moved(run[key])
    for activity_run in clone["activityRuns"]:
        for key in ("activityRunStart", "activityRunEnd"):
            if activity_run.get(key):
                activity_run[key] = moved(activity_run[key])
    return clone


def sample_outcomes(records: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """What run records should come to, read by the pure core: a run with an emitted activity is pushed, the others
    skipped; and how many pipelines were pushed (a box each in the lineage graph)."""
    outcomes = {"pushed": 0, "skipped": 0}
    pipelines = set()
    for record in records:
        options = LineageOptions()
        rows = explain(extract(RunRecord.from_json(record), options), options.pipeline_factory_attribute)["activities"]
        pushed = any(row["outcome"] == "emitted" for row in rows)
        outcomes["pushed" if pushed else "skipped"] += 1
        if pushed:
            pipelines.add(record["pipelineRun"]["pipelineName"])
    return outcomes, len(pipelines)
