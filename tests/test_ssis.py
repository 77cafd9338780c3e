"""Execute SSIS Package lineage: the .dtsx parser, overrides, hostile packages, and secrets that must not leak."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lineage.cli.main import dumps
from lineage.extract.config import LineageOptions
from lineage.extract.dtsx import ConnectionOverrides, PackageError, package_xml, parse_package
from lineage.extract.entities import explain
from lineage.extract.mermaid import flowchart
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from tests.conftest import SAMPLES

NS = 'xmlns:DTS="www.microsoft.com/SqlServer/Dts"'


def manager(name: str, creation: str, connection: str) -> str:
    return (f'<DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[{name}]" DTS:CreationName="{creation}" '
            f'DTS:ObjectName="{name}"><DTS:ObjectData><DTS:ConnectionManager DTS:ConnectionString="{connection}"/>'
            "</DTS:ObjectData></DTS:ConnectionManager>")


def component(name: str, class_id: str, cm: str, **props: str) -> str:
    properties = "".join(f'<property name="{k}">{v}</property>' for k, v in props.items())
    return (f'<component componentClassID="{class_id}" name="{name}"><properties>{properties}</properties>'
            f'<connections><connection connectionManagerRefId="Package.ConnectionManagers[{cm}]"/></connections>'
            "</component>")


def package(managers: list[str], components: list[str], nested: bool = False) -> str:
    task = ('<DTS:Executable DTS:refId="Package\\Flow" DTS:ExecutableType="Microsoft.Pipeline" DTS:ObjectName="Flow">'
            f"<DTS:ObjectData><pipeline><components>{''.join(components)}</components></pipeline></DTS:ObjectData>"
            "</DTS:Executable>")
    if nested:
        task = ('<DTS:Executable DTS:ExecutableType="STOCK:SEQUENCE" DTS:ObjectName="Seq"><DTS:Executables>'
                f"{task}</DTS:Executables></DTS:Executable>")
    return (f'<DTS:Executable {NS} DTS:ObjectName="Pkg" DTS:ExecutableType="Microsoft.Package">'
            f"<DTS:ConnectionManagers>{''.join(managers)}</DTS:ConnectionManagers>"
            f"<DTS:Executables>{task}</DTS:Executables></DTS:Executable>")


SRC = "Data Source=srv1.corp.contoso.com\\ETL;Initial Catalog=crm;User ID=sa;Password=CANARY123;Provider=SQLNCLI11;"
DST = "Data Source=contoso-sql.database.windows.net;Initial Catalog=dw;Provider=MSOLEDBSQL.1;"


def test_oledb_adonet_and_flat_file_endpoints_in_nested_containers() -> None:
    xml = package(
        [manager("Crm", "OLEDB", SRC), manager("Dw", "ADO.NET:System.Data.SqlClient", DST),
         manager("Drop", "FLATFILE", "C:\\drops\\in.csv")],
        [component("Accounts", "Microsoft.OLEDBSource", "Crm", AccessMode="0", OpenRowset="[dbo].[Accounts]"),
         component("Recent", "Microsoft.OLEDBSource", "Crm", AccessMode="2",
                   SqlCommand="SELECT * FROM sales.Orders o JOIN #tmp t ON 1=1"),
         component("Csv", "Microsoft.FlatFileSource", "Drop"),
         component("Target", "Microsoft.ADONETDestination", "Dw", TableOrViewName='"stage"."Accounts"')],
        nested=True)
    result = parse_package(xml)
    summary = [(e.role, e.component, e.connection.kind, e.connection.server, e.connection.database, e.schema,
                e.table, e.sql_command) for e in result.endpoints]
    assert summary == [
        ("source", "Accounts", "sql", "srv1.corp.contoso.com\\ETL", "crm", "dbo", "Accounts", None),
        ("source", "Recent", "sql", "srv1.corp.contoso.com\\ETL", "crm", None, None,
         "SELECT * FROM sales.Orders o JOIN #tmp t ON 1=1"),
        ("source", "Csv", "file", None, None, None, None, None),
        ("destination", "Target", "sql", "contoso-sql.database.windows.net", "dw", "stage", "Accounts", None),
    ]
    assert "CANARY" not in repr(result)


def test_package_and_project_overrides_apply_allow_listed_parts_only() -> None:
    xml = package([manager("Crm", "OLEDB", SRC), manager("Dw", "OLEDB", DST)],
                  [component("A", "Microsoft.OLEDBSource", "Crm", OpenRowset="[dbo].[A]"),
                   component("B", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[dbo].[B]")])
    overrides = ConnectionOverrides.from_activity({
        "projectConnectionManagers": {"Crm": {"ConnectionString": {
            "value": "Data Source=crm-new.corp.contoso.com;Initial Catalog=crm2;Password=CANARY999"}}},
        "packageConnectionManagers": {"Dw": {"ServerName": {"value": "dw2.database.windows.net"},
                                             "InitialCatalog": {"value": "dw_prod"},
                                             "Password": {"value": {"type": "SecureString", "value": "CANARY"}}}},
    })
    endpoints = parse_package(xml, overrides).endpoints
    assert [(e.connection.server, e.connection.database) for e in endpoints] == [
        ("crm-new.corp.contoso.com", "crm2"), ("dw2.database.windows.net", "dw_prod")]
    assert "CANARY" not in repr(endpoints) and "CANARY" not in repr(overrides)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts">&lol3;</DTS:Executable>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts">&xxe;</DTS:Executable>"""


@pytest.mark.parametrize(("xml", "message"), [
    (BILLION_LAUGHS, "not allowed"),
    (EXTERNAL, "not allowed"),
    ("<DTS:Executable", "not well-formed"),
    ("<root/>", "not an SSIS package"),
])
def test_hostile_or_broken_packages_are_refused_with_a_reason(xml: str, message: str) -> None:
    with pytest.raises(PackageError, match=message):
        parse_package(xml)


def test_packages_not_inline_are_reported() -> None:
    with pytest.raises(PackageError, match=r"package not inline \(SSISDB: Folder/Project/P\.dtsx"):
        package_xml({"packageLocation": {"type": "SSISDB", "packagePath": "Folder/Project/P.dtsx"}})


def load() -> dict[str, Any]:
    return json.loads((SAMPLES / "ssis_inline_package.json").read_text())


def test_sample_inline_package_yields_ssis_operation_with_override() -> None:
    doc = explain(extract(RunRecord.from_json(load()), LineageOptions()), "dataFactory")
    [op] = [e for e in doc["entities"] if e["typeName"] == "adf_executeSsisPackage_operation"]
    sink = "mssql://contoso-sql.database.windows.net/staging/stage/Customers"
    assert op["attributes"]["qualifiedName"].endswith(f"/activities/StageCustomers#{sink}#azure_sql_table")
    assert [i["uniqueAttributes"]["qualifiedName"] for i in op["attributes"]["inputs"]] == [
        "mssql://contoso-sql.database.windows.net/sales/dbo/Customers"]
    assert op["relationshipAttributes"]["parent"]["typeName"] == "adf_executeSsisPackage_activity"
    assert '["StageCustomers (executeSsisPackage)"]' in flowchart(doc["entities"])


def test_broken_package_and_canary_secrets_in_the_run_record() -> None:
    doc = load()
    props = doc["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0]["typeProperties"]
    props["packageLocation"]["typeProperties"]["packageContent"] = props["packageLocation"]["typeProperties"][
        "packageContent"].replace("Provider=MSOLEDBSQL.1;", "Provider=MSOLEDBSQL.1;Password=CANARYPKG;", 1)
    props["packageConnectionManagers"]["StagingDb"]["ConnectionString"] = {
        "value": "Data Source=contoso-sql.database.windows.net;Initial Catalog=staging;Pwd=CANARYOVR"}
    out = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    assert "CANARY" not in dumps(out)
    assert out["activities"][0]["outcome"] == "emitted"
    props["packageLocation"]["typeProperties"]["packageContent"] = "<DTS:Executable broken"
    row = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")["activities"][0]
    assert row["outcome"] == "skipped" and "not well-formed" in row["reason"]


def shaped(name: str, class_id: str, *, inputs: int, outputs: int, type_name: str = "") -> str:
    """A component the parser does not read, shaped as SSIS writes it (inputs, outputs, an error output)."""
    props = f'<property name="UserComponentTypeName">{type_name}</property>' if type_name else ""
    ins = "".join(f'<input name="in{i}"/>' for i in range(inputs))
    outs = "".join(f'<output name="out{i}"/>' for i in range(outputs)) + '<output name="err" isErrorOut="true"/>'
    return (f'<component componentClassID="{class_id}" name="{name}"><properties>{props}</properties>'
            f"<inputs>{ins}</inputs><outputs>{outs}</outputs></component>")


def test_a_source_the_parser_does_not_read_is_said_never_silently_missing() -> None:
    xml = package(
        [manager("Dw", "OLEDB", DST)],
        [shaped("Crm In", "Microsoft.ManagedComponentHost", inputs=0, outputs=1,
                type_name="Contoso.Etl.Components.SalesforceSource, Version=1.0"),
         shaped("Derive", "Microsoft.DerivedColumn", inputs=1, outputs=1),
         component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[Files]")])
    parsed = parse_package(xml)
    assert [e.component for e in parsed.endpoints] == ["Target"]
    assert tuple(map(str, parsed.unsupported)) == (
        "source Crm In (Contoso.Etl.Components.SalesforceSource) is not read: the lineage lacks what it reads",
    )  # the transform in between is no endpoint, and is not reported


# --- nested and wide packages: each component read once, and a limit with its reason ---------------------------------

def _nested(depth: int) -> str:
    """``depth`` data flow tasks, each inside the one before, each with one component (odd: a source, even: a
    destination). SSIS itself never nests data flow tasks; a package built to look as if it did must not cost
    depth x components."""
    inner = ""
    for level in range(depth, 0, -1):
        part = (component(f"S{level}", "Microsoft.OLEDBSource", "Crm", OpenRowset=f"[dbo].[S{level}]") if level % 2
                else component(f"D{level}", "Microsoft.OLEDBDestination", "Dw", OpenRowset=f"[dbo].[D{level}]"))
        inner = (f'<DTS:Executable DTS:refId="P\\L{level}" DTS:ExecutableType="Microsoft.Pipeline" '
                 f'DTS:ObjectName="L{level}"><DTS:ObjectData><pipeline><components>{part}</components></pipeline>'
                 f"</DTS:ObjectData><DTS:Executables>{inner}</DTS:Executables></DTS:Executable>")
    return (f'<DTS:Executable {NS} DTS:ObjectName="Pkg" DTS:ExecutableType="Microsoft.Package">'
            f"<DTS:ConnectionManagers>{manager('Crm', 'OLEDB', SRC)}{manager('Dw', 'OLEDB', DST)}"
            f"</DTS:ConnectionManagers><DTS:Executables>{inner}</DTS:Executables></DTS:Executable>")


def test_each_component_of_nested_tasks_is_read_once_in_its_innermost_task() -> None:
    endpoints = parse_package(_nested(2_000)).endpoints  # 2,001,000 endpoints (and 358 MB) before
    assert len(endpoints) == 2_000
    assert [(e.component, e.task) for e in endpoints[:3]] == [("S1", "P\\L1"), ("D2", "P\\L2"), ("S3", "P\\L3")]


def _wide(sources: int, destinations: int) -> dict[str, Any]:
    """The sample with its package replaced by one data flow task of ``sources`` sources and ``destinations``
    destinations: every destination fed by every source."""
    xml = package([manager("Crm", "OLEDB", SRC), manager("Dw", "OLEDB", DST)],
                  [*(component(f"S{i}", "Microsoft.OLEDBSource", "Crm", OpenRowset=f"[dbo].[S{i}]")
                     for i in range(sources)),
                   *(component(f"D{j}", "Microsoft.OLEDBDestination", "Dw", OpenRowset=f"[dbo].[D{j}]")
                     for j in range(destinations))])
    doc = load()
    props = doc["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0]["typeProperties"]
    props["packageLocation"]["typeProperties"]["packageContent"] = xml
    props.pop("packageConnectionManagers", None)
    return doc


def test_a_package_at_the_pair_limit_is_drawn_in_full() -> None:
    out = explain(extract(RunRecord.from_json(_wide(100, 100)), LineageOptions()), "dataFactory")
    operations = [e for e in out["entities"] if e["typeName"] == "adf_executeSsisPackage_operation"]
    assert out["activities"][0]["outcome"] == "emitted"
    assert len(operations) == 100 and all(len(op["attributes"]["inputs"]) == 100 for op in operations)


def test_a_package_past_the_pair_limit_is_skipped_with_the_count_as_its_reason() -> None:
    [row] = explain(extract(RunRecord.from_json(_wide(100, 101)), LineageOptions()), "dataFactory")["activities"]
    assert row["outcome"] == "skipped"
    assert row["reason"] == ("SSIS package: too wide: its data flow tasks feed 101 destinations from 10,100 "
                             "source-destination pairs in all, more than the 10,000 one activity's lineage may hold")


def test_a_component_inside_a_component_is_not_read_again() -> None:
    nested = component("Inner", "Microsoft.OLEDBSource", "Crm", OpenRowset="[dbo].[Inner]")
    for level in range(300):  # no such thing in SSIS; read, it would cost components x depth
        nested = component(f"C{level}", "Microsoft.OLEDBSource", "Crm", OpenRowset=f"[dbo].[C{level}]").replace(
            "</component>", f"{nested}</component>")
    endpoints = parse_package(package([manager("Crm", "OLEDB", SRC)], [nested])).endpoints
    assert [(e.component, e.table) for e in endpoints] == [("C299", "C299")]  # its own properties, not theirs


# --- the Azure Feature Pack's components, flat files, workbooks and ODBC ----------------------------------------------

STORAGE_KEY = "CANARYKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST=="


def storage_manager(name: str, *, properties: dict[str, str] | None = None, connection: str = "") -> str:
    """An AzureStorage connection manager as the designer keeps one: named properties under its ObjectData, the
    account key among them (sensitive), and optionally a connection string."""
    props = {"AccountKey": STORAGE_KEY, **(properties or {})}
    sensitive = ' Sensitive="1"'
    inner = "".join(f'<Property Name="{k}"{sensitive if k == "AccountKey" else ""}>{v}</Property>'
                    for k, v in props.items())
    cs = f' DTS:ConnectionString="{connection}"' if connection else ""
    return (f'<DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[{name}]" DTS:CreationName="AzureStorage" '
            f'DTS:ObjectName="{name}"{cs}><DTS:ObjectData><AzureStorageConnectionManager>{inner}'
            "</AzureStorageConnectionManager></DTS:ObjectData></DTS:ConnectionManager>")


def managed(name: str, type_name: str, cm: str, *, source: bool, **props: str) -> str:
    """A managed component (hosted by Microsoft.ManagedComponentHost), known by its UserComponentTypeName."""
    properties = "".join(f'<property name="{k}">{v}</property>' for k, v in
                         {"UserComponentTypeName": type_name, **props}.items())
    ports = ('<outputs><output name="Output"/><output name="Error" isErrorOut="true"/></outputs>' if source else
             '<inputs><input name="Input"/></inputs><outputs><output name="Error" isErrorOut="true"/></outputs>')
    return (f'<component componentClassID="Microsoft.ManagedComponentHost" name="{name}"><properties>{properties}'
            f'</properties><connections><connection connectionManagerRefId="Package.ConnectionManagers[{cm}]"/>'
            f"</connections>{ports}</component>")


BLOB_SOURCE = "Microsoft.SqlServer.IntegrationServices.AzureFeaturePack.AzureBlobSource, Version=15.0.0.0"
BLOB_DESTINATION = "Microsoft.SqlServer.IntegrationServices.AzureFeaturePack.AzureBlobDestination, Version=15.0.0.0"
FLEX_SOURCE = "Microsoft.SqlServer.IntegrationServices.AzureFeaturePack.FlexibleFileSource, Version=15.0.0.0"
FLEX_DESTINATION = "Microsoft.SqlServer.IntegrationServices.AzureFeaturePack.FlexibleFileDestination, Version=15.0.0.0"


def run_package(xml: str, settings: dict[str, Any] | None = None,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """explain() of the sample with its package replaced by ``xml``."""
    doc = load()
    props = doc["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0]["typeProperties"]
    props["packageLocation"]["typeProperties"]["packageContent"] = xml
    props.pop("packageConnectionManagers", None)
    if overrides:
        props["packageConnectionManagers"] = overrides
    return explain(extract(RunRecord.from_json(doc), LineageOptions.from_mapping(settings or {})), "dataFactory")


def operations(out: dict[str, Any]) -> dict[str, list[str]]:
    """Each operation's output qualifiedName -> its inputs' qualifiedNames."""
    return {op["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"]:
            [i["uniqueAttributes"]["qualifiedName"] for i in op["attributes"]["inputs"]]
            for op in out["entities"] if op["typeName"] == "adf_executeSsisPackage_operation"}


def test_an_azure_blob_source_is_named_as_the_copy_activity_names_the_same_blob() -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": "contosoraw", "EndpointSuffix":
                                                      "core.windows.net"}), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer="landing",
                           BlobName="crm/customers.CSV"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[Customers]")])
    out = run_package(xml)
    [row] = out["activities"]
    assert row["outcome"] == "emitted" and "reason" not in row
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/Customers": [
        "https://contosoraw.blob.core.windows.net/landing/crm/customers.csv"]}
    [blob] = [e for e in out["entities"] if e["typeName"] == "azure_blob_path"]
    assert blob["attributes"]["name"] == "customers.csv"
    assert "CANARY" not in dumps(out)


def test_a_blob_of_a_partitioned_set_is_named_as_its_resource_set_as_copy_does() -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": "contosoraw"}), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer="landing",
                           BlobName="sales/2026/11/24/orders.csv"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[Orders]")])
    assert operations(run_package(xml)) == {"mssql://contoso-sql.database.windows.net/dw/stage/Orders": [
        "https://contosoraw.blob.core.windows.net/landing/sales/{Year}/{Month}/{Day}/orders.csv"]}
    assert operations(run_package(xml, {"resourceSets": False})) == {
        "mssql://contoso-sql.database.windows.net/dw/stage/Orders": [
            "https://contosoraw.blob.core.windows.net/landing/sales/2026/11/24/orders.csv"]}


def test_flexible_file_components_read_adls_gen2_and_write_blob_by_the_connections_service() -> None:
    xml = package(
        [storage_manager("Lake", properties={"AccountName": "contosolake", "ServiceType": "AdlsGen2"}),
         storage_manager("Out", connection="DefaultEndpointsProtocol=https;AccountName=contosoraw;AccountKey="
                         f"{STORAGE_KEY};EndpointSuffix=core.windows.net")],
        [managed("Lake In", FLEX_SOURCE, "Lake", source=True, FolderPath="curated/silver/customers",
                 FileName="customers.parquet"),
         managed("Blob Out", FLEX_DESTINATION, "Out", source=False, FolderPath="/export/crm/",
                 FileName="customers.txt")])
    out = run_package(xml)
    assert operations(out) == {"https://contosoraw.blob.core.windows.net/export/crm/customers.txt": [
        "https://contosolake.dfs.core.windows.net/curated/silver/customers/customers.parquet"]}
    assert "CANARY" not in dumps(out) and "reason" not in out["activities"][0]


def test_the_store_settings_that_move_an_account_to_the_other_family_apply_to_ssis_too() -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": "contosoraw"}), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer="landing", BlobName="a.csv"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    assert list(operations(run_package(xml, {"adlsGen2Accounts": ["contosoraw"]})).values()) == [
        ["https://contosoraw.dfs.core.windows.net/landing/a.csv"]]


def test_the_activitys_override_of_the_storage_connection_wins_and_keeps_no_key() -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": "devaccount"}), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer="landing", BlobName="a.csv"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml, overrides={"Raw": {"ConnectionString": {
        "value": f"DefaultEndpointsProtocol=https;AccountName=contosoraw;AccountKey={STORAGE_KEY}"}}})
    assert list(operations(out).values()) == [["https://contosoraw.blob.core.windows.net/landing/a.csv"]]
    assert "CANARY" not in dumps(out)
    overrides = ConnectionOverrides.from_activity({"packageConnectionManagers": {"Raw": {
        "AccountName": {"value": "prodaccount"}, "AccountKey": {"value": STORAGE_KEY}}}})
    assert "CANARY" not in repr(overrides)
    [endpoint] = [e for e in parse_package(xml, overrides).endpoints if e.role == "source"]
    assert endpoint.connection.account == "prodaccount"


@pytest.mark.parametrize(("properties", "reason"), [
    ({"UseDevelopmentStorage": "True"}, "storage connection 'Raw' uses the local storage emulator, not an Azure "
                                        "store"),
    ({"AccountName": "contosocn", "EndpointSuffix": "core.chinacloudapi.cn"},
     "storage connection 'Raw' is in another cloud (core.chinacloudapi.cn): its assets are not named here"),
    ({"AccountName": "contosogov", "Environment": "AzureUSGovernment"},
     "storage connection 'Raw' is in another cloud (core.usgovcloudapi.net): its assets are not named here"),
    ({}, "storage connection 'Raw' names no storage account"),
])
def test_a_blob_source_that_cannot_be_named_says_why_and_that_the_operation_lacks_it(
        properties: dict[str, str], reason: str) -> None:
    xml = package([storage_manager("Raw", properties=properties), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer="landing", BlobName="a.csv"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    [row] = out["activities"]
    assert row["outcome"] == "emitted"  # the destination is still drawn, with what it is known to read: nothing
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": []}
    assert row["reason"] == (f"source Blob In: {reason}; the operations of data flow task Package\\Flow lack the "
                             "input of Blob In")


def test_a_blob_source_with_no_container_and_a_component_not_read_both_reach_the_row() -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": "contosoraw"}), manager("Dw", "OLEDB", DST),
                   manager("Crm", "OLEDB", SRC)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobName="a.csv"),
                   shaped("Script In", "Microsoft.ManagedComponentHost", inputs=0, outputs=1,
                          type_name="Microsoft.ScriptComponentHost"),
                   component("Accounts", "Microsoft.OLEDBSource", "Crm", OpenRowset="[dbo].[Accounts]"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": [
        "mssql://srv1.corp.contoso.com/ETL/crm/dbo/Accounts"]}
    assert out["activities"][0]["reason"] == (
        "source Script In (Microsoft.ScriptComponentHost) is not read: the lineage lacks what it reads; "
        "source Blob In: names no container; "
        "the operations of data flow task Package\\Flow lack the input of Script In, Blob In")


def test_a_destination_with_no_source_at_all_says_its_operation_has_no_input() -> None:
    xml = package([manager("Dw", "OLEDB", DST)],
                  [component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": []}
    assert out["activities"][0]["reason"] == (
        "the operations of data flow task Package\\Flow have no input: the task shows no source")


EXCEL = "Provider=Microsoft.ACE.OLEDB.12.0;Data Source={path};Jet OLEDB:Database Password=CANARYXL;"


@pytest.mark.parametrize(("creation", "connection", "expected"), [
    ("FLATFILE", "\\\\contosofiles.file.core.windows.net\\drops\\crm\\Customers.CSV",
     "https://contosofiles.file.core.windows.net/drops/crm/Customers.csv"),
    ("EXCEL", EXCEL.format(path="\\\\contosofiles.file.core.windows.net\\drops\\budget.xlsx"),
     "https://contosofiles.file.core.windows.net/drops/budget.xlsx"),
    ("FLATFILE", "C:\\drops\\in.csv",
     "source In: file connection 'Drop' reaches a local path 'C:\\\\drops\\\\in.csv', not an Azure store"),
    ("FLATFILE", "\\\\fileserver01\\etl\\in.csv",
     "source In: file connection 'Drop' reaches a network share \\\\fileserver01\\etl, not an Azure store"),
    ("EXCEL", EXCEL.format(path="D:\\finance\\budget.xlsx"),
     "source In: file connection 'Drop' reaches a local path 'D:\\\\finance\\\\budget.xlsx', not an Azure "
     "store"),
])
def test_flat_files_and_workbooks_on_azure_files_are_assets_and_other_paths_say_why_not(
        creation: str, connection: str, expected: str) -> None:
    source = "Microsoft.FlatFileSource" if creation == "FLATFILE" else "Microsoft.ExcelSource"
    xml = package([manager("Drop", creation, connection), manager("Dw", "OLEDB", DST)],
                  [component("In", source, "Drop", OpenRowset="Sheet1$"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    [inputs] = operations(out).values()
    assert "CANARY" not in dumps(out)
    if expected.startswith("https://"):
        assert inputs == [expected] and "reason" not in out["activities"][0]
    else:
        assert inputs == []
        assert out["activities"][0]["reason"].startswith(expected + "; the operations of data flow task")


@pytest.mark.parametrize(("connection", "expected"), [
    ("Driver={ODBC Driver 17 for SQL Server};Server=contoso-sql.database.windows.net;Database=crm;"
     "Uid=etl;Pwd=CANARYODBC;", "mssql://contoso-sql.database.windows.net/crm/dbo/Accounts"),
    ("Dsn=CrmDsn;Uid=etl;Pwd=CANARYODBC;",
     "source Accounts: ODBC connection 'Odbc' uses the DSN 'CrmDsn': its host is set on the machine that runs the "
     "package, not in the package"),
    ("Driver={PostgreSQL Unicode};Server=pg.contoso.com;Database=crm;Pwd=CANARYODBC",
     "source Accounts: ODBC connection 'Odbc' uses the driver 'PostgreSQL Unicode': only SQL Server drivers are "
     "named"),
])
def test_odbc_sources_are_read_where_they_name_a_sql_server_and_say_why_not_elsewhere(
        connection: str, expected: str) -> None:
    xml = package([manager("Odbc", "ODBC", connection), manager("Dw", "OLEDB", DST)],
                  [component("Accounts", "Microsoft.SSISODBCSrc", "Odbc", AccessMode="0", TableName='"dbo"."Accounts"'),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    [inputs] = operations(out).values()
    assert "CANARY" not in dumps(out)
    if expected.startswith("mssql://"):
        assert inputs == [expected]
    else:
        assert inputs == [] and out["activities"][0]["reason"].startswith(expected)


def test_an_ado_net_source_under_the_managed_host_is_read_as_one() -> None:
    xml = package([manager("Crm", "ADO.NET:System.Data.SqlClient", SRC), manager("Dw", "OLEDB", DST)],
                  [managed("Accounts", "Microsoft.SqlServer.Dts.Pipeline.DataReaderSourceAdapter, "
                           "Microsoft.SqlServer.ADONETSrc, Version=13.0.0.0", "Crm", source=True, AccessMode="0",
                           TableOrViewName='"dbo"."Accounts"'),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    assert operations(run_package(xml)) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": [
        "mssql://srv1.corp.contoso.com/ETL/crm/dbo/Accounts"]}


def test_a_wildcard_file_name_is_reported_as_its_folder() -> None:
    xml = package([storage_manager("Lake", properties={"AccountName": "contosolake", "ServiceType": "AdlsGen2"}),
                   manager("Dw", "OLEDB", DST)],
                  [managed("Lake In", FLEX_SOURCE, "Lake", source=True, FolderPath="raw/crm", FileName="*.csv"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert list(operations(out).values()) == [["https://contosolake.dfs.core.windows.net/raw/crm"]]
    assert out["activities"][0]["reason"] == (
        "source Lake In: wildcard path reported as its folder https://contosolake.dfs.core.windows.net/raw/crm")


@pytest.mark.parametrize(("account", "container", "blob", "reason"), [
    ("evil;BlobEndpoint=https://x", "landing", "a.csv",
     "storage account 'evil;BlobEndpoint=https://x' is not a valid account name"),
    ("contosoraw", "*", "a.csv", "storage: the container '*' is a wildcard"),
    ("contosoraw", "landing", "../../etc/passwd", "path segment '..' names no file or folder"),
    ("contosoraw", "landing", "a\u202e.csv", "contains a bidirectional mark (U+202E)"),
])
def test_a_hostile_blob_location_is_a_reason_on_the_row_never_an_asset(account: str, container: str, blob: str,
                                                                       reason: str) -> None:
    xml = package([storage_manager("Raw", properties={"AccountName": account}), manager("Dw", "OLEDB", DST)],
                  [managed("Blob In", BLOB_SOURCE, "Raw", source=True, BlobContainer=container, BlobName=blob),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert list(operations(out).values()) == [[]]
    assert reason in out["activities"][0]["reason"]
    assert not [e for e in out["entities"] if e["typeName"].startswith(("azure_blob", "azure_datalake"))]


def test_a_lookups_reference_table_is_an_input_and_a_transform_that_reaches_a_store_is_said() -> None:
    lookup = component("Regions", "Microsoft.Lookup", "Crm", SqlCommand="select * from [ref].[Regions]")
    command = component("Flag Accounts", "Microsoft.OLEDBCommand", "Dw",
                        SqlCommand="UPDATE stage.Flags SET seen = 1 WHERE id = ?").replace(
        "<connections>", "<inputs><input name='in'/></inputs><outputs><output name='out'/></outputs><connections>")
    xml = package([manager("Crm", "OLEDB", SRC), manager("Dw", "OLEDB", DST)],
                  [component("Accounts", "Microsoft.OLEDBSource", "Crm", OpenRowset="[dbo].[Accounts]"), lookup,
                   command, component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": [
        "mssql://srv1.corp.contoso.com/ETL/crm/dbo/Accounts", "mssql://srv1.corp.contoso.com/ETL/crm/ref/Regions"]}
    assert out["activities"][0]["reason"] == (
        "Flag Accounts (Microsoft.OLEDBCommand) uses connection manager 'Package.ConnectionManagers[Dw]': what it "
        "reads or writes there is not in the lineage")


def test_a_lookup_on_a_cache_says_its_reference_is_not_read_and_the_operation_lacks_it() -> None:
    xml = package([manager("Crm", "OLEDB", SRC), manager("Dw", "OLEDB", DST), manager("RegionCache", "CACHE", "")],
                  [component("Accounts", "Microsoft.OLEDBSource", "Crm", OpenRowset="[dbo].[Accounts]"),
                   component("Regions", "Microsoft.Lookup", "RegionCache"),
                   component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[A]")])
    out = run_package(xml)
    assert operations(out) == {"mssql://contoso-sql.database.windows.net/dw/stage/A": [
        "mssql://srv1.corp.contoso.com/ETL/crm/dbo/Accounts"]}
    assert out["activities"][0]["reason"] == (
        "source Regions: other connection 'RegionCache' has no Purview asset type; "
        "the operations of data flow task Package\\Flow lack the input of Regions")
