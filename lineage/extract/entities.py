"""From a run's lineage to Atlas entities in Purview's own Data Factory types and qualifiedName formats.

Using Purview's built-in types (``azure_data_factory`` -> ``adf_pipeline`` -> ``adf_<kind>_activity`` ->
``adf_<kind>_operation``) and its qualifiedName formats makes our lineage merge with what Purview's integration and
scanners write instead of duplicating it (field notes §4–5). References are by type + qualifiedName; the Purview
writer decides which referenced entities to create and turns those references into placeholder guids.

Data assets are written as a scanner would create them (their mandatory attributes and parent chain), so that an
asset no scan has seen yet can be created in the same call. ``catalog`` maps each asset the run found to the one
the catalog holds (a view for a table, the other storage family, the file where the account does not group): the
writer looks those up; offline (``explain``) every asset stands for itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from lineage.extract.gc_pause import no_full_collections
from lineage.extract.model import LONG_LIMIT, ActivityResult, ColumnMap
from lineage.extract.redact import first_sentence, redact
from lineage.extract.run import RunLineage, epoch_ms
from lineage.extract.stores import Asset

FACTORY_TYPE = "azure_data_factory"
PIPELINE_TYPE = "adf_pipeline"
MAX_ATTRIBUTE_CHARS = 32_000  # Purview rejects attribute values over 32 KB
MAX_ERROR_CHARS = 4_000
# Worst first: the activity entity shows the worst outcome among a run's iterations.
_STATUS_RANK = {"Failed": 0, "Cancelled": 1, "TimedOut": 2, "InProgress": 3, "Queued": 4, "Succeeded": 9}
# Purview's own integration writes a successful activity as "Completed" (field notes §5); other statuses as they are.
_NATIVE_STATUS = {"Succeeded": "Completed"}


# What an activity entity says of its latest run; the writer sends them whole, or not at all for an older run.
# Purview's types give rows and bytes to Copy activities only (adf_copy_activity.rowCount / .dataSize; the data
# flow and SSIS activity types have no such attributes in the real type definitions).
ACTIVITY_FACTS = ("status", "lastRunTime", "rowCount", "dataSize", "errorMessage")
_COUNTED = frozenset({"adf_copy_activity"})


def activity_facts(type_name: str) -> tuple[str, ...]:
    """The facts an activity type holds."""
    return ACTIVITY_FACTS if type_name in _COUNTED else ("status", "lastRunTime", "errorMessage")


def written_schema(kinds: Iterable[str], factory_attribute: str) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per type of ours: the attributes and relationship attributes we write (``doctor`` checks them live)."""
    schema = {
        FACTORY_TYPE: (frozenset({"qualifiedName", "name", "subscriptionId", "resourceGroupName"}), frozenset()),
        PIPELINE_TYPE: (frozenset({"qualifiedName", "name"}), frozenset({factory_attribute})),
    }
    for kind in kinds:
        activity = f"adf_{kind}_activity"
        schema[activity] = (frozenset({"qualifiedName", "name", *activity_facts(activity)}), frozenset({"parent"}))
        schema[f"adf_{kind}_operation"] = (
            frozenset({"qualifiedName", "name", "inputs", "outputs", "columnMapping"}), frozenset({"parent"}))
    return schema


def ref(type_name: str, qualified_name: str) -> dict[str, Any]:
    """An AtlasObjectId by unique attribute."""
    return {"typeName": type_name, "uniqueAttributes": {"qualifiedName": qualified_name}}


@dataclass(slots=True)
class _Operation:
    activity: str
    kind: str
    sink: Asset
    sources: set[Asset] = field(default_factory=set)
    column_maps: set[ColumnMap] = field(default_factory=set)
    results: list[ActivityResult] = field(default_factory=list)


@dataclass(slots=True)
class _Activity:
    kind: str
    runs: list[ActivityResult] = field(default_factory=list)


def operation_qualified_name(activity_qn: str, sink: Asset) -> str:
    """Purview's operation naming: one operation per (activity, sink asset)."""
    return f"{activity_qn}#{sink.qualified_name}#{sink.type_name}"


def assets_of(lineage: RunLineage) -> set[Asset]:
    """Every data asset the run's lineage touches (what the writer looks up in the catalog)."""
    return {asset for result in lineage.results if result.purview_kind is not None
            for flow in result.flows for asset in (flow.sink, *flow.sources)}


@no_full_collections()
def explain(lineage: RunLineage, pipeline_factory_attribute: str,
            catalog: Mapping[Asset, Asset] | None = None) -> dict[str, Any]:
    """The document ``explain`` prints: the entities to push and one row per activity run."""
    held = _Held(catalog) if catalog else None  # offline (``explain``), every asset stands for itself
    names = _Names(lineage)
    activities: dict[str, _Activity] = {}
    operations: dict[tuple[str, str, str], _Operation] = {}
    for result in lineage.results:
        kind = result.purview_kind
        if kind is None:
            continue
        name = result.run["activityName"]
        activity = activities.get(name)
        if activity is None:
            activity = activities[name] = _Activity(kind)
        activity.runs.append(result)
        for flow in result.flows:
            sink = held.asset(flow.sink) if held else flow.sink
            key = (name, sink.type_name, sink.qualified_name)
            op = operations.get(key)
            if op is None:
                op = operations[key] = _Operation(name, kind, sink)
            op.sources.update(map(held.asset, flow.sources) if held else flow.sources)
            op.column_maps.update(map(held.column_map, flow.column_maps) if held and held.renamed
                                  else flow.column_maps)
            op.results.append(result)

    entities: list[dict[str, Any]] = []
    if activities:
        entities.append(_factory(lineage))
        entities.append(_pipeline(names, pipeline_factory_attribute))
        entities.extend(_activity(names, name, activities[name]) for name in sorted(activities))
        assets: dict[Asset, None] = {}  # in the order the runs found them: often nearly sorted, which sorts fast
        for op in operations.values():
            _add_with_parents(assets, op.sink)
            for source in op.sources:
                _add_with_parents(assets, source)
        entities.extend(_asset(a) for a in sorted(assets, key=_asset_key))
        entities.extend(_operation(names, operations[key]) for key in sorted(operations, key=itemgetter(0, 2, 1)))
    rows = [_row(names, result) for result in lineage.results]
    return {"entities": entities, "activities": rows}


def _add_with_parents(assets: dict[Asset, None], asset: Asset) -> None:
    """The asset and its parents up to the first one already there (whose parents are, too): a loop's thousand
    tables of one schema climb to the schema once."""
    node: Asset | None = asset
    while node is not None:
        size = len(assets)
        assets.setdefault(node, None)  # one hash per asset, not two
        if len(assets) == size:
            return
        node = node.parent


class _Held:
    """The catalog's identity of each asset, and the column mappings' dataset names renamed to match."""

    def __init__(self, catalog: Mapping[Asset, Asset]) -> None:
        self.catalog = catalog
        self.names = {a.qualified_name: b.qualified_name for a, b in catalog.items()
                      if a.qualified_name != b.qualified_name}
        self.renamed = bool(self.names)

    def asset(self, found: Asset) -> Asset:
        return self.catalog.get(found, found)

    def column_map(self, mapping: ColumnMap) -> ColumnMap:
        return ColumnMap(self.names.get(mapping.source, mapping.source), self.names.get(mapping.sink, mapping.sink),
                         mapping.columns)


class _Names:
    """qualifiedNames of the factory, the pipeline and its activities (Purview's formats)."""

    def __init__(self, lineage: RunLineage) -> None:
        self.factory = lineage.record.factory.resource_id
        self.pipeline = f"{self.factory}/pipelines/{lineage.record.pipeline_name}"
        self.pipeline_name = lineage.record.pipeline_name
        self._activities: dict[str, str] = {}

    def activity(self, name: str) -> str:
        qualified_name = self._activities.get(name)
        if qualified_name is None:  # asked once per activity run and once per operation: made once per activity
            qualified_name = self._activities[name] = f"{self.pipeline}/activities/{name}"
        return qualified_name


def _factory(lineage: RunLineage) -> dict[str, Any]:
    factory = lineage.record.factory
    return {
        "typeName": FACTORY_TYPE,
        "attributes": {
            "qualifiedName": factory.resource_id,
            "name": factory.factory_name,
            "subscriptionId": factory.subscription_id,
            "resourceGroupName": factory.resource_group,
        },
    }


def _pipeline(names: _Names, factory_attribute: str) -> dict[str, Any]:
    return {
        "typeName": PIPELINE_TYPE,
        "attributes": {"qualifiedName": names.pipeline, "name": names.pipeline_name},
        "relationshipAttributes": {factory_attribute: ref(FACTORY_TYPE, names.factory)},
    }


def _activity(names: _Names, name: str, activity: _Activity) -> dict[str, Any]:
    runs = [r.run for r in activity.runs]
    worst = min(runs, key=lambda r: (_STATUS_RANK.get(str(r.get("status")), 5), str(r.get("activityRunEnd"))))
    status = str(worst.get("status"))
    attributes: dict[str, Any] = {
        "qualifiedName": names.activity(name),
        "name": name,
        "status": _NATIVE_STATUS.get(status, status),
        "lastRunTime": max(epoch_ms(r.get("activityRunEnd") or r.get("activityRunStart")) or 0 for r in runs),
    }
    type_name = f"adf_{activity.kind}_activity"
    if "rowCount" in activity_facts(type_name):
        rows = _sum(r.rows for r in activity.runs)
        size = _sum(r.bytes for r in activity.runs)
        if rows is not None:
            attributes["rowCount"] = rows
        if size is not None:
            attributes["dataSize"] = size
    attributes["errorMessage"] = _error_message(worst) or ""  # native writes "" when there is none
    return {
        "typeName": type_name,
        "attributes": attributes,
        "relationshipAttributes": {"parent": ref(PIPELINE_TYPE, names.pipeline)},
    }


def _asset(asset: Asset) -> dict[str, Any]:
    """An asset as a scanner would create it; the writer sends it only where the catalog does not hold it yet."""
    entity: dict[str, Any] = {
        "typeName": asset.type_name,
        "attributes": {"qualifiedName": asset.qualified_name, "name": asset.name, **dict(asset.attributes)},
    }
    if asset.parent is not None:
        entity["relationshipAttributes"] = {asset.link: ref(asset.parent.type_name, asset.parent.qualified_name)}
    return entity


def _operation(names: _Names, op: _Operation) -> dict[str, Any]:
    activity_qn = names.activity(op.activity)
    attributes: dict[str, Any] = {
        "qualifiedName": operation_qualified_name(activity_qn, op.sink),
        "name": op.activity,
        "inputs": [ref(a.type_name, a.qualified_name) for a in _sorted_assets(op.sources)],
        "outputs": [ref(op.sink.type_name, op.sink.qualified_name)],
    }
    if op.column_maps:
        mapping = column_mapping_json(op.column_maps)
        if len(mapping) <= MAX_ATTRIBUTE_CHARS:
            attributes["columnMapping"] = mapping
        else:
            for result in op.results:
                result.notes.append(f"column mapping of {op.sink.qualified_name} exceeds Purview's 32 KB: left out")
    return {
        "typeName": f"adf_{op.kind}_operation",
        "attributes": attributes,
        "relationshipAttributes": {"parent": ref(f"adf_{op.kind}_activity", activity_qn)},
    }


def column_mapping_json(maps: Iterable[ColumnMap]) -> str:
    """Purview's ``columnMapping`` attribute: a JSON *string* (field notes §4), compact and stable."""
    doc = [
        {
            "DatasetMapping": {"Source": m.source, "Sink": m.sink},
            "ColumnMapping": [{"Source": s, "Sink": d} for s, d in m.columns],
        }
        for m in sorted(maps, key=lambda m: (m.source, m.sink, m.columns))
    ]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _row(names: _Names, result: ActivityResult) -> dict[str, Any]:
    run = result.run
    row: dict[str, Any] = {
        "activityRunId": run["activityRunId"],
        "activityName": run["activityName"],
        "activityType": run["activityType"],
        "outcome": "skipped" if result.skipped else "emitted",
    }
    if result.notes:
        row["reason"] = _redacted("; ".join(dict.fromkeys(result.notes)))  # notes may quote a script or a package
    activity_qn = names.activity(run["activityName"])
    flows = result.flows
    row["operations"] = ([operation_qualified_name(activity_qn, flows[0].sink)] if len(flows) == 1  # most runs
                         else sorted({operation_qualified_name(activity_qn, flow.sink) for flow in flows}))
    return row


@lru_cache(maxsize=1024)  # the iterations of a loop mostly share their reason: redacted once
def _redacted(text: str) -> str:
    return redact(text)


def _error_message(run: Mapping[str, Any]) -> str | None:
    """An activity run's error as Purview shows it to anyone who can read the collection: Data Factory's error code
    and the message's first sentence, redacted (``2200: Failure happened on 'Sink' side.``).

    What follows the first sentence is the failing store's own words: a connection string, a request with its
    headers, a row of data. The code and the first sentence say what failed; the whole message stays in Data
    Factory's monitoring, for those allowed to read the factory.
    """
    error = run.get("error")
    message = error.get("message") if isinstance(error, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(message, str) or not message.strip():
        return None
    sentence = first_sentence(message[:MAX_ERROR_CHARS])
    code = error.get("errorCode")
    code_text = first_sentence(str(code), limit=64) if isinstance(code, str | int) and not isinstance(code, bool) \
        else ""
    return f"{code_text}: {sentence}" if code_text else sentence


def _sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    total = sum(known)
    return total if known and total < LONG_LIMIT else None  # a sum too large for a long is not a fact


_asset_key = attrgetter("type_name", "qualified_name")  # sorts assets by (type_name, qualifiedName)


def _sorted_assets(assets: set[Asset]) -> Iterable[Asset]:
    return assets if len(assets) < 2 else sorted(assets, key=_asset_key)  # most operations read one asset
