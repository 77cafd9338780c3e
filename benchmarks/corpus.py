"""A corpus of pipeline runs for the fault and load suites: the samples' shapes and the synthetic ForEach, many times.

Runs come in families (the same pipeline run again later, as a daily load is): each family is one pipeline renamed
from a sample or from ``extraction.synthetic_record``, and its runs differ in run id and in time, so the order in
which they are processed matters for the activities' facts. Synthetic ForEach runs also copy one table of their own,
so a run whose lineage went missing leaves a gap no other run fills. A few runs can never be processed (a run Data
Factory does not know, a factory that denies the activity-run query): they must end in the poison queue.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.extraction import synthetic_record

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
T0 = datetime(2026, 11, 1, tzinfo=UTC)  # the first run's start; each next run starts a minute later
DENIED_FACTORY = ("/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-locked"
                  "/providers/Microsoft.DataFactory/factories/locked-adf")
_TIME_KEYS = ("runStart", "runEnd", "lastUpdated", "activityRunStart", "activityRunEnd")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


@dataclass(frozen=True, slots=True)
class Kind:
    """One way a run can look, how often it occurs, and where it must end."""

    name: str
    weight: float
    expect: str  # pushed / skipped / poisoned
    family_size: int = 6
    error_class: str | None = None  # for poisoned runs


KINDS = (
    Kind("copy", 14, "pushed"),
    Kind("copy-failed-now-and-then", 8, "pushed"),  # a family whose runs fail now and then (those are skipped)
    Kind("copy-sql-query", 7, "pushed"),
    Kind("dataflow-inline-sink", 11, "pushed"),
    Kind("dataflow-profile", 7, "pushed"),
    Kind("ssis-inline-package", 11, "pushed"),
    Kind("foreach-adls", 7, "pushed"),
    Kind("foreach-mixed", 23, "pushed", family_size=4),  # ForEach of 10-60 Copy, Data Flow and SSIS iterations
    Kind("foreach-fanout", 1.5, "pushed", family_size=3),  # ForEach of hundreds of iterations
    Kind("copy-failed", 4, "skipped"),
    Kind("reported-by-adf", 3, "skipped"),
    Kind("unknown-run", 1.5, "poisoned", family_size=1, error_class="RunNotFoundError"),
    Kind("denied-factory", 1.5, "poisoned", family_size=2, error_class="DataFactoryError"),
)


@dataclass(frozen=True, slots=True)
class Run:
    """One run of the corpus: its record (served by the local Data Factory unless it must be unknown to it)."""

    index: int
    kind: str
    family: str
    record: dict[str, Any]
    expect: str
    served: bool = True
    error_class: str | None = None

    @property
    def run_id(self) -> str:
        return str(self.record["pipelineRun"]["runId"])

    @property
    def factory(self) -> str:
        return str(self.record["factory"])

    @property
    def activity_runs(self) -> int:
        return len(self.record["activityRuns"])


def build(n: int, seed: int = 7, *, fanout: tuple[int, int] = (150, 600), start: int = 0,
          own_table: bool = True) -> list[Run]:
    """``n`` runs, kinds drawn by weight (every kind at least once when ``n`` allows), families in turn.

    ``start`` offsets run indexes (and so times and run ids): ``build(n, start=n)`` is the next ``n`` runs of the
    same families, as the next day's runs of the same pipelines would be. With ``own_table`` each synthetic ForEach
    run also copies a table no other run touches (new assets: one more lookup per asset type for the writer).
    """
    rng = random.Random(seed)
    kinds = _draw_kinds(n, rng)
    samples = {path.stem: json.loads(path.read_text()) for path in sorted(SAMPLES.glob("*.json"))}
    counts: dict[str, int] = {}
    runs = []
    for offset, kind in enumerate(kinds):
        index = start + offset
        seen = counts.get(kind.name, 0)
        counts[kind.name] = seen + 1
        families = max(1, round(n * kind.weight / sum(k.weight for k in KINDS) / kind.family_size))
        family = seen % families
        nth = seen // families  # this run's place in its family
        record = _record(kind, family, index, samples, fanout=fanout, own_table=own_table,
                         fails=kind.name == "copy-failed-now-and-then" and nth % 3 == 1)
        expect = kind.expect
        if kind.name == "copy-failed-now-and-then" and record["pipelineRun"]["status"] == "Failed":
            expect = "skipped"
        runs.append(Run(index, kind.name, f"{kind.name}-{family}", record, expect,
                        served=kind.name != "unknown-run", error_class=kind.error_class))
    return runs


def _draw_kinds(n: int, rng: random.Random) -> list[Kind]:
    """Kinds in proportion to their weights, shuffled; each kind at least once when there is room."""
    total = sum(k.weight for k in KINDS)
    kinds = [k for k in KINDS for _ in range(max(1 if n >= len(KINDS) else 0, round(n * k.weight / total)))]
    while len(kinds) < n:
        kinds.append(rng.choices(KINDS, weights=[k.weight for k in KINDS])[0])
    rng.shuffle(kinds)
    while len(kinds) > n:  # drop from the most frequent kinds, never a kind's only run
        common = max(KINDS, key=lambda k: sum(1 for x in kinds if x is k))
        kinds.remove(common)
    return kinds


def _record(kind: Kind, family: int, index: int, samples: dict[str, dict[str, Any]], *,
            fanout: tuple[int, int], own_table: bool, fails: bool) -> dict[str, Any]:
    name = kind.name
    if name in ("copy", "copy-failed-now-and-then", "reported-by-adf", "unknown-run", "denied-factory"):
        record = copy.deepcopy(samples["copy_blob_to_sql"])
        if fails:  # every third run of the family, so the next run clears what it recorded
            _fail(record, "CopySalesCsvToSql", "Failure happened on 'Sink' side. ErrorCode=SqlOperationFailed")
        if name == "reported-by-adf":
            for run in record["activityRuns"]:
                if run["activityType"] == "Copy":
                    run["output"]["reportLineageToPurview"] = {"status": "Succeeded", "durationInSecond": 3}
        if name == "denied-factory":
            record["factory"] = DENIED_FACTORY
    elif name == "copy-failed":
        record = copy.deepcopy(samples["copy_failed"])
    elif name in ("copy-sql-query", "dataflow-inline-sink", "dataflow-profile", "ssis-inline-package",
                  "foreach-adls"):
        sample = {"copy-sql-query": "copy_sql_query", "dataflow-inline-sink": "dataflow_inline_sink",
                  "dataflow-profile": "dataflow_profile_lineage", "ssis-inline-package": "ssis_inline_package",
                  "foreach-adls": "foreach_adls_to_synapse"}[name]
        record = copy.deepcopy(samples[sample])
    else:
        low, high = (10, 60) if name == "foreach-mixed" else fanout
        iterations = low + (family * 97) % (high - low + 1)  # fixed per family: its runs copy the same tables
        record = synthetic_record(iterations, mix=True)
        copies = [run for run in record["activityRuns"] if run["activityType"] == "Copy"]
        for j, run in enumerate(copies):
            run["userProperties"]["table"] = f"{name}_{family}_T{j:04d}"
        if own_table:
            copies[-1]["userProperties"]["table"] = f"run_{index:06d}"  # lineage no other run writes
        last_end = max(str(run["activityRunEnd"]) for run in record["activityRuns"])
        record["pipelineRun"].update(runEnd=last_end, lastUpdated=last_end)
    run_id = str(uuid.UUID(int=random.Random(f"run-{index}").getrandbits(128)))
    _rename(record, f"{record['pipelineRun']['pipelineName']}-{name}-{family}", run_id)
    _shift(record, T0 + timedelta(minutes=index))
    return record


def _fail(record: dict[str, Any], activity: str, message: str) -> None:
    for run in record["activityRuns"]:
        if run["activityName"] == activity:
            run["status"] = "Failed"
            run["error"] = {"errorCode": "2200", "message": message, "failureType": "UserError", "target": activity}
    record["pipelineRun"]["status"] = "Failed"
    record["pipelineRun"]["message"] = f"Operation on target {activity} failed: {message}"


def _rename(record: dict[str, Any], pipeline: str, run_id: str) -> None:
    """The record as a run of a pipeline named ``pipeline`` with id ``run_id``."""
    old = str(record["pipelineRun"]["pipelineName"])
    definition = record["pipelines"].pop(old)
    definition["name"] = pipeline
    if "id" in definition:
        definition["id"] = f"{record['factory']}/pipelines/{pipeline}"
    record["pipelines"][pipeline] = definition
    record["pipelineRun"].update(pipelineName=pipeline, runId=run_id)
    for run in record["activityRuns"]:
        run["pipelineName"] = pipeline
        run["pipelineRunId"] = run_id
        run["activityRunId"] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{run_id}/{run['activityRunId']}"))


def _shift(record: dict[str, Any], start: datetime) -> None:
    """Every run and activity-run time moved so that the run starts at ``start``."""
    begin = _parse(record["pipelineRun"]["runStart"])
    delta = start - begin
    for item in [record["pipelineRun"], *record["activityRuns"]]:
        for key in _TIME_KEYS:
            if isinstance(item.get(key), str) and item[key]:
                item[key] = _moved(item[key], delta)


def _parse(text: str) -> datetime:
    match = _TIMESTAMP.match(text)
    if not match:
        raise ValueError(f"not an API timestamp: {text!r}")
    return datetime.fromisoformat(match[1]).replace(tzinfo=UTC)


def _moved(text: str, delta: timedelta) -> str:
    match = _TIMESTAMP.match(text)
    if not match:
        return text
    moved = datetime.fromisoformat(match[1]) + delta
    return moved.strftime("%Y-%m-%dT%H:%M:%S") + (match[2] or "") + (match[3] or "")


def summary(runs: list[Run]) -> dict[str, int]:
    """Runs per kind."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.kind] = counts.get(run.kind, 0) + 1
    return dict(sorted(counts.items()))
