"""The sample runs shaped like the template gallery's pipelines, through ``python -m lineage explain`` as a user runs
it: one operation per ForEach item with its own source and sink, a per-transformation data flow's lineage, an SSIS
package's Azure Blob Source, and a reason on every row whose lineage is partial."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any

from tests.conftest import ROOT, SAMPLES

LAKE = "https://contosolake.dfs.core.windows.net"
RAW = "https://contosoraw.blob.core.windows.net"
SQL = "mssql://contoso-sql.database.windows.net"
SYNAPSE = "mssql://contoso-syn.sql.azuresynapse.net"
NO_DATA_MOVED = {"GetMetadata", "Lookup", "ForEach"}


@cache
def explained(name: str) -> dict[str, Any]:
    """What the command line prints for one sample (run once per sample: a process start costs a second here)."""
    done = subprocess.run([sys.executable, "-m", "lineage", "explain", str(SAMPLES / name)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def operations(doc: dict[str, Any], type_name: str) -> dict[str, tuple[str, list[str]]]:
    """Each operation's qualifiedName -> (its one output, its inputs)."""
    found = {}
    for op in doc["entities"]:
        if op["typeName"] == type_name:
            [output] = [o["uniqueAttributes"]["qualifiedName"] for o in op["attributes"]["outputs"]]
            found[op["attributes"]["qualifiedName"]] = (
                output, sorted(i["uniqueAttributes"]["qualifiedName"] for i in op["attributes"]["inputs"]))
    return found


def rows_of(doc: dict[str, Any], activity: str) -> list[dict[str, Any]]:
    return [r for r in doc["activities"] if r["activityName"] == activity]


def test_bulk_copy_from_files_over_get_metadata_gives_one_operation_per_file_and_says_pairing_is_by_order() -> None:
    doc = explained("foreach_getmetadata_files_to_sql.json")
    files = ("customers", "orders", "products")
    assert sorted(operations(doc, "adf_copy_operation").values()) == [
        (f"{SQL}/sales/stage/{name}", [f"{RAW}/landing/crm/export/{name}.csv"]) for name in files]
    rows = rows_of(doc, "CopyFileToTable")
    assert len(rows) == 3 and all(r["outcome"] == "emitted" and len(r["operations"]) == 1 for r in rows)
    assert sorted(r["operations"][0] for r in rows) == sorted(operations(doc, "adf_copy_operation"))
    for row in rows:  # a parallel loop whose runs show nothing of their item: the set is exact, the pairing is not
        assert "which run processed which is not known" in row["reason"]
    for row in doc["activities"]:
        if row["activityType"] in NO_DATA_MOVED:
            assert row["outcome"] == "skipped" and row["reason"].endswith("move no data between stores")


def test_bulk_copy_from_a_control_table_via_lookup_matches_each_run_to_its_own_table() -> None:
    doc = explained("foreach_lookup_control_table.json")
    record = json.loads((SAMPLES / "foreach_lookup_control_table.json").read_text())
    ops = operations(doc, "adf_copy_operation")
    tables = ("Customer", "Product", "SalesOrderHeader")
    assert sorted(ops.values()) == [(f"{SYNAPSE}/dw/stg/{t}", [f"{SQL}/sales/SalesLT/{t}"]) for t in tables]
    queried = {run["activityRunId"]: run["input"]["source"]["sqlReaderQuery"]
               for run in record["activityRuns"] if run["activityName"] == "CopyTableToSynapse"}
    for row in rows_of(doc, "CopyTableToSynapse"):  # started out of item order, matched by the query each ran
        [op] = row["operations"]
        table = ops[op][0].rsplit("/", 1)[1]
        assert queried[row["activityRunId"]] == f"SELECT * FROM [SalesLT].[{table}]"
        assert row["outcome"] == "emitted" and row["reason"] == "source is a query reading 1 table(s)"


def test_a_per_transformation_data_flow_ties_each_sink_to_the_sources_that_reach_it() -> None:
    doc = explained("dataflow_per_transformation.json")
    assert sorted(operations(doc, "adf_dataflow_operation").values()) == [
        (f"{LAKE}/quarantine/sales/orders", [f"{LAKE}/raw/sales/orders"]),  # the split's rejected rows only
        (f"{SYNAPSE}/dw/mart/DailySalesByCategory", [f"{LAKE}/raw/sales/orders", f"{SQL}/sales/dbo/Products"]),
    ]
    [row] = doc["activities"]
    assert row["outcome"] == "emitted" and "reason" not in row  # reassembled in full: nothing partial to say


def test_an_ssis_package_with_an_azure_blob_source_names_the_blob_and_says_what_it_cannot_name() -> None:
    doc = explained("ssis_azure_blob_source.json")
    assert sorted(operations(doc, "adf_executeSsisPackage_operation").values()) == [
        (f"{SQL}/staging/stage/CrmCustomers", [f"{RAW}/landing/crm/{{Year}}/{{Month}}/{{Day}}/customers.csv"]),
        (f"{SQL}/staging/stage/ErpProducts", []),
    ]
    [row] = doc["activities"]
    assert row["outcome"] == "emitted"
    assert row["reason"] == (
        "source Products File: file connection 'Products export' reaches a network share \\\\erp-app01\\exports, "
        "not an Azure store; the operations of data flow task Package\\Load Products lack the input of Products File")
    [blob_set] = [e for e in doc["entities"] if e["typeName"] == "azure_blob_resource_set"]
    assert blob_set["attributes"]["qualifiedName"] == f"{RAW}/landing/crm/{{Year}}/{{Month}}/{{Day}}/customers.csv"
