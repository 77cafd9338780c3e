"""Which of our entities in Purview a factory's current definitions no longer support (``prune``).

Lineage is written per run and never withdrawn, so a deleted pipeline, a renamed activity or a Copy pointed at
another table leaves entities in the graph that no run will ever write again. This compares what Purview holds
under one factory with that factory's definitions now:

- a pipeline that no longer exists loses its entity, its activities and their operations;
- an activity no longer in its pipeline (renamed or removed), or now of another kind, loses its entity and
  operations;
- a Copy whose sink is fixed in the current definition (no pipeline parameter, ``item()``, variable or run value in
  it) loses its operations to other sinks; a parameterised sink keeps all of them, since other parameter values are
  still true lineage. Data Flow and SSIS activities keep their operations while the activity exists: their sinks
  are read from scripts and packages, and a sink that cannot be named offline must not cost lineage.

Only our own types count, and only under the factory's qualifiedName; an entity whose name does not parse as ours
is kept. Pure: the caller reads Purview and Data Factory, and deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lineage.extract.config import LineageOptions
from lineage.extract.copy import sink_asset
from lineage.extract.entities import FACTORY_TYPE, PIPELINE_TYPE
from lineage.extract.expressions import EMPTY, ExpressionError, Unresolvable
from lineage.extract.model import Skip
from lineage.extract.pipeline import activities_by_name
from lineage.extract.resolver import RunResolver
from lineage.extract.run import KINDS
from lineage.extract.runrecord import FactoryId, RunRecord, RunRecordError
from lineage.extract.stores import StoreError

ACTIVITY_TYPES = frozenset(f"adf_{k.purview}_activity" for k in KINDS.values())
OPERATION_TYPES = frozenset(f"adf_{k.purview}_operation" for k in KINDS.values())
# The types prune may ever remove, in the order it removes them: children before their parents.
PRUNABLE_TYPES = (*sorted(OPERATION_TYPES), *sorted(ACTIVITY_TYPES), PIPELINE_TYPE)
OWN_TYPES = (*PRUNABLE_TYPES, FACTORY_TYPE)
# System variables that are the same for every run of a pipeline: the rest (run id, trigger time...) vary.
_STABLE_SYSTEM = ("Pipeline", "DataFactory")


@dataclass(frozen=True, slots=True)
class Held:
    """One entity Purview holds (from a search hit)."""

    guid: str
    type_name: str
    qualified_name: str


@dataclass(frozen=True, slots=True)
class Stale:
    """An entity to remove, and why."""

    guid: str
    type_name: str
    qualified_name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActivityNow:
    """An activity as the current definition has it: its Purview type, and the sinks its operations may name
    (each as (typeName, qualifiedName), alternatives included), or None when they are not fixed."""

    type_name: str
    sinks: frozenset[tuple[str, str]] | None


@dataclass(frozen=True, slots=True)
class FactoryNow:
    """A factory's current definitions, as prune compares them: names lower-cased, as Data Factory compares."""

    factory: FactoryId
    pipelines: Mapping[str, Mapping[str, ActivityNow]]


def current_definitions(doc: Mapping[str, Any], options: LineageOptions) -> FactoryNow:
    """Read ``{"factory", "pipelines", "datasets", "linkedServices", "dataflows", "globalParameters"}`` (what the
    Data Factory reader returns for a whole factory) into what prune compares against."""
    try:
        factory = FactoryId.parse(doc["factory"])
    except (KeyError, RunRecordError) as exc:
        raise RunRecordError(f"factory definitions: {exc}") from None
    pipelines = doc.get("pipelines")
    if not isinstance(pipelines, Mapping):
        raise RunRecordError("factory definitions: pipelines must be an object of pipeline bodies by name")
    out: dict[str, dict[str, ActivityNow]] = {}
    for name, body in pipelines.items():
        activities: dict[str, ActivityNow] = {}
        resolver: RunResolver | None = None
        for activity_name, activity in activities_by_name(body if isinstance(body, Mapping) else {}).items():
            kind = KINDS.get(str(activity.get("type")))
            if kind is None:
                continue
            sinks = None
            if kind.purview == "copy":
                resolver = resolver or _definition_resolver(doc, str(name), options)
                sinks = _fixed_copy_sinks(resolver, activity)
            activities[activity_name.lower()] = ActivityNow(f"adf_{kind.purview}_activity", sinks)
        out[str(name).lower()] = activities
    return FactoryNow(factory, out)


def stale_entities(held: Iterable[Held], now: FactoryNow) -> list[Stale]:
    """The entities to remove, operations first, then activities, then pipelines (a parent goes after its
    children, so an interrupted prune never leaves an operation without its activity)."""
    prefix = now.factory.resource_id.lower() + "/pipelines/"
    found: list[Stale] = []
    for entity in held:
        qn = entity.qualified_name
        if entity.type_name not in PRUNABLE_TYPES or not qn.lower().startswith(prefix):
            continue  # not ours, or not under this factory: never touched
        reason = _why_stale(entity.type_name, qn[len(prefix):], now)
        if reason is not None:
            found.append(Stale(entity.guid, entity.type_name, qn, reason))
    order = {t: i for i, t in enumerate(PRUNABLE_TYPES)}
    return sorted(found, key=lambda s: (order[s.type_name], s.qualified_name, s.guid))


def _why_stale(type_name: str, rest: str, now: FactoryNow) -> str | None:
    """``rest`` is the qualifiedName after ``{factory}/pipelines/``; None keeps the entity."""
    if type_name == PIPELINE_TYPE:
        if "/" in rest:
            return None
        return None if rest.lower() in now.pipelines else f"pipeline {rest!r} no longer exists in the factory"
    pipeline, marker, after = rest.partition("/activities/")
    if not marker or not after or "/" in pipeline:
        return None  # not a name we write
    activities = now.pipelines.get(pipeline.lower())
    sink_qn = sink_type = ""
    if type_name in OPERATION_TYPES:  # {activity}#{sink qualifiedName}#{sink typeName}
        split = _operation_parts(after, activities or {})
        if split is None:
            return None
        activity, sink_qn, sink_type = split
    else:
        activity = after
    if "/" in activity:
        return None
    if activities is None:
        return f"pipeline {pipeline!r} no longer exists in the factory"
    current = activities.get(activity.lower())
    if current is None:
        return f"activity {activity!r} is no longer in pipeline {pipeline!r}"
    kind = type_name.removeprefix("adf_").rsplit("_", 1)[0]
    if current.type_name != f"adf_{kind}_activity":
        return (f"activity {activity!r} of pipeline {pipeline!r} is now a {current.type_name}, not an "
                f"adf_{kind}_activity")
    if type_name in ACTIVITY_TYPES or current.sinks is None:
        return None
    if (sink_type, sink_qn) in current.sinks:
        return None
    now_writes = ", ".join(sorted(f"{t} {q}" for t, q in current.sinks)) or "nothing"
    return f"activity {activity!r} of pipeline {pipeline!r} now writes only to {now_writes}"


def _operation_parts(after: str, activities: Mapping[str, ActivityNow]) -> tuple[str, str, str] | None:
    """An operation's activity, sink qualifiedName and sink type. An activity name may hold '#' (Data Factory
    allows it), so the activity is the longest current one the name starts with; only when none does is it cut at
    the first '#' (the activity is gone either way)."""
    head, separator, sink_type = after.rpartition("#")
    if not separator or not head or not sink_type:
        return None
    lowered = head.lower()
    known = [name for name in activities if lowered.startswith(name + "#") and len(head) > len(name) + 1]
    if known:
        length = len(max(known, key=len))
        return head[:length], head[length + 1:], sink_type
    activity, hash_, sink_qn = head.partition("#")
    return (activity, sink_qn, sink_type) if hash_ and activity and sink_qn else None


def _definition_resolver(doc: Mapping[str, Any], pipeline: str, options: LineageOptions) -> RunResolver:
    """A resolver over the definitions alone: no run, so only what every run of the pipeline shares resolves
    (global parameters, the pipeline and factory names, constants, dataset defaults); run values raise."""
    record = RunRecord.from_json({
        "factory": doc["factory"], "activityRuns": [],
        "pipelineRun": {"runId": "definitions", "pipelineName": pipeline, "parameters": {}},
        **{key: doc[key] for key in ("pipelines", "datasets", "linkedServices", "dataflows", "globalParameters")
           if isinstance(doc.get(key), Mapping)},
    })
    resolver = RunResolver(record, options)
    system = {k: v for k, v in resolver.base_scope.system.items() if k in _STABLE_SYSTEM}
    resolver.base_scope = resolver.base_scope._replace(system=system, variables=EMPTY, activity_outputs=EMPTY)
    return resolver


def _fixed_copy_sinks(resolver: RunResolver, activity: Mapping[str, Any]) -> frozenset[tuple[str, str]] | None:
    """Where a Copy writes whatever the run, with the identities Purview may hold it under; None when that depends
    on the run (or cannot be named offline: then nothing of it is removed)."""
    outputs = activity.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return None
    try:
        sink = sink_asset(resolver.dataset(outputs[0], resolver.base_scope), resolver.options.resource_sets)
    except (Skip, Unresolvable, ExpressionError, StoreError):
        return None
    return frozenset((a.type_name, a.qualified_name) for a in (sink, *sink.alternatives))
