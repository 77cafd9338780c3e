"""Running the Function App's real handlers the way the Functions host does, without the host.

The Functions host cannot be installed here (Core Tools downloads its binary at install time), so this module plays
its part for the two triggers: Event Grid payloads go through ``azure.functions``' own converter and the handler's
output bindings land on the queue base64-encoded; the work queue is polled with the host's semantics — dequeue
count, a visibility timeout before a retry, ``maxDequeueCount`` and the bare-body move to ``<queue>-poison``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from lineage.queues import POISON_SUFFIX, Queues

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 300  # how long a message stays invisible while its function runs


@dataclass(frozen=True, slots=True)
class HostSettings:
    """The queue extension settings of host.json that shape retries."""

    max_dequeue_count: int = 5
    visibility_timeout_s: int = 30
    batch_size: int = 16

    @classmethod
    def from_host_json(cls, path: Path = ROOT / "host.json") -> HostSettings:
        queues = json.loads(path.read_text())["extensions"]["queues"]
        return cls(
            max_dequeue_count=int(queues["maxDequeueCount"]),
            visibility_timeout_s=_seconds(queues["visibilityTimeout"]),
            batch_size=int(queues["batchSize"]),
        )


class _Out:
    """A ``func.Out`` that keeps what the handler set."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@dataclass
class HostStats:
    invocations: int = 0
    failures: int = 0
    moved_to_poison: int = 0
    completed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class LocalHost:
    """Delivers events to ``on_run_completed`` and drives ``push_lineage`` from the work queue."""

    def __init__(self, queues: Queues, connection_string: str, *, settings: HostSettings | None = None,
                 on_run_completed: Callable[..., None], push_lineage: Callable[[func.QueueMessage], None]) -> None:
        self.queues = queues
        self.settings = settings or HostSettings.from_host_json()
        self._on_run_completed = on_run_completed
        self._push_lineage = push_lineage
        service = QueueServiceClient.from_connection_string(connection_string)
        # Raw clients: the host reads bodies as stored and decodes them itself, so an undecodable body is seen.
        self._raw_work: QueueClient = service.get_queue_client(queues.work.queue_name)
        self._raw_poison: QueueClient = service.get_queue_client(queues.work.queue_name + POISON_SUFFIX)
        self.stats = HostStats()

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """One Event Grid delivery (Event Grid schema or CloudEvents 1.0), converted as the worker would."""
        event = EventGridEventInConverter.decode(Datum(type="json", value=json.dumps(payload)), trigger_metadata={})
        work, poison = _Out(), _Out()
        self._on_run_completed(event=event, work=work, poison=poison)
        if work.value is not None:
            self.queues.send(str(work.value))
        if poison.value is not None:
            self.queues.send_poison(str(poison.value))

    def poll_once(self) -> int:
        """Receive one batch and run the function for each message; returns how many were received."""
        received = list(self._raw_work.receive_messages(
            max_messages=self.settings.batch_size, visibility_timeout=LEASE_S))
        for message in received:
            self._run(message)
        return len(received)

    def drain(self, timeout_s: float = 120.0, idle_sleep_s: float = 0.1) -> None:
        """Poll until the work queue is empty (visible or not) or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.poll_once() == 0:
                if self.pending() == 0:
                    return
                time.sleep(idle_sleep_s)
        raise TimeoutError(f"work queue not drained within {timeout_s:.0f}s ({self.pending()} messages left)")

    def pending(self) -> int:
        return int(self._raw_work.get_queue_properties().approximate_message_count or 0)

    def _run(self, message: Any) -> None:
        count = int(message.dequeue_count or 1)
        raw = str(message.content)
        if count > self.settings.max_dequeue_count:
            self._move_to_poison(message, raw)
            return
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            self._move_to_poison(message, raw)  # the host cannot decode it: poison without invoking
            return
        msg = QueueMessage(  # type: ignore[no-untyped-call]
            id=message.id, body=body, dequeue_count=count,
                           insertion_time=message.inserted_on or datetime.now(UTC),
                           expiration_time=message.expires_on, pop_receipt=message.pop_receipt)
        self.stats.invocations += 1
        try:
            self._push_lineage(msg)
        except Exception as exc:  # noqa: BLE001 - the host catches everything a function raises, then retries
            self.stats.failures += 1
            log.warning("push_lineage failed on attempt %d: %s: %s", count, type(exc).__name__, exc)
            if count >= self.settings.max_dequeue_count:
                self._move_to_poison(message, raw)
            else:
                self._raw_work.update_message(message.id, pop_receipt=message.pop_receipt,
                                              visibility_timeout=self.settings.visibility_timeout_s)
            return
        self.stats.completed += 1
        self._raw_work.delete_message(message)

    def _move_to_poison(self, message: Any, raw: str) -> None:
        """The host's move: a copy of the body as stored, nothing else."""
        self.stats.moved_to_poison += 1
        self._raw_poison.send_message(raw)
        self._raw_work.delete_message(message)


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (float(part) for part in timespan.split(":"))
    return int(hours * 3600 + minutes * 60 + seconds)
