"""The worker's decisions, one message at a time: when a failure is retried and when it becomes poison, how long a run
that has not ended is waited for, and which runs it remembers.

The worker reads runs from the local Data Factory server and writes to the local Purview (HTTPS, bearer tokens, the
real clients); only its ``WorkQueue`` seam is held in memory, so each put-back delay and each envelope can be read
exactly. The same decisions through Azurite and the Functions-like host: tests/test_decisions_end_to_end.py.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader, RunNotFoundError
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord
from lineage.local.adf_server import AdfServer
from lineage.local.credential import LocalCredential
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import make_local_tls
from lineage.service import wiring
from lineage.service.events import RunRef, WorkMessage
from lineage.service.worker import Outcome, Processed, Worker, WorkerSettings
from tests.conftest import SAMPLES
from tests.memory_queue import MemoryQueue

RECORD = json.loads((SAMPLES / "copy_blob_to_sql.json").read_text())
FACTORY = FactoryId.parse(RECORD["factory"])
RUN_ID = RECORD["pipelineRun"]["runId"]
RECEIVED = "2026-11-25T07:02:00Z"
SEEN = "2026-11-25T07:02:05Z"
RUN_GET = f"pipelineruns/{RUN_ID}"


@dataclass(frozen=True)
class Servers:
    adf: AdfServer
    purview: PurviewServer

    @property
    def purview_endpoint(self) -> str:
        return f"{self.purview.url}/datamap/api/atlas/v2"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tls = make_local_tls(Path(tmp_path_factory.mktemp("tls")))
    with pytest.MonkeyPatch.context() as patch, AdfServer(SAMPLES, tls) as adf, PurviewServer(tls=tls) as purview:
        patch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_bundle))
        yield Servers(adf, purview)


@pytest.fixture(autouse=True)
def clean(servers: Servers) -> None:
    servers.adf.clear_faults()
    servers.adf.allow_all()
    servers.adf.hold_in_progress(RUN_ID, 0)
    servers.purview.reset()
    servers.purview.clear_faults()


def make_worker(servers: Servers, queue: MemoryQueue, **settings: Any) -> Worker:
    """A worker whose clients try each call once: every retry in these tests is the queue's."""
    reader = DataFactoryReader(LocalCredential(), base_url=servers.adf.url, retry_total=0)
    writer = PurviewWriter(LocalCredential(), servers.purview_endpoint, max_attempts=1)
    return Worker(reader, writer, queue, LineageOptions(), WorkerSettings(**settings))


def message(run_id: str = RUN_ID, *, event_id: str | None = "e-1", waits: int = 0) -> str:
    return WorkMessage(RunRef(FACTORY, run_id), event_id, RECEIVED, waits).to_json()


def another_run(servers: Servers, *, status: str = "Succeeded", pipeline: str | None = None,
                run_id: str = "7d0c3f6e-0000-4000-8000-000000000001", ended: str | None = None) -> str:
    """The sample run again under another id (and status, pipeline name or activities' end), served by the local
    Data Factory."""
    record = copy.deepcopy(RECORD)
    record["pipelineRun"].update(runId=run_id, status=status)
    if pipeline is not None:
        record["pipelineRun"]["pipelineName"] = pipeline
    if ended is not None:
        record["pipelineRun"]["runEnd"] = ended
    for activity_run in record["activityRuns"]:
        activity_run["pipelineRunId"] = run_id
        if ended is not None:
            activity_run["activityRunEnd"] = ended
    servers.adf.put_run(record)
    return run_id


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    """The worker's log lines, as (level, message)."""
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "lineage.service.worker"]


def operations(servers: Servers) -> list[str]:
    return [e["attributes"]["qualifiedName"] for e in servers.purview.entities()
            if e["typeName"].endswith("_operation")]


# --- attempts: retried until the last, which writes the envelope ------------------------------------------------------

@pytest.mark.parametrize(("service", "error"), [("datafactory", DataFactoryError), ("purview", PurviewError)])
def test_a_transient_failure_is_retried_by_the_queue_and_the_last_attempt_writes_the_envelope(
        servers: Servers, service: str, error: type[Exception], caplog: pytest.LogCaptureFixture) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=3)
    if service == "datafactory":
        servers.adf.inject(status=503, times=3, path_contains=RUN_GET, method="GET")
    else:
        servers.purview.inject(status=503, times=3, path_contains="/entity/bulk", method="POST")
    body = message()
    caplog.set_level(logging.INFO, logger="lineage.service.worker")
    for attempt in (1, 2):
        with pytest.raises(error) as raised:
            active.handle(body, attempt, SEEN)
        assert raised.value.transient  # type: ignore[attr-defined]
        assert logged(caplog)[-1] == (
            logging.WARNING, f"run {RUN_ID}: transient failure on attempt {attempt}, will retry: {raised.value}")
    assert queue.poison == {}  # the host retries those; nothing is poisoned before the last attempt

    processed = active.handle(body, 3, SEEN)

    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()
    assert envelope.error_class == error.__name__
    assert "503" in envelope.reason
    assert envelope.attempts == 3
    assert (envelope.message, envelope.first_seen, envelope.run_id, envelope.factory) == (
        body, SEEN, RUN_ID, FACTORY.resource_id)
    assert processed.detail == f"{envelope.error_class}: {envelope.reason}"
    assert logged(caplog)[-1] == (logging.ERROR, f"message poisoned ({envelope.error_class}): {envelope.reason}")
    assert operations(servers) == []


def test_an_attempt_beyond_the_limit_is_the_last_one_too(servers: Servers) -> None:
    """The host's maxDequeueCount set higher than ours: every attempt from ours on writes the envelope."""
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=3)
    servers.adf.inject(status=503, times=1, path_contains=RUN_GET, method="GET")
    assert active.handle(message(), 4).outcome is Outcome.POISONED
    assert [e.attempts for e in queue.envelopes()] == [4]


def test_the_envelope_dates_the_run_from_its_event_when_the_host_tells_no_insertion_time(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=1)
    servers.adf.inject(status=503, times=1, path_contains=RUN_GET, method="GET")
    active.handle(message(), 1)
    [envelope] = queue.envelopes()
    assert envelope.first_seen == RECEIVED
    assert envelope.last_failure >= RECEIVED


def test_a_permanent_failure_is_poisoned_on_the_first_attempt(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=5)
    servers.adf.deny(RECORD["factory"], "queryActivityruns")
    processed = active.handle(message(), 1, SEEN)
    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()
    assert envelope.error_class == "DataFactoryError" and envelope.attempts == 1
    assert "pipelineruns/queryactivityruns/action" in envelope.reason


def test_a_run_data_factory_does_not_know_is_poisoned_at_once(servers: Servers) -> None:
    queue = MemoryQueue()
    missing = "00000000-0000-4000-8000-00000000dead"
    processed = make_worker(servers, queue).handle(message(missing), 1)
    assert processed.outcome is Outcome.POISONED and processed.run_id == missing
    [envelope] = queue.envelopes()
    assert envelope.error_class == RunNotFoundError.__name__ and missing in envelope.reason


def test_a_run_whose_record_cannot_name_entities_is_poisoned_at_once(servers: Servers) -> None:
    queue = MemoryQueue()
    run_id = another_run(servers, pipeline="Load/Daily")
    processed = make_worker(servers, queue).handle(message(run_id), 2, SEEN)
    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()
    assert envelope.error_class == "RunRecordError" and "slash" in envelope.reason
    assert (envelope.run_id, envelope.first_seen, envelope.attempts) == (run_id, SEEN, 2)


def test_a_body_that_is_no_work_message_is_poisoned_with_what_it_held(servers: Servers) -> None:
    queue = MemoryQueue()
    processed = make_worker(servers, queue).handle('{"v": 9}', 2, SEEN)
    assert processed == Processed(Outcome.POISONED, None,
                                  "EventError: unknown work message version 9 (this worker reads 1)")
    [envelope] = queue.envelopes()
    assert (envelope.message, envelope.attempts, envelope.first_seen) == ('{"v": 9}', 2, SEEN)
    assert envelope.run_id is None and envelope.factory is None


def test_a_failure_of_our_own_is_retried_and_poisoned_on_the_last_attempt(
        servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    """Anything else raised (here the queue refusing the put-back) is treated like a transient failure."""
    queue = MemoryQueue(broken=ServiceRequestError("queue storage unreachable"))
    active = make_worker(servers, queue, max_dequeue_count=2)
    servers.adf.hold_in_progress(RUN_ID, reads=2)
    with caplog.at_level(logging.ERROR, logger="lineage.service.worker"), \
            pytest.raises(ServiceRequestError):
        active.handle(message(), 1)
    [record] = [r for r in caplog.records if r.name == "lineage.service.worker"]
    assert record.getMessage() == f"run {RUN_ID}: unexpected failure on attempt 1"
    assert record.exc_info is not None  # with its traceback: a defect to fix
    processed = active.handle(message(), 2)
    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()
    assert (envelope.error_class, envelope.reason, envelope.attempts) == (
        "ServiceRequestError", "queue storage unreachable", 2)
    assert (envelope.first_seen, envelope.run_id, envelope.factory) == (RECEIVED, RUN_ID, FACTORY.resource_id)


def test_an_error_without_a_message_is_named_by_its_class(servers: Servers) -> None:
    queue = MemoryQueue(broken=ServiceRequestError(""))
    servers.adf.hold_in_progress(RUN_ID, reads=1)
    make_worker(servers, queue, max_dequeue_count=1).handle(message(), 1)
    assert [e.reason for e in queue.envelopes()] == ["ServiceRequestError"]


# --- waits: a run that has not ended --------------------------------------------------------------------------------

def test_each_wait_doubles_the_delay_up_to_its_cap_and_the_last_wait_poisons_the_run(
        servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_waits=5, wait_base_s=7, wait_cap_s=50)
    servers.adf.hold_in_progress(RUN_ID, reads=6)
    caplog.set_level(logging.INFO, logger="lineage.service.worker")
    body = message()
    details = []
    for waited in range(5):
        processed = active.handle(body, 1, SEEN)
        assert (processed.outcome, processed.run_id) == (Outcome.WAITING, RUN_ID)
        assert logged(caplog)[-1] == (logging.INFO, f"run {RUN_ID} {processed.detail}")
        details.append(processed.detail)
        again = WorkMessage.from_json(queue.sent[-1].text)
        assert again == WorkMessage(RunRef(FACTORY, RUN_ID), "e-1", RECEIVED, waits=waited + 1)
        body = queue.sent[-1].text
    assert [s.visibility_timeout for s in queue.sent] == [7, 14, 28, 50, 50]
    assert details[:2] == ["run InProgress: checking again in 7s (wait 1 of 5)",
                           "run InProgress: checking again in 14s (wait 2 of 5)"]
    assert queue.poison == {}

    processed = active.handle(body, 1, SEEN)

    assert processed.outcome is Outcome.POISONED
    assert len(queue.sent) == 5  # not put back a sixth time
    [envelope] = queue.envelopes()
    assert envelope.error_class == "RunNotEndedError"
    assert envelope.reason == "run still InProgress after 5 waits; replay it once it has ended"
    assert envelope.attempts == 0  # waits are not failed attempts
    assert json.loads(next(iter(queue.poison.values())))["attempts"] == 0
    assert (envelope.first_seen, envelope.message, envelope.run_id) == (RECEIVED, body, RUN_ID)


def test_the_wait_limits_come_from_the_app_settings(servers: Servers) -> None:
    queue = MemoryQueue()
    env = {"DATAFACTORY_ENDPOINT": servers.adf.url, "PURVIEW_ENDPOINT": servers.purview_endpoint,
           "LINEAGE_MAX_WAITS": "2", "LINEAGE_WAIT_SECONDS": "3", "LINEAGE_MAX_DEQUEUE_COUNT": "4"}
    active = wiring.build_worker(LocalCredential(), env, queues=queue)
    assert active.settings == WorkerSettings(max_dequeue_count=4, max_waits=2, wait_base_s=3)
    servers.adf.hold_in_progress(RUN_ID, reads=3)
    outcomes = [active.handle(message(waits=waits), 1).outcome for waits in range(3)]
    assert outcomes == [Outcome.WAITING, Outcome.WAITING, Outcome.POISONED]
    assert [s.visibility_timeout for s in queue.sent] == [3, 6]
    assert [e.error_class for e in queue.envelopes()] == ["RunNotEndedError"]


def test_the_default_limits_match_the_readme() -> None:
    assert WorkerSettings() == WorkerSettings(max_dequeue_count=5, max_waits=12, wait_base_s=30, wait_cap_s=600)
    assert wiring.worker_settings({}) == WorkerSettings()


@pytest.mark.parametrize(("status", "waits"), [("Queued", True), ("InProgress", True), ("Canceling", True),
                                               ("Cancelled", False), ("Failed", False), ("Succeeded", False)])
def test_only_a_run_that_has_not_ended_is_waited_for(servers: Servers, status: str, waits: bool) -> None:
    queue = MemoryQueue()
    run_id = another_run(servers, status=status)
    processed = make_worker(servers, queue).handle(message(run_id), 1)
    assert (processed.outcome is Outcome.WAITING) == waits
    assert len(queue.sent) == int(waits)
    if waits:
        assert processed.detail.startswith(f"run {status}: checking again in 30s")


# --- what a processed run tells ------------------------------------------------------------------------------------

def test_a_pushed_run_says_what_it_wrote_and_listeners_hear_of_every_message(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue)
    heard: list[Processed] = []
    active.listeners.append(heard.append)
    first = active.handle(message(), 1)
    later = another_run(servers, ended="2026-11-26T01:00:00Z")
    second = active.handle(message(later), 1)
    entities = len(servers.purview.entities())
    assert first.outcome is Outcome.PUSHED and first.run_id == RUN_ID
    assert first.detail == f"{entities} entities ({entities} created, 0 updated)"
    assert second.detail == f"{entities} entities (0 created, 1 updated)"  # the activity's facts: a later run
    assert first.document is not None and len(first.document["entities"]) == entities
    assert first.written == entities
    assert heard == [first, second]
    assert active.outcomes == {Outcome.PUSHED: 2}


def test_a_run_without_lineage_is_skipped_with_the_reasons_of_its_activities(servers: Servers) -> None:
    queue = MemoryQueue()
    run_id = another_run(servers, status="Failed")
    record = copy.deepcopy(RECORD)
    record["pipelineRun"].update(runId=run_id, status="Failed")
    for activity_run in record["activityRuns"]:
        activity_run.update(pipelineRunId=run_id, status="Failed")
    servers.adf.put_run(record)
    processed = make_worker(servers, queue).handle(message(run_id), 1)
    assert processed.outcome is Outcome.SKIPPED
    reasons = sorted({row["reason"] for row in processed.document["activities"]} - {""})  # type: ignore[index]
    assert processed.detail == "no lineage in this run: " + "; ".join(reasons)
    assert len(reasons) >= 1 and operations(servers) == []


def test_a_run_without_activity_runs_is_skipped_and_says_so(servers: Servers) -> None:
    queue = MemoryQueue()
    run_id = another_run(servers)
    record = copy.deepcopy(RECORD)
    record["pipelineRun"]["runId"] = run_id
    record["activityRuns"] = []
    servers.adf.put_run(record)
    processed = make_worker(servers, queue).handle(message(run_id), 1)
    assert (processed.outcome, processed.detail) == (Outcome.SKIPPED,
                                                     "no lineage in this run: it has no activity runs")


def test_assets_deleted_from_the_catalog_since_they_were_looked_up_are_looked_up_again(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue)
    assert active.handle(message(), 1).outcome is Outcome.PUSHED
    written = sorted(operations(servers))
    servers.purview.reset()  # the catalog lost everything the writer believes it holds
    assert active.handle(message(event_id="e-2"), 1).outcome is Outcome.PUSHED
    assert sorted(operations(servers)) == written
    assert queue.poison == {}


def test_a_catalog_that_keeps_changing_under_the_push_fails_it_after_one_more_look(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=1)
    active.handle(message(), 1)
    deleted = {"errorCode": "ATLAS-404-00-00A", "errorMessage": "Referenced entity was deleted"}
    servers.purview.inject(status=404, times=2, path_contains="/entity/bulk", method="POST", body=deleted)
    processed = active.handle(message(event_id="e-2"), 1)
    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()
    assert envelope.error_class == "CatalogChangedError"


def test_each_message_reads_its_run_once(servers: Servers) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue)
    run_gets = "GET */*/*/*/*/*/*/*/pipelineruns/*"  # the local server's counter of GET pipelineruns/{runId}
    before = servers.adf.stats[run_gets]
    assert active.handle(message(), 1).outcome is Outcome.PUSHED
    assert servers.adf.stats[run_gets] - before == 1  # the body read to see it ended is the one the record holds


def test_a_run_processed_at_once_is_read_first(servers: Servers) -> None:
    """``push`` and ``backfill --now`` hand the worker a run without its body: it reads it itself."""
    queue = MemoryQueue()
    processed = make_worker(servers, queue).process_run(WorkMessage(RunRef(FACTORY, RUN_ID), "push", RECEIVED))
    assert processed.outcome is Outcome.PUSHED and processed.run_id == RUN_ID
    assert len(operations(servers)) == 1


def test_pushed_and_skipped_runs_are_logged_with_what_became_of_them(
        servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    queue = MemoryQueue()
    active = make_worker(servers, queue)
    caplog.set_level(logging.INFO, logger="lineage.service.worker")
    pushed = active.handle(message(), 1)
    skipped_run = another_run(servers, status="Failed", run_id="7d0c3f6e-0000-4000-8000-0000000000ff")
    record = copy.deepcopy(RECORD)
    record["pipelineRun"].update(runId=skipped_run, status="Failed")
    for activity_run in record["activityRuns"]:
        activity_run.update(pipelineRunId=skipped_run, status="Failed")
    servers.adf.put_run(record)
    skipped = active.handle(message(skipped_run), 1)
    assert skipped.outcome is Outcome.SKIPPED
    assert logged(caplog) == [(logging.INFO, f"run {RUN_ID} pushed: {pushed.detail}"),
                              (logging.INFO, f"run {skipped_run} skipped: {skipped.detail}")]


def test_an_asset_the_catalog_holds_as_a_scanned_view_is_referenced_not_created_as_a_table(
        servers: Servers) -> None:
    table = "mssql://contoso-sql.database.windows.net/sales/dbo/DailySales"
    written = {e["typeName"]: e for e in explain(extract(RunRecord.from_json(RECORD), LineageOptions()),
                                                 "dataFactory")["entities"]}
    schema = written["azure_sql_schema"]["attributes"]["qualifiedName"]
    view = {"typeName": "azure_sql_view", "attributes": {"qualifiedName": table, "name": "DailySales"},
            "relationshipAttributes": {"dbSchema": {"typeName": "azure_sql_schema",
                                                    "uniqueAttributes": {"qualifiedName": schema}}}}
    for entity in (written["azure_sql_server"], written["azure_sql_db"], written["azure_sql_schema"], view):
        servers.purview.seed([{**entity, "guid": "-1"}])  # as a scan wrote them, parents first
    processed = make_worker(servers, MemoryQueue()).handle(message(), 1)
    assert processed.outcome is Outcome.PUSHED
    held = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in servers.purview.entities()}
    assert ("azure_sql_view", table) in held and ("azure_sql_table", table) not in held
    [operation] = [e for e in processed.document["entities"]  # type: ignore[index]
                   if e["typeName"] == "adf_copy_operation"]
    assert operation["attributes"]["outputs"] == [{"typeName": "azure_sql_view",
                                                   "uniqueAttributes": {"qualifiedName": table}}]
