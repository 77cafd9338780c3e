"""The corpus through the real path: Azurite, the local Data Factory and Purview servers, worker OS processes.

A ``Lane`` is one independent copy of the service: its own work and poison queues in a shared Azurite, its own local
Data Factory (serving the corpus) and local Purview, and worker processes (``lineage.local.worker_process``) that
drain its queue the way the Functions host does. Events go through the real ``on_run_completed`` in this process.
The fault suite runs a fault-free lane and a faulty one and compares what their Purviews hold; the end-to-end
benchmark times lanes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from azure.storage.queue import QueueClient

from benchmarks.corpus import Run
from lineage.azure.ledger import TABLE_SETTING
from lineage.azure.queues import POISON_SUFFIX, Queues
from lineage.extract.config import LineageOptions
from lineage.extract.entities import activity_facts, explain
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord
from lineage.local.adf_server import AdfServer
from lineage.local.azurite import Azurite
from lineage.local.host import LocalHost
from lineage.local.purview_server import PurviewServer
from lineage.local.stack import ledger_table
from lineage.local.tls import LocalTLS
from lineage.local.worker_process import read_ledger_lines
from lineage.service.events import RunRef, cloud_event, event_grid_event
from lineage.service.poison import PoisonEnvelope, read_poison

ROOT = Path(__file__).resolve().parent.parent
TOPIC = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
         "/providers/Microsoft.EventGrid/topics/adf-lineage")
TERMINAL = frozenset({"pushed", "skipped", "poisoned"})
EntityKey = tuple[str, str]


class WorkerProcess:
    """One worker OS process of a lane; its output goes to files next to the lane's ledger."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], workdir: Path, number: int) -> None:
        self.out_path = workdir / f"worker-{number}.out"
        self.err_path = workdir / f"worker-{number}.err"
        self._out: IO[bytes] = self.out_path.open("wb")
        self._err: IO[bytes] = self.err_path.open("wb")
        self.process = subprocess.Popen(list(command), env=dict(env), cwd=ROOT, stdout=self._out, stderr=self._err)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds until the process said it polls; raises if it died or took too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.out_path.read_bytes().startswith(b"ready"):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise RuntimeError(f"worker process exited with {self.process.returncode}: {self.errors()[-2000:]}")
            time.sleep(0.02)
        raise TimeoutError(f"worker process not ready within {timeout_s:.0f}s")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when the host loses the machine."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close()

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM: the message in hand is finished, the rest of the batch handed back."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def alive(self) -> bool:
        return self.process.poll() is None

    def errors(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def _close(self) -> None:
        for handle in (self._out, self._err):
            if not handle.closed:
                handle.close()


@dataclass
class Lane:
    """One copy of the service (queues, local Data Factory and Purview) and its worker processes."""

    name: str
    azurite: Azurite
    tls: LocalTLS
    workdir: Path
    queues: Queues
    adf: AdfServer
    purview: PurviewServer
    host: LocalHost
    worker_args: Sequence[str]
    workers: list[WorkerProcess] = field(default_factory=list)
    _started: int = 0
    _ledger_offset: int = 0
    _ledger_lock: threading.Lock = field(default_factory=threading.Lock)
    _ledger_rows: list[dict[str, Any]] = field(default_factory=list)
    _outcomes: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ledger(self) -> Path:
        return self.workdir / "ledger.jsonl"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AzureWebJobsStorage": self.azurite.connection_string,
            "LINEAGE_QUEUE_NAME": self.queues.work.queue_name,
            TABLE_SETTING: ledger_table(self.queues.work.queue_name),
            "DATAFACTORY_ENDPOINT": self.adf.url,
            "PURVIEW_ENDPOINT": f"{self.purview.url}/datamap/api/atlas/v2",
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_bundle),
            "LINEAGE_WAIT_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
        }

    def start_worker(self, command: Sequence[str] | None = None) -> WorkerProcess:
        """A new worker process (cold caches), started and polling when this returns."""
        self._started += 1
        base = list(command) if command is not None else [sys.executable, "-m", "lineage.local.worker_process"]
        worker = WorkerProcess([*base, "--ledger", str(self.ledger), *self.worker_args], self.env, self.workdir,
                               self._started)
        worker.wait_ready()
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def deliver(self, run: Run, *, schema: str = "eventgrid", event_id: str | None = None) -> str:
        """The run's completion event, through the real ``on_run_completed``; returns the event id."""
        ref = RunRef(FactoryId.parse(run.factory), run.run_id)
        event_id = event_id or str(uuid.uuid4())
        status, pipeline = str(run.record["pipelineRun"].get("status")), str(run.record["pipelineRun"]["pipelineName"])
        payload = (cloud_event(event_id, ref, status=status, pipeline=pipeline) if schema == "cloudevents"
                   else event_grid_event(event_id, ref, topic=TOPIC, status=status, pipeline=pipeline))
        self.host.deliver(payload)
        return event_id

    def queue_depth(self) -> int:
        """Messages in the work queue, visible or not (leased, waiting to retry, waiting for a run to end)."""
        return int(self.queues.work.get_queue_properties().approximate_message_count or 0)

    def ledger_rows(self) -> list[dict[str, Any]]:
        """Every complete ledger line so far (read on from where the last call stopped)."""
        with self._ledger_lock:
            return self._read_ledger()

    def _read_ledger(self) -> list[dict[str, Any]]:
        if self.ledger.exists():
            with self.ledger.open("rb") as handle:
                handle.seek(self._ledger_offset)
                chunk = handle.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next call
            self._ledger_offset += len(complete)
            for row in read_ledger_lines(complete.decode("utf-8", "replace")):
                self._ledger_rows.append(row)
                if row.get("outcome") in TERMINAL and row.get("runId"):
                    self._outcomes.setdefault(str(row["runId"]), set()).add(str(row["outcome"]))
        return self._ledger_rows

    def outcomes(self) -> dict[str, set[str]]:
        """Per run id, the terminal outcomes the workers reported (one, unless something went wrong)."""
        with self._ledger_lock:
            self._read_ledger()
            return {run: set(ended) for run, ended in self._outcomes.items()}

    def wait_until_settled(self, run_ids: Iterable[str], timeout_s: float, poll_s: float = 0.2) -> float:
        """Until every run has a terminal outcome and the work queue is empty; returns when the last outcome was
        written (epoch seconds, from the ledger)."""
        wanted = set(run_ids)
        deadline = time.monotonic() + timeout_s
        alive = time.monotonic()
        while time.monotonic() < deadline:
            if self.live_workers():
                alive = time.monotonic()
            elif time.monotonic() - alive > 60:  # a kill is followed by a restart within seconds
                raise RuntimeError(f"lane {self.name}: no worker process alive: {self._last_errors()}")
            if wanted <= set(self.outcomes()) and self.queue_depth() == 0:
                return max(float(row["t"]) for row in self.ledger_rows())
            time.sleep(poll_s)
        missing = len(wanted - set(self.outcomes()))
        raise TimeoutError(f"lane {self.name}: {missing} runs without an outcome and {self.queue_depth()} messages "
                           f"queued after {timeout_s:.0f}s: {self._last_errors()}")

    def poison_envelopes(self) -> list[PoisonEnvelope]:
        """Every message of the poison queue (peeked repeatedly: received and hidden for the rest of the lane)."""
        raw = QueueClient.from_connection_string(self.azurite.connection_string,
                                                 self.queues.work.queue_name + POISON_SUFFIX)
        envelopes: list[PoisonEnvelope] = []
        while True:
            batch = list(raw.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=3600))
            if not batch:
                return envelopes
            envelopes.extend(read_poison(str(m.content)) for m in batch)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def _last_errors(self) -> str:
        tails = [w.errors()[-600:] for w in self.workers if w.errors()]
        return " | ".join(tails) or "no worker errors"


@contextmanager
def lane(name: str, runs: Sequence[Run], azurite: Azurite, tls: LocalTLS, workdir: Path, *,
         worker_args: Sequence[str] = (), spec: bool = True) -> Iterator[Lane]:
    """A lane serving ``runs``; its worker processes are stopped (or killed) on exit."""
    import function_app  # noqa: PLC0415 - the app module lives at the project root

    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        adf = stack.enter_context(AdfServer(None, tls))
        for run in runs:
            if run.served:
                adf.put_run(run.record)
        options: dict[str, Any] = {} if spec else {"spec_path": None}
        purview = stack.enter_context(PurviewServer(tls=tls, **options))
        queue = f"{name}-{uuid.uuid4().hex[:8]}"
        queues = Queues.connect(queue, connection_string=azurite.connection_string)
        queues.create()
        stack.callback(_delete_queues, queues)
        host = LocalHost(queues, azurite.connection_string,
                         on_run_completed=function_app.on_run_completed.build().get_user_function(),
                         push_lineage=function_app.push_lineage.build().get_user_function())
        running = Lane(name, azurite, tls, workdir, queues, adf, purview, host, worker_args)
        try:
            yield running
        finally:
            for worker in running.workers:
                worker.kill()


def _delete_queues(queues: Queues) -> None:
    for client in (queues.work, queues.poison):
        with contextlib.suppress(Exception):  # best effort at the end of a lane; Azurite may be gone already
            client.delete_queue()


# ------------------------------------------------------------------------------------------ what Purview holds

@dataclass(frozen=True)
class Snapshot:
    """A local Purview's entities by (typeName, qualifiedName): attributes, and relationship ends by key."""

    entities: dict[EntityKey, dict[str, Any]]
    duplicates: list[EntityKey]
    dangling: list[str]  # references to a guid the store does not hold

    @property
    def edges(self) -> int:
        """Lineage edges: each operation's inputs and outputs."""
        return sum(len(e["relationships"].get("inputs") or []) + len(e["relationships"].get("outputs") or [])
                   for e in self.entities.values())


def snapshot(entities: Sequence[Mapping[str, Any]]) -> Snapshot:
    by_guid = {str(e["guid"]): (str(e["typeName"]), str(e["attributes"]["qualifiedName"])) for e in entities}
    dangling: list[str] = []

    def end(ref: Any) -> Any:
        if not isinstance(ref, Mapping):
            return ref
        key = by_guid.get(str(ref.get("guid")))
        if key is None:
            dangling.append(str(ref.get("guid")))
            return ("<missing>", str(ref.get("guid")))
        return key

    out: dict[EntityKey, dict[str, Any]] = {}
    duplicates = []
    for entity in entities:
        key = (str(entity["typeName"]), str(entity["attributes"]["qualifiedName"]))
        if key in out:
            duplicates.append(key)
        relationships = {
            name: sorted(end(r) for r in value) if isinstance(value, list) else end(value)
            for name, value in (entity.get("relationshipAttributes") or {}).items()
        }
        out[key] = {"attributes": dict(entity["attributes"]), "relationships": relationships}
    return Snapshot(out, duplicates, dangling)


@dataclass(frozen=True)
class Difference:
    missing: list[EntityKey]  # in the reference, not here
    extra: list[EntityKey]  # here, not in the reference
    changed: list[tuple[EntityKey, str]]  # same entity, different attributes or relationship ends

    @property
    def none(self) -> bool:
        return not (self.missing or self.extra or self.changed)


def compare(reference: Snapshot, actual: Snapshot) -> Difference:
    missing = sorted(set(reference.entities) - set(actual.entities))
    extra = sorted(set(actual.entities) - set(reference.entities))
    changed = []
    for key in sorted(set(reference.entities) & set(actual.entities)):
        want, got = reference.entities[key], actual.entities[key]
        for part in ("attributes", "relationships"):
            if want[part] != got[part]:
                names = sorted(n for n in set(want[part]) | set(got[part]) if want[part].get(n) != got[part].get(n))
                changed.append((key, f"{part}: " + ", ".join(
                    f"{n} {want[part].get(n)!r} != {got[part].get(n)!r}"[:300] for n in names)))
    return Difference(missing, extra, changed)


# ------------------------------------------------------------------------------------ what the runs say

def expected_entities(runs: Iterable[Run], options: LineageOptions | None = None) -> dict[EntityKey, dict[str, Any]]:
    """What Purview must hold after ``runs`` (those that can be processed), from ``explain`` of each run alone:
    every entity any run yields, each activity with the facts of its latest run (by ``lastRunTime``)."""
    options = options or LineageOptions()
    found: dict[EntityKey, dict[str, Any]] = {}
    for run in runs:
        if run.expect == "poisoned":
            continue
        document = explain(extract(RunRecord.from_json(run.record), options), options.pipeline_factory_attribute)
        for entity in document["entities"]:
            key = (str(entity["typeName"]), str(entity["attributes"]["qualifiedName"]))
            old = found.get(key)
            if old is None or int(entity["attributes"].get("lastRunTime") or 0) > int(
                    old["attributes"].get("lastRunTime") or 0):
                found[key] = entity
    return found


def check_against_runs(shot: Snapshot, expected: Mapping[EntityKey, Mapping[str, Any]]) -> list[str]:
    """Where a Purview's entities differ from what the runs say: missing or extra entities, lineage ends, parents,
    and activity facts that are not their latest run's."""
    problems = []
    missing = sorted(set(expected) - set(shot.entities))
    extra = sorted(set(shot.entities) - set(expected))
    if missing:
        problems.append(f"{len(missing)} entities the runs yield are missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} entities no run yields, e.g. {extra[:3]}")
    wrong = []
    for key in sorted(set(expected) & set(shot.entities)):
        want, got = expected[key], shot.entities[key]
        refs = {**{n: v for n, v in want["attributes"].items() if n in ("inputs", "outputs")},
                **(want.get("relationshipAttributes") or {})}
        for name, value in refs.items():
            ends = sorted(_ref_key(r) for r in value) if isinstance(value, list) else _ref_key(value)
            if got["relationships"].get(name) != ends:
                wrong.append(f"{key}: {name} is {got['relationships'].get(name)!r}, the runs say {ends!r}")
        plain = {n: v for n, v in want["attributes"].items() if n not in refs}
        if key[0].startswith("adf_") and key[0].endswith("_activity"):
            plain = {**dict.fromkeys(activity_facts(key[0])), **plain}
        for name, value in plain.items():
            if got["attributes"].get(name) != value:
                wrong.append(f"{key}: {name} is {got['attributes'].get(name)!r}, the runs say {value!r}")
    if wrong:
        problems.append(f"{len(wrong)} values differ from what the runs say, e.g. " + "; ".join(
            w[:300] for w in wrong[:3]))
    return problems


def _ref_key(ref: Mapping[str, Any]) -> EntityKey:
    return (str(ref["typeName"]), str(ref["uniqueAttributes"]["qualifiedName"]))
