"""Nothing lost: messages that never expire, a memory of poisoned runs that never outlives their envelopes.

Against Azurite and the local Data Factory and Purview servers, through the real handlers (see tests/test_service.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service import poison_queue
from lineage.service.events import EVENT_TYPE, RECONCILED, RunRef, WorkMessage, now_iso
from lineage.service.poison import PoisonEnvelope, read_poison
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


# --- 2. the memory of a poisoned run lasts as long as its envelope ---------------------------------------------------

def test_a_duplicate_of_a_poisoned_run_is_acknowledged_while_its_envelope_is_queued(stack: LocalStack) -> None:
    poison_the_run(stack)
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.SKIPPED] == 1
    assert len(envelopes(stack)) == 1


def test_after_a_purge_the_next_event_for_the_run_is_processed(stack: LocalStack) -> None:
    poison_the_run(stack)
    assert len(poison_queue.purge(stack.queues, None, None)) == 1  # `python -m lineage poison purge --all`
    stack.adf.allow_all()  # the operator fixed the cause
    stack.send_completed(RECORD)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert stack.worker.outcomes[Outcome.SKIPPED] == 0
    assert any(e["typeName"] == "adf_copy_operation" for e in stack.purview.entities())


def test_after_a_purge_a_run_still_failing_gets_a_new_envelope(stack: LocalStack) -> None:
    poison_the_run(stack)
    poison_queue.purge(stack.queues, None, None)
    stack.send_completed(RECORD)  # the cause is not fixed: the run fails again, and says so again
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.POISONED] == 2
    assert [e.run_id for e in envelopes(stack)] == [RUN_ID]


def test_after_a_purge_a_reconcile_pass_processes_the_run(stack: LocalStack) -> None:
    poison_the_run(stack)
    poison_queue.purge(stack.queues, None, None)
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
