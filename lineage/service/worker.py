"""Processing one work message: read the run back, wait for it to end, extract lineage, push it to Purview.

Every message ends in exactly one place: pushed, skipped with its reason (logged), put back to wait for a run that
has not ended, or the poison queue with its reason. Transient failures raise so the Functions host retries after the
queue's visibility timeout; on the last allowed attempt they become poison instead, written by us with the full
story rather than moved by the host as a bare body.

What became of each run is recorded in the run ledger (``lineage.service.ledger``), the memory every worker process
shares: a reconciled message for a run already pushed, skipped or poisoned for good is acknowledged without a Data
Factory call, and a run gets one poison envelope however many workers and duplicated events reach it, until an
operator replays or purges that envelope. A ledger that cannot be written is a transient failure like any other:
the message is tried again, so the row and the run never disagree for long.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.ledger import LedgerError
from lineage.azure.purview import CatalogChangedError, PurviewError, PurviewWriter, PushResult
from lineage.extract.config import LineageOptions
from lineage.extract.drift import DRIFT
from lineage.extract.entities import assets_of, explain
from lineage.extract.redact import redact
from lineage.extract.run import RunLineage, extract
from lineage.extract.runrecord import RunRecord, RunRecordError, check_pipeline_run
from lineage.service import ledger as runs
from lineage.service.events import RECONCILED, REPLAYED, EventError, WorkMessage, now_iso
from lineage.service.ledger import RunLedger, Step
from lineage.service.poison import PoisonEnvelope

log = logging.getLogger(__name__)

NOT_ENDED = frozenset({"Queued", "InProgress", "Canceling"})
ALREADY_POISONED = "already in the poison queue: replay it there once the cause is fixed"


class PoisonHandle(Protocol):
    """An envelope in the poison queue, which can tell whether it is still there (its id and pop receipt are kept
    in the run's ledger row, so any worker can ask later)."""

    message_id: str
    pop_receipt: str

    def still_queued(self) -> bool: ...


class WorkQueue(Protocol):
    """Where the worker puts messages back (to wait) and where poison goes; ``poison_receipt`` rebuilds the handle
    of an envelope from its id and pop receipt (None when the queue cannot tell)."""

    def send(self, text: str, visibility_timeout: int = 0) -> None: ...

    def send_poison(self, text: str) -> PoisonHandle | None: ...

    def poison_receipt(self, message_id: str, pop_receipt: str) -> PoisonHandle | None: ...


class Outcome(enum.Enum):
    PUSHED = "pushed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    POISONED = "poisoned"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Retry and wait limits. ``max_dequeue_count`` must equal host.json's ``maxDequeueCount``."""

    max_dequeue_count: int = 5
    max_waits: int = 12
    wait_base_s: int = 30
    wait_cap_s: int = 600


@dataclass(frozen=True, slots=True)
class Processed:
    """What happened to one message, for logs, the local runner and the CLI."""

    outcome: Outcome
    run_id: str | None
    detail: str
    document: Mapping[str, Any] | None = None
    written: int = 0  # entities created or updated in Purview


class Worker:
    """Turns work messages into Purview lineage, and records each outcome in the run ledger (when it has one)."""

    def __init__(self, reader: DataFactoryReader, writer: PurviewWriter, queue: WorkQueue,
                 options: LineageOptions, settings: WorkerSettings = WorkerSettings(), *,
                 ledger: RunLedger | None = None) -> None:
        self.reader = reader
        self.writer = writer
        self.queue = queue
        self.options = options
        self.settings = settings
        self.ledger = ledger
        self.outcomes: Counter[Outcome] = Counter()
        self.listeners: list[Callable[[Processed], None]] = []  # told what became of each message
        self._count_lock = threading.Lock()

    def handle(self, body: str, dequeue_count: int, first_seen: str | None = None) -> Processed:
        """Process one queue message body; raises only for a transient failure that deserves another attempt."""
        processed = self._handle(body, dequeue_count, first_seen)
        with self._count_lock:
            self.outcomes[processed.outcome] += 1
        for listener in self.listeners:
            listener(processed)
        return processed

    def _handle(self, body: str, dequeue_count: int, first_seen: str | None) -> Processed:
        try:
            message = WorkMessage.from_json(body)
        except EventError as exc:
            return self._poison(body, exc, dequeue_count, first_seen, None)
        last_attempt = dequeue_count >= self.settings.max_dequeue_count
        seen: dict[str, str] = {}  # what was learnt of the run before a failure: its pipeline, for the ledger
        try:
            if message.event_id == RECONCILED and self.ledger is not None:
                done = self._settled(message)  # an ended run does not change: once settled, nothing to do
                if done is not None:
                    return done
            processed = self._process(message, seen, dequeue_count)
            if processed.outcome is not Outcome.WAITING:  # a wait is recorded before the message goes back
                self.record(message, processed, dequeue_count)
            return processed
        except (DataFactoryError, PurviewError, LedgerError) as exc:
            if exc.transient and not last_attempt:
                log.warning("run %s: transient failure on attempt %d, will retry: %s",
                            message.run.run_id, dequeue_count, redact(str(exc)))
                self._note_failure(message, dequeue_count, exc)
                raise
            # A permanent failure stays one until someone acts; a transient one a later reconcile may heal.
            return self._poison(body, exc, dequeue_count, first_seen or message.received_at, message,
                                blocked=not exc.transient, pipeline=seen.get("pipeline", ""))
        except RunRecordError as exc:
            return self._poison(body, exc, dequeue_count, first_seen or message.received_at, message, blocked=True,
                                pipeline=seen.get("pipeline", ""))
        except RunNotEndedError as exc:  # waited long enough: a later reconcile pass may find it ended
            return self._poison(body, exc, 0, message.received_at, message, pipeline=seen.get("pipeline", ""),
                                last_attempt=last_attempt)
        except Exception as exc:
            # A defect of ours: retry like a transient failure, and keep the message with its story at the end.
            if not last_attempt:
                log.exception("run %s: unexpected failure on attempt %d", message.run.run_id, dequeue_count)
                raise
            return self._poison(body, exc, dequeue_count, first_seen or message.received_at, message,
                                pipeline=seen.get("pipeline", ""))

    def _settled(self, message: WorkMessage) -> Processed | None:
        """A reconciled run the ledger says needs nothing more, acknowledged without a call to Data Factory."""
        if self.ledger is None:
            return None
        entry = self.ledger.entry(message.run.factory, message.run.run_id)
        if entry is None or not entry.settled():
            return None
        if entry.outcome == runs.POISONED and entry.envelope == runs.QUEUED and self._envelope_gone(entry):
            return None
        detail = ALREADY_POISONED if entry.outcome == runs.POISONED else f"already {entry.outcome}: nothing to do"
        return Processed(Outcome.SKIPPED, message.run.run_id, detail)

    def record(self, message: WorkMessage, processed: Processed, attempt: int, pipeline: str = "") -> None:
        """Write what became of the run to the ledger (LedgerError when it cannot: the caller retries)."""
        if self.ledger is None or processed.run_id is None:
            return
        document = processed.document or {}
        rows = document.get("activities", [])
        step = Step(processed.outcome.value, now_iso(), message.event_id, attempt, processed.detail,
                    received_at=message.received_at,
                    waits=message.waits + (processed.outcome is Outcome.WAITING),
                    pipeline=_pipeline_of(document) or pipeline,
                    emitted=sum(row.get("outcome") == "emitted" for row in rows) if document else None,
                    skipped=sum(row.get("outcome") == "skipped" for row in rows) if document else None,
                    entities=len(document.get("entities", [])) if document else None,
                    drift=any(DRIFT in str(row.get("reason", "")) for row in rows) if document else None,
                    partial=any(row.get("outcome") == "emitted" and row.get("reason") for row in rows)
                    if document else None)
        self.ledger.record(message.run.factory, message.run.run_id, step)

    def _note_failure(self, message: WorkMessage, attempt: int, error: Exception) -> None:
        """A transient failure, as a line of the run's story (best effort: the message is retried either way)."""
        if self.ledger is None or isinstance(error, LedgerError):
            return
        try:
            self.ledger.record(message.run.factory, message.run.run_id,
                               Step(runs.FAILED, now_iso(), message.event_id, attempt,
                                    f"{type(error).__name__}: {redact(str(error))}",
                                    received_at=message.received_at, waits=message.waits))
        except LedgerError as exc:
            log.warning("run %s: the run ledger could not record a transient failure: %s", message.run.run_id, exc)

    def process_run(self, message: WorkMessage, pipeline_run: Mapping[str, Any] | None = None) -> Processed:
        """Read, extract and push one run that has ended (also used by ``push`` and ``backfill --now``)."""
        doc = self.reader.run_record(message.run.factory, message.run.run_id, pipeline_run=pipeline_run)
        record = RunRecord.from_json(doc)
        lineage = extract(record, self.options)
        document, result = self._push(lineage)
        entities = document["entities"]
        if not any(e["typeName"].endswith("_operation") for e in entities):
            reasons = sorted({row.get("reason", "") for row in document["activities"]} - {""})
            detail = "no lineage in this run: " + ("; ".join(reasons) if reasons else "it has no activity runs")
            log.info("run %s skipped: %s", message.run.run_id, detail)
            return Processed(Outcome.SKIPPED, message.run.run_id, detail, document)
        detail = f"{len(entities)} entities ({result.created} created, {result.updated} updated)"
        log.info("run %s pushed: %s", message.run.run_id, detail)
        return Processed(Outcome.PUSHED, message.run.run_id, detail, document, result.created + result.updated)

    def _push(self, lineage: RunLineage) -> tuple[dict[str, Any], PushResult]:
        """Entities built on the assets as the catalog holds them, then written (activity facts of failed or
        skipped activities too). Should the catalog change under the push, its assets are asked for again, once."""
        for attempt in (1, 2):
            catalog = self.writer.resolve(assets_of(lineage))
            document = explain(lineage, self.options.pipeline_factory_attribute, catalog)
            try:
                collection = self.options.collections.collection_for(lineage.record.factory)
                return document, self.writer.push(document["entities"], collection)
            except CatalogChangedError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _process(self, message: WorkMessage, seen: dict[str, str], attempt: int) -> Processed:
        pipeline_run = check_pipeline_run(self.reader.pipeline_run(message.run.factory, message.run.run_id))
        seen["pipeline"] = str(pipeline_run.get("pipelineName") or "")
        status = str(pipeline_run.get("status"))
        if status in NOT_ENDED:
            return self._wait(message, status, attempt, seen["pipeline"])
        return self.process_run(message, pipeline_run)

    def _wait(self, message: WorkMessage, status: str, attempt: int, pipeline: str) -> Processed:
        """Put the message back with a growing delay; the ledger hears of it first, so that a failure to record
        it is retried before a second message for the run exists."""
        if message.waits >= self.settings.max_waits:
            raise RunNotEndedError(f"run still {status} after {message.waits} waits; replay it once it has ended")
        delay = min(self.settings.wait_cap_s, self.settings.wait_base_s * 2 ** message.waits)
        detail = f"run {status}: checking again in {delay}s (wait {message.waits + 1} of {self.settings.max_waits})"
        waiting = Processed(Outcome.WAITING, message.run.run_id, detail)
        self.record(message, waiting, attempt, pipeline)
        self.queue.send(replace(message, waits=message.waits + 1).to_json(), visibility_timeout=delay)
        log.info("run %s %s", message.run.run_id, detail)
        return waiting

    def _poison(self, body: str, error: BaseException, attempts: int, first_seen: str | None,
                message: WorkMessage | None, *, blocked: bool = False, pipeline: str = "",
                last_attempt: bool | None = None) -> Processed:
        """Write the envelope, unless the ledger shows the run's envelope is already queued: one per run."""
        envelope = PoisonEnvelope(
            message=body,
            error_class=type(error).__name__,
            reason=redact(str(error)) or type(error).__name__,
            attempts=attempts,
            first_seen=first_seen or now_iso(),
            last_failure=now_iso(),
            run_id=message.run.run_id if message else None,
            factory=message.run.factory.resource_id if message else None,
        )
        detail = f"{envelope.error_class}: {envelope.reason}"
        answer = None if message is None else self._claim(
            message, Step(runs.POISONED, now_iso(), message.event_id, attempts, detail,
                          received_at=message.received_at, waits=message.waits, pipeline=pipeline, blocked=blocked))
        if message is not None and answer == runs.QUEUED:
            log.info("run %s: its poison envelope is already queued; not writing another", message.run.run_id)
            return Processed(Outcome.SKIPPED, message.run.run_id, ALREADY_POISONED)
        if answer == runs.BUSY:
            if not (attempts >= self.settings.max_dequeue_count if last_attempt is None else last_attempt):
                raise EnvelopeBusyError(f"run {envelope.run_id}: another message is writing its poison envelope "
                                        "(or its worker died doing so); this one is tried again later")
            log.warning("run %s: another message's claim on the poison envelope is fresh, but this is the last "
                        "attempt: writing an envelope regardless (never lose a run)", envelope.run_id)
        claimed = answer == runs.CLAIMED  # this message holds the claim: it tells the ledger how the write went
        try:
            handle = self.queue.send_poison(envelope.to_json())
        except Exception:
            if message is not None and claimed:
                self._ledger_note(message, Step(runs.UNCLAIMED, now_iso(), detail="the envelope could not be written"))
            raise
        if message is not None and claimed:
            self._ledger_note(message, Step(runs.QUEUED, now_iso(), envelope_id=handle.message_id if handle else "",
                                            envelope_receipt=handle.pop_receipt if handle else ""))
        log.error("message poisoned (%s): %s", envelope.error_class, envelope.reason)
        return Processed(Outcome.POISONED, envelope.run_id, detail)

    def _claim(self, message: WorkMessage, step: Step) -> str | None:
        """The ledger's answer (``runs.CLAIMED``: this message writes the envelope; ``QUEUED``: one is queued;
        ``BUSY``: another message is writing one), or None with no ledger or one that cannot be asked: then the
        envelope is written regardless (never lose a run)."""
        if self.ledger is None:
            return None
        try:
            # A replay was asked for: the envelope it came from is gone, whatever the row still says of it.
            return self.ledger.claim_envelope(message.run.factory, message.run.run_id, step,
                                              replayed=message.event_id == REPLAYED, gone=self._envelope_gone)
        except LedgerError as exc:
            log.warning("run %s: the run ledger cannot be written (%s); writing its poison envelope regardless",
                        message.run.run_id, exc)
            return None

    def _envelope_gone(self, entry: runs.Entry) -> bool:
        """The envelope the row says is queued was removed without the ledger being told (by hand, in the portal):
        one call to the poison queue. A queue that cannot say counts as gone: processing again is safe, holding the
        run is not."""
        handle = self.queue.poison_receipt(entry.envelope_id, entry.envelope_receipt) if entry.envelope_id else None
        if handle is None:
            return False
        try:
            present = handle.still_queued()
        except Exception as exc:  # noqa: BLE001 - any failure to ask: processing again is safe, holding it is not
            log.warning("run %s: cannot tell whether its poison envelope is still queued (%s); processing it",
                        entry.run_id, type(exc).__name__)
            return True
        if not present:
            log.info("run %s: its poison envelope is no longer queued; processing the run again", entry.run_id)
        return not present

    def _ledger_note(self, message: WorkMessage, step: Step) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(message.run.factory, message.run.run_id, step)
        except LedgerError as exc:
            log.warning("run %s: the run ledger could not record %s: %s", message.run.run_id, step.what, exc)


class EnvelopeBusyError(Exception):
    """Another message holds a fresh claim on the run's poison envelope: this one is failed, so that the host
    delivers it again, until the envelope is queued (then it is acknowledged) or the claim lapses (then it writes)."""


class RunNotEndedError(Exception):
    """The run did not reach a terminal status within the configured number of waits."""


def _pipeline_of(document: Mapping[str, Any]) -> str:
    for entity in document.get("entities", []):
        if entity.get("typeName") == "adf_pipeline":
            return str(entity.get("attributes", {}).get("name") or "")
    return ""
