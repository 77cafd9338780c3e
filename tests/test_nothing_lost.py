"""Nothing lost: messages that never expire, a memory of poisoned runs that never outlives their envelopes.

Against Azurite and the local Data Factory and Purview servers, through the real handlers (see tests/test_service.py).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service import poison_queue
from lineage.service.events import EVENT_TYPE, RECONCILED, RunRef, WorkMessage, now_iso
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.reconcile import WindowError, factories_from_setting
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16)
RECORD = json.loads((SAMPLES / "copy_blob_to_sql.json").read_text())
RUN_ID = RECORD["pipelineRun"]["runId"]
NEVER = 9999  # the year Azure Storage gives a message sent with time_to_live=-1 as its expiry


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite, queue_name="lost-runs",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> Iterator[None]:
    stack.reset()
    yield
    stack.adf.allow_all()


def envelopes(stack: LocalStack) -> list[PoisonEnvelope]:
    return [read_poison(str(m.content)) for m in stack.queues.poison.peek_messages(max_messages=32)]


def expiries(stack: LocalStack) -> list[datetime]:
    return [m.expires_on for m in stack.queues.poison.peek_messages(max_messages=32)]


def purge(stack: LocalStack) -> int:
    """Delete every poison message as `python -m lineage poison purge --all` does (the run ledger is told)."""
    return len(poison_queue.purge(stack.queues, poison_queue.Selection(), stack.ledger))


def poison_the_run(stack: LocalStack, among: int = 0) -> None:
    """The run fails for good (the identity may not query its activity runs): one envelope, behind ``among``."""
    stack.adf.deny(RECORD["factory"], "queryActivityruns")
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.POISONED] == 1
    if not among:
        [envelope] = envelopes(stack)
        assert envelope.run_id == RUN_ID and envelope.error_class == "DataFactoryError"


# --- 1. no expiry ----------------------------------------------------------------------------------------------------

def test_a_poison_envelope_never_expires(stack: LocalStack) -> None:
    poison_the_run(stack)
    assert [e.year for e in expiries(stack)] == [NEVER]  # the queue service's default would be 7 days


def test_a_rejected_events_envelope_never_expires(stack: LocalStack) -> None:
    stack.host.deliver({"id": "e-bad", "topic": "t", "subject": "s", "eventType": EVENT_TYPE,
                        "eventTime": "2026-11-25T00:00:00Z", "data": {"factoryName": "x"}, "dataVersion": "1.0"})
    [envelope] = envelopes(stack)
    assert envelope.error_class == "EventError"
    assert [e.year for e in expiries(stack)] == [NEVER]


def test_a_run_waiting_to_end_is_put_back_without_expiry(stack: LocalStack) -> None:
    stack.adf.hold_in_progress(RUN_ID, reads=1)
    body = WorkMessage(RunRef(FactoryId.parse(RECORD["factory"]), RUN_ID), event_id="e-1",
                       received_at=now_iso()).to_json()
    assert stack.worker.handle(body, 1).outcome is Outcome.WAITING
    time.sleep(1.5)  # LINEAGE_WAIT_SECONDS is 1 in the local stack: the re-sent message is visible again
    [message] = stack.queues.work.peek_messages()
    assert json.loads(bytes(message.content))["waits"] == 1
    assert message.expires_on.year == NEVER


# --- 2. a poisoned run is held, in the run ledger, while its envelope is queued ---------------------------------------

def test_a_duplicate_of_a_poisoned_run_is_acknowledged_while_its_envelope_is_queued(stack: LocalStack) -> None:
    poison_the_run(stack)
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.SKIPPED] == 1
    assert len(envelopes(stack)) == 1


def test_after_a_purge_the_next_event_for_the_run_is_processed(stack: LocalStack) -> None:
    poison_the_run(stack)
    assert purge(stack) == 1
    stack.adf.allow_all()  # the operator fixed the cause
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert stack.worker.outcomes[Outcome.SKIPPED] == 0
    assert any(e["typeName"] == "adf_copy_operation" for e in stack.purview.entities())


def test_after_a_purge_a_run_still_failing_gets_a_new_envelope(stack: LocalStack) -> None:
    poison_the_run(stack)
    purge(stack)
    stack.send_completed(RECORD)  # the cause is not fixed: the run fails again, and says so again
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.POISONED] == 2
    assert [e.run_id for e in envelopes(stack)] == [RUN_ID]


def test_after_a_purge_a_reconcile_pass_processes_the_run(stack: LocalStack) -> None:
    poison_the_run(stack)
    purge(stack)
    stack.adf.allow_all()
    stack.queues.send(WorkMessage(RunRef(FactoryId.parse(RECORD["factory"]), RUN_ID), event_id=RECONCILED,
                                  received_at=now_iso()).to_json())
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1


def test_an_envelope_someone_is_handling_still_counts_as_queued(stack: LocalStack) -> None:
    poison_the_run(stack)
    # `poison replay` or `purge` has received it (hidden for a few seconds, our pop receipt is stale): still there
    [held] = list(stack.queues.poison.receive_messages(max_messages=1, visibility_timeout=30))
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.SKIPPED] == 1
    assert stack.worker.outcomes[Outcome.POISONED] == 1
    stack.queues.poison.update_message(held, visibility_timeout=0)
    assert len(envelopes(stack)) == 1


def test_the_envelope_is_found_wherever_it_sits_in_the_queue(stack: LocalStack) -> None:
    for i in range(40):  # more than one peek shows: the answer must not depend on where the envelope sits
        stack.queues.send_poison(json.dumps({"filler": i}))
    poison_the_run(stack, among=40)
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.SKIPPED] == 1  # found, though behind 40 others
    received = [*stack.queues.poison.receive_messages(max_messages=32, visibility_timeout=30),
                *stack.queues.poison.receive_messages(max_messages=32, visibility_timeout=30)]
    [mine] = [m for m in received if read_poison(str(m.content)).run_id == RUN_ID]
    stack.queues.poison.delete_message(mine)  # purged by id, as `poison purge ID` does
    for message in received:
        if message is not mine:
            stack.queues.poison.update_message(message, visibility_timeout=0)
    stack.adf.allow_all()
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert len(stack.queues.poison.peek_messages(max_messages=32)) == 32  # the 40 others are untouched


# --- 4. a Purview 200 that is not a mutation result is not "pushed"; no redirect is followed ------------------------

def entities() -> list[dict[str, Any]]:
    doc = explain(extract(RunRecord.from_json(copy.deepcopy(RECORD)), LineageOptions()), "dataFactory")
    return list(doc["entities"])


def bulk_posts(stack: LocalStack) -> int:
    return sum(n for k, n in stack.purview.stats.items() if k.startswith("POST") and k.endswith("entity/bulk"))


def writer(stack: LocalStack, **options: Any) -> PurviewWriter:
    return PurviewWriter(stack.credential, f"{stack.purview.url}/datamap/api/atlas/v2", backoff_base_s=0.01,
                         **options)


@pytest.mark.parametrize(("answer", "reason"), [
    ({"text": "<!DOCTYPE html><html><body>Sign in</body></html>", "content_type": "text/html"}, "HTML page"),
    ({"text": "<html>no content type</html>", "content_type": "application/octet-stream"}, "HTML page"),
    ({"body": {"status": "ok"}}, "not a mutation result"),
    ({"text": "[]"}, "not a mutation result (it is a JSON list"),
    ({"body": {"mutatedEntities": "everything"}}, "not a mutation result"),
    ({"body": {"guidAssignments": ["-1"]}}, "not a mutation result"),
    ({"text": "", "content_type": "application/json"}, "not a mutation result (it is empty"),
    ({"text": '{"guidAssignments": {}, "n": ' + "7" * 5_000 + "}"}, "integer of more than 4,300 digits"),
    ({"text": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
])
def test_a_bulk_answer_that_is_not_a_mutation_result_fails_the_push(stack: LocalStack, answer: dict[str, Any],
                                                                     reason: str) -> None:
    before = bulk_posts(stack)
    stack.purview.inject(status=200, path_contains="/entity/bulk", method="POST", **answer)
    with pytest.raises(PurviewError) as failure:
        writer(stack).push(entities())
    assert reason in str(failure.value)
    assert not failure.value.transient  # the same answer would come again: poison, with this reason
    assert bulk_posts(stack) == before + 1  # asked once, not retried


def test_a_well_formed_mutation_result_is_counted(stack: LocalStack) -> None:
    result = writer(stack).push(entities())
    assert result.created > 0 and result.calls == 1


def test_a_redirect_is_not_followed_to_another_origin_with_the_token_and_payload(stack: LocalStack) -> None:
    elsewhere = f"{stack.adf.url}/datamap/api/atlas/v2/entity/bulk"  # another origin that would log what it got
    before = sum(stack.adf.stats.values())
    for status in (301, 302, 307, 308):
        stack.purview.inject(status=status, path_contains="/entity/bulk", headers={"Location": elsewhere})
        with pytest.raises(PurviewError, match=rf"HTTP {status} redirect to {stack.adf.url} not followed"):
            writer(stack).push(entities())
    assert sum(stack.adf.stats.values()) == before
    assert stack.purview.entities() == []


def test_the_worker_poisons_a_run_whose_write_is_answered_with_a_web_page(stack: LocalStack) -> None:
    stack.purview.inject(status=200, path_contains="/entity/bulk", text="<html>proxy</html>",
                         content_type="text/html", times=10)
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 0
    [envelope] = envelopes(stack)
    assert envelope.error_class == "PurviewError" and "HTML page" in envelope.reason
    assert envelope.attempts == 1  # permanent: no five attempts against the same page


# --- 5. every call has an overall deadline; Retry-After is capped; paging ends ---------------------------------------

def reader(stack: LocalStack, **options: Any) -> DataFactoryReader:
    settings: dict[str, Any] = {"timeout_s": 1.0, "deadline_s": 2.0, "retry_total": 0, "retry_backoff_s": 0.01}
    return DataFactoryReader(stack.credential, base_url=stack.adf.url, **{**settings, **options})


@pytest.mark.parametrize("trickle_headers", [False, True])
def test_a_trickling_purview_answer_is_cut_at_the_deadline(stack: LocalStack, trickle_headers: bool) -> None:
    # one byte every 0.2 s: always within the 1 s read timeout, and a typedef answer is kilobytes long
    stack.purview.inject(status=0, path_contains="/types/typedef", trickle_s=0.2, trickle_headers=trickle_headers)
    started = time.monotonic()
    with pytest.raises(PurviewError, match=r"no complete answer within 2 s") as failure:
        writer(stack, timeout_s=1.0, deadline_s=2.0, max_attempts=1).type_definition("adf_copy_activity")
    assert failure.value.transient
    assert 1.9 < time.monotonic() - started < 6


@pytest.mark.parametrize("trickle_headers", [False, True])
def test_a_trickling_data_factory_answer_is_cut_at_the_deadline(stack: LocalStack, trickle_headers: bool) -> None:
    stack.adf.inject(status=0, path_contains=f"pipelineruns/{RUN_ID}", method="GET", trickle_s=0.2,
                     trickle_headers=trickle_headers)
    started = time.monotonic()
    with pytest.raises(DataFactoryError) as failure:
        reader(stack).pipeline_run(FactoryId.parse(RECORD["factory"]), RUN_ID)
    assert failure.value.transient
    assert 1.9 < time.monotonic() - started < 6


def test_a_connection_cut_at_its_deadline_is_not_reused(stack: LocalStack) -> None:
    active = reader(stack)
    factory = FactoryId.parse(RECORD["factory"])
    stack.adf.inject(status=0, path_contains=f"pipelineruns/{RUN_ID}", method="GET", trickle_s=0.2)
    with pytest.raises(DataFactoryError):
        active.pipeline_run(factory, RUN_ID)
    assert active.pipeline_run(factory, RUN_ID)["runId"] == RUN_ID  # the next call gets a fresh connection


def test_purview_retry_after_is_honoured_up_to_a_cap(stack: LocalStack) -> None:
    slept: list[float] = []
    stack.purview.inject(status=429, retry_after=3, path_contains="/types/typedef")
    stack.purview.inject(status=429, retry_after=86_400, path_contains="/types/typedef")
    stack.purview.inject(status=503, path_contains="/types/typedef",
                         headers={"Retry-After": "9" * 5_000})  # not a number anyone means
    active = writer(stack, sleep=slept.append, retry_after_cap_s=60.0, backoff_cap_s=0.5)
    assert active.type_definition("adf_copy_activity") is not None
    assert slept[:2] == [3.0, 60.0]  # as asked; then a day capped to a minute
    assert slept[2] <= 0.5  # an unreadable value: the writer's own backoff


def test_data_factory_retry_after_is_honoured_up_to_a_cap(stack: LocalStack) -> None:
    factory = FactoryId.parse(RECORD["factory"])
    stack.adf.inject(status=429, retry_after=1, path_contains=f"pipelineruns/{RUN_ID}", method="GET")
    started = time.monotonic()
    reader(stack, retry_total=2).pipeline_run(factory, RUN_ID)
    assert time.monotonic() - started >= 0.9  # azure-core's first retry has no backoff: this is the header's second
    stack.adf.inject(status=429, retry_after=86_400, path_contains=f"pipelineruns/{RUN_ID}", method="GET")
    started = time.monotonic()
    reader(stack, retry_total=2, retry_after_cap_s=0.5).pipeline_run(factory, RUN_ID)
    assert time.monotonic() - started < 5  # not a day


def test_paging_stops_when_a_continuation_token_comes_back(stack: LocalStack) -> None:
    factory = FactoryId.parse(RECORD["factory"])
    for token in ("page-2", "page-3", "page-2"):
        stack.adf.inject(status=200, path_contains="queryActivityruns", body={"value": [], "continuationToken": token})
    with pytest.raises(DataFactoryError, match=r"page 3 hands back a continuation token it gave before") as failure:
        reader(stack).activity_runs(factory, RECORD["pipelineRun"])
    assert not failure.value.transient


def test_paging_stops_at_the_page_cap(stack: LocalStack) -> None:
    factory = FactoryId.parse(RECORD["factory"])
    for n in range(5):
        stack.adf.inject(status=200, path_contains="queryPipelineRuns",
                         body={"value": [], "continuationToken": f"t{n}"})
    with pytest.raises(DataFactoryError, match=r"more than 3 pages"):
        list(reader(stack, max_pages=3).query_pipeline_runs(factory, datetime.now(UTC) - timedelta(hours=1),
                                                            datetime.now(UTC)))


def test_paging_follows_real_pages_to_the_end(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    record = json.loads((SAMPLES / "foreach_adls_to_synapse.json").read_text())
    monkeypatch.setattr(stack.adf, "page_size", 2)  # five activity runs: three pages, two tokens
    runs = reader(stack).activity_runs(FactoryId.parse(record["factory"]), record["pipelineRun"])
    assert sorted(r["activityRunId"] for r in runs) == sorted(r["activityRunId"] for r in record["activityRuns"])


# --- 6. integers longer than Python reads are bad input with a reason ------------------------------------------------

HUGE = "9" * 5_000


def test_a_huge_integer_from_data_factory_poisons_the_run_at_once_with_a_reason(stack: LocalStack) -> None:
    stack.adf.inject(status=200, path_contains=f"pipelineruns/{RUN_ID}", method="GET", times=10,
                     text=f'{{"runId": "{RUN_ID}", "durationInMs": {HUGE}}}')
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    [envelope] = envelopes(stack)
    assert envelope.error_class == "DataFactoryError"
    assert envelope.reason == ("Data Factory's answer to run is not JSON this service reads: it holds an integer of "
                               "more than 4,300 digits")
    assert envelope.attempts == 1


def test_a_huge_integer_in_a_data_factory_error_answer_is_still_an_http_error(stack: LocalStack) -> None:
    stack.adf.inject(status=500, path_contains=f"pipelineruns/{RUN_ID}", method="GET",
                     text=f'{{"error": {{"code": {HUGE}}}}}')
    with pytest.raises(DataFactoryError, match="HTTP 500") as failure:
        reader(stack).pipeline_run(FactoryId.parse(RECORD["factory"]), RUN_ID)
    assert failure.value.transient


def test_a_huge_integer_in_a_purview_error_answer_is_still_an_http_error(stack: LocalStack) -> None:
    stack.purview.inject(status=400, path_contains="/types/typedef", text=f'{{"errorCode": {HUGE}}}')
    with pytest.raises(PurviewError, match="HTTP 400") as failure:
        writer(stack, max_attempts=1).type_definition("adf_copy_activity")
    assert not failure.value.transient


def test_a_huge_integer_in_a_purview_lookup_is_bad_input(stack: LocalStack) -> None:
    stack.purview.inject(status=200, path_contains="/entity/bulk/uniqueAttribute", method="GET",
                         text=f'{{"entities": [{{"attributes": {{"lastRunTime": {HUGE}}}}}]}}')
    with pytest.raises(PurviewError, match=r"Purview lookup: HTTP 200, but the answer is not JSON this service "
                                           r"reads: it holds an integer of more than 4,300 digits"):
        writer(stack).push(entities())


def test_a_huge_integer_in_the_factories_setting_is_a_settings_error() -> None:
    with pytest.raises(WindowError, match=r"LINEAGE_FACTORIES is not JSON this service reads: it holds an integer"):
        factories_from_setting({"LINEAGE_FACTORIES": f"[{HUGE}]"})
