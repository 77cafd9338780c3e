"""Extraction throughput and peak memory for synthetic ForEach runs of about N activity runs each.

Each size runs in a fresh process so its peak RSS is its own; each pass extracts and builds the entities of the
whole run, three times: the first pass finds every file name new to the process (what the first run over new files
pays: the resource-set rules run on each), the best of three finds them known (what the next runs over the same
files, and a run's retries and replays, pay; the process remembers 16,384 distinct paths, so at 50,000 files every
pass is a first). Prints a table and how far the cost per run grows from the smallest size to the largest (1.00 is
linear); exits non-zero only on errors (the targets are read by people, not asserted).

Usage: ``python benchmarks/extraction.py [--matched] [RUNS ...]`` (default 500 5000 50000), or
``python benchmarks/extraction.py --profile RUNS`` for where the time goes at one size (cProfile, by own time).
``--matched`` gives each iteration's Copy a setting built from its item (as the gallery's control-table loops do)
and starts the iterations out of item order, so every run is matched to its item by what its input shows.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord

FACTORY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-bench"
    "/providers/Microsoft.DataFactory/factories/bench-adf"
)
DEFAULT_SIZES = (500, 5_000, 50_000)


SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def synthetic_record(iterations: int, mix: bool = True, matched: bool = False) -> dict[str, Any]:
    """A ForEach over the ``iterations`` tables a Lookup lists (no ``userProperties``: each iteration's item comes
    from the Lookup's output, as in the template gallery), each copied from a CSV in Blob storage to its own table.

    With ``mix``, one iteration in ten also runs a Data Flow and one in ten an Execute SSIS Package (the
    definitions of the samples), so every activity type the core reads is in the measurement. Without
    ``matched`` the runs' input shows nothing of their item and they are paired with the items in start order;
    with it, the Copy's file name setting is built from the item, each run's input shows it evaluated, and the
    runs start in a scrambled order: only matching each run by its input gives the right lineage.
    """
    source: dict[str, Any] = {"type": "DelimitedTextSource"}
    if matched:
        source["storeSettings"] = {"type": "AzureBlobStorageReadSettings",
                                   "wildcardFileName": {"value": "@concat(item().name, '.csv')", "type": "Expression"}}
    copy = {
        "name": "CopyTable",
        "type": "Copy",
        "inputs": [{"referenceName": "SourceCsv", "type": "DatasetReference",
                    "parameters": {"file": {"value": "@concat(item().name, '.csv')", "type": "Expression"}}}],
        "outputs": [{"referenceName": "SinkTable", "type": "DatasetReference",
                     "parameters": {"table": {"value": "@item().name", "type": "Expression"}}}],
        "typeProperties": {"source": source, "sink": {"type": "AzureSqlSink"}},
    }
    pipeline = {"name": "BenchPipeline", "properties": {"activities": [
        {"name": "ReadTables", "type": "Lookup", "typeProperties": {"firstRowOnly": False}},
        {"name": "EachTable", "type": "ForEach",
         "typeProperties": {"items": {"value": "@activity('ReadTables').output.value", "type": "Expression"},
                            "activities": [copy]}},
    ]}}
    datasets = {
        "SourceCsv": {"name": "SourceCsv", "properties": {
            "type": "DelimitedText",
            "linkedServiceName": {"referenceName": "Blob", "type": "LinkedServiceReference"},
            "parameters": {"file": {"type": "String"}},
            "typeProperties": {"location": {"type": "AzureBlobStorageLocation", "container": "landing",
                                            "folderPath": {"value": "@concat('daily/', 'in')", "type": "Expression"},
                                            "fileName": {"value": "@dataset().file", "type": "Expression"}}}}},
        "SinkTable": {"name": "SinkTable", "properties": {
            "type": "AzureSqlTable",
            "linkedServiceName": {"referenceName": "Sql", "type": "LinkedServiceReference"},
            "parameters": {"table": {"type": "String"}},
            "typeProperties": {"schema": "dbo", "table": {"value": "@dataset().table", "type": "Expression"}}}},
    }
    linked_services = {
        "Blob": {"name": "Blob", "properties": {"type": "AzureBlobStorage", "typeProperties": {
            "serviceEndpoint": "https://benchraw.blob.core.windows.net/"}}},
        "Sql": {"name": "Sql", "properties": {"type": "AzureSqlDatabase", "typeProperties": {
            "connectionString": "Data Source=bench-sql.database.windows.net;Initial Catalog=sales;"}}},
    }
    if mix:
        _add_mix(pipeline, datasets, linked_services)
    tables = [{"name": f"T{i:05d}"} for i in range(iterations)]
    runs = [{
        "activityName": "ReadTables", "activityRunId": "00000000-0000-0000-0000-00000000000f",
        "activityType": "Lookup", "activityRunStart": "2026-11-24T00:59:00.0000000Z",
        "activityRunEnd": "2026-11-24T00:59:30.0000000Z", "status": "Succeeded", "input": {},
        "output": {"count": iterations, "value": tables}, "userProperties": {}, "pipelineRunId": "bench-run",
    }, {
        "activityName": "EachTable", "activityRunId": "00000000-0000-0000-0000-000000000000", "activityType": "ForEach",
        "activityRunStart": "2026-11-24T01:00:00.0000000Z", "activityRunEnd": "2026-11-24T02:00:00.0000000Z",
        "status": "Succeeded", "input": {}, "output": {}, "userProperties": {}, "pipelineRunId": "bench-run",
    }]
    for i in range(iterations):
        slot = (i * 7_919) % iterations if matched else i  # 7,919 is prime: a permutation unless it divides the count
        run_source: dict[str, Any] = {"type": "DelimitedTextSource"}
        if matched:
            run_source["storeSettings"] = {"type": "AzureBlobStorageReadSettings",
                                           "wildcardFileName": f"{tables[i]['name']}.csv"}
        runs.append({
            "activityName": "CopyTable", "activityRunId": f"00000000-0000-0000-0001-{i:012d}", "activityType": "Copy",
            "activityRunStart": f"2026-11-24T{1 + slot // 3600:02d}:{(slot // 60) % 60:02d}:{slot % 60:02d}.0000000Z",
            "activityRunEnd": f"2026-11-24T{1 + slot // 3600:02d}:{(slot // 60) % 60:02d}:{slot % 60:02d}.5000000Z",
            "status": "Succeeded", "pipelineRunId": "bench-run", "userProperties": {},
            "input": {"source": run_source, "sink": {"type": "AzureSqlSink"}},
            "output": {"rowsCopied": 100, "dataWritten": 4096, "reportLineageToPurview": {"status": "NotReported"}},
        })
        if mix and i % 10 == 3:
            runs.append(_mixed_run("TransformOrders", "ExecuteDataFlow", i, {"runStatus": {"metrics": {
                "SqlSink": {"rowsWritten": 100, "sources": {"OrdersSource": {"rowsRead": 100}}}}}}))
        if mix and i % 10 == 7:
            runs.append(_mixed_run("StageCustomers", "ExecuteSSISPackage", i, {}))
    doc = {
        "factory": FACTORY,
        "pipelineRun": {"runId": "bench-run", "pipelineName": "BenchPipeline", "status": "Succeeded",
                        "parameters": {"tables": "[]", "day": "2026-11-24"}, "runStart": "2026-11-24T01:00:00Z"},
        "activityRuns": runs,
        "pipelines": {"BenchPipeline": pipeline},
        "datasets": datasets,
        "linkedServices": linked_services,
    }
    if mix:
        doc["dataflows"] = json.loads((SAMPLES / "dataflow_inline_sink.json").read_text())["dataflows"]
    return doc


def _add_mix(pipeline: dict[str, Any], datasets: dict[str, Any], linked_services: dict[str, Any]) -> None:
    flow = json.loads((SAMPLES / "dataflow_inline_sink.json").read_text())
    ssis = json.loads((SAMPLES / "ssis_inline_package.json").read_text())
    loop = next(a for a in pipeline["properties"]["activities"] if a["type"] == "ForEach")
    inner = loop["typeProperties"]["activities"]
    inner.append(flow["pipelines"]["CleanOrders"]["properties"]["activities"][0])
    inner.append(ssis["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0])
    datasets.update(flow["datasets"])
    linked_services.update(flow["linkedServices"])


def _mixed_run(name: str, kind: str, i: int, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "activityName": name, "activityRunId": f"00000000-0000-0000-0002-{i:012d}", "activityType": kind,
        "activityRunStart": f"2026-11-24T01:{(i // 60) % 60:02d}:{i % 60:02d}.1000000Z",
        "activityRunEnd": f"2026-11-24T01:{(i // 60) % 60:02d}:{i % 60:02d}.9000000Z",
        "status": "Succeeded", "pipelineRunId": "bench-run", "userProperties": {}, "input": {}, "output": output,
    }


def iterations_for(runs: int) -> int:
    """The ForEach iterations that make about ``runs`` activity runs: each iteration is a Copy, one in ten adds a Data
    Flow and one in ten an Execute SSIS Package, and the Lookup and the ForEach are two more."""
    return max(1, (runs - 2) * 10 // 12)


def measure(size: int, matched: bool = False) -> dict[str, float]:
    """Time extraction + entity building for one size, in this process: the first pass (every name new to the
    process's caches, as the first run over new files pays) and the best of three (names already worked out, as the
    next runs over the same files, and the retries and replays of a run, pay)."""
    doc = synthetic_record(iterations_for(size), matched=matched)
    runs = len(doc["activityRuns"])
    options = LineageOptions()
    times: list[float] = []
    entities = 0
    for _ in range(3):
        start = time.perf_counter()
        result = explain(extract(RunRecord.from_json(doc), options), options.pipeline_factory_attribute)
        times.append(time.perf_counter() - start)
        entities = len(result["entities"])
        emitted = sum(1 for row in result["activities"] if row["outcome"] == "emitted")
        if emitted != runs - 2:  # all but the Lookup and the ForEach
            raise SystemExit(f"expected {runs - 2} emitted activity runs, got {emitted}")
        paired = sum(1 for row in result["activities"] if "paired by run order" in row.get("reason", ""))
        if paired != (0 if matched else iterations_for(size)):  # the workload takes the path it says it takes
            raise SystemExit(f"{paired} runs paired by run order ({'matched' if matched else 'paired'} workload)")
        del result  # each repetition starts from the same heap, not with the last one's entities still held
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"runs": runs, "seconds": min(times), "first": times[0], "entities": entities, "peak_mb": peak_mb}


def profile(size: int) -> None:
    """Where extraction + entity building spend their time at one size: the functions with the most own time."""
    doc = synthetic_record(iterations_for(size))
    options = LineageOptions()
    explain(extract(RunRecord.from_json(doc), options), options.pipeline_factory_attribute)  # warm the caches
    profiler = cProfile.Profile()
    profiler.enable()
    explain(extract(RunRecord.from_json(doc), options), options.pipeline_factory_attribute)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(int(argv[1]), matched="--matched" in argv)))
        return 0
    if argv[:1] == ["--profile"]:
        profile(int(argv[1]) if len(argv) > 1 else DEFAULT_SIZES[1])
        return 0
    matched = "--matched" in argv
    sizes = [int(a) for a in argv if a != "--matched"] or list(DEFAULT_SIZES)
    print("mix: Copy in every iteration, a Data Flow and an Execute SSIS Package in one iteration of ten each; "
          + ("each run matched to its item by its input, started out of order" if matched else
             "runs paired with items in start order (their input shows nothing of the item)"))
    print(f"{'activity runs':>14} {'seconds':>9} {'runs/s':>10} {'µs/run':>8} {'first s':>8} {'µs/run':>8} "
          f"{'entities':>9} {'peak MB':>8}")
    per_run: list[float] = []
    per_run_first: list[float] = []
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), *(["--matched"] if matched else [])],
                             check=True, capture_output=True, text=True).stdout
        m = json.loads(out)
        per_run.append(m["seconds"] / m["runs"] * 1e6)
        per_run_first.append(m["first"] / m["runs"] * 1e6)
        print(f"{m['runs']:>14,} {m['seconds']:>9.3f} {m['runs'] / m['seconds']:>10,.0f} {per_run[-1]:>8.1f} "
              f"{m['first']:>8.3f} {per_run_first[-1]:>8.1f} {m['entities']:>9,} {m['peak_mb']:>8.0f}")
    print("seconds: best of three passes (names already known to the process); first s: the first pass (every file "
          "name new)")
    if len(per_run) > 1:
        print(f"linearity: {per_run[-1] / per_run[0]:.2f} best, {per_run_first[-1] / per_run_first[0]:.2f} first "
              "(µs/run at the largest size ÷ at the smallest; 1.00 is linear)")
    print(f"Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
