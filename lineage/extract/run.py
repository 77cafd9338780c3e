"""One run record in, one result per activity run out: the lineage each found, or why it found none.

Every activity run of the record ends in exactly one row — emitted or skipped with its reason — so nothing is dropped
silently. Handlers per activity type live in their own modules; this one only dispatches and applies the rules that
hold for every type (failed runs, runs Data Factory already reported to Purview).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lineage.extract import stores
from lineage.extract.config import LineageOptions
from lineage.extract.copy import copy_facts, copy_lineage
from lineage.extract.dataflow import dataflow_facts, dataflow_lineage
from lineage.extract.drift import settings_drift, stated_settings, type_drift
from lineage.extract.expressions import ExpressionError, Unresolvable
from lineage.extract.gc_pause import no_full_collections
from lineage.extract.jsontext import mapping
from lineage.extract.model import ActivityResult, Skip
from lineage.extract.resolver import RunResolver
from lineage.extract.runrecord import RunRecord, name_problem
from lineage.extract.ssis import ssis_facts, ssis_lineage

Handler = Callable[[RunResolver, Mapping[str, Any], Mapping[str, Any], ActivityResult], None]
Facts = Callable[[Mapping[str, Any]], tuple[int | None, int | None]]


@dataclass(frozen=True, slots=True)
class Kind:
    """An activity type Purview models: its type-name infix and how to read its lineage and run facts."""

    purview: str
    lineage: Handler
    facts: Facts


KINDS: dict[str, Kind] = {
    "Copy": Kind("copy", copy_lineage, copy_facts),
    "ExecuteDataFlow": Kind("dataflow", dataflow_lineage, dataflow_facts),
    "ExecuteSSISPackage": Kind("executeSsisPackage", ssis_lineage, ssis_facts),
}
# Activity types that orchestrate or compute but move no data from one store to another.
NO_DATA_MOVED = frozenset({
    "ForEach", "Until", "IfCondition", "Switch", "SetVariable", "AppendVariable", "Wait", "Fail", "Filter",
    "Validation", "Lookup", "GetMetadata", "WebActivity", "WebHook", "Delete", "AzureFunctionActivity",
})


@dataclass(frozen=True, slots=True)
class RunLineage:
    """The lineage of one pipeline run: its record and one result per activity run, in a stable order."""

    record: RunRecord
    results: tuple[ActivityResult, ...]


@no_full_collections()
def extract(record: RunRecord, options: LineageOptions) -> RunLineage:
    """Lineage of every activity run; the order is stable so the same record always gives the same output."""
    resolver = RunResolver(record, options)
    runs = sorted(record.activity_runs, key=_run_order)
    return RunLineage(record, tuple(_activity(resolver, run) for run in runs))


def _activity(resolver: RunResolver, run: Mapping[str, Any]) -> ActivityResult:
    activity_type = run["activityType"]
    problem = name_problem(run["activityName"])
    if problem:  # it would name Purview entities: none is made for it
        return ActivityResult(run=run).skip(f"activity name {_preview(run['activityName'])} is not a Data Factory "
                                            f"name: {problem}")
    kind = KINDS.get(activity_type)
    if kind is None:
        return ActivityResult(run=run).skip(_uncovered_reason(activity_type, run))
    result = ActivityResult(run=run, purview_kind=kind.purview)
    result.rows, result.bytes = kind.facts(run)
    status = run.get("status")
    if status != "Succeeded" and not resolver.options.emit_failed:
        return result.skip(f"activity run {_preview(status)}: lineage is recorded for succeeded runs only")
    reported = mapping(mapping(run.get("output")).get("reportLineageToPurview")).get("status")
    if reported == "Succeeded" and resolver.options.skip_reported_by_data_factory:
        return result.skip("already reported by Data Factory's own Purview integration")
    try:
        definition = resolver.definition(run["activityName"])
        changed = type_drift(definition, run)
        if changed:
            return result.skip(changed)
        kind.lineage(resolver, definition, run, result)
        stated = resolver.memo(("stated settings", run["activityName"]), lambda: stated_settings(definition))
        changed = settings_drift(stated, run, lambda: resolver.scope_for(definition, run)) if stated else None
        if changed:
            result.notes.append(changed)
    except Skip as skip:
        return result.skip(skip.reason)
    except stores.StoreError as exc:
        return result.skip(str(exc) if str(exc).startswith("unmapped store") else f"unmapped store: {exc}")
    except Unresolvable as exc:
        return result.skip(f"unresolvable expression: {exc.reason}")
    except ExpressionError as exc:
        return result.skip(f"broken expression: {exc}")
    if not result.flows:
        return result.skip("no source or sink found")
    return result


def _uncovered_reason(activity_type: str, run: Mapping[str, Any]) -> str:
    if activity_type == "ExecutePipeline":
        child = mapping(run.get("output")).get("pipelineRunId")
        return f"lineage of the invoked pipeline is recorded from its own run {child or '(not started)'}"
    if activity_type in NO_DATA_MOVED:
        return f"{activity_type} activities move no data between stores"
    return f"unsupported activity type {activity_type}"


def _run_order(run: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(run.get("activityRunStart") or ""), str(run["activityName"]), str(run["activityRunId"]))


def epoch_ms(timestamp: Any) -> int | None:
    """An ISO 8601 timestamp of the API (7 fractional digits, ``Z``) as epoch milliseconds, Purview's long dates."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return int(datetime.fromisoformat(timestamp).timestamp() * 1000)
    except ValueError:
        return None


def _preview(value: Any) -> str:
    """A value of the run shown in a reason: as is when it is short text, else its start."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 and text.isprintable() else repr(text[:60]) + ("..." if len(text) > 60 else "")

