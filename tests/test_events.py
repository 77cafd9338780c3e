"""The run-completed event contract and the work message it becomes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lineage.extract.runrecord import FactoryId
from lineage.service.events import (
    MAX_EVENT_BYTES,
    EventError,
    RunRef,
    WorkMessage,
    check_size,
    cloud_event,
    event_grid_event,
    run_ref,
)

FACTORY = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1"
RUN = "2f7fdb90-5df1-4b8e-ac2f-064cfa58202b"


def test_factory_by_resource_id_or_by_parts_names_the_same_run() -> None:
    by_id = run_ref({"runId": RUN, "factoryId": FACTORY})
    by_parts = run_ref({"runId": RUN, "subscriptionId": "sub-1", "resourceGroup": "rg-1", "factoryName": "adf-1"})
    assert by_id == by_parts == RunRef(FactoryId("sub-1", "rg-1", "adf-1"), RUN)


def test_data_may_arrive_as_a_json_string() -> None:
    assert run_ref(json.dumps({"runId": RUN, "factoryId": FACTORY})).run_id == RUN


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "must be an object"),
        ("not json", "not JSON"),
        ({"factoryId": FACTORY}, "runId"),
        ({"runId": "../etc", "factoryId": FACTORY}, "runId"),
        ({"runId": RUN}, "factoryId, or subscriptionId"),
        ({"runId": RUN, "factoryId": "/subscriptions/x"}, "no valid factory"),
        ({"runId": RUN, "subscriptionId": "s", "resourceGroup": "r"}, "factoryName"),
    ],
)
def test_malformed_event_data_is_rejected_with_its_reason(data: Any, message: str) -> None:
    with pytest.raises(EventError, match=message):
        run_ref(data)


def test_oversized_events_are_rejected_before_parsing() -> None:
    check_size("x" * MAX_EVENT_BYTES)
    with pytest.raises(EventError, match="exceeds"):
        check_size("x" * (MAX_EVENT_BYTES + 1))


def test_work_message_round_trips_and_is_small() -> None:
    message = WorkMessage(run_ref({"runId": RUN, "factoryId": FACTORY}), "evt-1", "2026-11-24T01:00:00Z", waits=2)
    text = message.to_json()
    assert len(text) < 400
    assert WorkMessage.from_json(text) == message
    assert json.loads(text)["v"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [("{", "not JSON"), ("[]", "JSON object"), ('{"v": 9}', "unknown work message version"),
     ('{"v": 1, "factory": "x", "runId": "r"}', "factory"),
     (json.dumps({"v": 1, "factory": FACTORY, "runId": RUN, "waits": -1}), "waits")],
)
def test_bad_work_messages_are_rejected(body: str, message: str) -> None:
    with pytest.raises(EventError, match=message):
        WorkMessage.from_json(body)


def test_both_envelopes_carry_the_same_data() -> None:
    ref = run_ref({"runId": RUN, "factoryId": FACTORY})
    grid = event_grid_event("e-1", ref, topic="/subscriptions/s/topics/t", status="Succeeded", pipeline="p")
    cloud = cloud_event("e-1", ref, status="Succeeded", pipeline="p")
    assert grid["data"] == cloud["data"] == {
        "runId": RUN, "factoryId": FACTORY, "status": "Succeeded", "pipelineName": "p"}
    assert cloud["specversion"] == "1.0" and "specversion" not in grid
