"""Hostile and broken inputs (``tests/hostile.py``) through the real service: each ends in exactly one place.

Events go through ``service.accept_event`` (and, in one batch, through the Functions converter into
``on_run_completed``). Queue bodies and run records go through the real path in one batch: Azurite, the local Data
Factory and Purview servers, the local host draining the work queue with the Functions host's semantics. Every
reason must be readable; every entity the local Purview receives must be well formed.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from lineage.azure.queues import Queues
from lineage.cli.main import main
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings, LocalHost
from lineage.local.stack import TOPIC, LocalStack, local_stack
from lineage.service import wiring
from lineage.service.events import RunRef, WorkMessage, cloud_event, event_grid_event
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.worker import Outcome, Processed
from tests.hostile import Case, corpus

pytestmark = pytest.mark.integration
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=32)
CASES = corpus()
EVENTS = [c for c in CASES if c.kind == "event"]
THROUGH_THE_QUEUE = [c for c in CASES if c.kind in ("queue", "run")]
RECORDS = [c for c in CASES if c.kind == "record"]
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LONG_ATTRIBUTES = ("lastRunTime", "rowCount", "dataSize")


def params(cases: list[Case]) -> list[Any]:
    """Cases as pytest parameters; one that lands wrongly because of a known defect is expected to fail."""
    return [pytest.param(c, id=c.name[:120], marks=[pytest.mark.xfail(strict=True, reason=c.defect)] if c.defect
                         else []) for c in cases]


def assert_readable(reason: str) -> None:
    """A reason a person can read: present, short, no Python internals, no invisible or reordering characters."""
    assert reason.strip(), "empty reason"
    assert len(reason) <= 500, f"reason of {len(reason)} characters: {reason[:200]!r}..."
    for internal in ("object at 0x", "Traceback (most recent call last)", 'File "'):
        assert internal not in reason, reason
    assert not any(unicodedata.category(c) in ("Cc", "Cs") or c in BIDI for c in reason), repr(reason)


# ------------------------------------------------------------------------------------------------------ events


@pytest.mark.parametrize("case", params(EVENTS))
def test_event_lands_where_expected(case: Case) -> None:
    event_type = case.input.get("eventType", case.input.get("type"))  # what the function reads from either schema
    accepted = wiring.accept_event(case.input.get("id"), case.input.get("data"),
                                   event_type=event_type if isinstance(event_type, str) else None)
    places = ["queued"] * (accepted.work is not None) + ["poison"] * (accepted.poison is not None)
    assert places == ([] if case.expect == "refused" else [case.expect])
    if accepted.poison is not None:
        envelope = read_poison(accepted.poison)
        assert envelope.error_class == "EventError"
        assert_readable(envelope.reason)
        assert case.reason.lower() in envelope.reason.lower()
        assert len(envelope.message) <= 8_000
    if accepted.work is not None:
        message = WorkMessage.from_json(accepted.work)
        assert message.run.run_id and len(accepted.work) < 2_048  # small, whatever the event carried
        assert WorkMessage.from_json(message.to_json()) == message


def test_events_delivered_through_the_function_land_once_each(azurite: Azurite,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The same envelopes through azure.functions' converter into on_run_completed, onto real queues (the app's
    settings name them, as in the Function App)."""
    import function_app

    name = f"hostile-events-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", name)
    queues = Queues.connect(name, connection_string=azurite.connection_string)
    queues.create()
    host = LocalHost(queues, azurite.connection_string, settings=FAST_HOST,
                     on_run_completed=function_app.on_run_completed.build().get_user_function(),
                     push_lineage=function_app.push_lineage.build().get_user_function())
    try:
        for case in EVENTS:
            host.deliver(case.input)
        work = [WorkMessage.from_json(m.content.decode()) for m in _all(queues.work)]
        poisoned = _all(queues.poison)
        poison = [read_poison(str(m.content)) for m in poisoned]
        assert {m.expires_on.year for m in poisoned} <= {9999}  # sent with no expiry, not as a binding would
    finally:
        for client in (queues.work, queues.poison):
            client.delete_queue()
    expected = Counter(c.expect for c in EVENTS)
    assert (len(work), len(poison)) == (expected["queued"], expected["poison"])
    queued_ids = {c.input.get("id") for c in EVENTS if c.expect == "queued"}
    assert {m.event_id for m in work} == queued_ids
    for envelope in poison:
        assert envelope.error_class == "EventError"
        assert_readable(envelope.reason)


def _all(client: QueueClient) -> list[Any]:
    """Every message of a queue, received (hidden) so each is seen once."""
    messages: list[Any] = []
    while batch := list(client.receive_messages(max_messages=32, messages_per_page=32, visibility_timeout=300)):
        messages.extend(batch)
    return messages


# ------------------------------------------------------------------------------------------- queue and run cases


@dataclass
class Landed:
    """Where one case ended: every place it was seen, with the reasons given."""

    places: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    crashed: bool = False


@dataclass
class RealPath:
    landed: dict[str, Landed]
    payloads: list[Any]
    processed: list[Processed]
    envelopes: list[PoisonEnvelope]
    messages: int
    stored: list[dict[str, Any]]  # what the local Purview holds afterwards


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def stack(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    empty = tmp_path_factory.mktemp("no-samples")
    with local_stack(empty, host_settings=FAST_HOST, azurite=azurite, queue_name=f"hostile-{uuid.uuid4().hex[:12]}",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(scope="module")
def real_path(stack: LocalStack) -> Iterator[RealPath]:
    """Every queue and run case at once: served, queued, drained; then where each one landed."""
    payloads: list[Any] = []
    processed: list[Processed] = []
    original_route = stack.purview.route

    def recording(request: Any) -> Any:
        if request.method == "POST" and request.path.endswith("/entity/bulk"):
            payloads.append(copy.deepcopy(request.body))
        return original_route(request)

    stack.purview.route = recording  # type: ignore[method-assign]
    stack.worker.listeners.append(processed.append)
    records = _Records()
    logging.getLogger().addHandler(records)
    raw_work = QueueClient.from_connection_string(stack.azurite.connection_string, stack.queues.work.queue_name)
    try:
        for index, case in enumerate(THROUGH_THE_QUEUE):
            if case.serves is not None:
                stack.adf.put_run(case.serves)
            if case.kind == "queue":
                raw_work.send_message(case.input)  # exactly as stored: the host decodes it
            else:
                ref = RunRef(FactoryId.parse(case.serves["factory"]), str(case.run_id))  # type: ignore[index]
                event_id = f"hostile-{index}"
                stack.host.deliver(cloud_event(event_id, ref) if index % 2 else
                                   event_grid_event(event_id, ref, topic=TOPIC))
        messages = stack.host.pending()
        stack.host.drain(timeout_s=45, idle_sleep_s=0.05)
        envelopes = [read_poison(str(m.content)) for m in _all(stack.queues.poison)]
        crashed = {r.args[0] for r in records.records if r.name == "lineage.service.worker"
                   and "unexpected failure" in r.msg and isinstance(r.args, tuple)}
        yield RealPath(_landed(processed, envelopes, crashed), payloads, processed, envelopes, messages,
                       stack.purview.entities())
    finally:
        logging.getLogger().removeHandler(records)
        stack.worker.listeners.remove(processed.append)
        stack.purview.route = original_route  # type: ignore[method-assign]


def _landed(processed: list[Processed], envelopes: list[PoisonEnvelope], crashed: set[Any]) -> dict[str, Landed]:
    by_run: dict[str | None, list[Processed]] = {}
    for item in processed:
        by_run.setdefault(item.run_id, []).append(item)
    landed: dict[str, Landed] = {}
    for case in THROUGH_THE_QUEUE:
        result = Landed()
        if case.run_id is not None:
            for item in by_run.get(case.run_id, []):
                place = {Outcome.PUSHED: "pushed", Outcome.SKIPPED: "skipped", Outcome.POISONED: "poison",
                         Outcome.WAITING: "waiting"}[item.outcome]
                result.places.append(place)
                result.reasons.append(item.detail)
                rows = (item.document or {}).get("activities", []) if place == "pushed" else []
                result.reasons.extend(str(row["reason"]) for row in rows if row.get("reason"))
            result.crashed = case.run_id in crashed
            poisoned = [e for e in envelopes if e.run_id == case.run_id]
            if len(poisoned) != result.places.count("poison"):
                result.places.append(f"{len(poisoned)} poison envelope(s)")
            result.reasons.extend(e.reason for e in poisoned)
        else:
            bodies = _stored_and_decoded(str(case.input))
            for envelope in envelopes:
                if envelope.message in bodies:
                    result.places.append("poison")
                    result.reasons.append(envelope.reason)
        landed[case.name] = result
    return landed


def _stored_and_decoded(raw: str) -> set[str]:
    """A queue body as the host moves it (as stored) and as the function reads it (base64-decoded, UTF-8)."""
    try:
        return {raw, base64.b64decode(raw, validate=True).decode("utf-8", "replace")}
    except ValueError:
        return {raw}


@pytest.mark.parametrize("case", params(THROUGH_THE_QUEUE))
def test_queue_or_run_lands_where_expected(case: Case, real_path: RealPath) -> None:
    landed = real_path.landed[case.name]
    assert landed.places == [case.expect], landed.reasons
    assert not landed.crashed, "the worker failed unexpectedly on it"
    for reason in landed.reasons:
        assert_readable(reason)
    if case.reason:
        assert any(case.reason.lower() in r.lower() for r in landed.reasons), landed.reasons
    if case.serves is not None and case.expect in ("pushed", "skipped"):
        factory = str(case.serves["factory"])
        operations = [e for e in real_path.stored if e["typeName"].endswith("_operation")
                      and e["attributes"]["qualifiedName"].startswith(factory + "/")]
        assert bool(operations) == (case.expect == "pushed")


def test_every_entity_purview_received_is_well_formed(real_path: RealPath, stack: LocalStack) -> None:
    stored = real_path.stored
    stored_keys = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in stored}
    stored_guids = {e["guid"] for e in stored}
    entities = 0
    problems: list[str] = []
    for body in real_path.payloads:
        problems.extend(payload_problems(body, stored_keys, stored_guids, stack))
        entities += len(body["entities"])
    assert problems == []
    assert stack.purview.invalid == []  # every request matched Purview's OpenAPI spec (when the spec is present)
    pushed = sum(1 for c in THROUGH_THE_QUEUE if c.expect == "pushed" and not c.defect)
    assert len(real_path.payloads) >= pushed and entities >= 5 * pushed
    for entity in stored:
        assert not qualified_name_problem(entity["attributes"]["qualifiedName"]), entity["attributes"]


def payload_problems(body: Mapping[str, Any], stored_keys: set[tuple[str, str]], stored_guids: set[str],
                     stack: LocalStack) -> list[str]:
    """What is wrong with one bulk payload: types, names, references, long values, attribute sizes."""
    entities = body["entities"]
    placeholders = {str(e.get("guid")) for e in entities if str(e.get("guid", "")).startswith("-")}
    own_keys = {(e.get("typeName"), (e.get("attributes") or {}).get("qualifiedName")) for e in entities}
    problems: list[str] = []
    for entity in entities:
        type_name, attributes = entity.get("typeName"), entity.get("attributes") or {}
        where = f"{type_name} {str(attributes.get('qualifiedName'))[:100]!r}"
        if not isinstance(type_name, str) or not stack.purview.types.known(type_name):
            problems.append(f"{where}: unknown type")
        problem = qualified_name_problem(attributes.get("qualifiedName"))
        if problem:
            problems.append(f"{where}: qualifiedName {problem}")
        if not isinstance(attributes.get("name"), str) or not attributes["name"].strip():
            problems.append(f"{where}: no name")
        for attribute in LONG_ATTRIBUTES:
            value = attributes.get(attribute)
            if value is not None and (type(value) is not int or not -(2**63) <= value < 2**63):
                problems.append(f"{where}: {attribute} {value!r} is not a long")
        for attribute, value in attributes.items():
            if len(json.dumps(value)) > 32 * 1024:
                problems.append(f"{where}: {attribute} exceeds 32 KB")
        for section in ("attributes", "relationshipAttributes"):
            for attribute, value in (entity.get(section) or {}).items():
                for ref in value if isinstance(value, list) else [value]:
                    if not isinstance(ref, Mapping) or "typeName" not in ref:
                        continue
                    guid = ref.get("guid")
                    known = (str(guid) in placeholders if str(guid).startswith("-") else guid in stored_guids) \
                        if guid is not None else \
                        (ref["typeName"], (ref.get("uniqueAttributes") or {}).get("qualifiedName")) in (
                            stored_keys | own_keys)
                    if not known:
                        problems.append(f"{where}: {attribute} references {ref} that exists nowhere")
    return problems


def qualified_name_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "is not a non-empty string"
    bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cs") or c in BIDI]
    return f"holds {bad[0]!r}" if bad else None


def test_nothing_waited_looped_or_crashed(real_path: RealPath, stack: LocalStack) -> None:
    assert real_path.messages == len(THROUGH_THE_QUEUE)
    assert stack.host.pending() == 0
    outcomes = Counter(p.outcome for p in real_path.processed)
    assert outcomes[Outcome.WAITING] == 0
    # Each message ran once, except those of known defects (retried, then poisoned by the last attempt).
    defects = sum(1 for c in THROUGH_THE_QUEUE if c.defect)
    assert stack.host.stats.invocations <= real_path.messages + defects * (FAST_HOST.max_dequeue_count - 1)
    assert stack.host.stats.failures <= defects * (FAST_HOST.max_dequeue_count - 1)
    assert len(real_path.envelopes) == sum(1 for c in THROUGH_THE_QUEUE if c.expect == "poison") + defects
    undecodable = sum(1 for c in THROUGH_THE_QUEUE if c.kind == "queue" and len(_stored_and_decoded(c.input)) == 1)
    assert stack.host.stats.moved_to_poison == undecodable  # only the bodies it cannot decode
    for envelope in real_path.envelopes:
        assert_readable(envelope.reason)


# ------------------------------------------------------------------------------------------------ whole records


@pytest.mark.parametrize("case", params(RECORDS))
def test_record_is_rejected_by_explain_with_its_reason(case: Case, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(case.input))
    assert main(["explain", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    reason = captured.err.strip().removeprefix("error: ")
    assert_readable(reason)
    assert case.reason.lower() in reason.lower()


def test_the_corpus_covers_every_kind_and_place() -> None:
    kinds = Counter(c.kind for c in CASES)
    landings = Counter(c.expect for c in CASES)
    assert len(CASES) >= 200
    assert all(kinds[k] >= 10 for k in ("event", "queue", "run", "record")), kinds
    assert all(landings[p] >= 10 for p in ("queued", "poison", "skipped", "pushed", "rejected")), landings
    assert all(c.reason for c in CASES if c.expect in ("poison", "skipped", "rejected"))
