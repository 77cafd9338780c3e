# ruff: noqa: F811 - the local servers' fixtures are shared with tests/test_worker_decisions.py by import
"""The run ledger: one row per run in Azurite's table service, the memory every worker decides from.

The worker reads runs from the local Data Factory server and writes to the local Purview (see
tests/test_worker_decisions.py); its ledger is a real table in Azurite, so ETag conflicts, paging and transactions are
the storage service's own. Only the ``WorkQueue`` seam is held in memory, to count envelopes exactly.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableClient

from lineage.azure.ledger import LedgerError, LedgerTable, partition_key
from lineage.local.azurite import Azurite
from lineage.service import ledger as runs
from lineage.service.events import BACKFILLED, RECONCILED, REPLAYED, now_iso
from lineage.service.ledger import Entry, RunLedger, Step, advance
from lineage.service.worker import ALREADY_POISONED, EnvelopeBusyError, Outcome, Processed, Worker
from tests.memory_queue import MemoryQueue
from tests.test_worker_decisions import (  # noqa: F401 - servers and clean are fixtures
    FACTORY,
    RECEIVED,
    RECORD,
    RUN_GET,
    RUN_ID,
    Servers,
    another_run,
    clean,
    make_worker,
    message,
    servers,
)

pytestmark = pytest.mark.integration
AT = "2026-11-25T07:03:00+00:00"


@pytest.fixture
def ledger(azurite: Azurite) -> Iterator[RunLedger]:
    table = LedgerTable.connect(f"t{uuid.uuid4().hex[:12]}", connection_string=azurite.connection_string)
    table.create()
    yield RunLedger(table)
    table.client.delete_table()


def with_ledger(servers: Servers, queue: MemoryQueue, ledger: RunLedger, **settings: int) -> Worker:
    worker = make_worker(servers, queue, **settings)
    worker.ledger = ledger
    return worker


def adf_calls(servers: Servers) -> int:
    return sum(servers.adf.stats.values())


def rows(ledger: RunLedger) -> list[Entry]:
    return list(ledger.find(runs.Query(), story=True))


# --- a row and how it changes (pure) -----------------------------------------------------------------------------

def test_a_row_counts_each_event_once_and_a_step_seen_twice_changes_nothing() -> None:
    first = advance(None, FACTORY.resource_id, RUN_ID, Step(runs.WAITING, AT, "e-1", 1, "run InProgress", waits=1))
    assert first is not None and first.events == 1 and first.attempts == 1 and first.outcome == runs.WAITING
    later = "2026-11-25T07:04:00+00:00"
    assert advance(first, FACTORY.resource_id, RUN_ID, Step(runs.WAITING, later, "e-1", 1, "run InProgress",
                                                            waits=1)) is None
    pushed = advance(first, FACTORY.resource_id, RUN_ID, Step(runs.PUSHED, later, "e-1", 1, "12 entities",
                                                              emitted=2, skipped=1, entities=12, waits=1))
    assert pushed is not None
    assert (pushed.outcome, pushed.reason, pushed.events, pushed.attempts, pushed.entities) == (
        runs.PUSHED, "", 1, 2, 12)
    again = advance(pushed, FACTORY.resource_id, RUN_ID, Step(runs.PUSHED, later, "e-2", 1, "12 entities"))
    assert again is not None and again.events == 2 and again.entities == 12  # counts kept when a step has none
    assert [line["what"] for line in again.story] == [runs.WAITING, runs.PUSHED, runs.PUSHED]


def test_a_poisoned_row_holds_its_envelope_until_replayed_or_purged_and_a_claim_lapses() -> None:
    now = datetime(2026, 11, 25, 7, 3, tzinfo=UTC)
    claimed = advance(None, FACTORY.resource_id, RUN_ID,
                      Step(runs.POISONED, AT, "e-1", 5, "DataFactoryError: denied", blocked=True))
    assert claimed is not None and claimed.envelope == runs.CLAIMED
    assert claimed.holds_envelope(now) and claimed.settled(now)
    assert not claimed.holds_envelope(now + runs.CLAIM_TIMEOUT)  # the worker died before writing it
    queued = advance(claimed, FACTORY.resource_id, RUN_ID, Step(runs.QUEUED, AT))
    assert queued is not None and queued.holds_envelope(now + timedelta(days=30))
    for how in (runs.REPLAYED, runs.PURGED):
        released = advance(queued, FACTORY.resource_id, RUN_ID, Step(how, AT, detail="poison message 1"))
        assert released is not None and not released.holds_envelope(now) and not released.settled(now)
    transient = advance(None, FACTORY.resource_id, RUN_ID, Step(runs.POISONED, AT, "e-1", 5, "503", blocked=False))
    assert transient is not None and transient.holds_envelope(now) and not transient.settled(now)


def test_a_row_survives_the_table_as_it_was_written(ledger: RunLedger) -> None:
    step = Step(runs.SKIPPED, AT, "e-1", 2, "no lineage in this run: x", received_at="2026-11-25T07:02:00Z",
                pipeline="Load/Daily", emitted=0, skipped=3, entities=4, drift=True, partial=False)
    written = ledger.record(FACTORY, RUN_ID, step)
    [read] = rows(ledger)
    assert read == written
    assert read.first_seen == "2026-11-25T07:02:00Z" and read.pipeline == "Load/Daily" and read.drift


def test_a_row_round_trips_exactly_whether_its_fields_hold_values_or_defaults(ledger: RunLedger) -> None:
    """Rows leave out default values; a replace writes the whole row, so a value gone back to its default must be
    gone from the table too, and a filter must still see every row."""
    changed = datetime(2026, 11, 25, 7, 3, 4, 567000, tzinfo=UTC)
    full = Entry(factory=FACTORY.resource_id, run_id=RUN_ID, outcome=runs.POISONED, first_seen=RECEIVED,
                 last_change=changed, reason="DataFactoryError: denied", pipeline="Load/Daily", emitted=2,
                 skipped=3, entities=14, attempts=5, events=2, waits=1, drift=True, partial=True,
                 envelope=runs.QUEUED, blocked=True, envelope_id="m-1", envelope_receipt="r-1",
                 claim_owner="e-1|2026-11-25T07:02:00Z", story=({"at": AT, "what": runs.POISONED, "event": "e-1"},),
                 event_ids=("e-1", "e-2"))
    assert all(getattr(full, f.name) != f.default for f in fields(Entry) if f.default is not MISSING)
    bare = Entry(factory=FACTORY.resource_id, run_id=RUN_ID, outcome="", first_seen="", last_change=changed)
    assert all(getattr(bare, f.name) == f.default for f in fields(Entry) if f.default is not MISSING)
    partition = partition_key(FACTORY)
    for first, then in ((full, bare), (bare, full)):
        ledger.table.insert(first.to_entity())
        stored = ledger.table.get(partition, RUN_ID)
        assert stored is not None and Entry.from_entity(stored.entity) == first
        ledger.table.replace(then.to_entity(), stored.etag)
        assert ledger.entry(FACTORY, RUN_ID) == then
        current = ledger.table.get(partition, RUN_ID)
        assert current is not None and ledger.table.delete_rows([current]) == 1
    assert set(bare.to_entity()) == {"PartitionKey", "RowKey", "Factory", "Pipeline", "Outcome", "FirstSeen",
                                     "LastChange", "Envelope"}
    # The properties filters compare are on every row, default or not.
    ledger.table.insert(replace(bare, run_id="bare", outcome=runs.PUSHED).to_entity())
    ledger.table.insert(replace(full, run_id="full").to_entity())
    assert [e.run_id for e in ledger.find(runs.Query(pipeline="Load/Daily"))] == ["full"]
    assert [e.run_id for e in ledger.find(runs.Query(outcome=runs.PUSHED, since=changed))] == ["bare"]
    assert ledger.sweep(changed + timedelta(days=100), force=True) == 1  # the bare row: its envelope is not held
    assert [e.run_id for e in rows(ledger)] == ["full"]


# --- the worker and its ledger ---------------------------------------------------------------------------------------

def test_a_pushed_run_has_one_row_with_its_counts_and_story(servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    servers.adf.hold_in_progress(RUN_ID, reads=1)
    assert active.handle(message(), 1).outcome is Outcome.WAITING
    [waiting] = rows(ledger)
    assert (waiting.outcome, waiting.pipeline, waiting.waits) == ("waiting", RECORD["pipelineRun"]["pipelineName"], 1)
    pushed = active.handle(message(waits=1), 1)
    assert pushed.outcome is Outcome.PUSHED
    [entry] = rows(ledger)
    assert (entry.factory, entry.run_id, entry.outcome, entry.reason) == (FACTORY.resource_id, RUN_ID, "pushed", "")
    assert entry.pipeline == RECORD["pipelineRun"]["pipelineName"]
    assert entry.events == 1 and entry.attempts == 2 and entry.waits == 1
    assert entry.entities == len(servers.purview.entities()) > 0
    document = pushed.document or {}
    assert entry.emitted == sum(r["outcome"] == "emitted" for r in document["activities"]) > 0
    assert [line["what"] for line in entry.story] == ["waiting", "pushed"]
    assert entry.first_seen == "2026-11-25T07:02:00Z"


def test_a_reconciled_run_already_pushed_or_skipped_costs_no_call(servers: Servers, ledger: RunLedger) -> None:
    active = with_ledger(servers, MemoryQueue(), ledger)
    assert active.handle(message(), 1).outcome is Outcome.PUSHED
    failed = another_run(servers, status="Failed")
    assert active.handle(message(failed), 1).outcome is Outcome.PUSHED  # its facts, no edges
    calls = adf_calls(servers)
    for run_id in (RUN_ID, failed):
        assert active.handle(message(run_id, event_id=RECONCILED), 1) == Processed(
            Outcome.SKIPPED, run_id, "already pushed: nothing to do")
    assert adf_calls(servers) == calls
    assert active.handle(message(event_id="e-2"), 1).outcome is Outcome.PUSHED  # an event is processed again
    assert {e.run_id: e.events for e in rows(ledger)} == {RUN_ID: 2, failed: 1}


def test_a_run_poisoned_for_good_gets_one_envelope_until_purged_then_a_new_event_pushes_it(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    servers.adf.deny(RECORD["factory"], "queryActivityruns")
    assert active.handle(message(), 1).outcome is Outcome.POISONED
    assert active.handle(message(event_id="e-2"), 1) == Processed(Outcome.SKIPPED, RUN_ID, ALREADY_POISONED)
    calls = adf_calls(servers)
    assert active.handle(message(event_id=RECONCILED), 1) == Processed(Outcome.SKIPPED, RUN_ID, ALREADY_POISONED)
    assert adf_calls(servers) == calls  # a reconcile pass costs nothing while the envelope is queued
    assert len(queue.poison) == 1
    [entry] = rows(ledger)
    assert (entry.outcome, entry.envelope, entry.events) == ("poisoned", runs.QUEUED, 2)
    assert entry.reason.startswith("DataFactoryError: ") and "queryactivityruns" in entry.reason

    queue.purge()
    ledger.record(FACTORY, RUN_ID, Step(runs.PURGED, AT, detail="poison message 1"))  # as `poison purge` does
    servers.adf.allow_all()
    assert active.handle(message(event_id="e-3"), 1).outcome is Outcome.PUSHED
    [entry] = rows(ledger)
    assert (entry.outcome, entry.envelope, entry.events) == ("pushed", runs.PURGED, 3)


def test_a_purged_run_is_processed_by_the_next_reconcile_pass(servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    servers.adf.deny(RECORD["factory"], "queryActivityruns")
    active.handle(message(), 1)
    servers.adf.allow_all()
    ledger.record(FACTORY, RUN_ID, Step(runs.PURGED, AT))
    assert active.handle(message(event_id=RECONCILED), 1).outcome is Outcome.PUSHED


def test_a_replay_runs_and_may_poison_again_a_backfill_does_not_write_a_second_envelope(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    run_id = another_run(servers, pipeline="Load/Daily")  # poisoned for good, and stays poisoned
    assert active.handle(message(run_id), 1).outcome is Outcome.POISONED
    assert active.handle(message(run_id, event_id=BACKFILLED), 1).detail == ALREADY_POISONED
    queue.purge()  # as `poison replay` does: the envelope goes back to the work queue ...
    assert active.handle(message(run_id, event_id=REPLAYED), 1).outcome is Outcome.POISONED  # ... and fails again
    assert len(queue.poison) == 1


def test_a_run_poisoned_by_a_transient_failure_is_healed_by_a_reconcile_pass(servers: Servers,
                                                                            ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger, max_dequeue_count=1)
    servers.adf.inject(status=503, times=1, path_contains=RUN_GET, method="GET")
    assert active.handle(message(), 1).outcome is Outcome.POISONED
    assert active.handle(message(event_id=RECONCILED), 1).outcome is Outcome.PUSHED
    assert len(queue.poison) == 1
    [entry] = rows(ledger)
    assert entry.outcome == "pushed" and [line["what"] for line in entry.story] == ["poisoned", "queued", "pushed"]


def test_two_workers_and_duplicated_events_give_one_row_and_at_most_one_envelope(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    workers = [with_ledger(servers, queue, ledger) for _ in range(2)]
    poisoned_run = another_run(servers, pipeline="Load/Daily", run_id="7d0c3f6e-0000-4000-8000-0000000000aa")
    bodies = [message(run_id, event_id=f"e-{n}") for run_id in (RUN_ID, poisoned_run) for n in range(3)] * 2
    results: list[Processed] = []
    lock = threading.Lock()

    def work(worker: Worker, mine: list[str]) -> None:
        for body in mine:
            for attempt in range(1, 6):  # as the host does: a failed message is delivered again
                try:
                    processed = worker.handle(body, attempt)
                    break
                except EnvelopeBusyError:  # the other worker is writing the envelope right now
                    time.sleep(0.05)
            with lock:
                results.append(processed)

    threads = [threading.Thread(target=work, args=(w, bodies[i::2])) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == len(bodies)
    assert len(queue.poison) == 1
    assert {e.run_id for e in queue.envelopes()} == {poisoned_run}
    entries = {e.run_id: e for e in rows(ledger)}
    assert set(entries) == {RUN_ID, poisoned_run}
    assert entries[RUN_ID].outcome == "pushed" and entries[RUN_ID].events == 3
    assert entries[poisoned_run].outcome == "poisoned" and entries[poisoned_run].events == 3
    assert entries[poisoned_run].attempts == 1  # the others were refused the claim: no second envelope
    assert sum(p.detail == ALREADY_POISONED for p in results) == 5


def test_a_ledger_that_cannot_be_written_is_a_transient_failure_then_poison_with_its_reason(
        servers: Servers, azurite: Azurite) -> None:
    dead = azurite.connection_string.replace(f":{azurite.table_port}/", ":9/")  # nothing listens on port 9
    table = LedgerTable(TableClient.from_connection_string(dead, "lineageruns", retry_total=0))
    queue = MemoryQueue()
    active = make_worker(servers, queue, max_dequeue_count=2)
    active.ledger = RunLedger(table)
    with pytest.raises(LedgerError):
        active.handle(message(), 1)
    processed = active.handle(message(), 2)
    assert processed.outcome is Outcome.POISONED
    [envelope] = queue.envelopes()  # written although the ledger could not be asked: the run is not lost
    assert envelope.error_class == "LedgerError" and "the run ledger could not" in envelope.reason


# --- housekeeping ------------------------------------------------------------------------------------------------

def test_rows_past_the_retention_are_swept_at_most_once_a_day(ledger: RunLedger) -> None:
    now = datetime.now(UTC)
    for n in range(130):  # more than one transaction's 100
        age = timedelta(days=91 if n % 2 else 10)
        ledger.record(FACTORY, f"run-{n:03d}", Step(runs.PUSHED, (now - age).isoformat(), f"e-{n}", 1, "ok"))
    ledger.save_checkpoint(FACTORY, now - timedelta(days=200))  # a checkpoint is not a run: never swept
    assert ledger.sweep(now) == 65
    assert len(rows(ledger)) == 65
    ledger.record(FACTORY, "run-old", Step(runs.PUSHED, (now - timedelta(days=100)).isoformat(), "e", 1, "ok"))
    assert ledger.sweep(now + timedelta(hours=1)) == 0  # swept less than a day ago
    assert ledger.sweep(now + timedelta(days=1)) == 1
    assert ledger.checkpoint(FACTORY) == now - timedelta(days=200)


def test_a_row_changed_or_gone_after_it_was_read_is_not_deleted_nor_counted(ledger: RunLedger) -> None:
    old = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    for n in range(3):
        ledger.record(FACTORY, f"run-{n}", Step(runs.PUSHED, old, f"e-{n}", 1, "ok"))
    read = list(ledger.table.query("PartitionKey eq @p", {"p": partition_key(FACTORY)}))
    assert len(read) == 3 and all(row.etag for row in read)
    ledger.record(FACTORY, "run-0", Step(runs.PUSHED, now_iso(), "e-new", 1, "ok"))  # heard of again meanwhile
    ledger.table.delete_rows([row for row in read if row.entity["RowKey"] == "run-1"])  # gone meanwhile
    assert ledger.table.delete_rows(read) == 1  # run-2 only: run-0 changed since read, run-1 was gone
    assert [e.run_id for e in rows(ledger)] == ["run-0"]
    assert ledger.table.delete_rows(list(ledger.table.query("PartitionKey ne ''"))) == 1  # as read now: deleted


def test_partition_keys_are_one_per_factory_whatever_the_case() -> None:
    lower = FACTORY.parse(FACTORY.resource_id.lower())
    assert partition_key(lower) == partition_key(FACTORY)
    assert "/" not in partition_key(FACTORY)


def test_an_envelope_removed_by_hand_no_longer_holds_the_run(servers: Servers, ledger: RunLedger) -> None:
    """Removed without `poison purge` (Storage Explorer, the portal): the row still says queued, the queue does not."""
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    run_id = another_run(servers, pipeline="Load/Daily")  # poisoned for good, and stays poisoned
    assert active.handle(message(run_id), 1).outcome is Outcome.POISONED
    assert active.handle(message(run_id, event_id="e-2"), 1).detail == ALREADY_POISONED
    assert queue.asked == 1  # asked once: still there
    queue.purge()
    assert active.handle(message(run_id, event_id="e-3"), 1).outcome is Outcome.POISONED  # it says so again
    assert len(queue.poison) == 1 and queue.asked == 2
    [entry] = [e for e in rows(ledger) if e.run_id == run_id]
    assert entry.envelope == runs.QUEUED and entry.envelope_id == str(max(queue.poison))


def test_a_reconciled_run_whose_envelope_was_removed_by_hand_is_processed(servers: Servers,
                                                                          ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    servers.adf.deny(RECORD["factory"], "queryActivityruns")
    active.handle(message(), 1)
    servers.adf.allow_all()
    assert active.handle(message(event_id=RECONCILED), 1).detail == ALREADY_POISONED  # still queued: held
    queue.purge()
    assert active.handle(message(event_id=RECONCILED), 1).outcome is Outcome.PUSHED


def test_a_queue_that_cannot_say_whether_the_envelope_is_there_lets_the_run_be_processed(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    servers.adf.deny(RECORD["factory"], "queryActivityruns")
    active.handle(message(), 1)
    servers.adf.allow_all()
    queue.unreachable = ServiceRequestError("queue storage unreachable")
    assert active.handle(message(event_id=RECONCILED), 1).outcome is Outcome.PUSHED


def test_a_wait_the_ledger_cannot_record_puts_nothing_back(servers: Servers, azurite: Azurite) -> None:
    """Retried as a whole: a second message for the run would exist if the wait were sent before it was recorded."""
    dead = azurite.connection_string.replace(f":{azurite.table_port}/", ":9/")
    queue = MemoryQueue()
    active = make_worker(servers, queue)
    active.ledger = RunLedger(LedgerTable(TableClient.from_connection_string(dead, "lineageruns", retry_total=0)))
    servers.adf.hold_in_progress(RUN_ID, reads=1)
    with pytest.raises(LedgerError):
        active.handle(message(), 1)
    assert queue.sent == [] and queue.poison == {}


# --- a claim on the envelope: never an acknowledgement on its word alone --------------------------------------------

POISONED_RUN = "7d0c3f6e-0000-4000-8000-0000000000bb"


def claimed_by(ledger: RunLedger, event_id: str, run_id: str = POISONED_RUN) -> None:
    """A worker claimed the run's envelope for this message, then died before writing it."""
    step = Step(runs.POISONED, now_iso(), event_id, 1, "DataFactoryError: denied", received_at=RECEIVED, blocked=True)
    assert ledger.claim_envelope(FACTORY, run_id, step) == runs.CLAIMED


def test_the_message_whose_worker_died_after_claiming_writes_the_envelope_when_delivered_again(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    another_run(servers, pipeline="Load/Daily", run_id=POISONED_RUN)  # poisoned for good
    claimed_by(ledger, "e-1")
    assert active.handle(message(POISONED_RUN, event_id="e-1"), 2).outcome is Outcome.POISONED
    assert [e.run_id for e in queue.envelopes()] == [POISONED_RUN]
    [entry] = rows(ledger)
    assert entry.envelope == runs.QUEUED


def test_another_message_is_not_acknowledged_while_a_claim_is_fresh_and_writes_on_its_last_attempt(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger, max_dequeue_count=3)
    another_run(servers, pipeline="Load/Daily", run_id=POISONED_RUN)
    claimed_by(ledger, "e-1")  # and its worker died: no envelope
    for event_id in ("e-2", REPLAYED):
        with pytest.raises(EnvelopeBusyError):
            active.handle(message(POISONED_RUN, event_id=event_id), 1)
    assert queue.envelopes() == []  # failed, so delivered again: never acknowledged with no envelope anywhere
    assert active.handle(message(POISONED_RUN, event_id="e-2"), 3).outcome is Outcome.POISONED  # the last attempt
    assert [e.run_id for e in queue.envelopes()] == [POISONED_RUN]


def test_a_replay_or_purge_of_an_older_envelope_leaves_a_newer_one_held() -> None:
    now = datetime(2026, 11, 25, 7, 3, tzinfo=UTC)
    claimed = advance(None, FACTORY.resource_id, RUN_ID,
                      Step(runs.POISONED, AT, "e-1", 5, "DataFactoryError: denied", blocked=True))
    queued = advance(claimed, FACTORY.resource_id, RUN_ID, Step(runs.QUEUED, AT, envelope_id="new"))
    assert queued is not None
    for how in (runs.REPLAYED, runs.PURGED):
        older = advance(queued, FACTORY.resource_id, RUN_ID, Step(how, AT, detail="poison message old",
                                                                  envelope_id="old"))
        assert older is not None and older.envelope == runs.QUEUED and older.settled(now)
        same = advance(queued, FACTORY.resource_id, RUN_ID, Step(how, AT, detail="poison message new",
                                                                 envelope_id="new"))
        assert same is not None and same.envelope == how and not same.settled(now)


def test_a_reconcile_pass_queues_a_poisoned_run_again_for_the_worker_to_ask_the_poison_queue(
        ledger: RunLedger) -> None:
    now = datetime.now(UTC)
    ledger.record(FACTORY, "pushed-run", Step(runs.PUSHED, now.isoformat(), "e", 1, "ok"))
    claimed_by(ledger, "e-1")
    ledger.record(FACTORY, POISONED_RUN, Step(runs.QUEUED, now_iso(), envelope_id="m1"))
    assert ledger.settled_among(FACTORY, ["pushed-run", POISONED_RUN, "unknown-run"]) == {"pushed-run"}


def test_the_sweep_keeps_a_row_whose_envelope_is_claimed_or_queued(ledger: RunLedger) -> None:
    now = datetime.now(UTC)
    old = (now - timedelta(days=100)).isoformat()
    ledger.record(FACTORY, "old-pushed", Step(runs.PUSHED, old, "e", 1, "ok"))
    ledger.claim_envelope(FACTORY, "old-claimed", Step(runs.POISONED, old, "e", 1, "x", blocked=True))
    ledger.claim_envelope(FACTORY, "old-queued", Step(runs.POISONED, old, "e", 1, "x", blocked=True))
    ledger.record(FACTORY, "old-queued", Step(runs.QUEUED, old, envelope_id="m1"))
    assert ledger.sweep(now, force=True) == 1
    assert sorted(e.run_id for e in rows(ledger)) == ["old-claimed", "old-queued"]


def test_a_run_that_never_ends_writes_its_envelope_on_its_last_delivery_though_another_claim_is_fresh(
        servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger, max_dequeue_count=3, max_waits=1)
    servers.adf.hold_in_progress(RUN_ID, reads=100)
    claimed_by(ledger, "e-1", RUN_ID)
    body = message(RUN_ID, event_id="e-2", waits=1)  # waited as long as it may: it ends in the poison queue
    with pytest.raises(EnvelopeBusyError):
        active.handle(body, 1)
    assert active.handle(body, 3).outcome is Outcome.POISONED  # the last delivery: never left to the host
    assert [e.run_id for e in queue.envelopes()] == [RUN_ID]


@pytest.mark.parametrize(("replayed", "answer"), [(True, runs.CLAIMED), (False, runs.QUEUED)])
def test_a_replay_claims_the_envelope_a_queued_row_still_names(ledger: RunLedger, replayed: bool,
                                                               answer: str) -> None:
    """`poison replay` sends the message before it deletes the envelope: a worker quick enough still sees it."""
    claimed_by(ledger, "e-1")
    ledger.record(FACTORY, POISONED_RUN, Step(runs.QUEUED, now_iso(), envelope_id="m1"))
    step = Step(runs.POISONED, now_iso(), REPLAYED, 1, "x", received_at=now_iso(), blocked=True)
    assert ledger.claim_envelope(FACTORY, POISONED_RUN, step, replayed=replayed, gone=lambda _e: False) == answer


def test_an_envelope_that_cannot_be_written_gives_its_claim_up(servers: Servers, ledger: RunLedger) -> None:
    queue = MemoryQueue()
    active = with_ledger(servers, queue, ledger)
    another_run(servers, pipeline="Load/Daily", run_id=POISONED_RUN)
    queue.poison_broken = ServiceRequestError("queue storage unreachable")
    with pytest.raises(ServiceRequestError):
        active.handle(message(POISONED_RUN, event_id="e-1"), 1)
    [entry] = rows(ledger)
    assert entry.envelope == ""  # another message may claim it at once, not ten minutes later
    queue.poison_broken = None
    assert active.handle(message(POISONED_RUN, event_id="e-2"), 1).outcome is Outcome.POISONED


def test_retention_days_are_whole_days_from_one_to_3650() -> None:
    assert runs.retention_days({}) == runs.DEFAULT_RETENTION_DAYS
    assert runs.retention_days({runs.RETENTION_SETTING: "30"}) == 30
    for bad in ("0", "abc", "3651", "-1"):
        with pytest.raises(ValueError, match=runs.RETENTION_SETTING):
            runs.retention_days({runs.RETENTION_SETTING: bad})
