"""The event contract and the work message, to the byte: what our emitter sends in each schema, what the work queue
holds, and the reason given for each thing refused (it ends in a poison envelope or a log line an operator reads).

Our emitter's events are also read back with the Event Grid SDK's own models, the way a subscriber would.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from lineage.extract.runrecord import FactoryId
from lineage.service.events import (
    EVENT_TYPE,
    MAX_EVENT_BYTES,
    MAX_EVENT_ID_CHARS,
    EventError,
    RunRef,
    WorkMessage,
    check_size,
    cloud_event,
    event_data,
    event_grid_event,
    factory_of,
    is_reserved,
    now_iso,
    run_ref,
)

FACTORY = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1"
RUN = "2f7fdb90-5df1-4b8e-ac2f-064cfa58202b"
REF = RunRef(FactoryId("sub-1", "rg-1", "adf-1"), RUN)
TOPIC = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.EventGrid/topics/adf-lineage"
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def recent(stamp: str) -> bool:
    """An ISO time to the second in UTC, written with Z, within a minute of now."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return bool(ISO_SECONDS.fullmatch(stamp)) and abs((datetime.now(UTC) - moment).total_seconds()) < 60


# --- what our emitter sends ---------------------------------------------------------------------------------------

def test_the_event_grid_event_is_the_documented_one() -> None:
    event = event_grid_event("e-1", REF, topic=TOPIC, status="Succeeded", pipeline="LoadDailySales")
    assert recent(event.pop("eventTime"))
    assert event == {
        "id": "e-1", "topic": TOPIC, "subject": f"factories/adf-1/pipelineruns/{RUN}", "eventType": EVENT_TYPE,
        "dataVersion": "1.0",
        "data": {"runId": RUN, "factoryId": FACTORY, "status": "Succeeded", "pipelineName": "LoadDailySales"}}


def test_the_cloud_event_is_the_documented_one() -> None:
    event = cloud_event("e-1", REF, status="Failed", pipeline="LoadDailySales")
    assert recent(event.pop("time"))
    assert event == {
        "specversion": "1.0", "id": "e-1", "source": FACTORY, "type": EVENT_TYPE, "subject": f"pipelineruns/{RUN}",
        "datacontenttype": "application/json",
        "data": {"runId": RUN, "factoryId": FACTORY, "status": "Failed", "pipelineName": "LoadDailySales"}}


def test_a_subscriber_reads_both_with_the_event_grid_sdk() -> None:
    grid = EventGridEvent.from_dict(event_grid_event("e-1", REF, topic=TOPIC))
    assert (grid.id, grid.event_type, grid.data_version, grid.topic) == ("e-1", EVENT_TYPE, "1.0", TOPIC)
    assert grid.subject == f"factories/adf-1/pipelineruns/{RUN}" and grid.data == {"runId": RUN, "factoryId": FACTORY}
    cloud = CloudEvent.from_dict(cloud_event("e-2", REF))
    assert (cloud.id, cloud.type, cloud.source, cloud.datacontenttype) == ("e-2", EVENT_TYPE, FACTORY,
                                                                          "application/json")
    assert cloud.data == {"runId": RUN, "factoryId": FACTORY}


def test_status_and_pipeline_are_sent_only_when_known() -> None:
    assert event_data(REF) == {"runId": RUN, "factoryId": FACTORY}
    assert event_data(REF, "", "") == {"runId": RUN, "factoryId": FACTORY}
    assert event_data(REF, "Cancelled") == {"runId": RUN, "factoryId": FACTORY, "status": "Cancelled"}
    assert event_data(REF, pipeline="p") == {"runId": RUN, "factoryId": FACTORY, "pipelineName": "p"}


def test_now_is_utc_to_the_second_with_z() -> None:
    assert recent(now_iso())


# --- the work message ---------------------------------------------------------------------------------------------

def test_the_work_message_is_small_sorted_json() -> None:
    text = WorkMessage(REF, "e-1", "2026-11-24T01:00:00Z", waits=2).to_json()
    assert text == ('{"eventId":"e-1","factory":"' + FACTORY + '","receivedAt":"2026-11-24T01:00:00Z","runId":"'
                    + RUN + '","v":1,"waits":2}')


def test_a_work_message_without_optional_fields_reads_with_their_defaults() -> None:
    message = WorkMessage.from_json(json.dumps({"v": 1, "factory": FACTORY, "runId": RUN, "eventId": "",
                                                "receivedAt": "2026-11-24T01:00:00Z"}))
    assert message == WorkMessage(REF, None, "2026-11-24T01:00:00Z", 0)
    fresh = WorkMessage.from_json(json.dumps({"v": 1, "factory": FACTORY, "runId": RUN, "eventId": 7}))
    assert fresh.event_id is None and recent(fresh.received_at) and fresh.waits == 0


@pytest.mark.parametrize(("body", "reason"), [
    ("{", "work message is not JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    ("[1]", "work message must be a JSON object"),
    ('"text"', "work message must be a JSON object"),
    ("{}", "unknown work message version None (this worker reads 1)"),
    ('{"v": 2}', "unknown work message version 2 (this worker reads 1)"),
    ('{"v": true}', "unknown work message version True (this worker reads 1)"),
    ('{"v": "1"}', "unknown work message version '1' (this worker reads 1)"),
    ('{"v": 1, "waits": -1}', "work message field waits must be a non-negative integer"),
    ('{"v": 1, "waits": true}', "work message field waits must be a non-negative integer"),
    ('{"v": 1, "waits": "2"}', "work message field waits must be a non-negative integer"),
    ('{"v": 1, "waits": 1.5}', "work message field waits must be a non-negative integer"),
])
def test_a_body_that_is_no_work_message_says_why(body: str, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        WorkMessage.from_json(body)
    assert str(refused.value) == reason


def test_a_message_that_has_waited_keeps_its_count() -> None:
    body = json.dumps({"v": 1, "factory": FACTORY, "runId": RUN, "waits": 0})
    assert WorkMessage.from_json(body).waits == 0
    assert WorkMessage.from_json(body.replace('"waits": 0', '"waits": 11')).waits == 11


@pytest.mark.parametrize(("event_id", "reason"), [
    ("", "the event id must be a non-empty string"),
    (5, "the event id must be a non-empty string"),
    ("e" * (MAX_EVENT_ID_CHARS + 1), f"the event id of {MAX_EVENT_ID_CHARS + 1} characters is longer than 256"),
    ("e-\u202e1", "the event id contains a bidirectional mark (U+202E)"),
    ("e-\n1", "the event id contains a control character (U+000A)"),
])
def test_an_event_id_unfit_for_a_log_line_is_refused(event_id: Any, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        WorkMessage(REF, event_id, "2026-11-24T01:00:00Z")
    assert str(refused.value) == reason


def test_an_event_id_of_the_longest_length_is_kept() -> None:
    longest = "e" * MAX_EVENT_ID_CHARS
    assert WorkMessage.from_json(WorkMessage(REF, longest, "t").to_json()).event_id == longest


# --- the run an event names ---------------------------------------------------------------------------------------

def test_the_run_may_come_as_an_object_as_json_text_or_as_json_bytes() -> None:
    data = {"runId": RUN, "factoryId": FACTORY}
    assert run_ref(data) == run_ref(json.dumps(data)) == run_ref(json.dumps(data).encode()) == REF
    assert factory_of(data) == factory_of(json.dumps(data)) == factory_of(json.dumps(data).encode()) == REF.factory


def test_the_factory_may_be_named_by_its_parts() -> None:
    parts = {"subscriptionId": "sub-1", "resourceGroup": "rg-1", "factoryName": "adf-1"}
    assert run_ref({"runId": RUN, **parts}) == REF
    assert factory_of(parts) == REF.factory
    assert factory_of({"factoryId": FACTORY, "factoryName": "other"}) == REF.factory  # the id wins


@pytest.mark.parametrize("run_id", ["a", "A-1", "0" * 64, RUN.upper()])
def test_run_ids_of_letters_digits_and_dashes_up_to_64_are_read(run_id: str) -> None:
    assert run_ref({"runId": run_id, "factoryId": FACTORY}).run_id == run_id


@pytest.mark.parametrize(("data", "reason"), [
    ("{", "event data is not JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    (b"[", "event data is not JSON: Expecting value at line 1, column 2"),
    ([RUN], "event data must be an object with runId and the factory"),
    (None, "event data must be an object with runId and the factory"),
    ({"factoryId": FACTORY}, "event data.runId must be a pipeline run id (letters, digits and dashes)"),
    ({"runId": 5, "factoryId": FACTORY}, "event data.runId must be a pipeline run id (letters, digits and dashes)"),
    ({"runId": "0" * 65, "factoryId": FACTORY},
     "event data.runId must be a pipeline run id (letters, digits and dashes)"),
    ({"runId": "a_b", "factoryId": FACTORY},
     "event data.runId must be a pipeline run id (letters, digits and dashes)"),
    ({"runId": f"{RUN}\n", "factoryId": FACTORY},
     "event data.runId must be a pipeline run id (letters, digits and dashes)"),
    ({"runId": RUN}, "event data needs factoryId, or subscriptionId + resourceGroup + factoryName"),
    ({"runId": RUN, "subscriptionId": "s", "resourceGroup": "r", "factoryName": ""},
     "event data needs factoryId, or subscriptionId + resourceGroup + factoryName"),
    ({"runId": RUN, "subscriptionId": "s", "resourceGroup": 3, "factoryName": "f"},
     "event data needs factoryId, or subscriptionId + resourceGroup + factoryName"),
])
def test_event_data_that_names_no_run_says_why(data: Any, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        run_ref(data)
    assert str(refused.value) == reason


@pytest.mark.parametrize(("data", "reason"), [
    ("{", "event data is not JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    (7, "event data must be an object with runId and the factory"),
    ({}, "event data needs factoryId, or subscriptionId + resourceGroup + factoryName"),
])
def test_event_data_that_names_no_factory_says_why(data: Any, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        factory_of(data)
    assert str(refused.value) == reason


def test_a_malformed_factory_id_is_refused_with_the_reason_the_record_gives() -> None:
    with pytest.raises(EventError) as by_run:
        run_ref({"runId": RUN, "factoryId": "/subscriptions/x"})
    with pytest.raises(EventError) as by_factory:
        factory_of({"factoryId": "/subscriptions/x"})
    assert str(by_run.value) == str(by_factory.value)
    assert str(by_run.value).startswith("event data names no valid factory: ")
    assert len(str(by_run.value)) > len("event data names no valid factory: ")


# --- ids of our own producers; sizes -------------------------------------------------------------------------------

@pytest.mark.parametrize(("event_id", "reserved"), [
    ("replay", True), ("backfill", True), ("reconcile", True), ("push", True), (" Replay ", True),
    ("BACKFILL", True), ("replayed", False), ("e-1", False), ("", False), (None, False), (5, False)])
def test_ids_of_our_own_producers_are_known_in_any_case_or_spacing(event_id: Any, reserved: bool) -> None:
    assert is_reserved(event_id) is reserved


def test_the_size_limit_counts_bytes_of_text_and_bytes_alike() -> None:
    check_size("x" * MAX_EVENT_BYTES)
    check_size(b"x" * MAX_EVENT_BYTES)
    with pytest.raises(EventError) as refused:
        check_size(b"x" * (MAX_EVENT_BYTES + 1))
    assert str(refused.value) == f"event of {MAX_EVENT_BYTES + 1} bytes exceeds the {MAX_EVENT_BYTES}-byte limit"
    with pytest.raises(EventError) as refused:
        check_size("é" * (MAX_EVENT_BYTES // 2 + 1))  # two bytes each in UTF-8
    assert str(refused.value) == f"event of {MAX_EVENT_BYTES + 2} bytes exceeds the {MAX_EVENT_BYTES}-byte limit"
