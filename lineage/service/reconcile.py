"""Finding the runs that ended in a time window, for the ``reconcile_runs`` timer and the ``backfill`` command.

Events can be lost before they reach us (a pipeline without the emitter, a Web activity that failed, a topic that
was down). Data Factory itself remembers every run for 45 days, so asking it which runs ended in a window and
queueing them closes that gap. Processing a run twice writes the same entities again, so overlapping windows only
cost work, never correctness.

The timer keeps a checkpoint per factory in the run ledger: the end of the last window it queued completely. Each
pass starts there (a little before, for runs whose end was recorded late), so after an outage of any length the
whole gap is covered, as far back as Data Factory still remembers; and it leaves out the runs the ledger already
has settled, which then cost no Data Factory call at all.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.runrecord import FactoryId, RunRecordError
from lineage.service.events import RECONCILED, RunRef, WorkMessage, now_iso
from lineage.service.ledger import RunLedger
from lineage.service.worker import NOT_ENDED

log = logging.getLogger(__name__)

FACTORIES_SETTING = "LINEAGE_FACTORIES"
WINDOW_SETTING = "LINEAGE_RECONCILE_WINDOW_MINUTES"
DEFAULT_WINDOW_MINUTES = 120
RETENTION = timedelta(days=45)  # how long Data Factory keeps run history
OVERLAP = timedelta(minutes=5)  # a pass reaches this far behind its checkpoint: a run's lastUpdated may lag its end


class WindowError(ValueError):
    """A window or factory list that cannot be asked for; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Window:
    """``[after, before)`` in UTC, checked against what Data Factory can answer."""

    after: datetime
    before: datetime

    @classmethod
    def of(cls, after: datetime, before: datetime | None = None, *, now: datetime | None = None) -> Window:
        now = now or datetime.now(UTC)
        before = before or now
        after, before = _utc(after), _utc(before)
        if after >= before:
            raise WindowError(f"the window is empty: {after.isoformat()} is not before {before.isoformat()}")
        if after < now - RETENTION - timedelta(minutes=5):  # slack: "--since 45d" was computed a moment ago
            raise WindowError(f"Data Factory keeps 45 days of runs: {after.isoformat()} is older than that")
        return cls(after, before)

    @classmethod
    def last(cls, minutes: int, *, now: datetime | None = None) -> Window:
        now = now or datetime.now(UTC)
        return cls.of(now - timedelta(minutes=minutes), now, now=now)


@dataclass(slots=True)
class WindowReport:
    """What a pass over a window found, per factory; ``failures`` names factories that could not be read."""

    found: Counter[str] = field(default_factory=Counter)
    queued: Counter[str] = field(default_factory=Counter)
    not_ended: Counter[str] = field(default_factory=Counter)
    settled: Counter[str] = field(default_factory=Counter)  # left out: the run ledger has them done already
    failures: dict[str, str] = field(default_factory=dict)
    windows: dict[str, list[str]] = field(default_factory=dict)  # per factory, when a pass chose its own

    def to_json(self) -> dict[str, Any]:
        doc = {"found": dict(self.found), "queued": dict(self.queued), "notEnded": dict(self.not_ended),
               "settled": dict(self.settled), "failures": self.failures}
        if self.windows:
            doc["windows"] = self.windows
        return doc


def ended_runs(reader: DataFactoryReader, factory: FactoryId, window: Window, pipelines: Sequence[str] = (),
               report: WindowReport | None = None) -> Iterator[dict[str, Any]]:
    """Pipeline runs of the window that have ended (a run still going gets its own event, or the next window)."""
    for run in reader.query_pipeline_runs(factory, window.after, window.before, pipelines):
        if report is not None:
            report.found[factory.factory_name] += 1
        if str(run.get("status")) in NOT_ENDED:
            if report is not None:
                report.not_ended[factory.factory_name] += 1
            continue
        if isinstance(run.get("runId"), str):
            yield run


def work_message(factory: FactoryId, run: Mapping[str, Any], source: str) -> WorkMessage:
    """The same message an event would have queued; ``eventId`` says where it came from."""
    return WorkMessage(RunRef(factory, str(run["runId"])), event_id=source, received_at=now_iso())


def enqueue_window(reader: DataFactoryReader, send: Callable[[str], None], factories: Sequence[FactoryId],
                   window: Window, pipelines: Sequence[str] = (), *, source: str = RECONCILED,
                   on_run: Callable[[], object] | None = None) -> WindowReport:
    """Queue every ended run of the window, factory by factory; one unreadable factory does not stop the others."""
    report = WindowReport()
    for factory, run in ended_runs_of(reader, factories, window, pipelines, report):
        send(work_message(factory, run, source).to_json())
        report.queued[factory.factory_name] += 1
        if on_run is not None:
            on_run()
    return report


def checkpoint_window(checkpoint: datetime | None, minutes: int, now: datetime) -> Window:
    """The window of a pass: from the checkpoint (less the overlap) or the configured minutes back, whichever
    reaches further, and never past what Data Factory remembers — a gap longer than that is logged, since the
    runs in it can no longer be found by anyone."""
    after = now - timedelta(minutes=minutes)
    if checkpoint is not None:
        after = min(after, checkpoint - OVERLAP)
        if now - checkpoint > timedelta(minutes=minutes):
            log.warning("reconcile_runs: the last complete pass ended at %s; covering the whole gap since then",
                        checkpoint.isoformat())
    oldest = now - RETENTION
    if after < oldest:
        log.warning("reconcile_runs: the last complete pass ended at %s, longer ago than the 45 days Data Factory "
                    "keeps runs: runs that ended before %s are no longer found", _iso(checkpoint), oldest.isoformat())
        after = oldest
    return Window.of(after, now, now=now)


def reconcile_factories(reader: DataFactoryReader, send: Callable[[str], None], factories: Sequence[FactoryId],
                        minutes: int, ledger: RunLedger | None, *, now: datetime | None = None) -> WindowReport:
    """One pass of the timer: each factory from its own checkpoint, its settled runs left out, its checkpoint
    moved to the end of the window once every run of it was queued (a factory that failed keeps its old one)."""
    now = now or datetime.now(UTC)
    report = WindowReport()
    for factory in factories:
        window = checkpoint_window(ledger.checkpoint(factory) if ledger is not None else None, minutes, now)
        report.windows[factory.factory_name] = [window.after.isoformat(), window.before.isoformat()]
        ended = [run for _, run in ended_runs_of(reader, [factory], window, (), report)]
        settled = ledger.settled_among(factory, [str(r["runId"]) for r in ended], now) if ledger is not None else set()
        for run in ended:
            if run["runId"] in settled:
                report.settled[factory.factory_name] += 1
                continue
            send(work_message(factory, run, RECONCILED).to_json())
            report.queued[factory.factory_name] += 1
        if ledger is not None and factory.factory_name not in report.failures:
            ledger.save_checkpoint(factory, window.before)
    return report


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "never"


def ended_runs_of(reader: DataFactoryReader, factories: Sequence[FactoryId], window: Window,
                  pipelines: Sequence[str], report: WindowReport) -> Iterator[tuple[FactoryId, dict[str, Any]]]:
    """The ended runs of several factories; one that cannot be read goes into ``report.failures`` and the others
    are still asked (the caller decides whether a failure fails the pass)."""
    for factory in factories:
        try:
            for run in ended_runs(reader, factory, window, pipelines, report):
                yield factory, run
        except DataFactoryError as exc:
            report.failures[factory.factory_name] = str(exc)


def factories_from_setting(env: Mapping[str, str]) -> list[FactoryId]:
    """``LINEAGE_FACTORIES``: a JSON array of factory resource ids, or the same comma-separated."""
    raw = (env.get(FACTORIES_SETTING) or "").strip()
    if not raw:
        return []
    try:
        items = loads(raw) if raw.startswith("[") else [p.strip() for p in raw.split(",") if p.strip()]
    except JSONTextError as exc:
        raise WindowError(f"{FACTORIES_SETTING} {exc}") from None
    if not isinstance(items, list):
        raise WindowError(f"{FACTORIES_SETTING} must list factory resource ids")
    try:
        return [FactoryId.parse(item) for item in items]
    except RunRecordError as exc:
        raise WindowError(f"{FACTORIES_SETTING}: {exc}") from exc


def window_minutes(env: Mapping[str, str]) -> int:
    raw = env.get(WINDOW_SETTING) or str(DEFAULT_WINDOW_MINUTES)
    try:
        minutes = int(raw)
    except ValueError as exc:
        raise WindowError(f"{WINDOW_SETTING} takes a whole number of minutes, not {raw!r}") from exc
    if not 1 <= minutes <= int(RETENTION.total_seconds() // 60):
        raise WindowError(f"{WINDOW_SETTING} must be between 1 and {int(RETENTION.total_seconds() // 60)}")
    return minutes


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
