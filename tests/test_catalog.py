"""Lineage lands on the assets the catalog already holds, end to end through the local stack.

The local Purview enforces Purview's real type system (typedef dumps, mandatory attributes, relationship types), so
these runs would fail here as they would in Azure if an asset were named or created unlike a scanner. Scanned assets
are seeded the way a scan writes them; the runs then go event -> queue -> worker -> reader -> extract -> writer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from lineage.azure.purview import PurviewWriter
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import TOPIC, LocalStack, local_stack
from lineage.service.events import RunRef, event_grid_event
from lineage.service.poison import read_poison
from tests.conftest import SAMPLES, SHARED
from tests.records import (
    BLOB_LS,
    CSV_DS,
    FACTORY,
    SQL_LS,
    TABLE_DS,
    activity_run,
    copy_activity,
    dataset,
    expr,
    linked_service,
    record,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (SHARED / "contracts" / "purview" / "typedef-dumps").is_dir(),
                       reason="needs Purview's real typedef dumps in the shared contracts folder (the local Purview "
                              "enforces them; without them it falls back to its own smaller type list)"),
]
FAST_HOST = HostSettings(max_dequeue_count=2, visibility_timeout_s=1, batch_size=16)
SERVER = "mssql://contoso-sql.database.windows.net"
TABLE_QN = f"{SERVER}/sales/dbo/DailySales"
SET_PATH = "sales/daily/{Year}-{Month}-{Day}/sales.csv"


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite,
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> Iterator[None]:
    stack.reset()
    yield
    stack.reset()


def run_id(n: int) -> str:
    return f"5e1f0000-0000-4000-8000-{n:012d}"


def blob_to_sql(n: int, *, factory: str = FACTORY, pipeline: str | None = None) -> dict[str, Any]:
    """A Copy from a day's CSV file in Blob Storage into an Azure SQL table."""
    activity = copy_activity("CopySales", "SalesCsv", "SalesTable",
                             source_params={"day": expr("@pipeline().parameters.day")})
    run = activity_run("CopySales", "Copy", f"a-{n}", output={"rowsCopied": 10, "dataWritten": 100})
    doc = record([activity], [run], datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                 parameters={"day": "2026-11-24"})
    return with_run_id(doc, n, factory, pipeline)


def cosmos_to_sql(n: int) -> dict[str, Any]:
    cosmos_ls = linked_service("Telemetry", "CosmosDb", {
        "connectionString": "AccountEndpoint=https://contoso-cosmos.documents.azure.com:443/;Database=telemetry;"
                            "AccountKey=**********"})
    devices = dataset("Devices", "CosmosDbSqlApiCollection", "Telemetry", {"collectionName": "devices"})
    activity = copy_activity("CopyDevices", "Devices", "SalesTable",
                             type_props={"source": {"type": "CosmosDbSqlApiSource"}, "sink": {"type": "AzureSqlSink"}})
    run = activity_run("CopyDevices", "Copy", f"c-{n}", output={"rowsCopied": 5})
    doc = record([activity], [run], datasets=[devices, TABLE_DS], linked_services=[cosmos_ls, SQL_LS])
    return with_run_id(doc, n, FACTORY)


def with_run_id(doc: dict[str, Any], n: int, factory: str, pipeline: str | None = None) -> dict[str, Any]:
    """The record as run ``n`` of pipeline ``Load<n>`` (or ``pipeline``): the local Data Factory serves definitions
    by name."""
    doc = copy.deepcopy(doc)
    doc["factory"] = factory
    name = pipeline or f"Load{n}"
    doc["pipelineRun"].update(runId=run_id(n), pipelineName=name)
    doc["pipelines"] = {name: {**doc["pipelines"]["Load"], "id": f"{factory}/pipelines/{name}", "name": name}}
    for run in doc["activityRuns"]:
        run.update(pipelineRunId=run_id(n), pipelineName=name)
    return doc


def push(stack: LocalStack, doc: dict[str, Any], *, event_factory: str | None = None) -> None:
    stack.adf.put_run(doc)
    ref = RunRef(FactoryId.parse(event_factory or doc["factory"]), doc["pipelineRun"]["runId"])
    stack.host.deliver(event_grid_event(f"evt-{ref.run_id}", ref, topic=TOPIC))
    stack.host.drain(timeout_s=60)


def entities(stack: LocalStack, type_name: str | None = None) -> list[dict[str, Any]]:
    return [e for e in stack.purview.entities() if type_name is None or e["typeName"] == type_name]


def keys(stack: LocalStack) -> set[tuple[str, str]]:
    return {(e["typeName"], e["attributes"]["qualifiedName"]) for e in stack.purview.entities()}


def operation(stack: LocalStack) -> dict[str, Any]:
    [op] = entities(stack, "adf_copy_operation")
    return op


def referenced(stack: LocalStack, op: dict[str, Any], side: str) -> list[tuple[str, str]]:
    by_guid = {e["guid"]: e for e in stack.purview.entities()}
    return [(by_guid[r["guid"]]["typeName"], by_guid[r["guid"]]["attributes"]["qualifiedName"])
            for r in op["relationshipAttributes"][side]]


def no_poison(stack: LocalStack) -> None:
    poisoned = [read_poison(str(m.content)).reason for m in stack.queues.poison.peek_messages(max_messages=32)]
    assert poisoned == []


def seed_sql_view(stack: LocalStack) -> None:
    """The sink table exists in the catalog as a view, as a SQL scan registered it."""
    stack.purview.seed([
        {"typeName": "azure_sql_server", "guid": "-1",
         "attributes": {"qualifiedName": SERVER, "name": "contoso-sql"}},
        {"typeName": "azure_sql_db", "guid": "-2", "attributes": {"qualifiedName": f"{SERVER}/sales", "name": "sales"},
         "relationshipAttributes": {"server": {"guid": "-1", "typeName": "azure_sql_server"}}},
        {"typeName": "azure_sql_schema", "guid": "-3", "attributes": {"qualifiedName": f"{SERVER}/sales/dbo",
                                                                       "name": "dbo"},
         "relationshipAttributes": {"db": {"guid": "-2", "typeName": "azure_sql_db"}}},
        {"typeName": "azure_sql_view", "guid": "-4", "attributes": {"qualifiedName": TABLE_QN, "name": "DailySales"},
         "relationshipAttributes": {"dbSchema": {"guid": "-3", "typeName": "azure_sql_schema"}}},
    ])


def test_a_scanned_view_and_an_adls_resource_set_behind_a_blob_linked_service_are_referenced_not_duplicated(
        stack: LocalStack) -> None:
    seed_sql_view(stack)
    # The storage account is scanned as ADLS Gen2, although the factory reaches it through a Blob linked service.
    stack.purview.seed([{"typeName": "azure_datalake_gen2_resource_set", "guid": "-1", "attributes": {
        "qualifiedName": f"https://contosoraw.dfs.core.windows.net/{SET_PATH}", "name": "sales.csv"}}])
    before = keys(stack)
    push(stack, blob_to_sql(1))
    no_poison(stack)
    op = operation(stack)
    assert referenced(stack, op, "inputs") == [
        ("azure_datalake_gen2_resource_set", f"https://contosoraw.dfs.core.windows.net/{SET_PATH}")]
    assert referenced(stack, op, "outputs") == [("azure_sql_view", TABLE_QN)]
    assert op["attributes"]["qualifiedName"].endswith(f"#{TABLE_QN}#azure_sql_view")
    created_assets = {k for k in keys(stack) - before if not k[0].startswith(("adf_", "azure_data_factory"))}
    assert created_assets == set(), "no duplicate of a scanned asset"


def test_with_an_empty_catalog_sql_tables_and_cosmos_collections_are_created_as_a_scan_would(
        stack: LocalStack) -> None:
    push(stack, cosmos_to_sql(2))
    push(stack, blob_to_sql(3))
    no_poison(stack)
    held = keys(stack)
    assert {("azure_sql_server", SERVER), ("azure_sql_db", f"{SERVER}/sales"),
            ("azure_sql_schema", f"{SERVER}/sales/dbo"), ("azure_sql_table", TABLE_QN)} <= held
    cosmos = "https://contoso-cosmos.documents.azure.com"
    assert {("azure_cosmosdb_account", cosmos), ("azure_cosmosdb_database", f"{cosmos}/dbs/telemetry"),
            ("azure_cosmosdb_sqlapi_collection", f"{cosmos}/dbs/telemetry/colls/devices")} <= held
    assert ("azure_blob_resource_set", f"https://contosoraw.blob.core.windows.net/{SET_PATH}") in held
    [collection] = entities(stack, "azure_cosmosdb_sqlapi_collection")
    assert collection["attributes"]["resourceLink"] == "dbs/telemetry/colls/devices"
    assert stack.purview.invalid == [] and stack.purview.validated


def test_a_second_run_of_the_same_activities_costs_one_purview_call(stack: LocalStack) -> None:
    push(stack, blob_to_sql(4))
    writer: PurviewWriter = stack.worker.writer
    calls = writer.calls
    push(stack, blob_to_sql(5, pipeline="Load4"))  # the same pipeline's next run
    no_poison(stack)
    assert writer.calls - calls == 1


def test_the_factory_is_named_in_arms_case_whatever_case_the_event_used(stack: LocalStack) -> None:
    push(stack, blob_to_sql(6), event_factory=FACTORY.lower())
    no_poison(stack)
    [factory] = entities(stack, "azure_data_factory")
    assert factory["attributes"]["qualifiedName"] == FACTORY
    [activity] = entities(stack, "adf_copy_activity")
    assert activity["attributes"]["qualifiedName"] == f"{FACTORY}/pipelines/Load6/activities/CopySales"
    assert activity["attributes"]["status"] == "Completed" and activity["attributes"]["errorMessage"] == ""


def test_a_store_whose_type_the_account_lacks_ends_in_poison_naming_the_type(stack: LocalStack) -> None:
    snowflake_ls = linked_service("Edw", "SnowflakeV2", {"accountIdentifier": "contoso-prod", "database": "EDW"})
    dim = dataset("DimDate", "SnowflakeV2Table", "Edw", {"schema": "CORE", "table": "DIM_DATE"})
    activity = copy_activity("CopyDim", "SalesCsv", "DimDate", source_params={"day": "2026-11-24"},
                             type_props={"source": {"type": "DelimitedTextSource"}, "sink": {"type": "SnowflakeSink"}})
    doc = with_run_id(record([activity], [activity_run("CopyDim", "Copy", "s-7")], datasets=[CSV_DS, dim],
                             linked_services=[BLOB_LS, snowflake_ls]), 7, FACTORY)
    push(stack, doc)
    [message] = stack.queues.poison.peek_messages(max_messages=32)
    reason = read_poison(str(message.content)).reason
    assert "snowflake_table" in reason and "does not know the type" in reason
    assert entities(stack, "adf_copy_operation") == []
