"""The Purview writer against the local Purview over HTTPS: activity facts that follow the latest run whatever order
runs arrive in, connections kept alive, and answers without delayed-ACK stalls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lineage.azure.purview import CatalogChangedError, PurviewError, PurviewWriter
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from lineage.extract.stores import StoreSettings, sql_table_asset
from lineage.local.credential import TOKEN_PREFIX, LocalCredential
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import make_local_tls
from tests.records import BLOB_LS, CSV_DS, PIPELINE_QN, SQL_LS, TABLE_DS, activity_run, copy_activity, expr, record

pytestmark = pytest.mark.integration
ACTIVITY = ("adf_copy_activity", f"{PIPELINE_QN}/activities/CopySales")


@pytest.fixture(scope="module")
def purview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PurviewServer]:
    tls = make_local_tls(Path(tmp_path_factory.mktemp("tls")))
    with pytest.MonkeyPatch.context() as patch, PurviewServer(tls=tls) as server:
        patch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_bundle))
        yield server


@pytest.fixture(autouse=True)
def empty(purview: PurviewServer) -> None:
    purview.reset()
    purview.clear_faults()


def writer(purview: PurviewServer) -> PurviewWriter:
    return PurviewWriter(LocalCredential(), f"{purview.url}/datamap/api/atlas/v2", backoff_base_s=0.01)


def run_entities(end: str, *, status: str = "Succeeded", error: str = "", rows: int | None = 1200) -> list[Any]:
    """The entities of one run of the same Copy, ending at ``end``."""
    activity = copy_activity("CopySales", "SalesCsv", "SalesTable",
                             source_params={"day": expr("@pipeline().parameters.day")})
    output: dict[str, Any] = {"dataWritten": 52000, "reportLineageToPurview": {"status": "NotReported"}}
    if rows is not None:
        output["rowsCopied"] = rows
    run = activity_run("CopySales", "Copy", "a-1", status=status, end=end, output=output, error=error)
    doc = record([activity], [run], datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                 parameters={"day": "2026-11-24"})
    entities: list[Any] = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")["entities"]
    return entities


def stored_activity(purview: PurviewServer) -> dict[str, Any]:
    [entity] = [e for e in purview.entities() if (e["typeName"], e["attributes"]["qualifiedName"]) == ACTIVITY]
    attributes: dict[str, Any] = entity["attributes"]
    return attributes


def test_an_older_run_processed_later_does_not_replace_the_latest_runs_facts(purview: PurviewServer) -> None:
    newer = run_entities("2026-11-24T02:00:00Z", rows=500)
    older = run_entities("2026-11-24T01:00:00Z", status="Failed", error="Sink failed", rows=None)
    warm = writer(purview)
    warm.push(newer)
    latest = dict(stored_activity(purview))
    warm.push(older)  # the same process: it remembers what it wrote
    assert stored_activity(purview) == latest
    writer(purview).push(older)  # a fresh process (a restarted worker): it asks Purview first
    assert stored_activity(purview) == latest
    assert latest["status"] == "Completed" and latest["rowCount"] == 500 and latest["errorMessage"] == ""


def test_the_latest_run_replaces_every_fact_of_an_earlier_failure(purview: PurviewServer) -> None:
    failed = run_entities("2026-11-24T01:00:00Z", status="Failed", error="Sink failed", rows=None)
    succeeded = run_entities("2026-11-24T02:00:00Z", rows=700)
    writer(purview).push(failed)
    assert stored_activity(purview)["errorMessage"] == "2200: Sink failed"  # the error's code and first sentence
    writer(purview).push(succeeded)
    facts = stored_activity(purview)
    assert facts["status"] == "Completed" and facts["rowCount"] == 700
    assert facts["errorMessage"] == ""  # not the earlier run's message next to a successful status


def test_the_operation_and_assets_of_an_older_run_are_still_written(purview: PurviewServer) -> None:
    writer(purview).push(run_entities("2026-11-24T02:00:00Z"))
    purview.reset()
    writer_ = writer(purview)
    writer_.push(run_entities("2026-11-24T03:00:00Z"))
    purview.reset()  # Purview lost everything; an older run arrives
    with pytest.raises(CatalogChangedError):  # it named assets Purview no longer has: the worker resolves again
        writer_.push(run_entities("2026-11-24T01:00:00Z"))
    writer_.push(run_entities("2026-11-24T01:00:00Z"))
    types = sorted(e["typeName"] for e in purview.entities())
    assert types == sorted(e["typeName"] for e in run_entities("2026-11-24T01:00:00Z"))


def test_the_writer_keeps_one_connection_alive(purview: PurviewServer) -> None:
    active = writer(purview)
    before = purview.connections
    for hour in range(1, 9):
        active.push(run_entities(f"2026-11-24T{hour:02d}:00:00Z"))
    assert purview.connections - before == 1  # pyapacheatlas alone opens one (and a TLS handshake) per call


def test_answers_come_without_a_delayed_ack_stall(purview: PurviewServer) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {TOKEN_PREFIX}https://purview.azure.net"}
    url = f"{purview.url}/datamap/api/atlas/v2/types/typedef/name/adf_copy_activity"
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert session.get(url, headers=headers).status_code == 200
        timings.append(time.perf_counter() - started)
    # Written in two pieces on a socket with Nagle's algorithm, every answer waited ~40 ms for the client's ACK.
    assert min(timings) < 0.02


def test_an_asset_lacking_what_its_live_type_makes_mandatory_fails_before_anything_is_written(
        purview: PurviewServer) -> None:
    entities = run_entities("2026-11-24T02:00:00Z")
    table = next(e for e in entities if e["typeName"] == "azure_sql_table")
    del table["relationshipAttributes"]  # as if the run did not tell the table's schema
    with pytest.raises(PurviewError, match=r"azure_sql_table .*DailySales.*: Purview's type definition makes "
                                           r"dbSchema mandatory") as failure:
        writer(purview).push(entities)
    assert not failure.value.transient
    assert purview.entities() == []  # nothing of the run half-written


def test_a_scanned_view_is_preferred_to_creating_a_table_of_the_same_name(purview: PurviewServer) -> None:
    entities = run_entities("2026-11-24T02:00:00Z")
    writer(purview).push(entities)  # creates the table with its schema, database and server
    asset = sql_table_asset("contoso-sql.database.windows.net", "sales", "dbo", "DailySales", StoreSettings())
    fresh = writer(purview)
    assert fresh.resolve([asset]) == {asset: asset}  # the table itself is held
    purview.reset()
    view = asset.alternatives[0]
    schema = next(e for e in entities if e["typeName"] == "azure_sql_schema")
    scanned = [*(e for t in ("azure_sql_server", "azure_sql_db") for e in entities if e["typeName"] == t), schema, {
        "typeName": view.type_name, "attributes": {"qualifiedName": view.qualified_name, "name": view.name},
        "relationshipAttributes": {"dbSchema": {"typeName": "azure_sql_schema",
                                                "uniqueAttributes": {"qualifiedName": schema["attributes"][
                                                    "qualifiedName"]}}}}]
    for entity in scanned:  # parents first, each referencing the one above it as a scan would
        purview.seed([{**entity, "guid": "-1"}])
    chosen = writer(purview).resolve([asset])[asset]
    assert (chosen.type_name, chosen.qualified_name) == ("azure_sql_view", asset.qualified_name)
