"""End to end through Azurite and the local servers: runs per second, queue-drain time, API calls per run.

One lane (``benchmarks.harness``): events go through the real ``on_run_completed`` into Azurite, a worker OS
process drains the queue with the Functions host's semantics, reading runs back from the local Data Factory and
writing to the local Purview over HTTPS. Two passes of the same pipelines in one worker process: the first with
cold caches (definitions, known assets, activity facts), the second — the next day's runs of the same pipelines —
warm. The events of a pass are queued while the worker is paused, so a pass times the drain of a backlog. Then, for
comparison, the first pass's runs pushed the way the peer accelerators push (one look-up per asset and one bulk
call per run, nothing cached: ``PeerWriter``), and a subset the naive way (one Purview call per entity, a new
connection per call, no definition cache).

Calls per run are counted by the local servers (every request they answered); CPU per run is read from /proc for
the worker process(es), this process (the local Data Factory and Purview, which also checks every Purview request
body against the published API spec) and Azurite. The worker runs up to ``--threads`` invocations at once, as the
Functions Python worker runs synchronous functions on a thread pool. Usage::

    python benchmarks/e2e.py [--runs 1000] [--peer-runs 1000] [--naive-runs 200] [--repeat 1] [--threads 4]
                             [--processes 1] [--new-assets] [--profile FILE(.pstats)]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from azure.core.credentials import TokenCredential
from pyapacheatlas.auth.azcredential import AzCredentialWrapper
from pyapacheatlas.core import AtlasClient

from benchmarks import corpus
from benchmarks.harness import Lane, lane
from lineage.azure.datafactory import DataFactoryReader
from lineage.azure.purview import PurviewError, PurviewWriter, PushResult, plan_batches
from lineage.azure.queues import Queues
from lineage.extract.runrecord import FactoryId
from lineage.extract.stores import Asset
from lineage.local import worker_process
from lineage.local.azurite import Azurite
from lineage.local.credential import LocalCredential
from lineage.local.tls import make_local_tls
from lineage.service import wiring
from lineage.service.events import RECONCILED, RunRef, WorkMessage, now_iso
from lineage.service.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
NAIVE_WORKER = "--serve-naive-worker"
PEER_WORKER = "--serve-peer-worker"
PROFILED_WORKER = "--serve-cpu-profiled-worker"


# ----------------------------------------------------------------------------- the peer accelerators' way

class PeerWriter(PurviewWriter):
    """What the peer accelerators do, as a fair baseline: each asset the run's lineage names (a source or a sink) looked
    up once, by its own type and qualifiedName (does Purview hold it?), then the whole run in one bulk call that
    references the assets Purview holds and creates the others, with their parents (more calls only past 1,000
    entities, as ours). Nothing is remembered from one call to the next: no known or missing assets, no type
    definitions, no activity facts; no other identity of an asset (a view, a resource set, the other storage family)
    is looked for. Its connections are kept alive, as ours are: the comparison is one of calls, not of TLS
    handshakes."""

    def resolve(self, assets: Iterable[Asset]) -> dict[Asset, Asset]:
        return {asset: asset for asset in assets}  # each asset as the run names it; looked up in ``push``

    def push(self, entities: Sequence[Mapping[str, Any]], collection: str | None = None) -> PushResult:
        if collection is not None:  # the comparison runs without collections: the root, as these writers write
            raise NotImplementedError("the naive writers write to the root collection only")
        result = PushResult()
        named = {(str(ref["typeName"]), str(ref["uniqueAttributes"]["qualifiedName"]))
                 for e in entities if str(e["typeName"]).endswith("_operation")
                 for ref in (*e["attributes"].get("inputs", []), *e["attributes"].get("outputs", []))}
        existing = {key for key in sorted(named) if self._holds(key)}
        for batch in plan_batches(entities, existing, self.max_entities_per_call):
            body = self._call("upload", partial(self._client.upload_entities, batch=batch))
            mutated = body.get("mutatedEntities") or {} if isinstance(body, Mapping) else {}
            result.created += len(mutated.get("CREATE", []))
            result.updated += len(mutated.get("UPDATE", [])) + len(mutated.get("PARTIAL_UPDATE", []))
            result.calls += 1
        return result

    def _holds(self, key: tuple[str, str]) -> bool:
        """One look-up of one asset (pyapacheatlas' ``get_entity``: ``GET /entity/bulk/uniqueAttribute/type/...``)."""
        try:
            body = self._call("lookup", partial(self._client.get_entity, qualifiedName=key[1], typeName=key[0],
                                                ignoreRelationships=True, minExtInfo=True))
        except PurviewError as exc:
            if exc.status == 404:
                return False
            raise
        return isinstance(body, Mapping) and bool(body.get("entities"))


def build_peer_worker(env: Mapping[str, str], queues: Queues, http_timeout_s: float) -> Worker:
    credential = LocalCredential()
    reader = DataFactoryReader(credential, base_url=env["DATAFACTORY_ENDPOINT"], timeout_s=http_timeout_s,
                               cache_ttl_s=0.0)  # every definition read again for every run
    writer = PeerWriter(credential, wiring.purview_endpoint(env), timeout_s=http_timeout_s)
    return Worker(reader, writer, queues, wiring.lineage_options(env), wiring.worker_settings(env))


# ------------------------------------------------------------------------------------------- the naive way

class NaiveWriter(PurviewWriter):
    """What a first version would do: one Purview call per entity, each on a new connection (pyapacheatlas as it
    comes), referenced entities first; nothing looked up, nothing remembered."""

    def __init__(self, credential: TokenCredential, endpoint: str, timeout_s: float) -> None:
        super().__init__(credential, endpoint, timeout_s=timeout_s)
        self._plain = AtlasClient(endpoint, authentication=AzCredentialWrapper(credential),
                                  requests_timeout=timeout_s)

    def push(self, entities: Sequence[Mapping[str, Any]], collection: str | None = None) -> PushResult:
        if collection is not None:  # the comparison runs without collections: the root, as these writers write
            raise NotImplementedError("the naive writers write to the root collection only")
        result = PushResult()
        for entity in _parents_first(entities):  # every entity after the ones it references
            self._call("upload", partial(self._plain.upload_entities, batch=[{**entity, "guid": "-1"}]))
            result.calls += 1
        return result


def _parents_first(entities: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Factory, pipeline, activities, assets (a table after its schema, database and server), operations."""
    by_key = {(e["typeName"], e["attributes"]["qualifiedName"]): e for e in entities}
    placed: set[tuple[str, str]] = set()
    order: list[Mapping[str, Any]] = []

    def place(entity: Mapping[str, Any]) -> None:
        key = (entity["typeName"], entity["attributes"]["qualifiedName"])
        if key in placed:
            return
        placed.add(key)
        for ref in (entity.get("relationshipAttributes") or {}).values():
            target = by_key.get((ref.get("typeName"), (ref.get("uniqueAttributes") or {}).get("qualifiedName")))
            if target is not None:
                place(target)
        order.append(entity)

    for entity in entities:
        place(entity)
    return order


def build_naive_worker(env: Mapping[str, str], queues: Queues, http_timeout_s: float) -> Worker:
    credential = LocalCredential()
    reader = DataFactoryReader(credential, base_url=env["DATAFACTORY_ENDPOINT"], timeout_s=http_timeout_s,
                               cache_ttl_s=0.0)  # every definition read again for every run
    writer = NaiveWriter(credential, wiring.purview_endpoint(env), http_timeout_s)
    return Worker(reader, writer, queues, wiring.lineage_options(env), wiring.worker_settings(env))


# ------------------------------------------------------------------------------------------------ passes

@dataclass
class Pass:
    label: str
    runs: int
    activity_runs: int
    intake_s: float  # the events through on_run_completed onto the queue
    drain_s: float  # worker unpaused -> last run settled
    adf: Counter[str]
    purview: Counter[str]
    outcomes: Counter[str]
    cpu_s: dict[str, float]  # CPU seconds during the drain, per process

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.drain_s

    def per_run(self, calls: Counter[str], which: Callable[[str], bool] = lambda _: True) -> float:
        """Calls per run of the requests whose counter key (``METHOD path-with-ids-collapsed``) ``which`` picks."""
        return sum(n for key, n in calls.items() if which(key)) / self.runs


def run_get(key: str) -> bool:
    return key.startswith("GET ") and key.endswith("/pipelineruns/*")


def activity_query(key: str) -> bool:
    return key.endswith("/queryActivityruns")


def definition(key: str) -> bool:
    return any(f"/{kind}/" in key for kind in ("pipelines", "datasets", "linkedservices", "dataflows",
                                                 "globalParameters"))


def bulk_write(key: str) -> bool:
    return key.startswith("POST ") and key.endswith("/entity/bulk")


def lookup(key: str) -> bool:
    return "/uniqueAttribute/" in key


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    if pid is None:
        return 0.0
    if pid == os.getpid():
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_pass(running: Lane, runs: Sequence[corpus.Run], label: str, pause: Path, *,
               reconciled: bool = False) -> Pass:
    """Queue the runs' events while the worker is paused, then time the drain. ``reconciled``: queue instead the
    work messages a reconcile pass queues for runs it finds ended (the run ledger decides whether each needs work)."""
    pause.touch()
    adf_before, purview_before = Counter(running.adf.stats), Counter(running.purview.stats)
    started = time.perf_counter()
    for i, run in enumerate(runs):
        if reconciled:
            ref = RunRef(FactoryId.parse(run.factory), run.run_id)
            running.queues.send(WorkMessage(ref, RECONCILED, now_iso()).to_json())
        else:
            running.deliver(run, schema="cloudevents" if i % 2 else "eventgrid")
    intake = time.perf_counter() - started
    time.sleep(0.2)  # the worker is in its paused wait
    pids: dict[str, list[int | None]] = {"workers": [w.pid for w in running.live_workers()],
                                         "servers": [os.getpid()], "azurite": [running.azurite.pid]}
    cpu_before = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    go = time.time()
    pause.unlink()
    last = running.wait_until_settled([r.run_id for r in runs], timeout_s=1800)
    cpu = {name: sum(cpu_seconds(pid) for pid in group) - cpu_before[name] for name, group in pids.items()}
    outcomes: Counter[str] = Counter()
    for run in runs:
        outcomes.update(running.outcomes().get(run.run_id, {"none"}))
    return Pass(label, len(runs), sum(r.activity_runs for r in runs), intake, last - go,
                Counter(running.adf.stats) - adf_before, Counter(running.purview.stats) - purview_before, outcomes,
                cpu)


def measure(runs: int, naive_runs: int, seed: int, workdir: Path, azurite: Azurite, *,
            profile: Path | None = None, new_assets: bool = False, threads: int = 4,
            processes: int = 1, peer_runs: int = 0) -> list[Pass]:
    tls = make_local_tls(workdir / "tls")
    day1 = corpus.build(runs, seed, own_table=new_assets)
    day2 = corpus.build(runs, seed, start=runs, own_table=new_assets)
    passes = []
    pause = workdir / "pause"
    worker_args = ["--pause-file", str(pause), "--visibility-timeout", "2", "--threads", str(threads)]
    with lane("e2e", [*day1, *day2], azurite, tls, workdir / "e2e", worker_args=worker_args) as running:
        pause.touch()
        command = None
        if profile is not None and profile.suffix == ".pstats":
            command = [sys.executable, str(Path(__file__).resolve()), PROFILED_WORKER, str(profile)]
        elif profile is not None:
            command = [sys.executable, "-m", "pyinstrument", "--renderer", "text", "-o", str(profile),
                       "-m", "lineage.local.worker_process"]
        for _ in range(processes):
            running.start_worker(command)
        passes.append(timed_pass(running, day1, "cold caches", pause))
        passes.append(timed_pass(running, day2, "warm caches", pause))
        passes.append(timed_pass(running, day1, "reconciled, done", pause, reconciled=True))
        running.stop_workers()
    for name, count, script, label in (("peer", peer_runs, PEER_WORKER, "peer way"),
                                       ("naive", naive_runs, NAIVE_WORKER, "naive")):
        if not count:
            continue
        subset = day1[:count]
        with lane(name, subset, azurite, tls, workdir / name, worker_args=worker_args) as running:
            pause.touch()
            for _ in range(processes):
                running.start_worker([sys.executable, str(Path(__file__).resolve()), script])
            passes.append(timed_pass(running, subset, f"{label} ({len(subset)} runs)", pause))
            running.stop_workers()
    return passes


def report(passes: Sequence[Pass]) -> None:
    print(f"{'pass':<20} {'runs':>5} {'act.runs':>8} {'intake s':>8} {'drain s':>8} {'runs/s':>7}  "
          f"{'ADF calls/run':>13} {'(run GET':>8} {'act.query':>9} {'defs)':>6}  "
          f"{'Purview calls/run':>17} {'(bulk':>6} {'lookup)':>7}")
    for p in passes:
        print(f"{p.label:<20} {p.runs:>5} {p.activity_runs:>8,} {p.intake_s:>8.1f} {p.drain_s:>8.1f} "
              f"{p.runs_per_s:>7.1f}  {p.per_run(p.adf):>13.2f} {p.per_run(p.adf, run_get):>8.2f} "
              f"{p.per_run(p.adf, activity_query):>9.2f} {p.per_run(p.adf, definition):>6.2f}  "
              f"{p.per_run(p.purview):>17.2f} {p.per_run(p.purview, bulk_write):>6.2f} "
              f"{p.per_run(p.purview, lookup):>7.2f}")
    for p in passes:
        print(f"  {p.label}: " + ", ".join(f"{n} {o}" for o, n in sorted(p.outcomes.items()))
              + "; CPU ms per run: " + ", ".join(f"{name} {seconds / p.runs * 1000:.1f}"
                                                 for name, seconds in p.cpu_s.items())
              + f" (drain {p.drain_s / p.runs * 1000:.1f} ms per run)")
    print("  floors: Data Factory, 1 run GET + 1 activity-run query per 100 activity runs (a run that is not known "
          "makes only the GET); Purview, 1 bulk write per 1,000 entities (none for a run that cannot be read), "
          "+ 1 lookup per asset type when a run names assets not seen before, + 1 per activity type the first "
          "time a worker process writes that activity")


def serve_cpu_profiled(out: Path, argv: list[str]) -> int:
    """The worker under cProfile counting CPU time, not wall time (waits on the network do not show). The
    invocations run on threads, which a profiler enabled in the main thread never sees: each thread gets a profiler
    of its own timed by its own CPU clock, and all are merged into one file at the end."""
    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()
    thread_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profiler = cProfile.Profile(timer=time.thread_time)
        with lock:
            profilers.append(profiler)
        profiler.runcall(thread_run, thread)

    threading.Thread.run = profiled_run  # type: ignore[method-assign,assignment]
    main_profiler = cProfile.Profile(timer=time.thread_time)
    main_profiler.enable()
    try:
        return worker_process.serve(argv)
    finally:
        main_profiler.disable()
        threading.Thread.run = thread_run  # type: ignore[method-assign]
        stats = pstats.Stats(main_profiler)
        with lock:
            for profiler in profilers:
                stats.add(profiler)
        stats.dump_stats(out)


def main(argv: list[str]) -> int:
    if argv[:1] == [NAIVE_WORKER]:
        return worker_process.serve(argv[1:], build=build_naive_worker)
    if argv[:1] == [PEER_WORKER]:
        return worker_process.serve(argv[1:], build=build_peer_worker)
    if argv[:1] == [PROFILED_WORKER]:
        return serve_cpu_profiled(Path(argv[1]), argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="runs per pass (default 1000)")
    parser.add_argument("--peer-runs", type=int, help="runs pushed the peer accelerators' way: one look-up per "
                        "asset, one bulk call per run, nothing cached (default: --runs; 0: skip)")
    parser.add_argument("--naive-runs", type=int, default=200, help="runs pushed the naive way (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times (the machine is noisy)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=Path, help="profile the worker process with pyinstrument into this file "
                        "(wall time, as text; pip install pyinstrument); a name ending in .pstats: cProfile of its "
                        "CPU time")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (the host's worker process "
                        "count, or instances)")
    parser.add_argument("--threads", type=int, default=4, help="invocations at once in each worker process")
    parser.add_argument("--new-assets", action="store_true",
                        help="each ForEach run also writes a table no run wrote before (costs lookups when warm)")
    args = parser.parse_args(argv)
    sample = corpus.build(args.runs, args.seed)
    print(f"corpus: {args.runs} runs per pass, {sum(r.activity_runs for r in sample):,} activity runs; "
          + ", ".join(f"{n} {k}" for k, n in corpus.summary(sample).items()))
    with Azurite() as azurite:
        for attempt in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="lineage-e2e-") as tmp:
                load = os.getloadavg()[0]
                passes = measure(args.runs, args.naive_runs, args.seed, Path(tmp), azurite, profile=args.profile,
                                 new_assets=args.new_assets, threads=args.threads, processes=args.processes,
                                 peer_runs=args.runs if args.peer_runs is None else args.peer_runs)
                print(f"\nmeasurement {attempt + 1} of {args.repeat} (load average {load:.2f} before, "
                      f"{os.getloadavg()[0]:.2f} after; {os.cpu_count()} cores, {args.processes} worker "
                      f"process(es) of {args.threads} invocations at once):")
                report(passes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
