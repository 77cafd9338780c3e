"""Inspecting and replaying the poison queue: what users do once the cause of a failure is fixed.

Peeking shows messages without touching them. Replay and purge receive messages (hiding them for a few seconds),
act on the ones asked for and make the others visible again at once; a message is deleted from the poison queue
only after its replay was sent, so nothing is lost if the command stops halfway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage.azure.queues import Queues
from lineage.service.events import REPLAYED, EventError, WorkMessage
from lineage.service.poison import PoisonEnvelope, for_display, read_poison

PEEK_LIMIT = 32  # Azure Storage returns at most 32 messages per peek
_HIDE_S = 10


@dataclass(frozen=True, slots=True)
class PoisonItem:
    id: str
    inserted_on: datetime | None
    envelope: PoisonEnvelope

    def age(self, now: datetime | None = None) -> timedelta | None:
        if self.inserted_on is None:
            return None
        return (now or datetime.now(UTC)) - self.inserted_on

    def displayed(self) -> PoisonItem:
        """The item as the commands print it: redacted, with control and invisible characters escaped."""
        return replace(self, envelope=for_display(self.envelope))

    def to_json(self) -> dict[str, Any]:
        e = self.envelope
        return {"id": self.id, "insertedOn": self.inserted_on.isoformat() if self.inserted_on else None,
                "runId": e.run_id, "factory": e.factory, "errorClass": e.error_class, "reason": e.reason,
                "attempts": e.attempts, "firstSeen": e.first_seen, "lastFailure": e.last_failure,
                "message": e.message}


def peek(queues: Queues) -> list[PoisonItem]:
    """The first messages of the poison queue, untouched."""
    return [_item(m) for m in queues.poison.peek_messages(max_messages=PEEK_LIMIT)]


def count(queues: Queues) -> int:
    return int(queues.poison.get_queue_properties().approximate_message_count or 0)


def replay(queues: Queues, ids: set[str] | None) -> list[PoisonItem]:
    """Put the original messages back on the work queue (all, or those with the given ids) and remove them here."""
    done = []
    for message, item in _received(queues, ids):
        queues.send(_as_replay(item.envelope.message))
        queues.poison.delete_message(message)
        done.append(item)
    return done


def purge(queues: Queues, ids: set[str] | None, older_than: timedelta | None) -> list[PoisonItem]:
    """Delete messages (the given ids, or those older than ``older_than``, or all)."""
    done = []
    now = datetime.now(UTC)
    for message, item in _received(queues, ids):
        age = item.age(now)
        if older_than is not None and (age is None or age < older_than):
            _release(queues, message)
            continue
        queues.poison.delete_message(message)
        done.append(item)
    return done


def _received(queues: Queues, ids: set[str] | None) -> Iterator[tuple[Any, PoisonItem]]:
    seen: set[str] = set()
    while True:
        batch = list(queues.poison.receive_messages(max_messages=PEEK_LIMIT, visibility_timeout=_HIDE_S))
        fresh = [m for m in batch if m.id not in seen]
        for message in batch:
            if message.id in seen:  # received again after being released: release it again
                _release(queues, message)
        if not fresh:
            return
        for message in fresh:
            seen.add(message.id)
            if ids is None or message.id in ids:
                yield message, _item(message)
            else:
                _release(queues, message)


def _release(queues: Queues, message: Any) -> None:
    """Make a message received but not acted on visible again at once."""
    queues.poison.update_message(message.id, pop_receipt=message.pop_receipt, visibility_timeout=0)


def _item(message: Any) -> PoisonItem:
    return PoisonItem(id=str(message.id), inserted_on=message.inserted_on, envelope=read_poison(str(message.content)))


def _as_replay(body: str) -> str:
    """A work message goes back marked as replayed: a worker skips another message for a run it remembers
    poisoning (a duplicated event, a reconcile pass), but a replay is meant to run. Any other body goes back exactly
    as it was (it fails the same way, with its reason)."""
    try:
        message = WorkMessage.from_json(body)
    except EventError:
        return body
    return replace(message, event_id=REPLAYED).to_json()
