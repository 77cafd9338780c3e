"""The service end to end on one machine: Azurite, the local Data Factory and Purview servers, the real handlers.

Events of both schemas go through azure.functions' own converter into ``on_run_completed``; the work queue is
driven with the Functions host's semantics; the Purview writer and the Data Factory reader speak HTTPS with bearer
tokens to the local servers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, load_records, local_stack
from lineage.service.events import EVENT_TYPE
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16)


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite,
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> None:
    stack.reset()


def predicted(record: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """What explain says this run's operations and assets are."""
    doc = explain(extract(RunRecord.from_json(record), LineageOptions()), "dataFactory")
    return {_shape(e) for e in doc["entities"]}


def stored(stack: LocalStack) -> set[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    by_guid = {e["guid"]: e for e in stack.purview.entities()}

    def qn(ref: dict[str, str]) -> str:
        return str(by_guid[ref["guid"]]["attributes"]["qualifiedName"])

    result = set()
    for e in by_guid.values():
        rels = e.get("relationshipAttributes", {})
        result.add((e["typeName"], e["attributes"]["qualifiedName"],
                    tuple(sorted(qn(r) for r in rels.get("inputs") or [])),
                    tuple(sorted(qn(r) for r in rels.get("outputs") or []))))
    return result


def _shape(entity: dict[str, Any]) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    attrs = entity["attributes"]
    return (entity["typeName"], attrs["qualifiedName"],
            tuple(sorted(r["uniqueAttributes"]["qualifiedName"] for r in attrs.get("inputs", []))),
            tuple(sorted(r["uniqueAttributes"]["qualifiedName"] for r in attrs.get("outputs", []))))


def poison(stack: LocalStack) -> list[PoisonEnvelope]:
    return [read_poison(str(m.content)) for m in stack.queues.poison.peek_messages(max_messages=32)]


def raw_queue(stack: LocalStack) -> QueueClient:
    """The work queue without our encoding policies: bodies exactly as stored."""
    return QueueClient.from_connection_string(stack.azurite.connection_string, stack.queues.work.queue_name)


RECORDS = {path.stem: json.loads(path.read_text()) for path in sorted(SAMPLES.glob("*.json"))}


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_events_of_both_schemas_end_as_the_lineage_explain_predicts(stack: LocalStack, schema: str) -> None:
    record = RECORDS["foreach_adls_to_synapse"]
    stack.send_completed(record, schema=schema)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert stored(stack) == predicted(record)
    assert poison(stack) == []
    assert stack.purview.invalid == []


def test_all_samples_then_a_replay_changes_nothing(stack: LocalStack) -> None:
    for record in load_records(SAMPLES):
        stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    expected = set().union(*(predicted(r) for r in load_records(SAMPLES)))
    assert stored(stack) == expected
    before = stack.purview.entities()
    for record in load_records(SAMPLES):
        stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    assert stack.purview.entities() == before
    assert poison(stack) == []


def test_a_run_still_in_progress_is_waited_for(stack: LocalStack) -> None:
    record = RECORDS["copy_blob_to_sql"]
    stack.adf.hold_in_progress(record["pipelineRun"]["runId"], reads=2)
    stack.send_completed(record)
    stack.host.drain(timeout_s=60)
    assert stack.worker.outcomes[Outcome.WAITING] == 2
    assert stack.worker.outcomes[Outcome.PUSHED] == 1
    assert stored(stack) == predicted(record)


def test_throttling_and_5xx_bursts_are_survived_without_poison(stack: LocalStack) -> None:
    record = RECORDS["copy_blob_to_sql"]
    stack.purview.inject(status=429, retry_after=1, times=2, path_contains="/entity/bulk")
    stack.purview.inject(status=503, times=1, path_contains="/entity/bulk")
    stack.adf.inject(status=500, times=2, path_contains="queryActivityruns")
    stack.adf.inject(status=429, retry_after=1, times=1, path_contains="pipelineruns")
    stack.send_completed(record)
    stack.host.drain(timeout_s=120)
    assert poison(stack) == []
    assert stored(stack) == predicted(record)
    bulk_posts = sum(n for k, n in stack.purview.stats.items() if k.startswith("POST") and k.endswith("entity/bulk"))
    assert bulk_posts >= 4  # three refused, then the one that went through


def test_a_permanent_error_lands_in_poison_with_a_readable_reason(stack: LocalStack) -> None:
    record = RECORDS["copy_blob_to_sql"]
    stack.adf.deny(record["factory"], "queryActivityruns")
    try:
        stack.send_completed(record)
        stack.host.drain(timeout_s=60)
    finally:
        stack.adf.allow_all()
    [envelope] = poison(stack)
    assert envelope.error_class == "DataFactoryError"
    assert "pipelineruns/queryactivityruns/action" in envelope.reason
    assert envelope.run_id == record["pipelineRun"]["runId"]
    assert json.loads(envelope.message)["runId"] == envelope.run_id
    assert stack.purview.entities() == []


def test_a_malformed_event_lands_in_poison_and_the_function_returns(stack: LocalStack) -> None:
    stack.host.deliver({"id": "e-bad", "topic": "t", "subject": "s", "eventType": EVENT_TYPE,
                        "eventTime": "2026-11-25T00:00:00Z", "data": {"factoryName": "x"}, "dataVersion": "1.0"})
    [envelope] = poison(stack)
    assert envelope.error_class == "EventError"
    assert "runId" in envelope.reason
    assert stack.host.pending() == 0


def test_an_oversized_event_is_poisoned_not_queued(stack: LocalStack) -> None:
    record = RECORDS["copy_blob_to_sql"]
    data = {"runId": record["pipelineRun"]["runId"], "factoryId": record["factory"], "padding": "x" * 70_000}
    stack.host.deliver({"id": "e-big", "topic": "t", "subject": "s", "eventType": EVENT_TYPE,
                        "eventTime": "2026-11-25T00:00:00Z", "data": data, "dataVersion": "1.0"})
    [envelope] = poison(stack)
    assert "exceeds" in envelope.reason
    assert len(envelope.message) <= 8_000
    assert stack.host.pending() == 0


def test_a_body_the_host_cannot_decode_is_moved_raw_and_understood(stack: LocalStack) -> None:
    raw_queue(stack).send_message("not base64 {")
    stack.host.drain(timeout_s=30)
    [envelope] = poison(stack)
    assert envelope.error_class == "HostPoison"
    assert envelope.message == "not base64 {"
    assert stack.host.stats.moved_to_poison >= 1


def test_unknown_run_is_poisoned_with_its_reason(stack: LocalStack) -> None:
    record = json.loads(json.dumps(RECORDS["copy_blob_to_sql"]))
    record["pipelineRun"]["runId"] = "00000000-0000-0000-0000-00000000dead"
    stack.send_completed(record)
    stack.host.drain(timeout_s=30)
    [envelope] = poison(stack)
    assert envelope.error_class == "RunNotFoundError"
    assert "00000000-0000-0000-0000-00000000dead" in envelope.reason


def test_work_messages_on_the_queue_are_base64_json(stack: LocalStack) -> None:
    stack.send_completed(RECORDS["copy_failed"])
    [message] = raw_queue(stack).peek_messages()
    body = json.loads(base64.b64decode(str(message.content)))
    assert body["v"] == 1
    assert body["runId"] == RECORDS["copy_failed"]["pipelineRun"]["runId"]


def test_spec_was_checked(stack: LocalStack, shared_dir: Path) -> None:
    stack.send_completed(RECORDS["copy_blob_to_sql"])
    stack.host.drain(timeout_s=30)
    assert stack.purview.validates_against_spec
    assert any(v.startswith("POST /atlas/v2/entity/bulk") for v in stack.purview.validated)
    assert stack.purview.invalid == []
