"""Data Flow lineage: the script parser, inline and dataset endpoints, parameters and profile column lineage."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineage.extract.config import LineageOptions
from lineage.extract.dataflow_script import (
    DataFlowScriptError,
    ScriptTooWideError,
    evaluate_option,
    parse_script,
    script_text,
)
from lineage.extract.entities import explain
from lineage.extract.mermaid import flowchart
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from tests.conftest import SAMPLES, load_adf_example

SCRIPT = """parameters{
\tfolder as string ('raw/sales'),
\tyear as integer (2024)
}
source(output(
\t\tid as integer,
\t\tname as string
\t),
\tallowSchemaDrift: true,
\tformat: 'delimited',
\tfileSystem: 'landing',
\tfolderPath: ($folder + '/' + $year),
\tfileName: 'sales ~> (1).csv',
\tcolumnDelimiter: ',') ~> SalesSource
source(format: 'table', store: 'sqlserver', schemaName: 'dbo', tableName: 'Stores') ~> StoreSrc
SalesSource, StoreSrc join(StoreId == Id,
\tjoinType:'inner') ~> Joined
Joined split(amount > 100,
\tdisjoint: false) ~> ByAmount@(big, small)
ByAmount@big derive(upper = upper(name)) ~> Upper
Upper sink(allowSchemaDrift: true,
\tformat: 'table',
\tstore: 'sqlserver',
\tschemaName: 'dbo',
\ttableName: 'BigSales',
\tinsertable: true) ~> SqlSink
ByAmount@small sink(format: 'parquet', fileSystem: 'curated', folderPath: 'small') ~> LakeSink"""


def test_script_statements_sources_sinks_and_upstream() -> None:
    script = parse_script(SCRIPT.replace("\n", "\r\n"))
    assert [(p.name, p.type, p.default) for p in script.parameters] == [
        ("folder", "string", "'raw/sales'"), ("year", "integer", "2024")]
    assert [s.name for s in script.sources] == ["SalesSource", "StoreSrc"]
    assert [s.name for s in script.sinks] == ["SqlSink", "LakeSink"]
    assert script.sources[0].options["fileName"] == "'sales ~> (1).csv'"
    assert script.sinks[0].inputs == ("Upper",)
    assert script.upstream["Joined"] == ("SalesSource", "StoreSrc")
    assert script.sources_of("SqlSink") == ("SalesSource", "StoreSrc")
    assert script.sources_of("LakeSink") == ("SalesSource", "StoreSrc")


def test_option_values_with_parameters_and_overrides() -> None:
    script = parse_script(SCRIPT)
    defaults = {p.name: p.default or "" for p in script.parameters}
    folder = script.sources[0].options["folderPath"]
    assert evaluate_option(folder, defaults) == "raw/sales/2024"
    assert evaluate_option(folder, {**defaults, "folder": "'archive'"}) == "archive/2024"
    assert evaluate_option("concat(toLower('A'), 'b' + \"c\")", {}) == "abc"
    with pytest.raises(DataFlowScriptError, match=r"\$missing has no value"):
        evaluate_option("$missing", {})
    with pytest.raises(DataFlowScriptError, match="cannot evaluate"):
        evaluate_option("currentDate()", {})


@pytest.mark.parametrize(("text", "message"), [
    ("source(format: 'x') ~>", "stream name"),
    ("source(format: 'x' ~> A", "unclosed"),
    ("source(format: 'x) ~> A", "unterminated string"),
    ("A derive(x = 1) ~> B trailing", "after the last statement"),
    ("parameters{ x is string } source() ~> A", "cannot read parameter"),
])
def test_broken_scripts_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(DataFlowScriptError, match=message):
        parse_script(text)


@given(st.text(max_size=300))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(DataFlowScriptError):
        parse_script(text)


def test_public_example_data_flow_scripts(shared_dir: Path) -> None:
    for name in ("DataFlows_Get", "DataFlows_Create"):
        body = load_adf_example(shared_dir, name)
        props = body["properties"]["typeProperties"]
        script = parse_script(script_text(props))
        declared = {s["name"] for s in props["sources"]} | {s["name"] for s in props["sinks"]}
        assert {e.name for e in [*script.sources, *script.sinks]} == declared
        for sink in script.sinks:
            assert script.sources_of(sink.name)


def sample(name: str) -> dict[str, Any]:
    doc = json.loads((SAMPLES / name).read_text())
    return explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")


def test_dataset_source_and_inline_sink_with_parameters() -> None:
    doc = sample("dataflow_inline_sink.json")
    [op] = [e for e in doc["entities"] if e["typeName"] == "adf_dataflow_operation"]
    activity = "/pipelines/CleanOrders/activities/TransformOrders"
    sink = "mssql://contoso-sql.database.windows.net/sales/dbo/OrdersClean"
    assert op["attributes"]["qualifiedName"].endswith(f"{activity}#{sink}#azure_sql_table")
    assert op["attributes"]["inputs"] == [{"typeName": "azure_datalake_gen2_path", "uniqueAttributes": {
        "qualifiedName": "https://contosolake.dfs.core.windows.net/landing/orders/2026-11-24/orders.csv"}}]
    assert op["relationshipAttributes"]["parent"]["typeName"] == "adf_dataflow_activity"
    [activity_entity] = [e for e in doc["entities"] if e["typeName"] == "adf_dataflow_activity"]
    # Purview's adf_dataflow_activity has no rowCount / dataSize (only adf_copy_activity does): none is written
    assert "rowCount" not in activity_entity["attributes"] and "dataSize" not in activity_entity["attributes"]
    assert activity_entity["attributes"]["status"] == "Completed"


def test_profile_lineage_becomes_column_mapping() -> None:
    doc = sample("dataflow_profile_lineage.json")
    [op] = [e for e in doc["entities"] if e["typeName"] == "adf_dataflow_operation"]
    orders = "https://contosolake.dfs.core.windows.net/curated/silver/Orders"
    customers = "mssql://contoso-sql.database.windows.net/sales/dbo/Customers"
    gold = "https://contosolake.dfs.core.windows.net/curated/gold/customer_orders"
    assert json.loads(op["attributes"]["columnMapping"]) == [
        {"DatasetMapping": {"Source": orders, "Sink": gold},
         "ColumnMapping": [{"Source": "Amount", "Sink": "Amount"}, {"Source": "OrderId", "Sink": "OrderId"}]},
        {"DatasetMapping": {"Source": customers, "Sink": gold},
         "ColumnMapping": [{"Source": "Country", "Sink": "Country"}, {"Source": "Name", "Sink": "CustomerName"}]},
    ]
    assert "(dataflow)" in flowchart(doc["entities"])


def test_an_inline_endpoint_that_cannot_be_named_is_reported_not_dropped() -> None:
    doc = json.loads((SAMPLES / "dataflow_inline_sink.json").read_text())
    lines = doc["dataflows"]["df_clean_orders"]["properties"]["typeProperties"]["scriptLines"]
    doc["dataflows"]["df_clean_orders"]["properties"]["typeProperties"]["scriptLines"] = [
        line.replace("tableName: ($targetTable),", "tableName: (currentTable()),") for line in lines]
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    [row] = result["activities"]
    assert row["outcome"] == "skipped"
    assert "sink SqlSink" in row["reason"] and "cannot evaluate" in row["reason"]


def _gallery_format(doc: dict[str, Any], *, with_scripts: bool = True) -> dict[str, Any]:
    """The profile sample's data flow rewritten as older data flows and gallery templates keep it: no top-level
    script, each source, transformation and sink with its own fragment (or, ``with_scripts`` off, none at all)."""
    props = doc["dataflows"]["df_customer_orders"]["properties"]["typeProperties"]
    lines = props.pop("scriptLines")
    fragments = {
        "Customers": "\n".join(lines[0:2]), "Orders": "\n".join(lines[2:4]),
        "JoinCustomers": "\n".join(lines[4:6]), "Shape": "\n".join(lines[6:8]), "GoldSink": "\n".join(lines[8:10]),
    }
    for key in ("sources", "transformations", "sinks"):
        for part in props[key]:
            if with_scripts:
                part["script"] = fragments[part["name"]]
    return doc


def test_a_data_flow_in_the_per_transformation_format_is_reassembled_from_its_fragments() -> None:
    doc = _gallery_format(json.loads((SAMPLES / "dataflow_profile_lineage.json").read_text()))
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    [op] = [e for e in result["entities"] if e["typeName"] == "adf_dataflow_operation"]
    assert sorted(i["uniqueAttributes"]["qualifiedName"] for i in op["attributes"]["inputs"]) == [
        "https://contosolake.dfs.core.windows.net/curated/silver/Orders",
        "mssql://contoso-sql.database.windows.net/sales/dbo/Customers"]
    assert op["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"] == \
        "https://contosolake.dfs.core.windows.net/curated/gold/customer_orders"
    assert "reason" not in result["activities"][0]


def test_a_data_flow_with_no_script_at_all_ties_every_source_to_every_sink_and_says_so() -> None:
    doc = _gallery_format(json.loads((SAMPLES / "dataflow_profile_lineage.json").read_text()), with_scripts=False)
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    [row] = result["activities"]
    assert row["outcome"] == "emitted" and "has no script: every source is tied to every sink" in row["reason"]
    [op] = [e for e in result["entities"] if e["typeName"] == "adf_dataflow_operation"]
    assert len(op["attributes"]["inputs"]) == 2


# --- wide and deep flows: linear work, and a limit with its reason ---------------------------------------------------

def _wide(sources: int, sinks: int, *, script: bool = True) -> dict[str, Any]:
    """The inline-sink sample's data flow rewritten: ``sources`` inline SQL sources, unioned, written to ``sinks``
    inline SQL sinks (every source reaches every sink); or, ``script`` off, the same endpoints as datasets and no
    script at all."""
    doc = json.loads((SAMPLES / "dataflow_inline_sink.json").read_text())
    flow = doc["dataflows"]["df_clean_orders"]["properties"]["typeProperties"]
    linked = {"referenceName": "ls_sql_sales", "type": "LinkedServiceReference"}
    dataset = {"referenceName": "ds_lake_orders_csv", "type": "DatasetReference"}
    end = {"linkedService": linked} if script else {"dataset": dataset}
    flow["sources"] = [{**end, "name": f"S{i}"} for i in range(sources)]
    flow["sinks"] = [{**end, "name": f"K{j}"} for j in range(sinks)]
    lines = [f"source(format: 'table', store: 'sqlserver', schemaName: 'dbo', tableName: 'Src{i}') ~> S{i}"
             for i in range(sources)]
    lines.append(", ".join(f"S{i}" for i in range(sources)) + " union(byName: true) ~> AllRows")
    lines += [f"AllRows sink(format: 'table', store: 'sqlserver', schemaName: 'dbo', tableName: 'Dst{j}') ~> K{j}"
              for j in range(sinks)]
    flow.pop("scriptLines")
    if script:
        flow["scriptLines"] = lines
    activity = doc["pipelines"]["CleanOrders"]["properties"]["activities"][0]["typeProperties"]
    activity["dataflow"]["parameters"] = {}
    activity["dataflow"]["datasetParameters"] = {} if script else {  # a folder of its own for each endpoint
        **{f"S{i}": {"day": f"s{i}"} for i in range(sources)}, **{f"K{j}": {"day": f"k{j}"} for j in range(sinks)}}
    return doc


def _row_and_operations(doc: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    [row] = result["activities"]
    return row, [e for e in result["entities"] if e["typeName"] == "adf_dataflow_operation"]


def test_a_flow_at_the_pair_limit_is_drawn_in_full() -> None:
    row, operations = _row_and_operations(_wide(100, 100))  # 10,000 pairs: the limit itself
    assert row["outcome"] == "emitted"
    assert len(operations) == 100 and all(len(op["attributes"]["inputs"]) == 100 for op in operations)


def test_a_flow_past_the_pair_limit_is_skipped_with_the_count_as_its_reason() -> None:
    row, operations = _row_and_operations(_wide(101, 100))
    assert row["outcome"] == "skipped" and operations == []
    assert row["reason"] == ("data flow 'df_clean_orders' too wide: its 100 sinks are fed by 10,100 source-sink pairs "
                             "in all, more than the 10,000 one activity's lineage may hold")


def test_a_flow_of_thousands_of_sources_and_sinks_is_refused_in_linear_time() -> None:
    started = time.perf_counter()
    row, _ = _row_and_operations(_wide(6_000, 3_000))  # 18 million pairs: minutes and 8 GB before
    assert "18,000,000 source-sink pairs" in row["reason"]
    assert time.perf_counter() - started < 10  # about half a second on the development VM


def test_a_flow_without_a_script_is_held_to_the_same_limit() -> None:
    row, _ = _row_and_operations(_wide(101, 100, script=False))
    assert row["outcome"] == "skipped"
    assert "too wide: its 100 sinks are fed by 10,100 source-sink pairs" in row["reason"]


def _graph_script(edges: list[tuple[int, int]], sources: int, streams: int) -> str:
    """A script whose streams 0..sources-1 are sources, and every other stream reads the streams ``edges`` name
    (cycles included); each stream feeds a sink of its own."""
    inputs: dict[int, list[int]] = {}
    for reader, read in edges:
        if reader >= sources:
            inputs.setdefault(reader, []).append(read)
    lines = [f"source(format: 'x') ~> N{i}" for i in range(sources)]
    for i in range(sources, streams):
        names = ", ".join(f"N{j}" for j in dict.fromkeys(inputs.get(i) or [0]))
        lines.append(f"{names} union(byName: true) ~> N{i}")
    lines += [f"N{i} sink(format: 'x') ~> K{i}" for i in range(streams)]
    return "\n".join(lines)


@given(st.integers(1, 6).flatmap(lambda sources: st.tuples(
    st.just(sources), st.integers(sources, 14).flatmap(lambda streams: st.tuples(
        st.just(streams), st.lists(st.tuples(st.integers(0, streams - 1), st.integers(0, streams - 1)),
                                   max_size=40))))))
def test_all_sinks_at_once_agree_with_each_sink_alone(case: tuple[int, tuple[int, list[tuple[int, int]]]]) -> None:
    sources, (streams, edges) = case
    script = parse_script(_graph_script(edges, sources, streams))
    assert script.sources_by_sink() == {sink.name: script.sources_of(sink.name) for sink in script.sinks}


def test_a_chain_of_thousands_of_streams_is_walked_without_recursion() -> None:
    lines = ["source(format: 'x') ~> N0", *(f"N{i} derive(x = 1) ~> N{i + 1}" for i in range(5_000)),
             "N5000 sink(format: 'x') ~> Out"]
    assert parse_script("\n".join(lines)).sources_by_sink() == {"Out": ("N0",)}


def test_the_pair_count_is_checked_before_any_pair_is_spelled_out() -> None:
    script = parse_script(_graph_script([(3, 0), (3, 1), (3, 2)], sources=3, streams=4))
    pairs = sum(len(s) for s in script.sources_by_sink().values())  # each source to its own sink, all to K3: 6
    assert pairs == 6 and script.sources_by_sink(6)["K3"] == ("N0", "N1", "N2")
    with pytest.raises(ScriptTooWideError, match=r"its 4 sinks are fed by 6 source-sink pairs in all, more than "
                                                 r"the 5 one"):
        script.sources_by_sink(5)
