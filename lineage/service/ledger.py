"""The run ledger: one row per (factory, run id) saying what became of the run, and the memory the service decides
from.

A worker process dies, scales out and restarts; what it remembered in memory (which runs it pushed, which it
poisoned, when the reconcile timer last succeeded) went with it, and two processes never agreed. The ledger is that
memory, shared and kept: the worker records every outcome, the reconcile timer queues only the runs not already
settled and keeps its checkpoint here, the poison commands say here when an envelope was replayed or purged, and
``python -m lineage status`` reads it back for operators.

A row changes only by ``advance``, a pure function of the row as read and one ``Step``; it is written back only if
nobody changed it meanwhile (ETag), else read again and advanced again. So concurrent workers and duplicated events
cannot make it lie: a step seen twice (the same message delivered again) changes nothing, events are counted once
per event id, and only one worker can claim the right to write a run's poison envelope.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage.azure.ledger import CHECKPOINTS, LedgerConflict, LedgerError, LedgerTable, partition_key
from lineage.extract.runrecord import FactoryId, RunRecordError

log = logging.getLogger(__name__)

PUSHED, SKIPPED, WAITING, POISONED = "pushed", "skipped", "waiting", "poisoned"
OUTCOMES = (PUSHED, SKIPPED, WAITING, POISONED)
FAILED = "failed"  # a transient failure, tried again: not an outcome, a line of the story
# What a row says of its run's poison envelope.
CLAIMED, QUEUED, REPLAYED, PURGED = "claimed", "queued", "replayed", "purged"
UNCLAIMED = "unclaimed"  # the envelope a worker claimed could not be written: the claim is given up
DUPLICATE = "duplicate"  # a message for a run whose envelope is already queued: told, counted, nothing written
BUSY = "busy"  # another message's claim on the envelope is fresh: ask again later
CLAIM_TIMEOUT = timedelta(minutes=10)  # a claim whose envelope never followed (the process died) lapses
DEFAULT_RETENTION_DAYS = 90
RETENTION_SETTING = "LINEAGE_LEDGER_RETENTION_DAYS"
SWEEP_INTERVAL = timedelta(days=1)
STORY_STEPS = 40  # the latest steps kept in a row (a property holds at most 32K characters)
EVENT_IDS = 20  # the latest distinct event ids kept, to count each event once
LOOKUPS_AT_ONCE = 8  # reads by key a reconcile pass has in flight
MAX_TRIES = 20  # conditional writes lost to other writers before giving up (then: transient, retried)
_DETAIL_CHARS = 300
# Properties every row carries, whatever their value. In Azure Table storage a comparison on a property an entity
# lacks does not match it, so a row without ``Envelope`` would escape the sweep's ``Envelope ne 'claimed'`` and one
# without ``Outcome`` or ``Pipeline`` a ``status`` filter; the others name the row and when it changed.
_ALWAYS = frozenset({"PartitionKey", "RowKey", "Factory", "Pipeline", "Outcome", "FirstSeen", "LastChange",
                     "Envelope"})
_DEFAULTS = ("", 0, "[]")  # as ``from_entity`` reads a missing property (False == 0)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happened to a run: an outcome of the worker, a transient failure, or an envelope's news.

    ``what`` is an outcome, ``failed``, or one of the envelope words (``claimed`` with ``poisoned``; ``queued``,
    ``replayed``, ``purged`` alone)."""

    what: str
    at: str
    event_id: str | None = None
    attempt: int = 0
    detail: str = ""
    received_at: str | None = None
    waits: int = 0
    pipeline: str = ""
    emitted: int | None = None
    skipped: int | None = None
    entities: int | None = None
    drift: bool | None = None
    partial: bool | None = None
    blocked: bool = False  # poisoned for a permanent reason: only a replay or a purge lets it run again
    envelope_id: str = ""  # with ``queued``: the message id and pop receipt that can tell whether it is still there
    envelope_receipt: str = ""

    def owner(self) -> str:
        """The message a step came from, as far as a row can tell one from another: its event and when it arrived."""
        return f"{self.event_id or ''}|{self.received_at or ''}"

    def line(self) -> dict[str, Any]:
        """The step as a line of the run's story."""
        line: dict[str, Any] = {"at": self.at, "what": self.what}
        if self.event_id:
            line["event"] = self.event_id
        if self.attempt:
            line["attempt"] = self.attempt
        if self.detail:
            line["detail"] = self.detail[:_DETAIL_CHARS]
        return line


@dataclass(frozen=True, slots=True)
class Entry:
    """One run's row."""

    factory: str  # the resource id, as the event or the run named it
    run_id: str
    outcome: str
    first_seen: str
    last_change: datetime
    reason: str = ""
    pipeline: str = ""
    emitted: int = 0
    skipped: int = 0
    entities: int = 0
    attempts: int = 0
    events: int = 0
    waits: int = 0
    drift: bool = False
    partial: bool = False
    envelope: str = ""
    blocked: bool = False
    envelope_id: str = ""
    envelope_receipt: str = ""
    claim_owner: str = ""  # the message that claimed the envelope: its own redelivery may take the claim again
    story: tuple[Mapping[str, Any], ...] = ()
    event_ids: tuple[str, ...] = ()

    def holds_envelope(self, now: datetime | None = None) -> bool:
        """Its poison envelope is in the poison queue (or a worker is writing it right now)."""
        if self.envelope == QUEUED:
            return True
        return self.envelope == CLAIMED and (now or datetime.now(UTC)) - self.last_change < CLAIM_TIMEOUT

    def settled(self, now: datetime | None = None) -> bool:
        """Nothing left to do until someone acts: pushed, skipped, or poisoned for good with its envelope queued.
        A run poisoned by a transient failure is not: a reconcile pass may heal it."""
        if self.outcome in (PUSHED, SKIPPED):
            return True
        return self.outcome == POISONED and self.blocked and self.holds_envelope(now)

    def to_entity(self) -> dict[str, Any]:
        """The row as written: a property holding its default (nothing, zero, false) is left out, as
        ``from_entity`` reads a missing property as its default, and the run id is the row key. Every property
        costs the writer and the table service CPU on each write, and most rows have few that are not default
        (a replace writes the whole row, so a property left out is also one removed). The properties a filter
        compares are always written (``_ALWAYS``)."""
        entity = {
            "PartitionKey": partition_key(FactoryId.parse(self.factory)), "RowKey": self.run_id,
            "Factory": self.factory, "Pipeline": self.pipeline, "Outcome": self.outcome,
            "Reason": self.reason, "Emitted": self.emitted, "Skipped": self.skipped, "Entities": self.entities,
            "Attempts": self.attempts, "Events": self.events, "Waits": self.waits, "FirstSeen": self.first_seen,
            "LastChange": self.last_change, "Drift": self.drift, "Partial": self.partial,
            "Envelope": self.envelope, "Blocked": self.blocked, "EnvelopeId": self.envelope_id,
            "EnvelopeReceipt": self.envelope_receipt, "ClaimOwner": self.claim_owner,
            "Story": json.dumps(list(self.story), separators=(",", ":")),
            "EventIds": json.dumps(list(self.event_ids), separators=(",", ":")),
        }
        return {name: value for name, value in entity.items() if name in _ALWAYS or value not in _DEFAULTS}

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> Entry:
        """A row as stored (a row written by hand or by a newer release is read as far as it can be)."""
        def number(key: str) -> int:
            value = entity.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0

        def text(key: str) -> str:
            value = entity.get(key)
            return value if isinstance(value, str) else ""

        def listed(key: str) -> list[Any]:
            try:
                value = json.loads(text(key) or "[]")
            except ValueError:
                return []
            return value if isinstance(value, list) else []

        changed = entity.get("LastChange")
        return cls(
            factory=text("Factory"), run_id=text("RowKey"), outcome=text("Outcome"),
            first_seen=text("FirstSeen"),
            last_change=changed.astimezone(UTC) if isinstance(changed, datetime) else datetime.min.replace(tzinfo=UTC),
            reason=text("Reason"), pipeline=text("Pipeline"), emitted=number("Emitted"), skipped=number("Skipped"),
            entities=number("Entities"), attempts=number("Attempts"), events=number("Events"),
            waits=number("Waits"), drift=entity.get("Drift") is True, partial=entity.get("Partial") is True,
            envelope=text("Envelope"), blocked=entity.get("Blocked") is True,
            envelope_id=text("EnvelopeId"), envelope_receipt=text("EnvelopeReceipt"), claim_owner=text("ClaimOwner"),
            story=tuple(line for line in listed("Story") if isinstance(line, dict)),
            event_ids=tuple(i for i in listed("EventIds") if isinstance(i, str)),
        )

    def to_json(self, *, story: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "factory": self.factory, "runId": self.run_id, "pipeline": self.pipeline, "outcome": self.outcome,
            "reason": self.reason, "activitiesEmitted": self.emitted, "activitiesSkipped": self.skipped,
            "entitiesWritten": self.entities, "attempts": self.attempts, "events": self.events,
            "waits": self.waits, "firstSeen": self.first_seen, "lastChange": self.last_change.isoformat(),
            "drift": self.drift, "partial": self.partial, "envelope": self.envelope or None,
        }
        if story:
            doc["story"] = list(self.story)
        return doc


def advance(entry: Entry | None, factory: str, run_id: str, step: Step) -> Entry | None:
    """The row after ``step``; None when the step is already in it (the same message delivered again)."""
    at = _moment(step.at)
    if entry is None:
        entry = Entry(factory=factory, run_id=run_id, outcome=WAITING, first_seen=step.received_at or step.at,
                      last_change=at)
    elif entry.story and _same(entry.story[-1], step.line()):
        return None
    changes: dict[str, Any] = {"last_change": max(at, entry.last_change),
                               "story": (*entry.story, step.line())[-STORY_STEPS:]}
    if step.event_id and step.event_id not in entry.event_ids:
        changes["events"] = entry.events + 1
        changes["event_ids"] = (*entry.event_ids, step.event_id)[-EVENT_IDS:]
    if step.what in OUTCOMES or step.what == FAILED:
        changes["attempts"] = entry.attempts + 1
        changes["waits"] = max(entry.waits, step.waits)
    if step.what in OUTCOMES:
        changes.update(outcome=step.what, reason="" if step.what == PUSHED else step.detail)
        for name in ("emitted", "skipped", "entities", "drift", "partial"):
            value = getattr(step, name)
            if value is not None:
                changes[name] = value
        if step.pipeline:
            changes["pipeline"] = step.pipeline
    if step.what == POISONED:
        changes.update(envelope=CLAIMED, blocked=step.blocked, claim_owner=step.owner())
    elif step.what == QUEUED:
        changes.update(envelope=QUEUED, envelope_id=step.envelope_id, envelope_receipt=step.envelope_receipt)
    elif step.what in (REPLAYED, PURGED) and (not entry.envelope_id or not step.envelope_id
                                               or step.envelope_id == entry.envelope_id):
        # Released only by the removal of the envelope the row knows: one written since (the replayed message failed
        # again, fast) stays held.
        changes.update(envelope=step.what, blocked=False)
    elif step.what == UNCLAIMED and entry.envelope == CLAIMED:
        changes["envelope"] = ""
    elif step.what == FAILED and entry.outcome == WAITING:
        changes["reason"] = f"retrying after a transient failure: {step.detail}"[:_DETAIL_CHARS]
    return replace(entry, **changes)


@dataclass(frozen=True, slots=True)
class Query:
    """Which rows ``status`` shows: every filter optional."""

    since: datetime | None = None  # last changed at or after
    outcome: str | None = None
    run_id: str | None = None
    factory: str | None = None  # a resource id, or a factory's name (any resource group)
    pipeline: str | None = None

    def odata(self) -> tuple[str, dict[str, Any]]:
        """The filter the table evaluates, with its parameters bound by the SDK (never pasted into the text)."""
        clauses = [f"PartitionKey ne '{CHECKPOINTS}'"]
        parameters: dict[str, Any] = {}
        try:
            factory_id: FactoryId | None = FactoryId.parse(self.factory) if self.factory else None
        except RunRecordError:
            if self.factory and self.factory.startswith("/"):  # meant as a resource id: never read as "every factory"
                raise
            factory_id = None  # a factory's name, matched by admits
        if factory_id is not None:
            clauses.append("PartitionKey eq @partition")
            parameters["partition"] = partition_key(factory_id)
        if self.run_id:
            clauses.append("RowKey eq @run")
            parameters["run"] = self.run_id
        if self.outcome:
            clauses.append("Outcome eq @outcome")
            parameters["outcome"] = self.outcome
        if self.pipeline:
            clauses.append("Pipeline eq @pipeline")
            parameters["pipeline"] = self.pipeline
        if self.since:
            clauses.append("LastChange ge @since")
            parameters["since"] = self.since
        return " and ".join(clauses), parameters

    def admits(self, entry: Entry) -> bool:
        """What the table cannot filter: a factory given by its name alone."""
        if not self.factory or self.factory.startswith("/"):
            return True
        return entry.factory.rsplit("/", 1)[-1].lower() == self.factory.lower()


@dataclass
class RunLedger:
    """The ledger on its table: rows read, advanced and written back under their ETags."""

    table: LedgerTable
    retention: timedelta = field(default=timedelta(days=DEFAULT_RETENTION_DAYS))

    def entry(self, factory: FactoryId, run_id: str) -> Entry | None:
        stored = self.table.get(partition_key(factory), run_id)
        return Entry.from_entity(stored.entity) if stored is not None else None

    def record(self, factory: FactoryId, run_id: str, step: Step) -> Entry:
        """Advance the run's row by one step; LedgerError when the table cannot be written (transient).

        Most runs are recorded once, so the row is first added as new: one call. Only when it exists already is it
        read and replaced under its ETag."""
        first = self._first(factory, run_id, step)
        if first is not None:
            return first
        entry, _ = self._advance(factory, run_id, lambda _entry: step)
        return entry

    def _first(self, factory: FactoryId, run_id: str, step: Step) -> Entry | None:
        """The run's row added by this step, if the run had none; None when it has one."""
        entry = advance(None, factory.resource_id, run_id, step)
        if entry is None:
            raise AssertionError("a run without a row always gets one")
        try:
            self.table.insert(entry.to_entity())
        except LedgerConflict:
            return None
        return entry

    def claim_envelope(self, factory: FactoryId, run_id: str, step: Step, *, replayed: bool = False,
                       gone: Callable[[Entry], bool] = lambda _entry: False) -> str:
        """Record the run as poisoned and claim the right to write its one envelope. ``CLAIMED``: write it.
        ``QUEUED``: its envelope is in the poison queue, write none. ``BUSY``: another message's claim is fresh (its
        worker is writing the envelope now, or died doing so): ask again later, never acknowledge on that word alone.
        The message that made a claim (its redelivery after its worker died) takes it again. For a ``replayed``
        message a queued envelope does not count: the envelope it came from is gone. ``gone`` tells whether a queued
        envelope was removed without the ledger being told (by hand, in the portal)."""
        if self._first(factory, run_id, step) is not None:
            return CLAIMED  # the run had no row: nobody else has claimed it
        answer = CLAIMED

        def decide(entry: Entry | None) -> Step | None:
            nonlocal answer
            at = _moment(step.at)
            if entry is not None and entry.envelope == QUEUED and not replayed and not gone(entry):
                answer = QUEUED
                return replace(step, what=DUPLICATE, detail="its poison envelope is already queued")
            if entry is not None and entry.envelope == CLAIMED and entry.holds_envelope(at) \
                    and entry.claim_owner != step.owner():
                answer = BUSY
                return None
            answer = CLAIMED
            return step

        self._advance(factory, run_id, decide)
        return answer

    def _advance(self, factory: FactoryId, run_id: str,
                 decide: Callable[[Entry | None], Step | None]) -> tuple[Entry, bool]:
        """Read, decide, advance, write back under the ETag; again from the read when another writer won."""
        partition = partition_key(factory)
        for _ in range(MAX_TRIES):
            stored = self.table.get(partition, run_id)
            current = Entry.from_entity(stored.entity) if stored is not None else None
            step = decide(current)
            following = advance(current, factory.resource_id, run_id, step) if step is not None else None
            if following is None:  # nothing to write: decided so, or the step is in the row already
                if current is None:
                    raise AssertionError("a run without a row always gets one")
                return current, False
            try:
                if stored is None:
                    self.table.insert(following.to_entity())
                else:
                    self.table.replace(following.to_entity(), stored.etag)
            except LedgerConflict:
                continue
            return following, True
        raise LedgerError(f"run {run_id}: the run ledger row kept changing under {MAX_TRIES} writes")

    def settled_among(self, factory: FactoryId, run_ids: Sequence[str], now: datetime | None = None) -> set[str]:
        """Those of the run ids whose rows say they need nothing more (pushed, skipped, poisoned for good): what a
        reconcile pass does not queue again. One read by key per run, a few at once: the cost follows the window,
        never the length of the factory's history."""
        partition = partition_key(factory)
        with ThreadPoolExecutor(LOOKUPS_AT_ONCE, thread_name_prefix="ledger-lookup") as pool:
            stored = list(pool.map(lambda run_id: self.table.get(partition, run_id), run_ids))
        # A poisoned run is queued all the same: only the worker asks the poison queue whether its envelope is
        # still there (one call; it may have been removed by hand), and acknowledges the message when it is.
        return {entry.run_id for entry in (Entry.from_entity(s.entity) for s in stored if s is not None)
                if entry.settled(now) and entry.outcome != POISONED}

    def find(self, query: Query, *, story: bool = False) -> Iterator[Entry]:
        """The rows a query admits, as the table returns them."""
        odata, parameters = query.odata()
        select = None if story else [
            "RowKey", "Factory", "Pipeline", "Outcome", "Reason", "Emitted", "Skipped", "Entities",
            "Attempts", "Events", "Waits", "FirstSeen", "LastChange", "Drift", "Partial", "Envelope", "Blocked"]
        for stored in self.table.query(odata, parameters, select=select):
            entry = Entry.from_entity(stored.entity)
            if entry.outcome and query.admits(entry):
                yield entry

    # ------------------------------------------------------------------------------ the reconcile timer's rows

    def checkpoint(self, factory: FactoryId) -> datetime | None:
        """The end of the last window a reconcile pass queued completely for this factory."""
        stored = self.table.get(CHECKPOINTS, partition_key(factory))
        through = stored.entity.get("Through") if stored is not None else None
        return through.astimezone(UTC) if isinstance(through, datetime) else None

    def save_checkpoint(self, factory: FactoryId, through: datetime) -> None:
        self.table.upsert({"PartitionKey": CHECKPOINTS, "RowKey": partition_key(factory),
                           "Factory": factory.resource_id, "Through": through})

    def sweep(self, now: datetime | None = None, *, force: bool = False) -> int:
        """Delete rows unchanged for longer than the retention; at most once a day (its own row says when it
        last ran), so the timer can ask every pass. Returns how many rows went."""
        now = now or datetime.now(UTC)
        last = self.table.get(CHECKPOINTS, "sweep")
        at = last.entity.get("At") if last is not None else None
        if not force and isinstance(at, datetime) and now - at.astimezone(UTC) < SWEEP_INTERVAL:
            return 0
        # A row whose envelope is claimed or queued is kept: it is what holds the run to one envelope.
        old = self.table.query(f"PartitionKey ne '{CHECKPOINTS}' and LastChange lt @cutoff and Envelope ne "
                               f"'{CLAIMED}' and Envelope ne '{QUEUED}'",
                               {"cutoff": now - self.retention}, select=["PartitionKey", "RowKey"])
        deleted = self.table.delete_rows(list(old))  # each only if unchanged since this query read it
        self.table.upsert({"PartitionKey": CHECKPOINTS, "RowKey": "sweep", "At": now, "Deleted": deleted})
        if deleted:
            log.info("run ledger: %d row(s) older than %d days deleted", deleted, self.retention.days)
        return deleted


def retention_days(env: Mapping[str, str]) -> int:
    raw = env.get(RETENTION_SETTING) or str(DEFAULT_RETENTION_DAYS)
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise ValueError(f"{RETENTION_SETTING} takes a whole number of days from 1 to 3650, not {raw!r}")
    return int(raw)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _same(line: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """The same step, whenever it was recorded: a message delivered again after its outcome was written."""
    return {k: v for k, v in line.items() if k != "at"} == {k: v for k, v in other.items() if k != "at"}
