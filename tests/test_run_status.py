"""Lineage status and the reconcile checkpoint, from the run ledger, against Azurite and the local servers.

``python -m lineage status`` runs in-process with the local stack's credential; the reconcile timer is the real
``function_app.reconcile_runs`` after a simulated outage (its checkpoint moved back in the ledger).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

import function_app
from lineage.cli.main import main
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service import ledger as runs
from lineage.service import poison_queue
from lineage.service.ledger import Query
from lineage.service.reconcile import checkpoint_window
from lineage.service.wiring import ReconcileError
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES
from tests.test_operations import BLOB_TO_SQL, FACTORY, RECORDS, copy_of, queued

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16)


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite, queue_name="status-runs",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(autouse=True)
def env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    monkeypatch.delenv("AzureWebJobsStorage__tableServiceUri", raising=False)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", "status-runs")
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.delenv("LINEAGE_FACTORIES", raising=False)
    stack.reset()


def run(stack: LocalStack, *argv: str) -> int:
    return main(list(argv), credential=stack.credential)


def status_json(stack: LocalStack, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    capsys.readouterr()
    assert run(stack, "status", "--output", "json", *argv) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


# --- the reconcile timer's checkpoint ------------------------------------------------------------------------------

def test_a_pass_after_a_three_day_outage_queues_every_ended_run_once_from_its_checkpoint(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    factory = FACTORY.replace("contoso-adf-prod", "contoso-adf-outage")
    now = datetime.now(UTC)
    ended = [copy_of(BLOB_TO_SQL, now - timedelta(hours=h), factory=factory) for h in range(3, 72, 6)]  # 12 runs
    before_outage = copy_of(BLOB_TO_SQL, now - timedelta(days=4), factory=factory)
    going = copy_of(BLOB_TO_SQL, now - timedelta(hours=5), status="InProgress", factory=factory)
    for record in [*ended, before_outage, going]:
        stack.adf.put_run(record)
    done = ended[:2]  # their events did arrive before the outage: the ledger has them pushed
    for record in done:
        stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 2
    stack.ledger.save_checkpoint(FactoryId.parse(factory), now - timedelta(days=3))  # the last pass before it
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([factory]))
    monkeypatch.setenv("LINEAGE_RECONCILE_WINDOW_MINUTES", "120")
    calls = dict(stack.worker.reader.calls)

    with caplog.at_level(logging.WARNING, logger="lineage.service.reconcile"):
        function_app.reconcile_runs.build().get_user_function()(timer=None)
    messages = queued(stack)
    assert Counter(m.run.run_id for m in messages) == Counter(r["pipelineRun"]["runId"] for r in ended[2:])
    assert {m.event_id for m in messages} == {"reconcile"}
    assert "covering the whole gap since then" in caplog.text
    used = {k: n - calls.get(k, 0) for k, n in stack.worker.reader.calls.items() if n != calls.get(k, 0)}
    assert used == {"queryPipelineRuns": 1}  # the two settled runs cost nothing
    checkpoint = stack.ledger.checkpoint(FactoryId.parse(factory))
    assert checkpoint is not None and checkpoint >= now

    function_app.reconcile_runs.build().get_user_function()(timer=None)  # the next pass: the gap is closed
    assert queued(stack) == []


def test_a_checkpoint_older_than_data_factorys_history_is_bounded_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="lineage.service.reconcile"):
        window = checkpoint_window(now - timedelta(days=60), 120, now)
    assert window.after == now - timedelta(days=45) and window.before == now
    assert "longer ago than the 45 days Data Factory keeps runs" in caplog.text
    assert checkpoint_window(None, 120, now).after == now - timedelta(minutes=120)
    assert checkpoint_window(now - timedelta(minutes=15), 120, now).after == now - timedelta(minutes=120)


# --- python -m lineage status ------------------------------------------------------------------------------------

def test_status_counts_what_the_runs_did_and_says_why_each_was_not_pushed(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    denied = next(r for r in RECORDS if r["pipelineRun"]["pipelineName"] != "LoadDailySales")
    stack.adf.deny(denied["factory"], "queryActivityruns")
    try:
        stack.send_completed(denied)
        stack.host.drain(timeout_s=60)
    finally:
        stack.adf.allow_all()
    for record in RECORDS:
        if record is not denied:
            stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    did = stack.worker.outcomes
    status = status_json(stack, capsys)
    assert status["count"] == len(RECORDS)
    assert status["outcomes"] == {o: did[Outcome(o)] for o in runs.OUTCOMES}
    assert did[Outcome.POISONED] == 1 and did[Outcome.PUSHED] > 0
    listed = {r["runId"]: r for r in status["runs"]}  # type: ignore[attr-defined]
    poisoned = listed[denied["pipelineRun"]["runId"]]
    assert poisoned["outcome"] == "poisoned" and "queryactivityruns" in poisoned["reason"]
    assert poisoned["envelope"] == "queued"

    only = status_json(stack, capsys, "--outcome", "poisoned", "--since", "1h")
    assert [r["runId"] for r in only["runs"]] == [denied["pipelineRun"]["runId"]]  # type: ignore[index]
    by_pipeline = status_json(stack, capsys, "--pipeline", "LoadDailySales", "--factory", "contoso-adf-prod")
    assert {r["pipeline"] for r in by_pipeline["runs"]} == {"LoadDailySales"}  # type: ignore[attr-defined]
    assert status_json(stack, capsys, "--since", "2099-01-01")["count"] == 0

    assert run(stack, "status") == 0
    table = capsys.readouterr().out
    assert table.startswith(f"{len(RECORDS)} run(s): ")
    assert "not pushed:" in table and denied["pipelineRun"]["runId"] in table and "DataFactoryError" in table


def test_a_runs_story_shows_its_events_waits_and_what_was_written(stack: LocalStack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run_id = BLOB_TO_SQL["pipelineRun"]["runId"]
    stack.adf.hold_in_progress(run_id, reads=1)
    stack.send_completed(BLOB_TO_SQL)
    stack.send_completed(BLOB_TO_SQL)  # the same run's event again
    stack.host.drain(timeout_s=60)
    story = status_json(stack, capsys, "--run", run_id)
    [entry] = story["runs"]  # type: ignore[misc]
    assert entry["outcome"] == "pushed" and entry["events"] == 2 and entry["waits"] == 1
    assert entry["entitiesWritten"] > 0
    assert [line["what"] for line in entry["story"]][:1] == ["waiting"]
    assert [line["what"] for line in entry["story"]].count("pushed") == 2

    assert run(stack, "status", "--run", run_id) == 0
    text = capsys.readouterr().out
    assert f"run {run_id} of {FACTORY}" in text and "2 event(s)" in text and "1 wait(s)" in text
    assert run(stack, "status", "--run", "no-such-run") == 1
    assert "no run no-such-run" in capsys.readouterr().err


def test_a_purge_and_a_replay_by_the_commands_release_the_run_in_its_row(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = BLOB_TO_SQL["pipelineRun"]["runId"]
    stack.adf.deny(FACTORY, "queryActivityruns")
    stack.send_completed(BLOB_TO_SQL)
    stack.host.drain(timeout_s=60)
    assert run(stack, "poison", "purge", "--all", "--yes") == 0
    [entry] = stack.ledger.find(Query(run_id=run_id))
    assert entry.envelope == runs.PURGED and not entry.settled()

    stack.send_completed(BLOB_TO_SQL)  # still failing: a new envelope, since the first is gone
    stack.host.drain(timeout_s=60)
    assert len(poison_queue.peek(stack.queues)) == 1
    stack.adf.allow_all()
    assert run(stack, "poison", "replay", "--all") == 0
    stack.host.drain(timeout_s=60)
    [entry] = stack.ledger.find(Query(run_id=run_id))
    assert entry.outcome == "pushed" and entry.envelope == runs.REPLAYED


def test_status_without_storage_settings_says_what_to_set(stack: LocalStack, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    assert run(stack, "status") == 1
    assert "AzureWebJobsStorage__tableServiceUri" in capsys.readouterr().err


def test_the_local_page_shows_the_lineage_status_table(stack: LocalStack) -> None:
    stack.send_completed(BLOB_TO_SQL)
    stack.host.drain(timeout_s=60)
    page = requests.get(f"{stack.purview.url}/", timeout=30).text
    assert "Lineage status (run ledger): 1 pushed" in page
    table = page[page.index("<table id='lineage-status'>"):]
    assert f"<td>{BLOB_TO_SQL['pipelineRun']['runId']}</td><td>LoadDailySales</td><td>pushed</td>" in table


def test_doctor_reads_the_run_ledger_table(stack: LocalStack) -> None:
    from lineage.cli import doctor

    env = {"AzureWebJobsStorage": stack.azurite.connection_string, "LINEAGE_LEDGER_TABLE": stack.ledger.table.name}
    [check] = [c for c in doctor.run_checks(stack.credential, env) if c.area == "ledger"]
    assert check.ok and check.name == f"run ledger table {stack.ledger.table.name}"
    assert "python -m lineage status" in check.detail


def test_a_factory_given_as_a_malformed_resource_id_is_refused_not_read_as_every_factory(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(stack, "status", "--factory", "/subscriptions/not-a-factory") == 1
    assert "error:" in capsys.readouterr().err
    assert isinstance(status_json(stack, capsys, "--factory", "contoso-adf-prod"), dict)  # a name is still a name


def test_a_factory_that_cannot_be_read_keeps_its_checkpoint_and_the_others_move_on(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    readable = FactoryId.parse(FACTORY.replace("contoso-adf-prod", "contoso-adf-open"))
    closed = FactoryId.parse(FACTORY.replace("contoso-adf-prod", "contoso-adf-shut"))
    now = datetime.now(UTC)
    for factory in (readable, closed):
        stack.ledger.save_checkpoint(factory, now - timedelta(days=3))
    stack.adf.deny(closed.resource_id, "queryPipelineRuns")
    monkeypatch.setenv("LINEAGE_FACTORIES", json.dumps([readable.resource_id, closed.resource_id]))
    try:
        with pytest.raises(ReconcileError, match="contoso-adf-shut"):
            function_app.reconcile_runs.build().get_user_function()(timer=None)
    finally:
        stack.adf.allow_all()
    assert stack.ledger.checkpoint(closed) == now - timedelta(days=3)  # its runs in the gap are still to be found
    moved = stack.ledger.checkpoint(readable)
    assert moved is not None and moved >= now
