"""ForEach loops as the template gallery writes them: items from a Lookup, a Get Metadata, a Filter, a variable or a
parameter, passed into dataset parameters with ``@item()``, and no ``userProperties``.

The items come from the run record (the loop's ``items`` evaluated against earlier activities' outputs and the
variables their runs set); each iteration's run is matched to its item by the values its input shows, else paired in
start order with a reason saying so.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.extraction import synthetic_record
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from tests.records import (
    BLOB_LS,
    SQL_LS,
    activity_run,
    copy_activity,
    dataset,
    expr,
    record,
)

FILE_DS = dataset("LandingFile", "DelimitedText", "RawBlob", {
    "location": {"type": "AzureBlobStorageLocation", "container": "landing", "fileName": expr("@dataset().file")}},
    parameters={"file": {"type": "String"}})
TABLE_DS = dataset("StageTable", "AzureSqlTable", "SalesSql", {"schema": "stg", "table": expr("@dataset().table")},
                   parameters={"table": {"type": "String"}})
BLOB = "https://contosoraw.blob.core.windows.net/landing"
SQL = "mssql://contoso-sql.database.windows.net/sales/stg"


def loop(items: str, *, sequential: bool = False, copy: dict[str, Any] | None = None) -> dict[str, Any]:
    inner = copy or copy_activity("CopyOne", "LandingFile", "StageTable",
                                  source_params={"file": expr("@item().file")},
                                  sink_params={"table": expr("@item().table")})
    return {"name": "EachItem", "type": "ForEach",
            "typeProperties": {"items": expr(items), "isSequential": sequential, "activities": [inner]}}


def copy_runs(n: int, *, inputs: list[dict[str, Any]] | None = None, order: list[int] | None = None,
              start_minute: int = 1) -> list[dict[str, Any]]:
    runs = []
    for rank, i in enumerate(order or list(range(n))):
        runs.append(activity_run("CopyOne", "Copy", f"copy-{i}", start=f"2026-11-24T01:{start_minute + rank:02d}:00Z",
                                 end=f"2026-11-24T01:{start_minute + rank:02d}:30Z", output={"rowsCopied": 1},
                                 input=inputs[i] if inputs else {"source": {"type": "DelimitedTextSource"},
                                                                 "sink": {"type": "AzureSqlSink"}}))
    return runs


def explained(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    return explain(extract(RunRecord.from_json(doc), LineageOptions(resource_sets=None, **options)), "dataFactory")


def pairs(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(op["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"],
             op["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"])
            for op in doc["entities"] if op["typeName"] == "adf_copy_operation"}


def copy_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["activities"] if r["activityName"] == "CopyOne"]


CONTROL_TABLE = [{"file": "orders.csv", "table": "Orders"}, {"file": "lines.csv", "table": "Lines"},
                 {"file": "customers.csv", "table": "Customers"}]
EXPECTED = {(f"{BLOB}/{row['file']}", f"{SQL}/{row['table']}") for row in CONTROL_TABLE}


def test_bulk_copy_from_a_control_table_via_lookup_yields_one_operation_per_item() -> None:
    lookup = {"name": "ReadControlTable", "type": "Lookup", "typeProperties": {"firstRowOnly": False}}
    runs = [activity_run("ReadControlTable", "Lookup", "lookup-1", start="2026-11-24T01:00:00Z",
                         end="2026-11-24T01:00:10Z", output={"count": 3, "value": CONTROL_TABLE}),
            activity_run("EachItem", "ForEach", "loop-1", start="2026-11-24T01:00:20Z"), *copy_runs(3)]
    doc = explained(record([lookup, loop("@activity('ReadControlTable').output.value")], runs,
                           datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS]))
    assert pairs(doc) == EXPECTED
    rows = copy_rows(doc)
    assert [r["outcome"] for r in rows] == ["emitted"] * 3
    assert all("paired by run order" in r["reason"] and "not known" in r["reason"] for r in rows)


def test_a_sequential_loop_pairs_runs_with_items_in_order_exactly() -> None:
    doc = explained(record([loop("@pipeline().parameters.tables", sequential=True)], copy_runs(3),
                           datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                           parameters={"tables": json.dumps(CONTROL_TABLE)}))
    assert pairs(doc) == EXPECTED
    rows = copy_rows(doc)
    assert [r["operations"][0].split("#")[1] for r in rows] == [f"{SQL}/Orders", f"{SQL}/Lines", f"{SQL}/Customers"]
    assert all(r["reason"] == "item matched by run order (a sequential ForEach)" for r in rows)


def test_runs_are_matched_to_items_by_what_their_input_shows_whatever_their_order() -> None:
    """Get Metadata's childItems drive a wildcard Copy: the run's evaluated input names its file."""
    copy = copy_activity("CopyOne", "LandingFile", "StageTable",
                         source_params={"file": expr("@item().name")},
                         sink_params={"table": expr("@replace(item().name, '.csv', '')")},
                         type_props={"source": {"type": "DelimitedTextSource", "storeSettings": {
                             "type": "AzureBlobStorageReadSettings", "wildcardFileName": expr("@item().name")}},
                             "sink": {"type": "AzureSqlSink"}})
    files = [{"name": "Orders.csv", "type": "File"}, {"name": "Lines.csv", "type": "File"}]
    inputs = [{"source": {"type": "DelimitedTextSource", "storeSettings": {
        "type": "AzureBlobStorageReadSettings", "wildcardFileName": f["name"]}}, "sink": {"type": "AzureSqlSink"}}
        for f in files]
    runs = [activity_run("ListFiles", "GetMetadata", "meta-1", start="2026-11-24T01:00:00Z",
                         end="2026-11-24T01:00:05Z", output={"childItems": files}),
            *copy_runs(2, inputs=inputs, order=[1, 0])]  # the second file's run started first
    doc = explained(record([{"name": "ListFiles", "type": "GetMetadata"},
                            loop("@activity('ListFiles').output.childItems", copy=copy)], runs,
                           datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS]))
    rows = {r["activityRunId"]: r for r in copy_rows(doc)}
    assert rows["copy-0"]["operations"][0].split("#")[1] == f"{SQL}/Orders"
    assert rows["copy-1"]["operations"][0].split("#")[1] == f"{SQL}/Lines"
    assert all("reason" not in r for r in rows.values())  # exact: nothing partial to say


def test_items_from_variables_as_set_and_append_variable_runs_left_them() -> None:
    setter = {"name": "Init", "type": "SetVariable"}
    appender = {"name": "AddOne", "type": "AppendVariable"}
    runs = [activity_run("Init", "SetVariable", "set-1", start="2026-11-24T01:00:00Z", end="2026-11-24T01:00:01Z",
                         input={"variableName": "todo", "value": CONTROL_TABLE[:2]}),
            activity_run("AddOne", "AppendVariable", "add-1", start="2026-11-24T01:00:02Z",
                         end="2026-11-24T01:00:03Z", input={"variableName": "todo", "value": CONTROL_TABLE[2]}),
            activity_run("EachItem", "ForEach", "loop-1", start="2026-11-24T01:00:10Z"), *copy_runs(3)]
    doc = record([setter, appender, loop("@variables('TODO')")], runs, datasets=[FILE_DS, TABLE_DS],
                 linked_services=[BLOB_LS, SQL_LS])
    doc["pipelines"]["Load"]["properties"]["variables"] = {"todo": {"type": "Array"}}
    assert pairs(explained(doc)) == EXPECTED


def test_items_from_a_filter_activitys_output() -> None:
    runs = [activity_run("OnlyCsv", "Filter", "filter-1", start="2026-11-24T01:00:00Z", end="2026-11-24T01:00:01Z",
                         output={"ItemsCount": 4, "FilteredItemsCount": 3, "Value": CONTROL_TABLE}),
            *copy_runs(3)]
    doc = explained(record([{"name": "OnlyCsv", "type": "Filter"}, loop("@activity('OnlyCsv').output.value")],
                           runs, datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS]))
    assert pairs(doc) == EXPECTED


def test_more_items_than_succeeded_runs_is_said_not_guessed() -> None:
    runs = [*copy_runs(2), activity_run("CopyOne", "Copy", "copy-2", status="Failed", error="sink down")]
    doc = explained(record([loop("@pipeline().parameters.tables")], runs, datasets=[FILE_DS, TABLE_DS],
                           linked_services=[BLOB_LS, SQL_LS], parameters={"tables": json.dumps(CONTROL_TABLE)}))
    succeeded = [r for r in copy_rows(doc) if r["activityRunId"] != "copy-2"]
    assert [r["outcome"] for r in succeeded] == ["skipped", "skipped"]
    assert all("3 item(s) and 2 succeeded run(s)" in r["reason"] for r in succeeded)
    assert pairs(doc) == set()


def test_items_the_run_record_cannot_tell_give_a_reason_naming_the_loop() -> None:
    doc = explained(record([loop("@activity('NeverRan').output.value")], copy_runs(1),
                           datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS]))
    [row] = copy_rows(doc)
    assert row["outcome"] == "skipped"
    assert "items of ForEach 'EachItem' are not known from the run" in row["reason"]


def test_user_properties_win_over_the_item_found_from_the_run() -> None:
    copy = copy_activity("CopyOne", "LandingFile", "StageTable", source_params={"file": expr("@item().file")},
                         sink_params={"table": expr("@item().table")},
                         user_properties=[{"name": "t", "value": "@item().table"}])
    runs = copy_runs(1)
    runs[0]["userProperties"] = {"t": "FromUserProperties"}
    doc = explained(record([loop("@pipeline().parameters.tables", sequential=True, copy=copy)], runs,
                           datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                           parameters={"tables": json.dumps(CONTROL_TABLE[:1])}))
    assert pairs(doc) == {(f"{BLOB}/orders.csv", f"{SQL}/FromUserProperties")}


def test_a_child_pipeline_run_gets_the_item_through_its_parameters() -> None:
    """Execute Pipeline inside a ForEach: the child is its own run, and its parameters carry the item."""
    copy = copy_activity("CopyOne", "LandingFile", "StageTable",
                         source_params={"file": expr("@pipeline().parameters.file")},
                         sink_params={"table": expr("@pipeline().parameters.table")})
    doc = explained(record([copy], copy_runs(1), datasets=[FILE_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                           parameters={"file": "lines.csv", "table": "Lines"}))
    assert pairs(doc) == {(f"{BLOB}/lines.csv", f"{SQL}/Lines")}


def test_the_benchmarks_scrambled_loop_is_matched_run_by_run_not_by_order() -> None:
    """``python -m benchmarks`` times a Lookup-driven loop whose runs start out of item order; its figures mean
    something only if each run is matched to its own item by its input."""
    doc = synthetic_record(300, mix=False, matched=True)
    starts = [r["activityRunStart"] for r in doc["activityRuns"] if r["activityName"] == "CopyTable"]
    assert starts != sorted(starts)  # out of order: pairing by start would go wrong
    result = explained(doc)
    sinks = {op["attributes"]["qualifiedName"]: op["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"]
             for op in result["entities"] if op["typeName"] == "adf_copy_operation"}
    rows = {row["activityRunId"]: row for row in result["activities"]}
    for run in doc["activityRuns"][2:]:
        row = rows[run["activityRunId"]]
        assert "reason" not in row
        [op] = row["operations"]
        assert sinks[op].endswith("/dbo/" + run["input"]["source"]["storeSettings"]["wildcardFileName"][:-4])
