"""The Function App's bindings as the Functions host will read them, and host.json's queue settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lineage.azure.queues import DEFAULT_QUEUE, POISON_SUFFIX, check_queue_name
from lineage.service.worker import WorkerSettings
from tests.conftest import ROOT

HOST = json.loads((ROOT / "host.json").read_text())


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}  # may run once per process


def bindings(function: Any) -> list[dict[str, Any]]:
    """The binding JSON the worker hands the host (what function.json used to hold)."""
    return [json.loads(raw) for raw in function.get_raw_bindings()]


def test_function_names_and_triggers(functions: dict[str, Any]) -> None:
    assert set(functions) == {"on_run_completed", "push_lineage", "reconcile_runs", "prune_lineage"}
    kinds = {name: sorted(b["type"] for b in bindings(f)) for name, f in functions.items()}
    assert kinds == {"on_run_completed": ["eventGridTrigger", "queue"], "push_lineage": ["queueTrigger"],
                     "reconcile_runs": ["timerTrigger"], "prune_lineage": ["timerTrigger"]}


def test_reconcile_schedule_comes_from_a_setting(functions: dict[str, Any]) -> None:
    [timer] = bindings(functions["reconcile_runs"])
    assert timer["schedule"] == "%LINEAGE_RECONCILE_SCHEDULE%"
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert len(example["LINEAGE_RECONCILE_SCHEDULE"].split()) == 6  # NCRONTAB: seconds first


def test_prune_schedule_comes_from_a_setting_and_the_example_leaves_it_off(functions: dict[str, Any]) -> None:
    [timer] = bindings(functions["prune_lineage"])
    assert timer["schedule"] == "%LINEAGE_PRUNE_SCHEDULE%"
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert len(example["LINEAGE_PRUNE_SCHEDULE"].split()) == 6
    assert example["LINEAGE_PRUNE"] == "off"


def test_queue_bindings_use_the_setting_and_no_binding_writes_poison(functions: dict[str, Any]) -> None:
    """A binding's message expires after the queue service's default 7 days: envelopes are sent by the code, with
    none (tests/test_nothing_lost.py)."""
    outputs = {b["name"]: b for b in bindings(functions["on_run_completed"]) if b["type"] == "queue"}
    assert set(outputs) == {"work"}
    assert outputs["work"]["queueName"] == "%LINEAGE_QUEUE_NAME%"
    [trigger] = bindings(functions["push_lineage"])
    assert trigger["queueName"] == "%LINEAGE_QUEUE_NAME%"
    assert {b["connection"] for b in [*outputs.values(), trigger]} == {"AzureWebJobsStorage"}


def test_queue_names_are_valid_and_leave_room_for_poison() -> None:
    check_queue_name(DEFAULT_QUEUE)
    assert len(DEFAULT_QUEUE + POISON_SUFFIX) <= 63
    for bad in ["ab", "Upper", "a--b", "-a", "a" * 57]:
        with pytest.raises(ValueError, match="queue name"):
            check_queue_name(bad)


def test_host_json_queue_settings_are_deliberate_and_match_the_worker() -> None:
    queues = HOST["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"  # every producer uses TextBase64EncodePolicy (lineage.azure.queues)
    assert queues["visibilityTimeout"] != "00:00:00"
    assert queues["maxDequeueCount"] == WorkerSettings().max_dequeue_count
    assert HOST["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"


def test_producers_encode_as_host_json_says() -> None:
    from azure.storage.queue import TextBase64EncodePolicy

    from lineage.azure.queues import Queues

    queues = Queues.connect(DEFAULT_QUEUE, connection_string="DefaultEndpointsProtocol=http;AccountName=x;"
                            "AccountKey=eA==;QueueEndpoint=http://127.0.0.1:1/x;")
    assert isinstance(queues.work._message_encode_policy, TextBase64EncodePolicy)
    assert isinstance(queues.poison._message_encode_policy, TextBase64EncodePolicy)
