"""Processing one work message: read the run back, wait for it to end, extract lineage, push it to Purview.

Every message ends in exactly one place: pushed, skipped with its reason (logged), put back to wait for a run that
has not ended, or the poison queue with its reason. Transient failures raise so the Functions host retries after the
queue's visibility timeout; on the last allowed attempt they become poison instead, written by us with the full
story rather than moved by the host as a bare body.

A worker remembers the runs it poisoned for good, so that a duplicated event or a reconcile pass for one of them is
acknowledged without a second envelope. That memory lasts only as long as the envelope: before skipping, the worker
asks the poison queue (one call, by the envelope's id) whether it is still there; once an operator purged or
replayed it, the next message for the run is processed.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.purview import CatalogChangedError, PurviewError, PurviewWriter, PushResult
from lineage.extract.config import LineageOptions
from lineage.extract.entities import assets_of, explain
from lineage.extract.redact import redact
from lineage.extract.run import RunLineage, extract
from lineage.extract.runrecord import RunRecord, RunRecordError, check_pipeline_run
from lineage.service.events import BACKFILLED, RECONCILED, REPLAYED, EventError, WorkMessage, now_iso
from lineage.service.poison import PoisonEnvelope

log = logging.getLogger(__name__)

NOT_ENDED = frozenset({"Queued", "InProgress", "Canceling"})
FINISHED_MEMORY = 20_000  # runs remembered per process, so a reconciled run already processed costs no call


class PoisonHandle(Protocol):
    """An envelope written to the poison queue, which can tell whether it is still there."""

    def still_queued(self) -> bool: ...


class WorkQueue(Protocol):
    """Where the worker puts messages back (to wait) and where poison goes. ``send_poison`` returns a handle on the
    envelope when the queue can tell later whether it is still there; without one, a poisoned run is not skipped."""

    def send(self, text: str, visibility_timeout: int = 0) -> None: ...

    def send_poison(self, text: str) -> PoisonHandle | None: ...


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
    run_key: tuple[str, str] | None = None  # (factory, run id) of a message that named a run
    envelope: PoisonHandle | None = field(default=None, repr=False, compare=False)  # the poison envelope written


class Worker:
    """Turns work messages into Purview lineage."""

    def __init__(self, reader: DataFactoryReader, writer: PurviewWriter, queue: WorkQueue,
                 options: LineageOptions, settings: WorkerSettings = WorkerSettings()) -> None:
        self.reader = reader
        self.writer = writer
        self.queue = queue
        self.options = options
        self.settings = settings
        self.outcomes: Counter[Outcome] = Counter()
        self.listeners: list[Callable[[Processed], None]] = []  # told what became of each message
        self._count_lock = threading.Lock()
        # Runs this process pushed, skipped or poisoned for good: what a reconciled message for them would do again;
        # for a poisoned run, with the envelope whose presence the memory depends on.
        self._finished: OrderedDict[tuple[str, str], tuple[Outcome, PoisonHandle | None]] = OrderedDict()

    def handle(self, body: str, dequeue_count: int, first_seen: str | None = None) -> Processed:
        """Process one queue message body; raises only for a transient failure that deserves another attempt."""
        processed = self._handle(body, dequeue_count, first_seen)
        with self._count_lock:
            self.outcomes[processed.outcome] += 1
            if processed.run_key is not None and processed.outcome is not Outcome.WAITING:
                self._finished[processed.run_key] = (processed.outcome, processed.envelope)
                self._finished.move_to_end(processed.run_key)
                while len(self._finished) > FINISHED_MEMORY:
                    self._finished.popitem(last=False)
        for listener in self.listeners:
            listener(processed)
        return processed

    def _handle(self, body: str, dequeue_count: int, first_seen: str | None) -> Processed:
        try:
            message = WorkMessage.from_json(body)
        except EventError as exc:
            return self._poison(body, exc, dequeue_count, first_seen, None)
        last_attempt = dequeue_count >= self.settings.max_dequeue_count
        key = _run_key(message)
        if message.event_id not in (REPLAYED, BACKFILLED):  # those two are asked for by someone, after a fix
            earlier = self._remembered(key)
            if earlier is Outcome.POISONED:  # it would fail the same way: one envelope per run is enough
                return Processed(Outcome.SKIPPED, message.run.run_id,
                                 "already in the poison queue: replay it there once the cause is fixed")
            if earlier is not None and message.event_id == RECONCILED:  # an ended run does not change
                return Processed(Outcome.SKIPPED, message.run.run_id, "already processed by this worker")
        try:
            return replace(self._process(message, body), run_key=key)
        except (DataFactoryError, PurviewError) as exc:
            if exc.transient and not last_attempt:
                log.warning("run %s: transient failure on attempt %d, will retry: %s",
                            message.run.run_id, dequeue_count, redact(str(exc)))
                raise
            poisoned = self._poison(body, exc, dequeue_count, first_seen or message.received_at, message)
            # A permanent failure stays one until someone acts; a transient one a later reconcile may heal.
            return poisoned if exc.transient else replace(poisoned, run_key=key)
        except RunRecordError as exc:
            poisoned = self._poison(body, exc, dequeue_count, first_seen or message.received_at, message)
            return replace(poisoned, run_key=key)
        except Exception as exc:
            # A defect of ours: retry like a transient failure, and keep the message with its story at the end.
            if not last_attempt:
                log.exception("run %s: unexpected failure on attempt %d", message.run.run_id, dequeue_count)
                raise
            return self._poison(body, exc, dequeue_count, first_seen or message.received_at, message)

    def _remembered(self, key: tuple[str, str]) -> Outcome | None:
        """What this worker did with the run, as far as it still holds: a poisoned run only while its envelope is in
        the poison queue. Once it is gone (purged, replayed), the memory goes too and the run is processed again."""
        with self._count_lock:
            memory = self._finished.get(key)
        if memory is None:
            return None
        outcome, envelope = memory
        if outcome is not Outcome.POISONED:
            return outcome
        try:
            present = envelope is not None and envelope.still_queued()
        except Exception as exc:  # noqa: BLE001 - any failure to ask: processing again is safe, skipping is not
            log.warning("run %s: cannot tell whether its poison envelope is still queued (%s); processing it",
                        key[1], type(exc).__name__)
            present = False
        if present:
            return outcome
        with self._count_lock:
            if self._finished.get(key) is memory:
                del self._finished[key]
        log.info("run %s: its poison envelope is no longer queued; processing the run again", key[1])
        return None

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
        return Processed(Outcome.PUSHED, message.run.run_id, detail, document)

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

    def _process(self, message: WorkMessage, body: str) -> Processed:
        pipeline_run = check_pipeline_run(self.reader.pipeline_run(message.run.factory, message.run.run_id))
        status = str(pipeline_run.get("status"))
        if status in NOT_ENDED:
            return self._wait(message, status, body)
        return self.process_run(message, pipeline_run)

    def _wait(self, message: WorkMessage, status: str, body: str) -> Processed:
        if message.waits >= self.settings.max_waits:
            error = RunNotEndedError(f"run still {status} after {message.waits} waits; replay it once it has ended")
            return self._poison(body, error, 0, message.received_at, message)
        delay = min(self.settings.wait_cap_s, self.settings.wait_base_s * 2 ** message.waits)
        self.queue.send(replace(message, waits=message.waits + 1).to_json(), visibility_timeout=delay)
        detail = f"run {status}: checking again in {delay}s (wait {message.waits + 1} of {self.settings.max_waits})"
        log.info("run %s %s", message.run.run_id, detail)
        return Processed(Outcome.WAITING, message.run.run_id, detail)

    def _poison(self, body: str, error: BaseException, attempts: int, first_seen: str | None,
                message: WorkMessage | None) -> Processed:
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
        handle = self.queue.send_poison(envelope.to_json())
        log.error("message poisoned (%s): %s", envelope.error_class, envelope.reason)
        return Processed(Outcome.POISONED, envelope.run_id, f"{envelope.error_class}: {envelope.reason}",
                         envelope=handle)


class RunNotEndedError(Exception):
    """The run did not reach a terminal status within the configured number of waits."""


def _run_key(message: WorkMessage) -> tuple[str, str]:
    return message.run.factory.resource_id.lower(), message.run.run_id
