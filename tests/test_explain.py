"""The lineage core end to end: run record in, Purview entities and per-activity outcomes out."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lineage.cli.main import dumps, main
from lineage.extract.config import ConfigError, LineageOptions
from lineage.extract.entities import explain
from lineage.extract.mermaid import flowchart
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from lineage.extract.stores import StoreSettings
from tests.conftest import load_adf_example
from tests.records import (
    BLOB_LS,
    CSV_DS,
    FACTORY,
    PIPELINE_QN,
    SQL_LS,
    TABLE_DS,
    activity_run,
    copy_activity,
    dataset,
    expr,
    linked_service,
    record,
)

ACTIVITY_QN = f"{PIPELINE_QN}/activities/CopySales"
RUN_END_MS = int(datetime(2026, 11, 24, 1, 1, tzinfo=UTC).timestamp()) * 1000
CSV_QN = "https://contosoraw.blob.core.windows.net/sales/daily/2026-11-24/sales.csv"
# A Copy reads that file as a member of the resource set the account's scans group it into (field notes §5).
CSV_SET_QN = "https://contosoraw.blob.core.windows.net/sales/daily/{Year}-{Month}-{Day}/sales.csv"
SERVER_QN = "mssql://contoso-sql.database.windows.net"
TABLE_QN = f"{SERVER_QN}/sales/dbo/DailySales"


def run_doc(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    opts = LineageOptions(**options)
    return explain(extract(RunRecord.from_json(doc), opts), opts.pipeline_factory_attribute)


def by_type(doc: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [e for e in doc["entities"] if e["typeName"] == type_name]


def simple_copy(**run_kwargs: Any) -> dict[str, Any]:
    activity = copy_activity("CopySales", "SalesCsv", "SalesTable",
                             source_params={"day": expr("@pipeline().parameters.day")})
    run = activity_run("CopySales", "Copy", "a-1", output={
        "rowsCopied": 1200, "dataWritten": 52000, "reportLineageToPurview": {"status": "NotReported"}}, **run_kwargs)
    return record([activity], [run], datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                  parameters={"day": "2026-11-24"})


def test_copy_blob_to_sql_yields_purview_native_entities() -> None:
    doc = run_doc(simple_copy())
    assert [(e["typeName"], e["attributes"]["qualifiedName"]) for e in doc["entities"]] == [
        ("azure_data_factory", FACTORY),
        ("adf_pipeline", PIPELINE_QN),
        ("adf_copy_activity", ACTIVITY_QN),
        ("azure_blob_resource_set", CSV_SET_QN),
        ("azure_sql_db", SERVER_QN + "/sales"),
        ("azure_sql_schema", SERVER_QN + "/sales/dbo"),
        ("azure_sql_server", SERVER_QN),
        ("azure_sql_table", TABLE_QN),
        ("adf_copy_operation", f"{ACTIVITY_QN}#{TABLE_QN}#azure_sql_table"),
    ]
    factory, pipeline, activity, _, database, schema, server, table, operation = doc["entities"]
    # the table as a scan would create it: server -> database -> schema -> table, each naming its parent
    assert table["relationshipAttributes"] == {
        "dbSchema": {"typeName": "azure_sql_schema", "uniqueAttributes": {"qualifiedName": SERVER_QN + "/sales/dbo"}}}
    assert schema["relationshipAttributes"]["db"]["uniqueAttributes"]["qualifiedName"] == SERVER_QN + "/sales"
    assert database["relationshipAttributes"]["server"]["uniqueAttributes"]["qualifiedName"] == SERVER_QN
    assert "relationshipAttributes" not in server
    assert factory["attributes"] | {} == {"qualifiedName": FACTORY, "name": "contoso-adf",
                                          "subscriptionId": "6f1c7c3e-2a7b-4c1e-9d55-3b1f0f4a9e21",
                                          "resourceGroupName": "rg-data-platform"}
    assert pipeline["relationshipAttributes"] == {
        "dataFactory": {"typeName": "azure_data_factory", "uniqueAttributes": {"qualifiedName": FACTORY}}}
    assert activity["relationshipAttributes"]["parent"]["uniqueAttributes"]["qualifiedName"] == PIPELINE_QN
    # native facts: a successful run is "Completed", no error is ""
    assert activity["attributes"] == {"qualifiedName": ACTIVITY_QN, "name": "CopySales", "status": "Completed",
                                      "lastRunTime": RUN_END_MS, "rowCount": 1200, "dataSize": 52000,
                                      "errorMessage": ""}
    assert operation["attributes"]["inputs"] == [
        {"typeName": "azure_blob_resource_set", "uniqueAttributes": {"qualifiedName": CSV_SET_QN}}]
    assert operation["attributes"]["outputs"] == [
        {"typeName": "azure_sql_table", "uniqueAttributes": {"qualifiedName": TABLE_QN}}]
    assert operation["attributes"]["name"] == "CopySales"
    assert operation["relationshipAttributes"]["parent"] == {
        "typeName": "adf_copy_activity", "uniqueAttributes": {"qualifiedName": ACTIVITY_QN}}
    # no translator: columns are mapped by name, case-sensitively (Region != region)
    assert json.loads(operation["attributes"]["columnMapping"]) == [{
        "DatasetMapping": {"Source": CSV_SET_QN, "Sink": TABLE_QN},
        "ColumnMapping": [{"Source": "id", "Sink": "id"}, {"Source": "amount", "Sink": "amount"}]}]
    assert doc["activities"] == [{
        "activityRunId": "a-1", "activityName": "CopySales", "activityType": "Copy", "outcome": "emitted",
        "operations": [f"{ACTIVITY_QN}#{TABLE_QN}#azure_sql_table"]}]


def test_translator_mapping_wins_over_names_and_survives_quotes() -> None:
    doc = simple_copy()
    translator = {"type": "TabularTranslator", "mappings": [
        {"source": {"name": "region"}, "sink": {"name": "Region"}},
        {"source": {"path": "$['amount']"}, "sink": {"name": 'amount "EUR"'}}]}
    doc["pipelines"]["Load"]["properties"]["activities"][0]["typeProperties"]["translator"] = translator
    operation = by_type(run_doc(doc), "adf_copy_operation")[0]
    assert json.loads(operation["attributes"]["columnMapping"])[0]["ColumnMapping"] == [
        {"Source": "region", "Sink": "Region"}, {"Source": "$['amount']", "Sink": 'amount "EUR"'}]


def test_legacy_column_mappings_string() -> None:
    doc = simple_copy()
    doc["pipelines"]["Load"]["properties"]["activities"][0]["typeProperties"]["translator"] = {
        "type": "TabularTranslator", "columnMappings": "id: Id, amount: Amount"}
    operation = by_type(run_doc(doc), "adf_copy_operation")[0]
    assert json.loads(operation["attributes"]["columnMapping"])[0]["ColumnMapping"] == [
        {"Source": "id", "Sink": "Id"}, {"Source": "amount", "Sink": "Amount"}]


def foreach_doc(iterations: list[str], *, with_user_properties: bool = True) -> dict[str, Any]:
    copy = copy_activity(
        "CopySales", "SalesCsv", "SalesTable",
        source_params={"day": expr("@item().day")}, sink_params={"table": expr("@{item().table}")},
        user_properties=[{"name": "day", "value": "@item().day"}, {"name": "table", "value": "@item().table"}]
        if with_user_properties else None)
    loop = {"name": "EachDay", "type": "ForEach",
            "typeProperties": {"items": expr("@pipeline().parameters.days"), "activities": [copy]}}
    runs = [activity_run("EachDay", "ForEach", "loop-1", start="2026-11-24T01:00:00Z")]
    for i, day in enumerate(iterations):
        runs.append(activity_run("CopySales", "Copy", f"it-{i}", start=f"2026-11-24T01:0{i}:30Z",
                                 output={"rowsCopied": 10 * (i + 1)},
                                 user_properties={"day": day, "table": f"Sales_{day.replace('-', '')}"}
                                 if with_user_properties else {}))
    return record([loop], runs, datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                  parameters={"days": json.dumps([{"day": d} for d in iterations])})


def test_foreach_iterations_never_cross_join_sources_and_sinks() -> None:
    doc = run_doc(foreach_doc(["2026-11-22", "2026-11-23", "2026-11-24"]), resource_sets=None)  # files, not sets
    operations = by_type(doc, "adf_copy_operation")
    assert len(operations) == 3
    pairs = {(op["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"],
              op["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"]) for op in operations}
    assert pairs == {
        (f"https://contosoraw.blob.core.windows.net/sales/daily/{d}/sales.csv",
         f"mssql://contoso-sql.database.windows.net/sales/dbo/Sales_{d.replace('-', '')}")
        for d in ["2026-11-22", "2026-11-23", "2026-11-24"]}
    assert all(len(op["attributes"]["inputs"]) == 1 for op in operations)
    activity = by_type(doc, "adf_copy_activity")[0]
    assert activity["attributes"]["rowCount"] == 60  # the sum over the iterations
    loop_row = next(r for r in doc["activities"] if r["activityName"] == "EachDay")
    assert loop_row["outcome"] == "skipped" and "move no data" in loop_row["reason"]


def test_an_item_lacking_what_the_copy_reads_from_it_is_reported() -> None:
    """Without userProperties the item comes from the loop's items (the `days` parameter), which hold no table."""
    doc = run_doc(foreach_doc(["2026-11-24"], with_user_properties=False))
    row = next(r for r in doc["activities"] if r["activityName"] == "CopySales")
    assert row["outcome"] == "skipped"
    assert "property 'table' not found in item()" in row["reason"]
    assert by_type(doc, "adf_copy_operation") == []
    assert by_type(doc, "adf_copy_activity")[0]["attributes"]["status"] == "Completed"


def test_failed_copy_records_status_and_redacted_error_but_no_edges() -> None:
    error = ("ErrorCode=UserErrorFileNotFound,'Path https://contosoraw.blob.core.windows.net/sales/x.csv"
             "?sv=2022&sig=CANARYSIG123 was not found. AccountKey=CANARYKEY456'")
    doc = run_doc(simple_copy(status="Failed", error=error))
    activity = by_type(doc, "adf_copy_activity")[0]
    assert activity["attributes"]["status"] == "Failed"
    assert "UserErrorFileNotFound" in activity["attributes"]["errorMessage"]
    assert "CANARY" not in dumps(doc)
    assert by_type(doc, "adf_copy_operation") == []
    assert doc["activities"][0]["outcome"] == "skipped"
    assert "succeeded runs only" in doc["activities"][0]["reason"]
    emitted = run_doc(simple_copy(status="Failed", error=error), emit_failed=True)
    assert len(by_type(emitted, "adf_copy_operation")) == 1


def test_activity_already_reported_by_data_factory_is_skipped_unless_configured() -> None:
    doc = simple_copy()
    doc["activityRuns"][0]["output"]["reportLineageToPurview"] = {"status": "Succeeded"}
    row = run_doc(doc)["activities"][0]
    assert row["outcome"] == "skipped" and "Data Factory's own Purview integration" in row["reason"]
    assert run_doc(doc, skip_reported_by_data_factory=False)["activities"][0]["outcome"] == "emitted"


def test_wildcards_from_the_run_input_and_secure_input_note() -> None:
    settings = {"type": "AzureBlobStorageReadSettings", "wildcardFolderPath": "daily/2026-11-24",
                "wildcardFileName": "*.csv"}
    doc = simple_copy(input={"source": {"type": "DelimitedTextSource", "storeSettings": settings}})
    out = run_doc(doc)
    op = by_type(out, "adf_copy_operation")[0]
    assert op["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"] == (
        "https://contosoraw.blob.core.windows.net/sales/daily/2026-11-24")
    assert "wildcard" in out["activities"][0]["reason"]
    secure = simple_copy()
    secure["pipelines"]["Load"]["properties"]["activities"][0]["policy"] = {"secureInput": True}
    row = run_doc(secure)["activities"][0]
    assert row["outcome"] == "emitted" and "secure input hidden" in row["reason"]


def test_every_activity_run_gets_exactly_one_row_with_a_reason_when_skipped() -> None:
    activities = [
        copy_activity("CopySales", "SalesCsv", "SalesTable", source_params={"day": "2026-11-24"}),
        {"name": "LookupWatermark", "type": "Lookup", "typeProperties": {}},
        {"name": "RunChild", "type": "ExecutePipeline", "typeProperties": {}},
        {"name": "Notebook", "type": "DatabricksNotebook", "typeProperties": {}},
    ]
    runs = [
        activity_run("LookupWatermark", "Lookup", "r-1", start="2026-11-24T01:00:00Z"),
        activity_run("CopySales", "Copy", "r-2", start="2026-11-24T01:00:10Z"),
        activity_run("RunChild", "ExecutePipeline", "r-3", start="2026-11-24T01:00:20Z",
                     output={"pipelineRunId": "child-9"}),
        activity_run("Notebook", "DatabricksNotebook", "r-4", start="2026-11-24T01:00:30Z"),
        activity_run("Gone", "Copy", "r-5", start="2026-11-24T01:00:40Z"),
    ]
    doc = run_doc(record(activities, runs, datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS]))
    rows = {r["activityRunId"]: r for r in doc["activities"]}
    assert len(rows) == 5
    assert rows["r-2"]["outcome"] == "emitted"
    assert "move no data" in rows["r-1"]["reason"]
    assert "child-9" in rows["r-3"]["reason"]
    assert "unsupported activity type DatabricksNotebook" in rows["r-4"]["reason"]
    assert "is no longer in the pipeline" in rows["r-5"]["reason"]
    assert all(r["outcome"] == "skipped" for k, r in rows.items() if k != "r-2")


def test_same_record_gives_byte_identical_output_whatever_the_order() -> None:
    doc = foreach_doc([f"2026-11-{d:02d}" for d in range(1, 9)])
    first = dumps(run_doc(doc))
    for seed in range(3):
        shuffled = json.loads(json.dumps(doc))
        random.Random(seed).shuffle(shuffled["activityRuns"])
        assert dumps(run_doc(shuffled)) == first


def test_canary_secrets_in_linked_services_never_reach_the_output() -> None:
    blob = linked_service("RawBlob", "AzureStorage", {"connectionString": (
        "DefaultEndpointsProtocol=https;AccountName=contosoraw;AccountKey=CANARYKEY789==;"
        "EndpointSuffix=core.windows.net")})
    sql = linked_service("SalesSql", "AzureSqlDatabase", {"connectionString":
        "Data Source=contoso-sql.database.windows.net;Initial Catalog=sales;User ID=sa;Password=CANARYPWD1;"})
    doc = record([copy_activity("CopySales", "SalesCsv", "SalesTable", source_params={"day": "d"})],
                 [activity_run("CopySales", "Copy", "a-1")], datasets=[CSV_DS, TABLE_DS], linked_services=[blob, sql])
    out = dumps(run_doc(doc))
    assert "contosoraw.blob.core.windows.net" in out and "contoso-sql.database.windows.net" in out
    assert "CANARY" not in out
    assert "CANARY" not in flowchart(run_doc(doc)["entities"])


def test_unmapped_store_and_broken_expression_are_skipped_with_reasons() -> None:
    odd_ls = linked_service("Odd", "SomeFutureStore", {"url": "https://x"})
    odd_ds = dataset("OddData", "SomeFutureDataset", "Odd", {})
    broken = copy_activity("CopySales", "SalesCsv", "SalesTable", source_params={"day": expr("@concat('a'")})
    doc = record([broken, copy_activity("CopyOdd", "OddData", "SalesTable")],
                 [activity_run("CopySales", "Copy", "a-1"), activity_run("CopyOdd", "Copy", "a-2")],
                 datasets=[CSV_DS, TABLE_DS, odd_ds], linked_services=[BLOB_LS, SQL_LS, odd_ls])
    rows = {r["activityRunId"]: r for r in run_doc(doc)["activities"]}
    assert rows["a-1"]["outcome"] == "skipped" and "expression" in rows["a-1"]["reason"]
    assert rows["a-2"]["outcome"] == "skipped" and "SomeFutureStore" in rows["a-2"]["reason"]


def test_mermaid_draws_sources_operations_and_sinks() -> None:
    text = flowchart(run_doc(simple_copy())["entities"])
    assert text.startswith("flowchart LR\n")
    assert '(["sales.csv<br/><small>azure_blob_resource_set</small>"])' in text
    assert '["CopySales (copy)"]' in text
    assert "n1 --> n0" in text and "n0 --> n2" in text


def test_public_example_bodies(shared_dir: Path) -> None:
    """Data Factory's own example run: the ForEach's Copy writes to `@item()`; the items are the pipeline's
    `OutputBlobNameList` parameter and the loop is sequential, so the run's item is known exactly."""
    run = load_adf_example(shared_dir, "PipelineRuns_Get")
    doc = {
        "factory": "/subscriptions/12345678-1234-1234-1234-12345678abc/resourceGroups/exampleResourceGroup"
                   "/providers/Microsoft.DataFactory/factories/exampleFactoryName",
        "pipelineRun": run,
        "activityRuns": load_adf_example(shared_dir, "ActivityRuns_QueryByPipelineRun")["value"],
        "pipelines": {run["pipelineName"]: load_adf_example(shared_dir, "Pipelines_Get")},
        "datasets": {"exampleDataset": load_adf_example(shared_dir, "Datasets_Get")},
        "linkedServices": {"exampleLinkedService": load_adf_example(shared_dir, "LinkedServices_Get")},
    }
    rows = {r["activityName"]: r for r in run_doc(doc)["activities"]}
    assert rows["ExampleForeachActivity"]["outcome"] == "skipped"
    # its linked service's connection string is masked, as the API returns it: the user is told what to set
    assert rows["ExampleCopyActivity"]["outcome"] == "skipped"
    assert "linkedServiceHosts" in rows["ExampleCopyActivity"]["reason"]
    hosts = StoreSettings(linked_service_hosts={"exampleLinkedService": "exampleaccount"})
    rows = {r["activityName"]: r for r in run_doc(doc, stores=hosts)["activities"]}
    assert rows["ExampleCopyActivity"]["outcome"] == "emitted"
    assert rows["ExampleCopyActivity"]["reason"] == "item matched by run order (a sequential ForEach)"
    assert rows["ExampleCopyActivity"]["operations"][0].endswith(
        "#https://exampleaccount.blob.core.windows.net/examplecontainer/exampleoutput.csv#azure_blob_path")


def test_cli_prints_stable_json_and_rejects_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(simple_copy()))
    assert main(["explain", str(path)]) == 0
    first = capsys.readouterr().out
    assert main(["explain", str(path)]) == 0
    assert capsys.readouterr().out == first
    assert json.loads(first)["activities"][0]["outcome"] == "emitted"
    assert main(["explain", str(path), "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")
    bad = tmp_path / "bad.json"
    bad.write_text('{"factory": "x"}')
    assert main(["explain", str(bad)]) == 1
    assert "pipelineRun" in capsys.readouterr().err


def test_a_copy_names_a_grouped_file_as_its_resource_set_unless_the_account_does_not_group() -> None:
    grouped = run_doc(simple_copy())
    assert by_type(grouped, "azure_blob_resource_set")[0]["attributes"] == {"qualifiedName": CSV_SET_QN,
                                                                            "name": "sales.csv"}
    assert by_type(grouped, "azure_blob_path") == []
    plain = run_doc(simple_copy(), resource_sets=None)
    assert [e["attributes"]["qualifiedName"] for e in by_type(plain, "azure_blob_path")] == [CSV_QN]
    assert by_type(plain, "azure_blob_resource_set") == []


def test_resource_set_settings_turn_grouping_off_or_name_the_accounts_rules(tmp_path: Path) -> None:
    assert LineageOptions.from_mapping({"resourceSets": False}).resource_sets is None
    assert LineageOptions.from_mapping({}).resource_sets == LineageOptions().resource_sets is not None
    with pytest.raises(ConfigError, match="resourceSetRules"):
        LineageOptions.from_mapping({"resourceSetRules": {"pathPatternConfig": {"regexReplacers": "no"}}})
    with pytest.raises(ConfigError, match="resourceSetRules"):
        LineageOptions.from_mapping({"resourceSetRules": str(tmp_path / "missing.json")})
    with pytest.raises(ConfigError, match="resourceSetRules"):
        LineageOptions.from_mapping({"resourceSetRules": 3})


KV_SQL_LS = linked_service("SalesSql", "AzureSqlDatabase", {"connectionString": {
    "type": "AzureKeyVaultSecret", "store": {"referenceName": "Vault", "type": "LinkedServiceReference"},
    "secretName": "sales-sql"}})


def query_copy(query: str, *, linked_service: dict[str, Any] = SQL_LS) -> dict[str, Any]:
    source = dataset("SalesSource", "AzureSqlTable", "SalesSql", {})
    activity = copy_activity("CopyQuery", "SalesSource", "SalesCsv", source_params={},
                             sink_params={"day": "2026-11-24"},
                             type_props={"source": {"type": "AzureSqlSource", "sqlReaderQuery": query},
                                         "sink": {"type": "DelimitedTextSink"}})
    run = activity_run("CopyQuery", "Copy", "q-1", input={"source": {"type": "AzureSqlSource",
                                                                     "sqlReaderQuery": query}})
    return record([activity], [run], datasets=[source, CSV_DS], linked_services=[linked_service, BLOB_LS])


def source_names(doc: dict[str, Any]) -> list[str]:
    [op] = by_type(doc, "adf_copy_operation")
    return [i["uniqueAttributes"]["qualifiedName"] for i in op["attributes"]["inputs"]]


def test_a_key_vault_connection_string_is_named_from_the_settings_host_and_database() -> None:
    doc = run_doc(query_copy("select * from dbo.Orders", linked_service=KV_SQL_LS))
    [row] = [r for r in doc["activities"] if r["activityName"] == "CopyQuery"]
    assert row["outcome"] == "skipped" and "linkedServiceHosts" in row["reason"] and "SalesSql" in row["reason"]
    hosts = StoreSettings(linked_service_hosts={"SalesSql": {"host": "contoso-sql.database.windows.net"}})
    [row] = [r for r in run_doc(query_copy("select * from dbo.Orders", linked_service=KV_SQL_LS), stores=hosts)[
        "activities"] if r["activityName"] == "CopyQuery"]
    assert '"database"' in row["reason"] and "SalesSql" in row["reason"]  # the part still missing, and where
    hosts = StoreSettings(linked_service_hosts={"SalesSql": {"host": "contoso-sql.database.windows.net",
                                                              "database": "sales"}})
    doc = run_doc(query_copy("select * from dbo.Orders", linked_service=KV_SQL_LS), stores=hosts)
    assert source_names(doc) == [f"{SERVER_QN}/sales/dbo/Orders"]


def test_three_and_four_part_names_resolve_to_their_database_and_server() -> None:
    doc = run_doc(query_copy("select * from archive.dbo.Orders o join dbo.Lines l on o.id = l.id"))
    assert sorted(source_names(doc)) == [f"{SERVER_QN}/archive/dbo/Orders", f"{SERVER_QN}/sales/dbo/Lines"]
    four = "select * from LEGACY01.erp.dbo.Invoices"
    [row] = [r for r in run_doc(query_copy(four))["activities"] if r["activityName"] == "CopyQuery"]
    assert row["outcome"] == "skipped" and "linked server 'LEGACY01'" in row["reason"]
    hosts = StoreSettings(linked_service_hosts={"LEGACY01": "sqlerp01.corp.contoso.com"})
    assert source_names(run_doc(query_copy(four), stores=hosts)) == [
        "mssql://sqlerp01.corp.contoso.com/MSSQLSERVER/erp/dbo/Invoices"]


def test_linked_service_hosts_entries_are_checked() -> None:
    with pytest.raises(ConfigError, match="linkedServiceHosts"):
        LineageOptions.from_mapping({"linkedServiceHosts": {"x": {"hostname": "h"}}})
    with pytest.raises(ConfigError, match="linkedServiceHosts"):
        LineageOptions.from_mapping({"linkedServiceHosts": {"x": {"host": 3}}})
    options = LineageOptions.from_mapping({"linkedServiceHosts": {"x": {"host": "h", "database": "d"}, "y": "z"}})
    assert options.stores.linked_service_hosts == {"x": {"host": "h", "database": "d"}, "y": "z"}


def test_a_setting_changed_since_the_run_is_said_without_quoting_it() -> None:
    doc = query_copy("select * from dbo.Orders where secret = 'hunter2'")
    doc["activityRuns"][0]["input"]["source"]["sqlReaderQuery"] = "select * from dbo.OrdersOld"  # what ran
    [row] = [r for r in run_doc(doc)["activities"] if r["activityName"] == "CopyQuery"]
    assert row["outcome"] == "emitted"
    assert "definition drift: typeProperties.source.sqlReaderQuery" in row["reason"]
    assert "hunter2" not in row["reason"] and "OrdersOld" not in row["reason"]


def test_settings_the_service_adds_or_writes_differently_are_no_drift() -> None:
    doc = query_copy("select * from dbo.Orders")
    doc["pipelines"]["Load"]["properties"]["activities"][0]["typeProperties"]["source"]["queryTimeout"] = "02:00:00"
    doc["activityRuns"][0]["input"]["source"].update(queryTimeout=" 02:00:00", partitionOption="None")
    [row] = [r for r in run_doc(doc)["activities"] if r["activityName"] == "CopyQuery"]
    assert "drift" not in row.get("reason", "")


def test_an_activity_whose_type_changed_since_the_run_is_skipped_as_drift() -> None:
    doc = query_copy("select * from dbo.Orders")
    doc["pipelines"]["Load"]["properties"]["activities"][0]["type"] = "Lookup"
    [row] = [r for r in run_doc(doc)["activities"] if r["activityName"] == "CopyQuery"]
    assert row["outcome"] == "skipped"
    assert row["reason"] == "definition drift: the activity is a Lookup in today's definition but ran as a Copy"


def test_mermaid_tells_apart_two_assets_of_one_name_by_their_place() -> None:
    sink = {"typeName": "azure_sql_table", "uniqueAttributes": {"qualifiedName": TABLE_QN}}
    ops = [{"typeName": "adf_copy_operation", "attributes": {
        "qualifiedName": f"op{i}", "name": f"Copy{i}", "outputs": [sink],
        "inputs": [{"typeName": "azure_blob_path", "uniqueAttributes": {
            "qualifiedName": f"https://acct.blob.core.windows.net/{folder}/sales.csv"}}]}}
        for i, folder in enumerate(["east", "west"])]
    assets = [{"typeName": "azure_blob_path", "attributes": {
        "qualifiedName": f"https://acct.blob.core.windows.net/{folder}/sales.csv", "name": "sales.csv"}}
        for folder in ["east", "west"]]
    table = {"typeName": "azure_sql_table", "attributes": {"qualifiedName": TABLE_QN, "name": "DailySales"}}
    text = flowchart([*assets, table, *ops])
    assert '"east/sales.csv<br/>' in text and '"west/sales.csv<br/>' in text
    assert '"DailySales<br/>' in text  # a name no other asset has stays short
