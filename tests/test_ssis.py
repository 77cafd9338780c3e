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
        [shaped("Blob In", "Microsoft.ManagedComponentHost", inputs=0, outputs=1,
                type_name="Microsoft.SqlServer.IntegrationServices.AzureBlobSource, Version=1.0"),
         shaped("Derive", "Microsoft.DerivedColumn", inputs=1, outputs=1),
         component("Target", "Microsoft.OLEDBDestination", "Dw", OpenRowset="[stage].[Files]")])
    parsed = parse_package(xml)
    assert [e.component for e in parsed.endpoints] == ["Target"]
    assert parsed.unsupported == (
        "source Blob In (Microsoft.SqlServer.IntegrationServices.AzureBlobSource) is not read: the lineage lacks "
        "what it reads",)  # the transform in between is no endpoint, and is not reported


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
