"""The operations commands and the reconcile timer, against Azurite and the local Data Factory and Purview servers.

``python -m lineage`` runs in-process with the local stack's credential (the only thing that differs from Azure,
where it is ``DefaultAzureCredential``); the settings are the app's own environment variables.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

import function_app
from lineage.cli.main import main
from lineage.cli.wrap import PUBLISH_ACTIVITY, RUN_ACTIVITY, wrapper_name
from lineage.extract.expressions import Scope, resolve
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.purview_server import PurviewServer
from lineage.local.stack import LocalStack, load_records, local_stack
from lineage.service.events import WorkMessage
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES, SHARED

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16)
RECORDS = load_records(SAMPLES)
FACTORY = RECORDS[0]["factory"]
BLOB_TO_SQL = next(r for r in RECORDS if r["pipelineRun"]["pipelineName"] == "LoadDailySales")


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite, queue_name="ops-runs",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(autouse=True)
def env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app settings the commands read, pointing at the local stack; a clean slate for every test."""
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", "ops-runs")
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.setenv("LINEAGE_RECONCILE_SCHEDULE", "0 */15 * * * *")
    monkeypatch.delenv("LINEAGE_FACTORIES", raising=False)
    stack.reset()


def run(stack: LocalStack, *argv: str) -> int:
    return main(list(argv), credential=stack.credential)


def copy_of(record: dict[str, Any], ended: datetime, *, status: str = "Succeeded",
            factory: str = FACTORY) -> dict[str, Any]:
    """The same run again under a new id, ended at ``ended`` (in ``factory``: tests keep their runs apart)."""
    clone = copy.deepcopy(record)
    clone["factory"] = factory
    run_id = str(uuid.uuid4())
    shift = ended - datetime.fromisoformat(record["pipelineRun"]["runEnd"])

    def moved(stamp: str) -> str:
        return (datetime.fromisoformat(stamp) + shift).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    run = clone["pipelineRun"]
    run.update(runId=run_id, runGroupId=run_id, runStart=moved(run["runStart"]), runEnd=moved(run["runEnd"]),
               lastUpdated=moved(run["runEnd"]), status=status)
    for activity_run in clone["activityRuns"]:
        activity_run["pipelineRunId"] = run_id
        for key in ("activityRunStart", "activityRunEnd"):
            if activity_run.get(key):
                activity_run[key] = moved(activity_run[key])
    return clone


def queued(stack: LocalStack) -> list[WorkMessage]:
    messages = []
    for message in stack.queues.work.receive_messages(max_messages=32, visibility_timeout=1):
        messages.append(WorkMessage.from_json(message.content.decode()))
    return messages


def operations(stack: LocalStack) -> set[str]:
    return {e["attributes"]["qualifiedName"] for e in stack.purview.entities() if e["typeName"].endswith("_operation")}


# ------------------------------------------------------------------------------------------------------ backfill


def test_backfill_queues_every_ended_run_of_the_window_across_pages(stack: LocalStack,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    inside = [copy_of(BLOB_TO_SQL, now - timedelta(hours=h)) for h in range(1, 8)]
    outside = copy_of(BLOB_TO_SQL, now - timedelta(days=3))
    going = copy_of(BLOB_TO_SQL, now - timedelta(hours=2), status="InProgress")
    for record in [*inside, outside, going]:
        stack.adf.put_run(record)
    stack.adf.page_size = 2  # several pages of queryPipelineRuns
    try:
        calls_before = stack.worker.reader.calls["queryPipelineRuns"]
        assert run(stack, "backfill", "--factory", FACTORY, "--since", "10h", "--pipeline", "LoadDailySales",
                   "--json") == 0
    finally:
        stack.adf.page_size = 100
    summary = json.loads(capsys.readouterr().out)
    assert summary["queued"] == {"contoso-adf-prod": 7}
    assert summary["notEnded"] == {"contoso-adf-prod": 1}
    assert summary["failures"] == {}
    messages = queued(stack)
    assert sorted(m.run.run_id for m in messages) == sorted(r["pipelineRun"]["runId"] for r in inside)
    assert {m.event_id for m in messages} == {"backfill"}
    assert stack.worker.reader.calls["queryPipelineRuns"] == calls_before  # the CLI has its own reader

    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 7, (stack.worker.outcomes, stack.host.stats)
    assert operations(stack)


def test_backfill_now_processes_here_and_reports_outcomes(stack: LocalStack,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-now")
    for hours in (1, 2):
        clone = copy_of(BLOB_TO_SQL, now - timedelta(hours=hours), factory=factory)
        if hours == 1:  # this run read its source as JSON: today's definition says otherwise
            copy_run = next(r for r in clone["activityRuns"] if r["activityType"] == "Copy")
            copy_run["input"] = {**copy_run["input"], "source": {**copy_run["input"]["source"], "type": "JsonSource"}}
        stack.adf.put_run(clone)
    assert run(stack, "backfill", "--factory", factory, "--since", (now - timedelta(hours=3)).isoformat(),
               "--pipeline", "LoadDailySales", "--now", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outcomes"] == {"pushed": 2}
    assert summary["drifted"] == 1
    assert [(r["pipeline"], r["outcome"]) for r in summary["runs"]] == [("LoadDailySales", "pushed")] * 2
    assert all(r["detail"].endswith("updated)") for r in summary["runs"])
    assert summary["failures"] == {}
    assert stack.queues.work.peek_messages() == []
    assert operations(stack)


def test_backfill_rejects_a_window_data_factory_no_longer_has(stack: LocalStack,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(stack, "backfill", "--factory", FACTORY, "--since", "60d") == 1
    assert "45 days" in capsys.readouterr().err
    assert run(stack, "backfill", "--since", "1d") == 1
    assert "--factory" in capsys.readouterr().err


def test_backfill_reports_a_factory_it_may_not_read(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.adf.deny(FACTORY, "queryPipelineRuns")
    assert run(stack, "backfill", "--factory", FACTORY, "--since", "1d", "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert "querypipelineruns/action" in out["failures"]["contoso-adf-prod"]


# ------------------------------------------------------------------------------------------------ reconcile timer


def test_reconcile_timer_queues_the_runs_of_the_configured_factories(stack: LocalStack,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-timer")
    recent = copy_of(BLOB_TO_SQL, datetime.now(UTC) - timedelta(minutes=20), factory=factory)
    stack.adf.put_run(recent)
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([factory]))
    monkeypatch.setenv("LINEAGE_RECONCILE_WINDOW_MINUTES", "30")
    function_app.reconcile_runs.build().get_user_function()(timer=None)
    assert [m.run.run_id for m in queued(stack)] == [recent["pipelineRun"]["runId"]]


def test_reconcile_timer_fails_loudly_for_an_unreadable_factory(stack: LocalStack,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage.service.wiring import ReconcileError

    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-open")
    recent = copy_of(BLOB_TO_SQL, datetime.now(UTC) - timedelta(minutes=5), factory=factory)
    stack.adf.put_run(recent)
    other = FACTORY.replace("contoso-adf-prod", "contoso-adf-locked")
    stack.adf.deny(other, "queryPipelineRuns")
    monkeypatch.setenv("LINEAGE_FACTORIES", f"{other},{factory}")
    monkeypatch.setenv("LINEAGE_RECONCILE_WINDOW_MINUTES", "15")
    with pytest.raises(ReconcileError, match="contoso-adf-locked"):
        function_app.reconcile_runs.build().get_user_function()(timer=None)
    assert [m.run.run_id for m in queued(stack)] == [recent["pipelineRun"]["runId"]]  # the readable one still went


def test_a_run_the_ledger_has_pushed_is_not_queued_by_the_timer_and_costs_no_call(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-twice")
    recent = copy_of(BLOB_TO_SQL, datetime.now(UTC) - timedelta(minutes=10), factory=factory)
    stack.adf.put_run(recent)
    stack.send_completed(recent)
    stack.host.drain(timeout_s=30)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    adf_calls, purview_calls = sum(stack.worker.reader.calls.values()), stack.worker.writer.calls

    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([factory]))
    function_app.reconcile_runs.build().get_user_function()(timer=None)
    assert queued(stack) == []
    assert sum(stack.worker.reader.calls.values()) == adf_calls + 1  # the reconcile query, nothing for the run
    assert stack.worker.writer.calls == purview_calls


def test_a_run_that_fails_for_good_gets_one_poison_envelope_however_often_it_comes(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-closed")
    recent = copy_of(BLOB_TO_SQL, datetime.now(UTC) - timedelta(minutes=10), factory=factory)
    stack.adf.put_run(recent)
    stack.adf.deny(factory, "queryActivityruns")
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([factory]))
    for _ in range(3):  # three passes of the timer
        function_app.reconcile_runs.build().get_user_function()(timer=None)
        stack.host.drain(timeout_s=30)
    stack.send_completed(recent)  # and its event, late (or twice)
    stack.host.drain(timeout_s=30)
    assert stack.worker.outcomes[Outcome.POISONED] == 1
    # The two later passes and the event are acknowledged: the worker asks the poison queue whether the envelope
    # is still there (it may have been removed by hand) instead of reading the run again (tests/test_ledger.py).
    assert stack.worker.outcomes[Outcome.SKIPPED] == 3
    assert len(stack.queues.poison.peek_messages(max_messages=32)) == 1

    stack.adf.allow_all()  # the cause is fixed: the replay runs although the worker remembers the failure
    assert run(stack, "poison", "replay", "--all") == 0
    stack.host.drain(timeout_s=30)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert stack.queues.poison.peek_messages() == []


# ------------------------------------------------------------------------------------------------- push and replay


def test_push_writes_one_run_and_prints_it(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = BLOB_TO_SQL["pipelineRun"]["runId"]
    assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pushed: run {run_id}")
    assert "adf_copy_operation" in out
    assert operations(stack)

    assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "pushed" and {e["typeName"] for e in doc["entities"]} >= {"adf_copy_operation"}


def test_push_says_what_it_wrote_when_the_run_ledger_cannot_record_it(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, table = BLOB_TO_SQL["pipelineRun"]["runId"], "pushrefused"
    monkeypatch.setenv("LINEAGE_LEDGER_TABLE", table)
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    # Purview holds its answer to the bulk write for a while; meanwhile the ledger's table goes away.
    stack.purview.inject(status=0, respond_after_s=3.0, path_contains="/entity/bulk", method="POST")

    def drop_table_once_written() -> None:
        deadline = time.monotonic() + 30
        while not operations(stack) and time.monotonic() < deadline:
            time.sleep(0.02)
        service.delete_table(table)

    dropper = threading.Thread(target=drop_table_once_written)
    dropper.start()
    try:
        assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id) == 1
    finally:
        dropper.join()
    out, err = capsys.readouterr()
    assert out.startswith(f"pushed: run {run_id}") and "adf_copy_operation" in out  # what was written
    assert f"error: run {run_id} was pushed, but the run ledger could not add a row" in err
    assert "a reconcile pass processes the run again" in err
    assert operations(stack)


def test_push_dry_run_reads_and_prints_but_writes_nothing(stack: LocalStack,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run_id = BLOB_TO_SQL["pipelineRun"]["runId"]
    assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id, "--dry-run", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "dry-run" and "nothing was written" in doc["detail"]
    assert {e["typeName"] for e in doc["entities"]} >= {"adf_copy_operation", "azure_sql_table"}
    assert stack.purview.entities() == []
    assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id) == 0  # the real push writes what it showed
    capsys.readouterr()
    assert operations(stack) == {e["attributes"]["qualifiedName"] for e in doc["entities"]
                                 if e["typeName"].endswith("_operation")}


def test_a_saved_live_run_explains_as_it_pushes_and_holds_no_secret(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    record = copy.deepcopy(BLOB_TO_SQL)
    record["pipelineRun"]["runId"] = str(uuid.uuid4())
    for definition in record["linkedServices"].values():  # a secret kept in plain text in a definition
        definition["properties"]["typeProperties"]["connectionString"] = (
            "DefaultEndpointsProtocol=https;AccountName=contosoraw;AccountKey=CANARY-k3y;EndpointSuffix=core.windows.net")
        break
    stack.adf.put_run(record)
    out = tmp_path / "run.json"
    assert run(stack, "save", "--factory", FACTORY, "--run-id", record["pipelineRun"]["runId"], "--out", str(out)) == 0
    assert "explain" in capsys.readouterr().err
    assert "CANARY" not in out.read_text()
    assert run(stack, "explain", str(out)) == 0
    explained = json.loads(capsys.readouterr().out)
    assert run(stack, "push", "--factory", FACTORY, "--run-id", record["pipelineRun"]["runId"], "--json") == 0
    pushed = json.loads(capsys.readouterr().out)
    assert {e["attributes"]["qualifiedName"] for e in explained["entities"] if e["typeName"].endswith("_operation")} \
        == {e["attributes"]["qualifiedName"] for e in pushed["entities"] if e["typeName"].endswith("_operation")}


def test_push_refuses_a_run_that_has_not_ended_and_a_missing_one(stack: LocalStack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run_id = BLOB_TO_SQL["pipelineRun"]["runId"]
    stack.adf.hold_in_progress(run_id, reads=1)
    assert run(stack, "push", "--factory", FACTORY, "--run-id", run_id) == 1
    assert "InProgress" in capsys.readouterr().err
    assert run(stack, "push", "--factory", FACTORY, "--run-id", "no-such-run") == 1
    assert "not found" in capsys.readouterr().err
    assert stack.purview.entities() == []


def test_replay_empties_the_poison_queue_into_successful_pushes(stack: LocalStack,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    stack.adf.deny(FACTORY, "queryActivityruns")
    for record in RECORDS:
        stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    assert run(stack, "poison", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == len(RECORDS)
    assert all("queryactivityruns" in m["reason"] for m in listed["messages"])

    stack.adf.allow_all()  # the cause is fixed
    assert run(stack, "poison", "replay", "--all") == 0
    capsys.readouterr()
    stack.host.drain(timeout_s=60)
    assert run(stack, "poison", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
    assert stack.worker.outcomes[Outcome.PUSHED] + stack.worker.outcomes[Outcome.SKIPPED] == len(RECORDS)
    assert stack.worker.outcomes[Outcome.PUSHED] >= len(RECORDS) - 1
    assert operations(stack)


# ----------------------------------------------------------------------------------------------------- wrap


def test_wrap_adds_a_wrapper_whose_event_reaches_the_service(stack: LocalStack,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    topic = "https://adf-lineage.westeurope-1.eventgrid.azure.net/api/events"
    assert run(stack, "wrap", "--factory", FACTORY, "--pipeline", "LoadDailySales", "--topic-endpoint", topic) == 0
    assert "LoadDailySales_with_lineage" in capsys.readouterr().out
    stored = stack.adf.created_pipelines[(FACTORY.lower(), wrapper_name("LoadDailySales"))]
    activities = {a["name"]: a for a in stored["properties"]["activities"]}
    child = activities[RUN_ACTIVITY]["typeProperties"]
    assert child["pipeline"]["referenceName"] == "LoadDailySales" and child["waitOnCompletion"] is True
    assert set(child["parameters"]) == set(BLOB_TO_SQL["pipelines"]["LoadDailySales"]["properties"]["parameters"])
    publish = activities[PUBLISH_ACTIVITY]
    assert publish["dependsOn"] == [{"activity": RUN_ACTIVITY, "dependencyConditions": ["Completed"]}]
    assert publish["typeProperties"]["authentication"] == {"type": "MSI", "resource": "https://eventgrid.azure.net"}

    # What Data Factory would post once the child run ended: the body evaluated with that run's facts.
    child_run = BLOB_TO_SQL["pipelineRun"]
    scope = Scope(activity_outputs={RUN_ACTIVITY: {"pipelineRunId": child_run["runId"],
                                                   "pipelineName": child_run["pipelineName"]}},
                  overrides={"utcnow()": "2026-11-25T01:03:00Z"})
    events = json.loads(resolve(publish["typeProperties"]["body"], scope))
    assert len(events) == 1 and events[0]["data"]["runId"] == child_run["runId"]
    stack.host.deliver({**events[0], "topic": "/subscriptions/x/resourceGroups/y/providers/"
                                              "Microsoft.EventGrid/topics/adf-lineage"})
    stack.host.drain(timeout_s=30)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1


def test_wrap_web_activity_and_print_need_no_write_access(stack: LocalStack,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    topic = "https://t.westeurope-1.eventgrid.azure.net/api/events"
    stack.adf.deny(FACTORY, "pipelines/write")
    assert run(stack, "wrap", "--factory", FACTORY, "--pipeline", "LoadDailySales", "--topic-endpoint", topic,
               "--force") == 1
    assert "pipelines/write" in capsys.readouterr().err
    assert run(stack, "wrap", "--factory", FACTORY, "--pipeline", "LoadDailySales", "--topic-endpoint", topic,
               "--print") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "LoadDailySales_with_lineage"
    assert run(stack, "wrap", "--factory", FACTORY, "--pipeline", "LoadDailySales", "--topic-endpoint", topic,
               "--web-activity", "CopySales") == 0
    activity, fail = json.loads(capsys.readouterr().out)
    assert activity["dependsOn"] == [{"activity": "CopySales", "dependencyConditions": ["Completed"]}]
    assert fail["type"] == "Fail" and fail["dependsOn"] == [
        {"activity": "CopySales", "dependencyConditions": ["Failed"]},
        {"activity": PUBLISH_ACTIVITY, "dependencyConditions": ["Completed"]}]  # the run still fails when it did
    scope = Scope(system={"RunId": "r-1", "Pipeline": "LoadDailySales"}, overrides={"utcnow()": "t"})
    [event] = json.loads(resolve(activity["typeProperties"]["body"], scope))
    assert event["data"] == {"runId": "r-1", "factoryId": FACTORY, "pipelineName": "LoadDailySales"}


def test_wrap_never_replaces_an_existing_wrapper_unless_forced_and_prints_offline(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    topic = "https://t.westeurope-1.eventgrid.azure.net/api/events"
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-wrap")
    stack.adf.put_run(copy_of(BLOB_TO_SQL, datetime.now(UTC), factory=factory))
    args = ["wrap", "--factory", factory, "--pipeline", "LoadDailySales", "--topic-endpoint", topic]
    assert run(stack, *args) == 0
    assert "Git-integrated" in capsys.readouterr().err  # where a publish would remove it, and what to do instead
    first = stack.adf.created_pipelines[(factory.lower(), wrapper_name("LoadDailySales"))]["etag"]
    assert run(stack, *args) == 1
    refusal = capsys.readouterr().err
    assert "already exists" in refusal and "--force" in refusal
    assert stack.adf.created_pipelines[(factory.lower(), wrapper_name("LoadDailySales"))]["etag"] == first
    assert run(stack, *args, "--force") == 0
    capsys.readouterr()
    assert stack.adf.created_pipelines[(factory.lower(), wrapper_name("LoadDailySales"))]["etag"] != first

    # --print with the pipeline's JSON from the repository: no sign-in, no call (the settings are gone)
    for name in ("DATAFACTORY_ENDPOINT", "PURVIEW_ENDPOINT", "AzureWebJobsStorage"):
        monkeypatch.delenv(name, raising=False)
    source = tmp_path / "LoadDailySales.json"
    source.write_text(json.dumps(BLOB_TO_SQL["pipelines"]["LoadDailySales"]))
    assert main([*args, "--print", "--pipeline-file", str(source)]) == 0  # no credential given: none is needed
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["properties"]["parameters"]) == set(
        BLOB_TO_SQL["pipelines"]["LoadDailySales"]["properties"]["parameters"])


# ---------------------------------------------------------------------------------------------------- doctor


def test_doctor_passes_on_a_complete_setup(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(stack, "doctor", "--factory", FACTORY) == 0, capsys.readouterr().out
    assert "checks ok" in capsys.readouterr().out


def test_doctor_lists_the_mandatory_attributes_it_writes_and_compares_the_accounts_resource_set_rules(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    assert run(stack, "doctor", "--json") in (0, 1)
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    mandatory = checks["mandatory attributes of new assets"]
    assert mandatory["ok"] and "azure_sql_table: dbSchema" in mandatory["detail"]
    assert "azure_cosmosdb_sqlapi_collection: db, resourceLink" in mandatory["detail"]
    if not (SHARED / "contracts" / "purview" / "resource-sets").is_dir():
        pytest.skip("the local Purview serves an account's resource-set rules from the shared contracts only")
    assert checks["resource-set rules"]["ok"]
    # An account whose rules differ from those in use (here: the Guid replacer switched off in ours)
    assert run(stack, "resource-sets", "--out", str(tmp_path / "rules.json")) == 0
    rules = json.loads((tmp_path / "rules.json").read_text())
    rules["pathPatternConfig"]["regexReplacers"][0]["disabled"] = True
    monkeypatch.setenv("LINEAGE_SETTINGS", json.dumps({"resourceSetRules": rules}))
    capsys.readouterr()
    assert run(stack, "doctor", "--json") == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert not checks["resource-set rules"]["ok"] and "Guid" in checks["resource-set rules"]["detail"]


def test_doctor_says_a_factory_does_not_exist_rather_than_that_all_is_allowed(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    missing = FACTORY.replace("contoso-adf-prod", "contoso-adf-typo")
    assert run(stack, "doctor", "--factory", missing, "--json") == 1
    failed = [c for c in json.loads(capsys.readouterr().out)["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["contoso-adf-typo: the factory"]
    assert "resource id" in failed[0]["fix"]


def test_commands_report_storage_and_argument_errors_without_a_traceback(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "not a connection string")
    assert run(stack, "poison", "list") == 1
    assert "AzureWebJobsStorage" in capsys.readouterr().err
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", "no-such-queue")
    assert run(stack, "poison", "list") == 1
    assert "The specified queue does not exist: check LINEAGE_QUEUE_NAME" in capsys.readouterr().err
    assert run(stack, "push", "--factory", FACTORY, "--run-id", "bad id!") == 1
    assert "--run-id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(stack, "backfill", "--factory", FACTORY, "--since", "99999999d")
    assert "before year 1" in capsys.readouterr().err


def test_doctor_names_a_missing_permission_and_a_missing_type(stack: LocalStack,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    stack.adf.deny(FACTORY, "queryActivityruns")
    with PurviewServer(tls=stack.adf.tls, exclude_types=["adf_dataflow_operation"]) as purview:
        monkeypatch.setenv("PURVIEW_ENDPOINT", f"{purview.url}/datamap/api/atlas/v2")
        monkeypatch.setenv("LINEAGE_MAX_DEQUEUE_COUNT", "7")
        assert run(stack, "doctor", "--factory", FACTORY, "--json") == 1
    doc = json.loads(capsys.readouterr().out)
    failed = {c["name"]: c for c in doc["checks"] if not c["ok"]}
    permission = failed["contoso-adf-prod: Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action"]
    assert "custom role" in permission["fix"]
    assert "does not know" in failed["type adf_dataflow_operation"]["detail"]
    assert "7" in failed["maxDequeueCount"]["detail"]
    assert len(failed) == 3
    assert doc["ok"] is False
