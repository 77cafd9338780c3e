"""Decisions seen from the outside, through the whole local service: Azurite's queues driven with the Functions host's
semantics (maxDequeueCount 3), the real handlers, the local Data Factory and Purview over HTTPS.

What is checked is what Purview and the poison queue hold, named here as a reader of the catalog would name it, not
compared with what ``explain`` predicts (a rule broken in the core would break both sides alike).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16)
SQL_QUERY = json.loads((SAMPLES / "copy_sql_query.json").read_text())
LOOP = json.loads((SAMPLES / "foreach_adls_to_synapse.json").read_text())
SERVER = "mssql://contoso-sql.database.windows.net"


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite, queue_name="decided-runs",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count),
                          "LINEAGE_MAX_WAITS": "2"}) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> None:
    stack.reset()


def envelopes(stack: LocalStack) -> list[PoisonEnvelope]:
    return [read_poison(str(m.content)) for m in stack.queues.poison.peek_messages(max_messages=32)]


def variant(record: dict[str, Any], run_id: str, renames: dict[str, str]) -> dict[str, Any]:
    """A run of its own: a new run id, and definitions under new names (the local Data Factory serves them by name)."""
    text = json.dumps(record).replace(record["pipelineRun"]["runId"], run_id)
    for old, new in renames.items():
        text = text.replace(old, new)
    doc: dict[str, Any] = json.loads(text)
    return doc


class Catalog:
    """What the local Purview holds, by qualifiedName; relationships followed by guid as a catalog reader does."""

    def __init__(self, stack: LocalStack) -> None:
        self.by_guid = {e["guid"]: e for e in stack.purview.entities()}

    def named(self, type_name: str) -> list[str]:
        return sorted(e["attributes"]["qualifiedName"] for e in self.by_guid.values() if e["typeName"] == type_name)

    def entity(self, type_name: str, qualified_name: str) -> dict[str, Any]:
        [found] = [e for e in self.by_guid.values()
                   if (e["typeName"], e["attributes"]["qualifiedName"]) == (type_name, qualified_name)]
        return found

    def related(self, entity: dict[str, Any], attribute: str) -> list[dict[str, Any]]:
        value = entity.get("relationshipAttributes", {}).get(attribute)
        refs = value if isinstance(value, list) else [value] if value else []
        return [self.by_guid[r["guid"]] for r in refs]

    def inputs_of(self, activity: str) -> list[str]:
        [operation] = [e for e in self.by_guid.values() if e["typeName"] == "adf_copy_operation"
                       and e["attributes"]["qualifiedName"].split("#")[0].endswith(f"/activities/{activity}")]
        return sorted(e["attributes"]["qualifiedName"] for e in self.related(operation, "inputs"))

    def chain(self, table: dict[str, Any]) -> list[str]:
        """A table's schema, database and server, as the catalog links them."""
        names = []
        entity = table
        for link in ("dbSchema", "db", "server"):
            [entity] = self.related(entity, link)
            names.append(entity["attributes"]["qualifiedName"])
        return names


# --- the last attempt and the last wait -------------------------------------------------------------------------------

def test_a_write_that_keeps_failing_ends_as_the_workers_own_envelope_on_the_last_attempt(stack: LocalStack) -> None:
    record = SQL_QUERY
    stack.purview.inject(status=503, retry_after=0, times=1_000, path_contains="/entity/bulk", method="POST")
    stack.send_completed(record)
    stack.host.drain(timeout_s=120)
    [envelope] = envelopes(stack)
    assert envelope.error_class == "PurviewError"  # not a bare body the host moved after the third failure
    assert envelope.attempts == FAST_HOST.max_dequeue_count
    assert "HTTP 503" in envelope.reason
    assert envelope.run_id == record["pipelineRun"]["runId"]
    assert json.loads(envelope.message)["runId"] == envelope.run_id
    assert stack.host.stats.moved_to_poison == 0
    assert stack.worker.outcomes[Outcome.POISONED] == 1


def test_a_run_that_never_ends_is_poisoned_after_the_waits_the_setting_allows(stack: LocalStack) -> None:
    run_id = SQL_QUERY["pipelineRun"]["runId"]
    stack.adf.hold_in_progress(run_id, reads=100)
    try:
        stack.send_completed(SQL_QUERY)
        stack.host.drain(timeout_s=60)
    finally:
        stack.adf.hold_in_progress(run_id, 0)
    assert stack.worker.outcomes[Outcome.WAITING] == 2  # LINEAGE_MAX_WAITS
    [envelope] = envelopes(stack)
    assert envelope.error_class == "RunNotEndedError"
    assert envelope.reason == "run still InProgress after 2 waits; replay it once it has ended"
    assert stack.purview.entities() == []


# --- SQL sources: the tables a query reads, in their databases; a stored procedure's are not known --------------------

def test_a_query_sources_tables_are_the_operations_inputs_in_the_catalog(stack: LocalStack) -> None:
    stack.send_completed(SQL_QUERY)
    stack.host.drain(timeout_s=60)
    catalog = Catalog(stack)
    tables = [f"{SERVER}/sales/dbo/Customers", f"{SERVER}/sales/dbo/Orders", f"{SERVER}/sales/ref/SalesRegions"]
    assert catalog.inputs_of("ExportRecentOrders") == tables
    assert catalog.named("azure_sql_table") == tables  # the CTE `recent` is no table
    assert catalog.chain(catalog.entity("azure_sql_table", tables[2])) == [
        f"{SERVER}/sales/ref", f"{SERVER}/sales", SERVER]


def test_a_table_a_query_names_in_another_database_lands_in_that_database(stack: LocalStack) -> None:
    query = ("SELECT h.OrderId, c.Name FROM archive.dbo.OrdersHistory h "
             "JOIN dbo.Customers c ON c.CustomerId = h.CustomerId")
    record = variant(SQL_QUERY, "6e1f8a4b-9c5d-4ecf-b07a-4d5e6f7a8b71",
                     {"ExportOrders": "ExportArchivedOrders", "ds_sql_sales_db": "ds_sql_archive_db"})
    record["activityRuns"][0]["input"]["source"]["sqlReaderQuery"] = query
    [activity] = record["pipelines"]["ExportArchivedOrders"]["properties"]["activities"]
    activity["typeProperties"]["source"]["sqlReaderQuery"] = query
    stack.adf.put_run(record)
    stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    catalog = Catalog(stack)
    assert catalog.inputs_of("ExportRecentOrders") == [f"{SERVER}/archive/dbo/OrdersHistory",
                                                       f"{SERVER}/sales/dbo/Customers"]
    assert catalog.named("azure_sql_db") == [f"{SERVER}/archive", f"{SERVER}/sales"]
    history = catalog.entity("azure_sql_table", f"{SERVER}/archive/dbo/OrdersHistory")
    assert catalog.chain(history) == [f"{SERVER}/archive/dbo", f"{SERVER}/archive", SERVER]


def test_a_stored_procedure_source_is_not_reported_as_the_datasets_table(stack: LocalStack) -> None:
    record = variant(SQL_QUERY, "6e1f8a4b-9c5d-4ecf-b07a-4d5e6f7a8b72",
                     {"ExportOrders": "ExportOrdersByProcedure", "ds_sql_sales_db": "ds_sql_orders"})
    source = {"type": "AzureSqlSource", "sqlReaderStoredProcedureName": "[dbo].[usp_RecentOrders]"}
    record["activityRuns"][0]["input"]["source"] = source
    [activity] = record["pipelines"]["ExportOrdersByProcedure"]["properties"]["activities"]
    activity["typeProperties"]["source"] = copy.deepcopy(source)
    record["datasets"]["ds_sql_orders"]["properties"]["typeProperties"] = {"schema": "dbo", "table": "Orders"}
    stack.adf.put_run(record)
    stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    catalog = Catalog(stack)
    assert catalog.inputs_of("ExportRecentOrders") == []  # what the procedure reads is not visible
    assert catalog.named("azure_sql_table") == []
    assert catalog.named("azure_datalake_gen2_path") == [
        "https://contosolake.dfs.core.windows.net/exports/orders/recent_orders.parquet"]


# --- an activity's status: the worst of its runs ----------------------------------------------------------------------

def test_a_loop_with_one_failed_iteration_is_a_failed_activity_in_the_catalog(stack: LocalStack) -> None:
    record = variant(LOOP, "8c3e5a1f-2b4d-4f6a-8c0e-1a2b3c4d5e99", {})
    copies = [r for r in record["activityRuns"] if r["activityName"] == "CopyTableToSynapse"]
    copies[1].update(status="Failed", error={"errorCode": "2200", "message": "Sink table is locked. Retry later.",
                                             "failureType": "UserError", "target": "CopyTableToSynapse"})
    stack.adf.put_run(record)
    stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    [activity] = [e for e in stack.purview.entities() if e["typeName"] == "adf_copy_activity"]
    assert activity["attributes"]["status"] == "Failed"
    assert activity["attributes"]["errorMessage"] == "2200: Sink table is locked."
