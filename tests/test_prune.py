"""Stale lineage is pruned: what Purview holds under a factory against the factory's definitions now.

The rules first (pure), then the whole path on the local stack: lineage written by real runs (event -> queue ->
worker -> Purview), the factory's definitions changed through the local Data Factory's API (a pipeline deleted, an
activity renamed, a Copy's sink changed, a ForEach whose sink is ``@item()`` left alone), then ``python -m lineage
prune``, dry run and ``--apply``; a second factory's entities untouched; a refused deletion reported with its reason.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lineage.cli.main import main
from lineage.extract.config import LineageOptions
from lineage.extract.prune import ActivityNow, FactoryNow, Held, current_definitions, stale_entities
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.credential import LOCAL_PRINCIPAL_ID, TOKEN_PREFIX
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service.prune import PruneError
from lineage.service.wiring import SettingsError
from tests.conftest import SHARED
from tests.records import BLOB_LS, CSV_DS, SQL_LS, SUB, TABLE_DS, activity_run, copy_activity, expr, record
from tests.test_catalog import push, with_run_id
from tests.test_foreach import CONTROL_TABLE, FILE_DS, copy_runs, loop
from tests.test_foreach import TABLE_DS as STAGE_DS

F = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/prune-adf"
SQL = "mssql://contoso-sql.database.windows.net/sales/dbo"

# ------------------------------------------------------------------------------------------------ the rules


def now(pipelines: dict[str, dict[str, ActivityNow]]) -> FactoryNow:
    return FactoryNow(FactoryId.parse(F), pipelines)


def held(*entities: tuple[str, str]) -> list[Held]:
    return [Held(f"g-{i}", t, q) for i, (t, q) in enumerate(entities)]


COPY_FIXED = ActivityNow("adf_copy_activity", frozenset({("azure_sql_table", f"{SQL}/Weekly"),
                                                         ("azure_sql_view", f"{SQL}/Weekly")}))


def test_a_deleted_pipeline_loses_its_entity_activities_and_operations_children_first() -> None:
    p = f"{F}/pipelines/Gone"
    stale = stale_entities(held(("adf_pipeline", p), ("adf_copy_activity", f"{p}/activities/Copy"),
                                ("adf_copy_operation", f"{p}/activities/Copy#{SQL}/T#azure_sql_table")), now({}))
    assert [s.type_name for s in stale] == ["adf_copy_operation", "adf_copy_activity", "adf_pipeline"]
    assert {s.reason for s in stale} == {"pipeline 'Gone' no longer exists in the factory"}


def test_an_activity_no_longer_in_its_pipeline_or_of_another_kind_goes_and_names_compare_without_case() -> None:
    p = f"{F}/pipelines/Load"
    current = now({"load": {"copysales": COPY_FIXED, "flow": ActivityNow("adf_dataflow_activity", None)}})
    stale = stale_entities(held(("adf_pipeline", f"{F.upper()}/pipelines/LOAD"),
                                ("adf_copy_activity", f"{p}/activities/CopySales"),
                                ("adf_copy_activity", f"{p}/activities/Old"),
                                ("adf_copy_activity", f"{p}/activities/Flow"),
                                ("adf_dataflow_operation", f"{p}/activities/Flow#x#azure_blob_path")), current)
    assert [(s.qualified_name.rsplit("/", 1)[-1], s.reason) for s in stale] == [
        ("Flow", "activity 'Flow' of pipeline 'Load' is now a adf_dataflow_activity, not an adf_copy_activity"),
        ("Old", "activity 'Old' is no longer in pipeline 'Load'"),
    ]


def test_a_fixed_sink_keeps_operations_to_it_or_its_alternatives_and_a_parameterised_one_keeps_all() -> None:
    p = f"{F}/pipelines/Load/activities"
    current = now({"load": {"copysales": COPY_FIXED,
                            "copyeach": ActivityNow("adf_copy_activity", None)}})
    ops = held(("adf_copy_operation", f"{p}/CopySales#{SQL}/Weekly#azure_sql_table"),
               ("adf_copy_operation", f"{p}/CopySales#{SQL}/Weekly#azure_sql_view"),
               ("adf_copy_operation", f"{p}/CopySales#{SQL}/Daily#azure_sql_table"),
               ("adf_copy_operation", f"{p}/CopyEach#{SQL}/Anything#azure_sql_table"))
    [stale] = stale_entities(ops, current)
    assert stale.qualified_name == f"{p}/CopySales#{SQL}/Daily#azure_sql_table"
    assert stale.reason.startswith("activity 'CopySales' of pipeline 'Load' now writes only to azure_sql_table ")


def test_only_our_types_under_this_factory_with_names_we_write_are_ever_touched() -> None:
    other = F.replace("prune-adf", "prune-adf-2")
    untouchable = held(("azure_data_factory", F), ("adf_pipeline", f"{other}/pipelines/Gone"),
                       ("azure_sql_table", f"{F}/pipelines/Gone"), ("adf_copy_activity_run", f"{F}/pipelines/Gone/x"),
                       ("adf_copy_activity", f"{F}/pipelines/Gone/steps/Copy"),
                       ("adf_copy_operation", f"{F}/pipelines/Gone/activities/Copy"),
                       ("adf_pipeline", f"{F}/pipelines/Gone/more"),
                       ("adf_copy_activity", f"{F}/pipelines/Load/activities/Copy/Sales"),  # '/' is in no name
                       ("adf_copy_operation", f"{F}/pipelines/Load/activities/CopySales#no-type-after-the-sink"))
    assert stale_entities(untouchable, now({})) == []
    assert stale_entities(untouchable, now({"load": {"copysales": COPY_FIXED}})) == []


def test_the_current_definitions_tell_a_fixed_sink_from_one_that_depends_on_the_run() -> None:
    fixed = copy_activity("Fixed", "SalesCsv", "SalesTable")  # the table parameter's default: the same every run
    by_param = copy_activity("ByParam", "SalesCsv", "SalesTable", sink_params={"table": expr(
        "@pipeline().parameters.table")})
    by_run = copy_activity("ByRun", "SalesCsv", "SalesTable", sink_params={"table": expr(
        "@concat('t_', pipeline().RunId)")})
    by_name = copy_activity("ByName", "SalesCsv", "SalesTable", sink_params={"table": expr(
        "@pipeline().Pipeline")})
    doc = record([fixed, by_param, by_run, by_name, loop("@pipeline().parameters.items")], [],
                 datasets=[CSV_DS, TABLE_DS, FILE_DS, STAGE_DS], linked_services=[BLOB_LS, SQL_LS])
    doc.pop("pipelineRun")
    found = current_definitions(doc, LineageOptions()).pipelines["load"]
    server = "mssql://contoso-sql.database.windows.net/sales/dbo"
    assert found["fixed"].sinks == {("azure_sql_table", f"{server}/DailySales"),
                                    ("azure_sql_view", f"{server}/DailySales")}
    assert found["byname"].sinks == {("azure_sql_table", f"{server}/Load"), ("azure_sql_view", f"{server}/Load")}
    assert found["byparam"].sinks is None and found["byrun"].sinks is None and found["copyone"].sinks is None
    assert set(found) == {"fixed", "byparam", "byrun", "byname", "copyone"}  # the ForEach itself is no lineage


# ------------------------------------------------------------------------------------------- the local stack

FAST_HOST = HostSettings(max_dequeue_count=2, visibility_timeout_s=1, batch_size=16)
OTHER = F.replace("prune-adf", "other-adf")
GUARDED = F.replace("prune-adf", "guarded-adf")


@pytest.fixture(scope="module")
def stack(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not (SHARED / "contracts" / "purview" / "typedef-dumps").is_dir():
        pytest.skip("needs Purview's real typedef dumps in the shared contracts folder (the local Purview enforces "
                    "them)")
    settings = {"collections": {"factories": {GUARDED: "guarded"}}}
    with local_stack(Path(tmp_path_factory.mktemp("no-runs")), host_settings=FAST_HOST, azurite=azurite,
                     queue_name="prune-runs", env={"LINEAGE_MAX_DEQUEUE_COUNT": "2",
                                                   "LINEAGE_SETTINGS": json.dumps(settings)}) as running:
        running.purview.add_collection("guarded", curators=[LOCAL_PRINCIPAL_ID])
        yield running


@pytest.fixture(autouse=True)
def env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.setenv("LINEAGE_SETTINGS", json.dumps({"collections": {"factories": {GUARDED: "guarded"}}}))
    monkeypatch.delenv("LINEAGE_FACTORIES", raising=False)
    stack.reset()


def load(factory: str, n: int, pipeline: str, *, activity: str = "CopySales") -> dict[str, Any]:
    copy_step = copy_activity(activity, "SalesCsv", "SalesTable",
                              source_params={"day": expr("@pipeline().parameters.day")})
    run = activity_run(activity, "Copy", f"a-{n}", output={"rowsCopied": 10})
    doc = record([copy_step], [run], datasets=[CSV_DS, TABLE_DS], linked_services=[BLOB_LS, SQL_LS],
                 parameters={"day": "2026-11-24"})
    return with_run_id(doc, n, factory, pipeline)


def each(factory: str, n: int) -> dict[str, Any]:
    """A ForEach over a control table read by a Lookup, each iteration copying one file into its own table."""
    lookup = {"name": "ReadControlTable", "type": "Lookup", "typeProperties": {"firstRowOnly": False}}
    runs = [activity_run("ReadControlTable", "Lookup", f"lookup-{n}", start="2026-11-24T01:00:00Z",
                         end="2026-11-24T01:00:10Z", output={"count": 3, "value": CONTROL_TABLE}),
            activity_run("EachItem", "ForEach", f"loop-{n}", start="2026-11-24T01:00:20Z"), *copy_runs(3)]
    for i, run in enumerate(runs):
        run["activityRunId"] = f"{run['activityRunId']}-{n}-{i}"
    doc = record([lookup, loop("@activity('ReadControlTable').output.value")], runs,
                 datasets=[FILE_DS, STAGE_DS], linked_services=[BLOB_LS, SQL_LS])
    return with_run_id(doc, n, factory, "Loop")


def put_pipeline(stack: LocalStack, factory: str, name: str, activities: list[dict[str, Any]]) -> None:
    adf(stack, "PUT", f"{factory}/pipelines/{name}", {"properties": {"activities": activities}}).raise_for_status()


def adf(stack: LocalStack, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{stack.adf.url}{path}", params={"api-version": "2018-06-01"}, json=body,
                            headers={"Authorization": f"Bearer {TOKEN_PREFIX}https://management.azure.com"},
                            verify=str(stack.adf.tls.ca_bundle), timeout=30)


def under(stack: LocalStack, factory: str) -> set[tuple[str, str]]:
    return {(e["typeName"], e["attributes"]["qualifiedName"]) for e in stack.purview.entities()
            if e["attributes"]["qualifiedName"].startswith(factory)}


def prune(stack: LocalStack, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["prune", *argv, "--json"], credential=stack.credential)
    return code, json.loads(capsys.readouterr().out)


def test_prune_removes_what_the_definitions_no_longer_hold_and_nothing_else(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    for doc in (load(F, 1, "Load"), load(F, 2, "Gone"), load(F, 3, "Renamed", activity="OldName"), each(F, 4),
                load(OTHER, 5, "Gone")):
        push(stack, doc)
    assert len([e for e in stack.purview.entities() if e["typeName"] == "adf_copy_operation"]) == 7
    other_before = under(stack, OTHER)
    # The factory changes: a pipeline deleted, an activity renamed, a Copy pointed at another table.
    assert adf(stack, "DELETE", f"{F}/pipelines/Gone").status_code == 200
    renamed = load(F, 3, "Renamed", activity="NewName")["pipelines"]["Renamed"]["properties"]["activities"]
    put_pipeline(stack, F, "Renamed", renamed)
    weekly = copy.deepcopy(load(F, 1, "Load")["pipelines"]["Load"]["properties"]["activities"])
    weekly[0]["outputs"][0]["parameters"] = {"table": "WeeklySales"}
    put_pipeline(stack, F, "Load", weekly)

    code, dry = prune(stack, capsys, "--factory", F)
    [report] = dry["factories"]
    gone = f"{F}/pipelines/Gone"
    old = f"{F}/pipelines/Renamed/activities/OldName"
    daily = f"{F}/pipelines/Load/activities/CopySales#{SQL}/DailySales#azure_sql_table"
    expected = {("adf_copy_operation", f"{gone}/activities/CopySales#{SQL}/DailySales#azure_sql_table"),
                ("adf_copy_activity", f"{gone}/activities/CopySales"), ("adf_pipeline", gone),
                ("adf_copy_operation", f"{old}#{SQL}/DailySales#azure_sql_table"), ("adf_copy_activity", old),
                ("adf_copy_operation", daily)}
    assert code == 0 and not report["applied"]
    assert {(e["typeName"], e["qualifiedName"]) for e in report["entities"]} == expected
    assert {e["outcome"] for e in report["entities"]} == {"would be removed"}
    assert report["counts"] == {"adf_copy_operation": 3, "adf_copy_activity": 2, "adf_pipeline": 1}
    assert expected <= under(stack, F), "a dry run removes nothing"

    code, applied = prune(stack, capsys, "--factory", F, "--apply")
    [report] = applied["factories"]
    assert code == 0 and report["applied"] and report["failed"] == 0
    assert report["counts"] == {"adf_copy_operation": 3, "adf_copy_activity": 2, "adf_pipeline": 1}
    left = under(stack, F)
    assert not expected & left
    loop_ops = {qn for t, qn in left if t == "adf_copy_operation" and "/Loop/" in qn}
    assert len(loop_ops) == 3, "a sink parameterised by item() keeps every operation"
    assert ("adf_copy_activity", f"{F}/pipelines/Load/activities/CopySales") in left
    assert ("adf_pipeline", f"{F}/pipelines/Renamed") in left
    assert under(stack, OTHER) == other_before, "another factory's entities are untouched"
    guid = next(e["guid"] for e in report["entities"] if e["typeName"] == "adf_pipeline")
    soft = requests.get(f"{stack.purview.url}/datamap/api/atlas/v2/entity/guid/{guid}",
                        headers={"Authorization": f"Bearer {TOKEN_PREFIX}https://purview.azure.net"},
                        verify=str(stack.purview.tls.ca_bundle), timeout=30).json()
    assert soft["entity"]["status"] == "DELETED"

    code, again = prune(stack, capsys, "--factory", F, "--apply")
    assert code == 0 and again["factories"][0]["entities"] == []


def test_a_deletion_purview_refuses_is_reported_with_its_reason_and_the_command_fails(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    push(stack, load(GUARDED, 6, "Gone"))
    assert {stack.purview.collection_of("adf_pipeline", f"{GUARDED}/pipelines/Gone")} == {"guarded"}
    adf(stack, "DELETE", f"{GUARDED}/pipelines/Gone").raise_for_status()
    stack.purview.set_curators("guarded", [])
    root = stack.purview.root_collection
    stack.purview.set_curators(root, [])  # nor inherited from the root
    try:
        code, result = prune(stack, capsys, "--factory", GUARDED, "--apply")
        assert code == 1 and result["factories"] == [] and "lists no pipeline" in result["failures"][GUARDED]
        assert len(under(stack, GUARDED)) == 4, "an emptied factory is not pruned without --allow-empty"
        code, result = prune(stack, capsys, "--factory", GUARDED, "--apply", "--allow-empty")
    finally:
        stack.purview.set_curators(root, [LOCAL_PRINCIPAL_ID])
        stack.purview.set_curators("guarded", [LOCAL_PRINCIPAL_ID])
    [report] = result["factories"]
    assert code == 1 and report["failed"] == 3
    assert {e["outcome"] for e in report["entities"]} == {"failed"}
    assert all("not a Data Curator of collection 'guarded'" in e["error"] for e in report["entities"])
    assert len(under(stack, GUARDED)) == 4, "nothing of it was removed"
    capsys.readouterr()
    assert main(["prune", "--factory", GUARDED], credential=stack.credential) == 0
    table = capsys.readouterr().out
    assert "would remove" in table and "because pipeline 'Gone' no longer exists in the factory" in table
    assert "would remove: 1 adf_copy_activity, 1 adf_copy_operation, 1 adf_pipeline (dry run" in table


def test_the_timer_does_nothing_unless_enabled_then_dry_runs_or_applies_and_fails_on_an_unreadable_factory(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import function_app

    timer = function_app.prune_lineage.build().get_user_function()
    timer_factory = F.replace("prune-adf", "timer-adf")
    push(stack, load(timer_factory, 8, "Gone"))
    push(stack, load(timer_factory, 9, "Kept"))
    adf(stack, "DELETE", f"{timer_factory}/pipelines/Gone").raise_for_status()
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([timer_factory]))
    before = under(stack, timer_factory)
    assert len(before) == 7
    kept = {(t, q) for t, q in before if "/pipelines/Kept" in q or t == "azure_data_factory"}

    monkeypatch.delenv("LINEAGE_PRUNE", raising=False)
    with caplog.at_level(logging.INFO, logger="lineage"):
        timer(timer=None)
    assert "LINEAGE_PRUNE is off" in caplog.text and under(stack, timer_factory) == before

    monkeypatch.setenv("LINEAGE_PRUNE", "dry-run")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lineage"):
        timer(timer=None)
    assert f"would remove adf_pipeline {timer_factory}/pipelines/Gone" in caplog.text
    assert under(stack, timer_factory) == before

    monkeypatch.setenv("LINEAGE_PRUNE", "apply")
    timer(timer=None)
    assert under(stack, timer_factory) == kept and len(kept) == 4

    missing = F.replace("prune-adf", "no-such-adf")
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([missing, timer_factory]))
    with pytest.raises(PruneError, match="no-such-adf"):
        timer(timer=None)

    monkeypatch.setenv("LINEAGE_PRUNE", "yes")
    with pytest.raises(SettingsError, match="LINEAGE_PRUNE must be one of off, dry-run, apply"):
        timer(timer=None)


def test_the_reader_lists_every_page_of_pipelines_and_follows_next_links_only_on_its_own_host(
        tmp_path: Path) -> None:
    from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
    from lineage.local.adf_server import AdfServer
    from lineage.local.credential import LocalCredential
    from lineage.local.tls import make_local_tls

    tls = make_local_tls(tmp_path / "tls")
    with AdfServer(None, tls, page_size=2) as server:
        for n in range(5):
            server.put_run(load(F, 10 + n, f"Page{n}"))
        reader = DataFactoryReader(LocalCredential(), base_url=server.url, connection_verify=str(tls.ca_bundle))
        doc = reader.factory_definitions(FactoryId.parse(F))
        assert sorted(doc["pipelines"]) == [f"Page{n}" for n in range(5)]
        assert reader.calls["pipelines"] == 3  # pages of 2, 2 and 1
        assert set(doc["datasets"]) == {"SalesCsv", "SalesTable"} and set(doc["linkedServices"]) == {"RawBlob",
                                                                                                       "SalesSql"}
        datasets_read = reader.calls["datasets"]
        reader.factory_definitions(FactoryId.parse(F))  # afresh: a definition changed meanwhile is seen
        assert reader.calls["datasets"] == 2 * datasets_read
        server.inject(status=200, path_contains="/pipelines", method="GET", body={"value": ["Page0"]})
        with pytest.raises(DataFactoryError, match="not an object"):  # never dropped, as if deleted
            reader.factory_definitions(FactoryId.parse(F))
        server.inject(status=200, path_contains="/pipelines", method="GET",
                      body={"value": [], "nextLink": f"https://elsewhere.example{F}/pipelines?$skipToken=2"})
        with pytest.raises(DataFactoryError, match="nextLink points to another host"):
            reader.factory_definitions(FactoryId.parse(F))
        with pytest.raises(DataFactoryError) as missing:
            reader.factory_definitions(FactoryId.parse(OTHER))
        assert missing.value.status == 404


def test_an_activity_name_holding_a_hash_keeps_its_operations_and_its_sink_is_read_after_it() -> None:
    p = f"{F}/pipelines/Load/activities"
    current = now({"load": {"copy #1": COPY_FIXED, "copy": ActivityNow("adf_copy_activity", None)}})
    ops = held(("adf_copy_activity", f"{p}/Copy #1"),
               ("adf_copy_operation", f"{p}/Copy #1#{SQL}/Weekly#azure_sql_table"),
               ("adf_copy_operation", f"{p}/Copy #1#{SQL}/Daily#azure_sql_table"),
               ("adf_copy_operation", f"{p}/Gone #2#{SQL}/Weekly#azure_sql_table"))
    stale = stale_entities(ops, current)
    assert [(s.qualified_name.removeprefix(p + "/"), s.reason) for s in stale] == [
        (f"Copy #1#{SQL}/Daily#azure_sql_table", "activity 'Copy #1' of pipeline 'Load' now writes only to "
                                                 f"azure_sql_table {SQL}/Weekly, azure_sql_view {SQL}/Weekly"),
        (f"Gone #2#{SQL}/Weekly#azure_sql_table", "activity 'Gone ' is no longer in pipeline 'Load'"),
    ]


def test_an_operation_belongs_to_the_longest_current_activity_name_it_starts_with() -> None:
    p = f"{F}/pipelines/Load/activities"
    current = now({"load": {"copy": COPY_FIXED, "copy#daily": ActivityNow("adf_copy_activity", None)}})
    # Copy#Daily's sink depends on the run: kept; read as Copy's, it would go (Copy writes only to Weekly).
    assert stale_entities(held(("adf_copy_operation", f"{p}/Copy#Daily#{SQL}/Daily#azure_sql_table")), current) == []


def test_the_local_data_factory_deletes_a_pipeline_named_in_another_case_as_arm_does(stack: LocalStack) -> None:
    factory = F.replace("prune-adf", "case-adf")
    stack.adf.put_run(load(factory, 30, "CaseName"))
    put = adf(stack, "PUT", f"{factory}/pipelines/Written", {"properties": {"activities": []}})
    assert put.status_code in (200, 201), put.text
    assert adf(stack, "DELETE", f"{factory}/pipelines/casename").status_code == 200
    assert adf(stack, "DELETE", f"{factory}/pipelines/WRITTEN").status_code == 200
    assert adf(stack, "DELETE", f"{factory}/pipelines/casename").status_code == 204  # gone now
    listed = adf(stack, "GET", f"{factory}/pipelines").json()["value"]
    assert [p["name"] for p in listed] == []
