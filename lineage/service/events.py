"""The run-completed event contract, and the small work message it becomes.

Data Factory publishes no Event Grid events of its own (field notes §1): a Web activity (or our wrapper pipeline)
posts this event to a custom topic. Its ``data`` names the run: ``runId`` plus the factory, either as its resource id
(``factoryId``) or as ``subscriptionId`` + ``resourceGroup`` + ``factoryName``. Both Event Grid and CloudEvents 1.0
envelopes carry the same ``data``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.runrecord import FactoryId, RunRecordError
from lineage.extract.stores.naming import unsafe_character

EVENT_TYPE = "Lineage.DataFactory.PipelineRunCompleted"
MESSAGE_VERSION = 1
# eventId of the messages reconcile_runs queues: runs an event may already have brought (see Worker.handle).
RECONCILED = "reconcile"
REPLAYED = "replay"  # eventId of a message put back by `poison replay`
BACKFILLED = "backfill"  # eventId of the messages `backfill` queues
PUSHED = "push"  # eventId of the message `push` processes at once (never queued)
# The ids our own producers give their messages. The worker lets a replayed or backfilled message through its memory
# of poisoned runs, so an event from outside must never carry one (lineage.service.wiring refuses it).
RESERVED_EVENT_IDS = frozenset({RECONCILED, REPLAYED, BACKFILLED, PUSHED})
MAX_EVENT_BYTES = 64 * 1024  # Event Grid's own limit per event is 1 MB; ours are a few hundred bytes
_RUN_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
MAX_EVENT_ID_CHARS = 256  # ours are UUIDs; an id is only kept for tracing


class EventError(ValueError):
    """An event that can never be processed (malformed, missing fields, oversized); the message says why."""


@dataclass(frozen=True, slots=True)
class RunRef:
    """Which pipeline run to read back."""

    factory: FactoryId
    run_id: str


@dataclass(frozen=True, slots=True)
class WorkMessage:
    """The work-queue message: small, versioned, and enough to read the run back from Data Factory."""

    run: RunRef
    event_id: str | None
    received_at: str
    waits: int = 0  # times it was put back because the run had not ended

    def __post_init__(self) -> None:
        if self.event_id is not None:
            if not isinstance(self.event_id, str) or not self.event_id:
                raise EventError("the event id must be a non-empty string")
            if len(self.event_id) > MAX_EVENT_ID_CHARS:
                raise EventError(f"the event id of {len(self.event_id)} characters is longer than "
                                 f"{MAX_EVENT_ID_CHARS}")
            if unsafe_character(self.event_id):
                raise EventError(f"the event id contains {unsafe_character(self.event_id)}")

    def to_json(self) -> str:
        return json.dumps({
            "v": MESSAGE_VERSION,
            "factory": self.run.factory.resource_id,
            "runId": self.run.run_id,
            "eventId": self.event_id,
            "receivedAt": self.received_at,
            "waits": self.waits,
        }, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkMessage:
        """Decode a queue body; EventError when it is not a work message of a version we know."""
        try:
            doc = loads(text)
        except JSONTextError as exc:
            raise EventError(f"work message {exc}") from None
        if not isinstance(doc, Mapping):
            raise EventError("work message must be a JSON object")
        if doc.get("v") != MESSAGE_VERSION or isinstance(doc.get("v"), bool):
            raise EventError(f"unknown work message version {doc.get('v')!r} (this worker reads {MESSAGE_VERSION})")
        waits = doc.get("waits", 0)
        if not isinstance(waits, int) or isinstance(waits, bool) or waits < 0:
            raise EventError("work message field waits must be a non-negative integer")
        return cls(
            run=run_ref({"factoryId": doc.get("factory"), "runId": doc.get("runId")}),
            event_id=_optional_str(doc.get("eventId")),
            received_at=str(doc.get("receivedAt") or now_iso()),
            waits=waits,
        )


def run_ref(data: Any) -> RunRef:
    """The run an event's ``data`` names; EventError naming the first missing or malformed field."""
    if isinstance(data, str | bytes):
        try:
            data = loads(data)
        except JSONTextError as exc:
            raise EventError(f"event data {exc}") from None
    if not isinstance(data, Mapping):
        raise EventError("event data must be an object with runId and the factory")
    run_id = data.get("runId")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise EventError("event data.runId must be a pipeline run id (letters, digits and dashes)")
    try:
        factory = _factory(data)
    except RunRecordError as exc:
        raise EventError(f"event data names no valid factory: {exc}") from exc
    return RunRef(factory=factory, run_id=run_id)


def factory_of(data: Any) -> FactoryId:
    """The factory an event's ``data`` names, without judging the rest of it; EventError when it names none."""
    if isinstance(data, str | bytes):
        try:
            data = loads(data)
        except JSONTextError as exc:
            raise EventError(f"event data {exc}") from None
    if not isinstance(data, Mapping):
        raise EventError("event data must be an object with runId and the factory")
    try:
        return _factory(data)
    except RunRecordError as exc:
        raise EventError(f"event data names no valid factory: {exc}") from exc


def _factory(data: Mapping[str, Any]) -> FactoryId:
    resource_id = data.get("factoryId")
    if resource_id is not None:
        return FactoryId.parse(resource_id)
    parts = [data.get(k) for k in ("subscriptionId", "resourceGroup", "factoryName")]
    if not all(isinstance(p, str) and p for p in parts):
        raise EventError("event data needs factoryId, or subscriptionId + resourceGroup + factoryName")
    return FactoryId.parse(
        f"/subscriptions/{parts[0]}/resourceGroups/{parts[1]}/providers/Microsoft.DataFactory/factories/{parts[2]}"
    )


def is_reserved(event_id: object) -> bool:
    """Whether an id is one our own producers use (in any case or spacing: none of them comes from an event)."""
    return isinstance(event_id, str) and event_id.strip().casefold() in RESERVED_EVENT_IDS


def check_size(payload: bytes | str) -> None:
    """Reject oversized events before parsing them."""
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event of {size} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def event_data(run: RunRef, status: str | None = None, pipeline: str | None = None) -> dict[str, Any]:
    """The ``data`` our Data Factory emitter sends."""
    data: dict[str, Any] = {"runId": run.run_id, "factoryId": run.factory.resource_id}
    if status:
        data["status"] = status
    if pipeline:
        data["pipelineName"] = pipeline
    return data


def event_grid_event(event_id: str, run: RunRef, *, topic: str, status: str | None = None,
                     pipeline: str | None = None) -> dict[str, Any]:
    """A run-completed event in the Event Grid schema, as Event Grid delivers it (with ``topic`` filled in)."""
    return {
        "id": event_id,
        "topic": topic,
        "subject": f"factories/{run.factory.factory_name}/pipelineruns/{run.run_id}",
        "eventType": EVENT_TYPE,
        "eventTime": now_iso(),
        "data": event_data(run, status, pipeline),
        "dataVersion": "1.0",
    }


def cloud_event(event_id: str, run: RunRef, *, status: str | None = None,
                pipeline: str | None = None) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": run.factory.resource_id,
        "type": EVENT_TYPE,
        "time": now_iso(),
        "subject": f"pipelineruns/{run.run_id}",
        "datacontenttype": "application/json",
        "data": event_data(run, status, pipeline),
    }
