"""The fault and load suite: the corpus through the real path while Azure misbehaves, compared with a calm run.

Two lanes (``benchmarks.harness``), each with its own queues, local Data Factory and local Purview, and a worker OS
process draining the queue like the Functions host:

- the **reference** lane gets every run's event once and no fault at all;
- the **faulty** lane gets the same runs while Purview answers 429 (with and without ``Retry-After``), 500 and 503,
  answers too late (the write done, the answer after the client's timeout) and drops connections; Data Factory
  answers 429 and 500, answers too slowly and drops connections; some runs stay ``InProgress`` for a few reads;
  some events arrive twice; and the worker process is killed with SIGKILL (once while Purview is applying one of
  its writes) and started again, its messages seen again after their lease.

Then it checks and prints: every run ended in exactly one place (pushed / skipped with a reason / poisoned with a
reason) and the expected one; the poison queue holds the runs that can never be processed and nothing else (no
poison for a transient fault); and the faulty lane's Purview holds exactly what the reference lane's does — same
entities by (typeName, qualifiedName), same attributes, same relationship ends, no duplicates, no dangling
references. Usage::

    python -m benchmarks.faults [--runs 1000] [--small] [--seed 7] [--kills 3]

Exits 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks import corpus
from benchmarks.harness import (
    TERMINAL,
    Difference,
    Lane,
    Snapshot,
    check_against_runs,
    compare,
    expected_entities,
    lane,
    snapshot,
)
from lineage.azure.ledger import TABLE_SETTING, LedgerTable
from lineage.local.azurite import Azurite
from lineage.local.tls import LocalTLS, make_local_tls
from lineage.service.ledger import Query, RunLedger

HTTP_TIMEOUT_S = 2.0  # the worker's per-call timeout: "too late" answers come after it
LEASE_S = 5  # a killed worker's messages are seen again after this
VISIBILITY_S = 1  # a failed invocation is retried after this (host.json: 30 s)


@dataclass(frozen=True)
class Config:
    runs: int = 1000
    seed: int = 7
    kills: int = 3
    faults: int | None = None  # injected failures (default: one per 20 runs, at least two of each kind)
    duplicate_rate: float = 0.05
    hold_rate: float = 0.03
    fanout: tuple[int, int] = (150, 600)
    threads: int = 2  # invocations at once in the worker process

    @classmethod
    def small(cls, seed: int = 7) -> Config:
        return cls(runs=50, seed=seed, kills=2, faults=len(FAULTS), duplicate_rate=0.1, hold_rate=0.06,
                   fanout=(150, 250))


@dataclass
class Report:
    """What the suite saw and the checks that failed (``problems`` empty: every check held)."""

    config: Config
    expected: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    purview_faults: Counter[str] = field(default_factory=Counter)  # failures served, by kind
    adf_faults: Counter[str] = field(default_factory=Counter)
    holds: int = 0
    waits: int = 0  # times a run was found not ended and put back
    duplicates: int = 0
    kills: int = 0
    killed_mid_write: bool = False
    worker_starts: int = 0
    poison_by_class: Counter[str] = field(default_factory=Counter)
    duplicate_poison: int = 0
    said_entities: int = 0  # what the runs themselves say Purview must hold
    reference_entities: int = 0
    reference_edges: int = 0
    entities: int = 0
    edges: int = 0
    difference: Difference | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    leases_lost: int = 0
    ledger: Counter[str] = field(default_factory=Counter)  # the run ledger's rows of the faulty lane, by outcome
    ledger_table: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def print(self) -> None:
        c = self.config
        print(f"fault suite: {c.runs} runs, seed {c.seed}")
        print(f"  reference lane (no faults): {self.seconds.get('reference', 0):.1f}s; "
              f"faulty lane: {self.seconds.get('faulty', 0):.1f}s")
        for name, served in (("Purview", self.purview_faults), ("Data Factory", self.adf_faults)):
            print(f"  {name} served {sum(served.values())} failures: "
                  + ", ".join(f"{n} {k}" for k, n in sorted(served.items())))
        print(f"  {self.holds} runs held InProgress ({self.waits} waits), {self.duplicates} events delivered twice, "
              f"{self.kills} worker kills ({'one' if self.killed_mid_write else 'none'} during a Purview write), "
              f"{self.worker_starts} worker starts, {self.leases_lost} leases lost")
        print("  runs ended: " + ", ".join(f"{self.ended[k]} {k} (expected {self.expected[k]})"
                                            for k in ("pushed", "skipped", "poisoned")))
        print("  run ledger: " + ", ".join(f"{self.ledger[k]} {k}" for k in ("pushed", "skipped", "waiting",
                                                                          "poisoned")) + " rows")
        print("  poison queue: " + (", ".join(f"{n} {k}" for k, n in sorted(self.poison_by_class.items())) or "empty")
              + (f" ({self.duplicate_poison} run(s) poisoned twice: duplicated events)" if self.duplicate_poison
                 else ""))
        print(f"  Purview: {self.entities} entities, {self.edges} lineage edges "
              f"(reference: {self.reference_entities}, {self.reference_edges}; the runs' own explain output: "
              f"{self.said_entities} entities, each activity with its latest run's facts)")
        if self.difference is not None:
            d = self.difference
            print(f"  compared with the reference: {len(d.missing)} missing, {len(d.extra)} extra, "
                  f"{len(d.changed)} changed")
        if self.ok:
            print("  every check held")
        for problem in self.problems:
            print(f"  FAILED: {problem}")


# ------------------------------------------------------------------------------------------------- faults

@dataclass(frozen=True)
class FaultKind:
    name: str
    inject: Callable[[Lane], None]


FAULTS = (
    FaultKind("purview 429 with Retry-After", lambda lane: lane.purview.inject(
        status=429, retry_after=1, path_contains="/entity/bulk", times=2)),
    FaultKind("purview 429 without Retry-After", lambda lane: lane.purview.inject(
        status=429, path_contains="/entity/bulk")),
    FaultKind("purview 500", lambda lane: lane.purview.inject(status=500, path_contains="/atlas/v2/")),
    FaultKind("purview 503", lambda lane: lane.purview.inject(status=503, path_contains="/atlas/v2/", times=2)),
    FaultKind("purview write answered after the timeout", lambda lane: lane.purview.inject(
        status=0, respond_after_s=HTTP_TIMEOUT_S + 1, path_contains="/entity/bulk", method="POST")),
    FaultKind("purview dropped connection", lambda lane: lane.purview.inject(
        drop=True, path_contains="/atlas/v2/")),
    FaultKind("data factory 429 with Retry-After", lambda lane: lane.adf.inject(
        status=429, retry_after=1, path_contains="/pipelineruns/")),
    FaultKind("data factory 500", lambda lane: lane.adf.inject(status=500, path_contains="/queryActivityruns")),
    FaultKind("data factory 503", lambda lane: lane.adf.inject(status=503, path_contains="/providers/", times=2)),
    FaultKind("data factory too slow", lambda lane: lane.adf.inject(
        status=0, delay_s=HTTP_TIMEOUT_S + 0.5, path_contains="/pipelineruns/")),
    FaultKind("data factory dropped connection", lambda lane: lane.adf.inject(
        drop=True, path_contains="/providers/")),
)


class Injector:
    """Injects the planned failures as the faulty lane's work progresses (by runs settled), kills included."""

    def __init__(self, running: Lane, config: Config, rng: random.Random, total: int) -> None:
        self.running = running
        self.rng = rng
        count = config.faults if config.faults is not None else max(2 * len(FAULTS), config.runs // 20)
        kinds = [FAULTS[i % len(FAULTS)] for i in range(count)]
        rng.shuffle(kinds)
        self.plan: list[tuple[int, FaultKind | str]] = sorted(
            [(rng.randrange(1, max(2, int(total * 0.9))), kind) for kind in kinds]
            + [(int(total * (i + 1) / (config.kills + 1)), "kill-mid-write" if i == 0 else "kill")
               for i in range(config.kills)], key=lambda item: item[0])
        self.kills = 0
        self.killed_mid_write = False
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="injector", daemon=True)

    def __enter__(self) -> Injector:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        try:
            while self.plan and not self._stop.is_set():
                settled = len(self.running.outcomes())
                while self.plan and self.plan[0][0] <= settled:
                    _, what = self.plan.pop(0)
                    if isinstance(what, FaultKind):
                        what.inject(self.running)
                    else:
                        self._kill(mid_write=what == "kill-mid-write")
                self._stop.wait(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the suite, not lost in a thread
            self.error = exc

    def _kill(self, *, mid_write: bool) -> None:
        """SIGKILL the worker (during a Purview write when asked: the write lands, its answer never comes back),
        then start a new one: cold caches, and the messages the dead one held come back after their lease."""
        [worker] = self.running.live_workers()
        if mid_write:
            purview = self.running.purview
            before = purview.faults_served["late answer"]
            purview.inject(status=0, respond_after_s=30, path_contains="/entity/bulk", method="POST")
            deadline = time.monotonic() + 30
            while purview.faults_served["late answer"] == before and time.monotonic() < deadline:
                time.sleep(0.01)
            self.killed_mid_write = purview.faults_served["late answer"] > before
            time.sleep(0.05)  # the write is applied before the answer is held back
        else:
            time.sleep(self.rng.random() * 0.3)
        worker.kill()
        self.kills += 1
        self.running.start_worker()


# -------------------------------------------------------------------------------------------------- lanes

WORKER_ARGS = ("--http-timeout", str(HTTP_TIMEOUT_S), "--lease", str(LEASE_S), "--visibility-timeout",
               str(VISIBILITY_S))


@dataclass(frozen=True)
class Setup:
    """What both lanes share."""

    config: Config
    azurite: Azurite
    tls: LocalTLS
    workdir: Path


@contextmanager
def _lane(name: str, runs: Sequence[corpus.Run], setup: Setup) -> Iterator[Lane]:
    with lane(name, runs, setup.azurite, setup.tls, setup.workdir / name,
              worker_args=(*WORKER_ARGS, "--threads", str(setup.config.threads))) as running:
        running.adf.deny(corpus.DENIED_FACTORY, "queryActivityruns")
        yield running


def run_reference(runs: Sequence[corpus.Run], setup: Setup) -> tuple[Snapshot, list[dict[str, Any]], float]:
    started = time.perf_counter()
    with _lane("reference", runs, setup) as running:
        running.start_worker()
        for i, run in enumerate(runs):
            running.deliver(run, schema="cloudevents" if i % 2 else "eventgrid")
        running.wait_until_settled([r.run_id for r in runs], timeout_s=60 + 2 * len(runs))
        running.stop_workers()
        return snapshot(running.purview.entities()), list(running.ledger_rows()), time.perf_counter() - started


def run_suite(config: Config, azurite: Azurite | None = None) -> Report:
    """Both lanes, then every check; the report says what failed."""
    report = Report(config)
    runs = corpus.build(config.runs, config.seed, fanout=config.fanout)
    report.expected.update(r.expect for r in runs)
    with tempfile.TemporaryDirectory(prefix="lineage-faults-") as tmp:
        workdir = Path(tmp)
        tls = make_local_tls(workdir / "tls")
        own = Azurite() if azurite is None else None
        if own is not None:
            own.start()
        try:
            used = azurite or own
            assert used is not None
            setup = Setup(config, used, tls, workdir)
            reference, reference_rows, report.seconds["reference"] = run_reference(runs, setup)
            _check_outcomes(report, runs, reference_rows, "reference lane")
            started = time.perf_counter()
            _run_faulty(report, runs, setup, reference)
            report.seconds["faulty"] = time.perf_counter() - started
        finally:
            if own is not None:
                own.stop()
    return report


def _run_faulty(report: Report, runs: Sequence[corpus.Run], setup: Setup, reference: Snapshot) -> None:
    config = setup.config
    rng = random.Random(f"faults-{config.seed}")
    with _lane("faulty", runs, setup) as running:
        held = [r for r in runs if r.served and r.expect != "poisoned" and rng.random() < config.hold_rate]
        for run in held:
            running.adf.hold_in_progress(run.run_id, reads=rng.choice((1, 2)))
        report.holds = len(held)
        running.start_worker()
        with Injector(running, config, random.Random(f"injector-{config.seed}"), total=len(runs)) as injector:
            report.duplicates = _deliver_with_duplicates(running, runs, config, rng)
            running.wait_until_settled([r.run_id for r in runs], timeout_s=120 + 3 * len(runs))
        if injector.error is not None:
            report.problems.append(f"the injector failed: {injector.error!r}")
        report.kills, report.killed_mid_write = injector.kills, injector.killed_mid_write
        if injector.plan:
            report.problems.append(f"{len(injector.plan)} planned faults or kills never happened")
        running.stop_workers()
        report.worker_starts = len(running.workers)
        report.purview_faults, report.adf_faults = Counter(running.purview.faults_served), Counter(
            running.adf.faults_served)
        report.waits = sum(1 for row in running.ledger_rows() if row.get("outcome") == "waiting")
        report.leases_lost = _leases_lost(running)
        _check_outcomes(report, runs, running.ledger_rows(), "faulty lane")
        _check_poison(report, runs, running)
        _check_ledger(report, runs, running)
        if running.queue_depth():
            report.problems.append(f"{running.queue_depth()} messages left on the work queue")
        actual = snapshot(running.purview.entities())
    report.reference_entities, report.reference_edges = len(reference.entities), reference.edges
    report.entities, report.edges = len(actual.entities), actual.edges
    said = expected_entities(runs)
    report.said_entities = len(said)
    for name, shot in (("reference", reference), ("faulty", actual)):
        if shot.duplicates:
            report.problems.append(f"{name} Purview holds duplicates: {shot.duplicates[:3]}")
        if shot.dangling:
            report.problems.append(f"{name} Purview holds references to missing entities: {shot.dangling[:3]}")
        report.problems.extend(f"{name} Purview: {problem}" for problem in check_against_runs(shot, said))
    report.difference = compare(reference, actual)
    d = report.difference
    if d.missing:
        report.problems.append(f"{len(d.missing)} entities of the reference are missing, e.g. {d.missing[:3]}")
    if d.extra:
        report.problems.append(f"{len(d.extra)} entities the reference does not have, e.g. {d.extra[:3]}")
    for key, what in d.changed[:5]:
        report.problems.append(f"{key[0]} {key[1]} differs from the reference: {what}")
    if len(d.changed) > 5:
        report.problems.append(f"... and {len(d.changed) - 5} more entities differ")


def _deliver_with_duplicates(running: Lane, runs: Sequence[corpus.Run], config: Config,
                             rng: random.Random) -> int:
    """Every event once, a few twice (Event Grid redelivering the same event, or the emitter sending again),
    the second copy some way behind the first; paced so the worker is busy while events still arrive."""
    later: list[tuple[int, corpus.Run, str]] = []
    duplicates = 0
    for i, run in enumerate(runs):
        event_id = running.deliver(run, schema="cloudevents" if i % 2 else "eventgrid")
        if rng.random() < config.duplicate_rate:
            later.append((i + rng.randrange(1, 60), run, event_id if rng.random() < 0.5 else ""))
        for due in [item for item in later if item[0] <= i]:
            later.remove(due)
            running.deliver(due[1], event_id=due[2] or None)
            duplicates += 1
        if i % 25 == 24:
            time.sleep(0.05)
    for _, run, event_id in later:
        running.deliver(run, event_id=event_id or None)
        duplicates += 1
    return duplicates


def _leases_lost(running: Lane) -> int:
    return sum(w.errors().count("lease lost") for w in running.workers)


ALREADY_POISONED = "already in the poison queue"


def _check_outcomes(report: Report, runs: Sequence[corpus.Run], rows: Sequence[dict[str, Any]], where: str) -> None:
    """Every run ended in exactly one place, the one expected of it, with a reason when it was not pushed."""
    ended: dict[str, set[str]] = {}
    unexplained: set[str] = set()
    for row in rows:
        if row.get("outcome") == "skipped" and ALREADY_POISONED in str(row.get("detail")):
            # A duplicate of a message already poisoned, acknowledged: the run's place is the poison queue. It may be
            # the only row of the run, when the worker that wrote the envelope was killed before it logged the outcome.
            ended.setdefault(str(row.get("runId")), set()).add("poisoned")
            continue
        if row.get("outcome") in TERMINAL:
            ended.setdefault(str(row.get("runId")), set()).add(str(row["outcome"]))
            if row["outcome"] != "pushed" and not str(row.get("detail") or "").strip():
                unexplained.add(str(row.get("runId")))
    wrong = []
    for run in runs:
        places = ended.get(run.run_id, set())
        if where == "faulty lane" and len(places) == 1:
            report.ended[next(iter(places))] += 1
        if places != {run.expect}:
            wrong.append(f"{run.kind} run {run.run_id}: {sorted(places) or 'no outcome'} (expected {run.expect})")
    if wrong:
        report.problems.append(f"{where}: {len(wrong)} runs did not end where expected, e.g. {wrong[:3]}")
    if unexplained:
        report.problems.append(f"{where}: {len(unexplained)} runs skipped or poisoned without a reason")


def _check_ledger(report: Report, runs: Sequence[corpus.Run], running: Lane) -> None:
    """The run ledger says of every run what the run did: one row each, its outcome the expected one."""
    report.ledger_table = running.env[TABLE_SETTING]
    table = LedgerTable.connect(report.ledger_table, connection_string=running.azurite.connection_string)
    entries = list(RunLedger(table).find(Query()))
    report.ledger = Counter(e.outcome for e in entries)
    by_run = Counter(e.run_id for e in entries)
    twice = [run_id for run_id, n in by_run.items() if n > 1]
    if twice:
        report.problems.append(f"run ledger: runs with more than one row: {twice[:3]}")
    outcome = {e.run_id: e.outcome for e in entries}
    wrong = [f"{r.kind} run {r.run_id}: {outcome.get(r.run_id, 'no row')} (expected {r.expect})"
             for r in runs if outcome.get(r.run_id) != r.expect]
    if wrong:
        report.problems.append(f"run ledger: {len(wrong)} rows say otherwise than the run did, e.g. {wrong[:3]}")


def _check_poison(report: Report, runs: Sequence[corpus.Run], running: Lane) -> None:
    """Poison holds the runs that can never be processed, each with its reason, and nothing else."""
    envelopes = running.poison_envelopes()
    by_run: Counter[str] = Counter(e.run_id or "" for e in envelopes)
    report.poison_by_class.update(e.error_class for e in envelopes)
    report.duplicate_poison = sum(1 for n in by_run.values() if n > 1)
    expected = {r.run_id: r for r in runs if r.expect == "poisoned"}
    for envelope in envelopes:
        run = expected.get(envelope.run_id or "")
        if run is None:
            report.problems.append(f"poison for a run that can be processed ({envelope.error_class}: "
                                   f"{envelope.reason[:200]})")
        elif envelope.error_class != run.error_class or not envelope.reason.strip():
            report.problems.append(f"poison for {run.kind} run {run.run_id} has {envelope.error_class}: "
                                   f"{envelope.reason[:200]!r} (expected {run.error_class} with a reason)")
    missing = set(expected) - set(by_run)
    if missing:
        report.problems.append(f"{len(missing)} runs that cannot be processed are not in the poison queue")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="pipeline runs (default 1000; 50 with --small)")
    parser.add_argument("--small", action="store_true", help="the quick version the tests run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, help="worker kills (default 3; 2 with --small)")
    args = parser.parse_args(argv)
    config = Config.small(args.seed) if args.small else Config(seed=args.seed)
    if args.runs is not None:
        config = replace(config, runs=args.runs)
    if args.kills is not None:
        config = replace(config, kills=args.kills)
    report = run_suite(config)
    report.print()
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
