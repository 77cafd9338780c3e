"""Poison bodies: our envelopes, and raw bodies the Functions host moved on its own."""

from __future__ import annotations

import base64

from lineage.service.events import WorkMessage, run_ref
from lineage.service.poison import PoisonEnvelope, read_poison

FACTORY = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1"
WORK = WorkMessage(run_ref({"runId": "run-1", "factoryId": FACTORY}), None, "2026-11-24T01:00:00Z").to_json()


def test_envelope_round_trips_plain_and_base64() -> None:
    envelope = PoisonEnvelope(message=WORK, error_class="PurviewError", reason="HTTP 400 ATLAS-400-00-014",
                              attempts=5, first_seen="2026-11-24T01:00:00Z", last_failure="2026-11-24T01:05:00Z",
                              run_id="run-1", factory=FACTORY)
    text = envelope.to_json()
    assert read_poison(text) == envelope
    assert read_poison(base64.b64encode(text.encode()).decode()) == envelope


def test_raw_work_message_moved_by_the_host_is_understood() -> None:
    stored = base64.b64encode(WORK.encode()).decode()
    envelope = read_poison(stored)
    assert envelope.error_class == "HostPoison"
    assert envelope.run_id == "run-1" and envelope.factory == FACTORY
    assert envelope.message == WORK
    assert "last attempt failed" in envelope.reason


def test_undecodable_raw_body_keeps_its_text_and_says_why() -> None:
    envelope = read_poison("this is not base64!")
    assert envelope.message == "this is not base64!"
    assert envelope.run_id is None
    assert "neither JSON nor base64" in envelope.reason


def test_base64_of_something_that_is_no_work_message() -> None:
    envelope = read_poison(base64.b64encode(b'{"hello": 1}').decode())
    assert envelope.run_id is None
    assert "not a work message" in envelope.reason
