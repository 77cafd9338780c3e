"""Inspecting and replaying the poison queue: what users do once the cause of a failure is fixed.

Peeking shows messages without touching them. Replay and purge receive messages (hiding them for a few seconds),
act on the ones asked for and make the others visible again at once; a message is deleted from the poison queue
only after its replay was sent, so nothing is lost if the command stops halfway. Each run whose envelope was
replayed or purged has its run-ledger row say so: the run is no longer held as poisoned, and the next event or
reconcile pass for it is processed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from azure.core.exceptions import AzureError, HttpResponseError

from lineage.azure.ledger import LedgerError
from lineage.azure.queues import Queues
from lineage.extract.runrecord import FactoryId, RunRecordError
from lineage.service import ledger as runs
from lineage.service.events import REPLAYED, EventError, WorkMessage, now_iso
from lineage.service.ledger import RunLedger, Step
from lineage.service.poison import PoisonEnvelope, for_display, read_poison

PEEK_LIMIT = 32  # Azure Storage returns at most 32 messages per peek or receive
_HIDE_S = 120  # a scan keeps what it read hidden this long at most (it releases them when it ends)


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


@dataclass(frozen=True, slots=True)
class Selection:
    """Which poison messages a command works on: ids (or unique prefixes of ids), and filters on what they hold."""

    ids: frozenset[str] | None = None  # None: every message the filters let through
    factory: str | None = None  # a factory's resource id or name, case-insensitive
    error_class: str | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None

    def admits(self, item: PoisonItem, now: datetime) -> bool:
        envelope = item.envelope
        if self.factory is not None:
            factory = (envelope.factory or "").lower()
            wanted = self.factory.lower()
            if factory != wanted and factory.rsplit("/", 1)[-1] != wanted:
                return False
        if self.error_class is not None and envelope.error_class.lower() != self.error_class.lower():
            return False
        age = item.age(now)
        if self.older_than is not None and (age is None or age < self.older_than):
            return False
        return not (self.newer_than is not None and (age is None or age > self.newer_than))


class SelectionError(ValueError):
    """An id prefix that matches no message, or more than one."""


def peek(queues: Queues) -> list[PoisonItem]:
    """The first messages of the poison queue, untouched (the queue service shows at most 32 this way)."""
    return [_item(m) for m in queues.poison.peek_messages(max_messages=PEEK_LIMIT)]


def count(queues: Queues) -> int:
    return int(queues.poison.get_queue_properties().approximate_message_count or 0)


def browse(queues: Queues, selection: Selection = Selection(), top: int | None = None) -> Browsed:
    """Every message the selection admits (the first ``top``), oldest first. Messages are received to be read
    past the first 32, hidden for the scan, and made visible again before this returns: nothing is changed. An
    identity that may only read the queue (Storage Queue Data Reader) sees the first 32, and is told so."""
    now = datetime.now(UTC)
    try:
        with _scan(queues) as scanned:
            items = [item for _, item in scanned if selection.admits(item, now)]
        complete = True
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
        items = [item for item in peek(queues) if selection.admits(item, now)]
        complete = len(items) < PEEK_LIMIT
    items.sort(key=lambda i: (i.inserted_on or datetime.min.replace(tzinfo=UTC), i.id))
    chosen = _by_ids(items, selection.ids)
    return Browsed(chosen if top is None else chosen[:top], complete)


class Browsed(NamedTuple):
    items: list[PoisonItem]
    complete: bool  # False: only the first 32 could be read (the identity may peek but not receive)


def replay(queues: Queues, selection: Selection, ledger: RunLedger | None = None,
           told: Callable[[PoisonItem, str], None] | None = None) -> list[tuple[PoisonItem, str]]:
    """Put the original messages back on the work queue and remove them here; each with what became of it (also
    ``told`` as each one is done). A message is deleted only after its replay was sent, so nothing is lost if the
    command stops halfway."""
    done: list[tuple[PoisonItem, str]] = []
    for message, item in _chosen(queues, selection):
        try:
            queues.send(_as_replay(item.envelope.message))
        except AzureError as exc:
            done.append((item, f"not replayed: {type(exc).__name__}"))
        else:
            queues.poison.delete_message(message)
            outcome = "queued again" + ("" if item.envelope.run_id else " (a body the worker cannot read)")
            done.append((item, outcome + _released(ledger, item, runs.REPLAYED)))
        if told is not None:
            told(*done[-1])
    return done


def purge(queues: Queues, selection: Selection, ledger: RunLedger | None = None) -> list[tuple[PoisonItem, str]]:
    """Delete the messages the selection admits; each with what the run ledger was told."""
    done = []
    for message, item in _chosen(queues, selection):
        queues.poison.delete_message(message)
        done.append((item, "purged" + _released(ledger, item, runs.PURGED)))
    return done


LEDGER_NOT_UPDATED = "; run ledger not updated"


def _released(ledger: RunLedger | None, item: PoisonItem, how: str) -> str:
    """Tell the run's ledger row its envelope is gone; what to add to the command's line when that failed."""
    if ledger is None or not item.envelope.run_id or not item.envelope.factory:
        return ""
    try:
        factory = FactoryId.parse(item.envelope.factory)
        ledger.record(factory, item.envelope.run_id,
                      Step(how, now_iso(), detail=f"poison message {item.id}", envelope_id=item.id))
    except RunRecordError:
        return ""  # a body naming no factory of ours has no row
    except LedgerError as exc:
        return f"{LEDGER_NOT_UPDATED} ({exc})"
    return ""


def _chosen(queues: Queues, selection: Selection) -> Iterator[tuple[Any, PoisonItem]]:
    """The received messages a command acts on; the others are released when the scan ends."""
    with _scan(queues) as scanned:
        now = datetime.now(UTC)
        admitted = [(message, item) for message, item in scanned if selection.admits(item, now)]
        wanted = {i.id for i in _by_ids([item for _, item in admitted], selection.ids)}
        for message, item in admitted:
            if item.id in wanted:
                scanned.acted_on(message)
                yield message, item


class _Scanned(list[tuple[Any, PoisonItem]]):
    def __init__(self) -> None:
        super().__init__()
        self.taken: set[str] = set()

    def acted_on(self, message: Any) -> None:
        self.taken.add(str(message.id))


@contextmanager
def _scan(queues: Queues) -> Iterator[_Scanned]:
    """Receive every message once (hidden while the scan lasts, so none is seen twice) and release the ones not
    acted on at the end, whatever happens in between."""
    scanned = _Scanned()
    seen: set[str] = set()
    try:
        while True:
            batch = [m for m in queues.poison.receive_messages(max_messages=PEEK_LIMIT, visibility_timeout=_HIDE_S)
                     if m.id not in seen]
            if not batch:
                break
            for message in batch:
                seen.add(message.id)
                scanned.append((message, _item(message)))
        yield scanned
    finally:
        for message, _ in scanned:
            if str(message.id) not in scanned.taken:
                with contextlib.suppress(AzureError):  # it becomes visible by itself when its hiding ends
                    _release(queues, message)


def _by_ids(items: list[PoisonItem], ids: frozenset[str] | None) -> list[PoisonItem]:
    """The items named by id or unique id prefix (all, without ids); an unknown or ambiguous one is an error."""
    if ids is None:
        return items
    chosen: dict[str, PoisonItem] = {}
    for wanted in sorted(ids):
        matches = [i for i in items if i.id == wanted] or [i for i in items if i.id.startswith(wanted)]
        if not matches:
            raise SelectionError(f"no poison message {wanted!r} (among those the filters admit)")
        if len(matches) > 1:
            raise SelectionError(f"{wanted!r} is the start of {len(matches)} message ids: "
                                 f"{', '.join(i.id for i in matches[:5])}; give more of it")
        chosen[matches[0].id] = matches[0]
    return [i for i in items if i.id in chosen]


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
