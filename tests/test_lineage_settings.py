"""Two lineage settings that change the names written: ``sqlServerDefaultInstance`` (the instance of a SQL Server
whose connection names none) and ``pipelineFactoryAttribute`` (the relationship from a pipeline to its factory).

Each is followed from where an operator sets it to where it shows: the settings file of ``explain --config``, the
``LINEAGE_SETTINGS`` app setting of the worker (pushing to the local Purview) and of ``doctor`` (reading the local
Purview's live type definitions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage.cli import doctor
from lineage.cli.main import main
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord
from lineage.extract.stores import StoreSettings, sql_table_asset
from lineage.local.adf_server import AdfServer
from lineage.local.credential import LocalCredential
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import LocalTLS
from lineage.service import wiring
from lineage.service.events import RunRef, WorkMessage
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES
from tests.memory_queue import MemoryQueue
from tests.records import BLOB_LS, CSV_DS, activity_run, copy_activity, dataset, linked_service, record

SQL_QUERY = json.loads((SAMPLES / "copy_sql_query.json").read_text())
FACTORY_ID = SQL_QUERY["factory"]
HOST = "sqlerp01.corp.contoso.com"


def on_premises(data_source: str = HOST) -> dict[str, Any]:
    """The SQL-query sample reading from a SQL Server on premises (through a self-hosted integration runtime), under
    names of its own: the local Data Factory serves definitions by name."""
    text = json.dumps(SQL_QUERY)
    for old, new in (("ExportOrders", "ExportErpOrders"), ("ds_sql_sales_db", "ds_sql_erp"),
                     ("ls_sql_sales", "ls_sql_erp")):
        text = text.replace(old, new)
    doc: dict[str, Any] = json.loads(text)
    connection = f"Data Source={data_source};Initial Catalog=erp;Integrated Security=True"
    doc["linkedServices"]["ls_sql_erp"]["properties"] = {
        "type": "SqlServer", "annotations": [], "typeProperties": {"connectionString": connection},
        "connectVia": {"referenceName": "SelfHostedIR", "type": "IntegrationRuntimeReference"}}
    doc["datasets"]["ds_sql_erp"]["properties"]["type"] = "SqlServerTable"
    return doc


def explained(tmp_path: Path, doc: dict[str, Any], settings: dict[str, Any] | None,
              capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``python -m lineage explain RUN.json [--config SETTINGS.json]``, its JSON output."""
    run = tmp_path / "run.json"
    run.write_text(json.dumps(doc))
    argv = ["explain", str(run)]
    if settings is not None:
        (tmp_path / "settings.json").write_text(json.dumps(settings))
        argv += ["--config", str(tmp_path / "settings.json")]
    capsys.readouterr()
    assert main(argv) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def names(doc: dict[str, Any], type_name: str) -> list[str]:
    return sorted(e["attributes"]["qualifiedName"] for e in doc["entities"] if e["typeName"] == type_name)


# --- sqlServerDefaultInstance -----------------------------------------------------------------------------------------

def test_a_sql_server_whose_connection_names_no_instance_gets_the_default_instance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    default = explained(tmp_path, on_premises(), None, capsys)
    assert names(default, "mssql_table") == [f"mssql://{HOST}/MSSQLSERVER/erp/dbo/Customers",
                                             f"mssql://{HOST}/MSSQLSERVER/erp/dbo/Orders",
                                             f"mssql://{HOST}/MSSQLSERVER/erp/ref/SalesRegions"]
    named = explained(tmp_path, on_premises(), {"sqlServerDefaultInstance": "SQLEXPRESS"}, capsys)
    assert names(named, "mssql_table") == [f"mssql://{HOST}/SQLEXPRESS/erp/dbo/Customers",
                                           f"mssql://{HOST}/SQLEXPRESS/erp/dbo/Orders",
                                           f"mssql://{HOST}/SQLEXPRESS/erp/ref/SalesRegions"]
    assert names(named, "mssql_instance") == [f"mssql://{HOST}/SQLEXPRESS"]
    assert names(named, "mssql_db") == [f"mssql://{HOST}/SQLEXPRESS/erp"]


def test_an_instance_the_connection_names_wins_over_the_default(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    doc = explained(tmp_path, on_premises(f"{HOST}\\ERP"), {"sqlServerDefaultInstance": "SQLEXPRESS"}, capsys)
    assert names(doc, "mssql_instance") == [f"mssql://{HOST}/ERP"]


def test_the_default_instance_names_the_servers_ssis_packages_and_queries_name_directly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = json.loads((SAMPLES / "ssis_inline_package.json").read_text().replace(
        "contoso-sql.database.windows.net", HOST))
    doc = explained(tmp_path, package, {"sqlServerDefaultInstance": "SQLEXPRESS"}, capsys)
    assert names(doc, "mssql_table") == [f"mssql://{HOST}/SQLEXPRESS/sales/dbo/Customers",
                                         f"mssql://{HOST}/SQLEXPRESS/staging/stage/Customers"]
    asset = sql_table_asset(HOST, "erp", None, "Orders", StoreSettings(sql_server_default_instance="SQLEXPRESS"))
    assert (asset.type_name, asset.qualified_name) == ("mssql_table", f"mssql://{HOST}/SQLEXPRESS/erp/dbo/Orders")


@pytest.mark.parametrize(("server", "instance"), [(HOST, "SQLEXPRESS"), ({"host": HOST, "instance": "ERP"}, "ERP")])
def test_a_linked_servers_table_gets_its_instance_else_the_default(server: Any, instance: str) -> None:
    source = dataset("SalesSource", "AzureSqlTable", "SalesSql", {})
    query = "select * from LEGACY01.erp.dbo.Invoices"
    activity = copy_activity("CopyQuery", "SalesSource", "SalesCsv", sink_params={"day": "2026-11-24"},
                             type_props={"source": {"type": "AzureSqlSource", "sqlReaderQuery": query},
                                         "sink": {"type": "DelimitedTextSink"}})
    run = activity_run("CopyQuery", "Copy", "q-1",
                       input={"source": {"type": "AzureSqlSource", "sqlReaderQuery": query}})
    sql = linked_service("SalesSql", "AzureSqlDatabase", {
        "connectionString": "Data Source=contoso-sql.database.windows.net;Initial Catalog=sales"})
    doc = record([activity], [run], datasets=[source, CSV_DS], linked_services=[sql, BLOB_LS])
    options = LineageOptions.from_mapping({"linkedServiceHosts": {"LEGACY01": server},
                                           "sqlServerDefaultInstance": "SQLEXPRESS"})
    written = explain(extract(RunRecord.from_json(doc), options), options.pipeline_factory_attribute)
    assert names(written, "mssql_table") == [f"mssql://{HOST}/{instance}/erp/dbo/Invoices"]


# --- pipelineFactoryAttribute -----------------------------------------------------------------------------------------

def test_the_pipeline_names_its_factory_under_the_attribute_the_settings_give(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    factory = {"typeName": "azure_data_factory", "uniqueAttributes": {"qualifiedName": FACTORY_ID}}
    [pipeline] = [e for e in explained(tmp_path, SQL_QUERY, None, capsys)["entities"]
                  if e["typeName"] == "adf_pipeline"]
    assert pipeline["relationshipAttributes"] == {"dataFactory": factory}
    [pipeline] = [e for e in explained(tmp_path, SQL_QUERY, {"pipelineFactoryAttribute": "factory"}, capsys)[
        "entities"] if e["typeName"] == "adf_pipeline"]
    assert pipeline["relationshipAttributes"] == {"factory": factory}


def test_the_app_setting_is_read_into_the_options() -> None:
    options = wiring.lineage_options({"LINEAGE_SETTINGS": json.dumps({"pipelineFactoryAttribute": "factory",
                                                                      "sqlServerDefaultInstance": "SQLEXPRESS"})})
    assert options.pipeline_factory_attribute == "factory"
    assert options.stores.sql_server_default_instance == "SQLEXPRESS"
    assert wiring.lineage_options({}) == LineageOptions()


# --- through the worker and doctor, against the local servers ---------------------------------------------------------

ON_PREMISES_RUN = "4a1d5b7e-6f2a-4c3d-8e9f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def adf(tls: LocalTLS) -> Iterator[AdfServer]:
    doc = on_premises()
    doc["pipelineRun"]["runId"] = ON_PREMISES_RUN
    for run in doc["activityRuns"]:
        run["pipelineRunId"] = ON_PREMISES_RUN
    with AdfServer(SAMPLES, tls) as server:
        server.put_run(doc)
        yield server


@pytest.fixture
def purview(tls: LocalTLS) -> Iterator[PurviewServer]:
    with PurviewServer(tls=tls) as server:
        yield server


def push(adf: AdfServer, purview: PurviewServer, run_id: str, settings: dict[str, Any]) -> Any:
    env = {"DATAFACTORY_ENDPOINT": adf.url, "PURVIEW_ENDPOINT": f"{purview.url}/datamap/api/atlas/v2",
           "LINEAGE_SETTINGS": json.dumps(settings)}
    worker = wiring.build_worker(LocalCredential(), env, queues=MemoryQueue())
    return worker.handle(WorkMessage(RunRef(FactoryId.parse(FACTORY_ID), run_id), "e-1", "2026-11-25T08:00:00Z")
                         .to_json(), 1)


def held(purview: PurviewServer, type_name: str) -> list[str]:
    return sorted(e["attributes"]["qualifiedName"] for e in purview.entities() if e["typeName"] == type_name)


def test_the_worker_writes_the_default_instance_the_app_setting_gives(adf: AdfServer,
                                                                      purview: PurviewServer) -> None:
    processed = push(adf, purview, ON_PREMISES_RUN, {"sqlServerDefaultInstance": "SQLEXPRESS"})
    assert processed.outcome is Outcome.PUSHED, processed.detail
    assert held(purview, "mssql_table") == [f"mssql://{HOST}/SQLEXPRESS/erp/dbo/Customers",
                                            f"mssql://{HOST}/SQLEXPRESS/erp/dbo/Orders",
                                            f"mssql://{HOST}/SQLEXPRESS/erp/ref/SalesRegions"]
    assert held(purview, "mssql_instance") == [f"mssql://{HOST}/SQLEXPRESS"]


def test_the_worker_writes_the_pipelines_factory_under_the_attribute_the_app_setting_gives(
        adf: AdfServer, purview: PurviewServer) -> None:
    run_id = SQL_QUERY["pipelineRun"]["runId"]
    pushed = push(adf, purview, run_id, {})
    assert pushed.outcome is Outcome.PUSHED
    [pipeline] = [e for e in purview.entities() if e["typeName"] == "adf_pipeline"]
    assert list(pipeline["relationshipAttributes"]) == ["dataFactory"]
    purview.reset()
    # An attribute the account's adf_pipeline does not have: the pipeline goes without the dataFactory Purview
    # makes mandatory, and Purview refuses the write (doctor says so before any run: see below).
    refused = push(adf, purview, run_id, {"pipelineFactoryAttribute": "factory"})
    assert refused.outcome is Outcome.POISONED
    assert "adf_pipeline.dataFactory: mandatory attribute value missing" in refused.detail
    assert purview.entities() == []


# --- doctor: the attributes we write, against the live type definitions -----------------------------------------------

def doctor_checks(purview: PurviewServer, settings: dict[str, Any] | None = None) -> dict[str, doctor.Check]:
    env = {"PURVIEW_ENDPOINT": f"{purview.url}/datamap/api/atlas/v2"}
    if settings is not None:
        env["LINEAGE_SETTINGS"] = json.dumps(settings)
    return {c.name: c for c in doctor.run_checks(LocalCredential(), env) if c.area == "purview"}


def test_doctor_finds_every_attribute_we_write_on_a_complete_account(purview: PurviewServer) -> None:
    checks = doctor_checks(purview)
    ours = {name: c for name, c in checks.items() if name.startswith("type ")}
    assert {"type adf_pipeline", "type adf_copy_activity", "type adf_copy_operation"} <= set(ours)
    assert all(c.ok for c in ours.values()), [c.line() for c in ours.values() if not c.ok]
    assert ours["type adf_pipeline"].detail == "3 attributes as written"  # qualifiedName, name, dataFactory


def test_doctor_says_the_account_lacks_the_pipelines_factory_attribute_the_settings_name(
        purview: PurviewServer) -> None:
    check = doctor_checks(purview, {"pipelineFactoryAttribute": "factory"})["type adf_pipeline"]
    assert not check.ok
    assert check.detail == "has no attribute factory"
    assert "pipelineFactoryAttribute" in check.fix


def test_doctor_says_the_account_lacks_an_attribute_we_write(purview: PurviewServer) -> None:
    for name in purview.types.ancestors("adf_copy_activity"):  # wherever the account's definitions declare it
        definition = purview.types.defs[name]
        purview.types.defs[name] = {**definition, "attributeDefs": [
            a for a in definition.get("attributeDefs") or [] if a.get("name") != "rowCount"]}
    checks = doctor_checks(purview)
    assert not checks["type adf_copy_activity"].ok
    assert checks["type adf_copy_activity"].detail == "has no attribute rowCount"
    assert checks["type adf_copy_operation"].ok and checks["type adf_pipeline"].ok


def test_the_tenant_level_purview_endpoint_is_taken() -> None:
    from lineage.service import wiring

    url = "https://api.purview-service.microsoft.com/catalog/api/atlas/v2"
    assert wiring.purview_endpoint({"PURVIEW_ENDPOINT": url}) == url
    with pytest.raises(wiring.SettingsError, match="not a host of this service"):
        wiring.purview_endpoint({"PURVIEW_ENDPOINT": "https://api.purview-service.microsoft.com.evil.example/x"})
