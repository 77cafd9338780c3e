"""Data Flow activity lineage: each sink of the data flow, fed by the sources whose streams reach it.

Dataset-based sources and sinks resolve like Copy datasets, with the activity's ``datasetParameters``; inline ones
take their location from the script's options and their store from their linked service. Column lineage comes from
the run's ``runStatus.profile`` when the run carries one (Purview's own integration has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lineage.extract import stores
from lineage.extract.dataflow_script import (
    DataFlowScript,
    DataFlowScriptError,
    NoScriptError,
    ScriptTooWideError,
    evaluate_option,
    parse_script,
    script_text,
)
from lineage.extract.expressions import Scope
from lineage.extract.jsontext import mapping
from lineage.extract.model import LONG_LIMIT, MAX_SOURCE_SINK_PAIRS, ActivityResult, ColumnMap, Flow, Skip
from lineage.extract.resolver import RunResolver, resolve_text

# MAX_SOURCE_SINK_PAIRS bounds a flow: each sink becomes one Purview operation that lists every source reaching it,
# so a flow of thousands of sources all reaching thousands of sinks would build millions of references (6,000 x 3,000
# took minutes and gigabytes) for a graph no one can read. Real flows have a few dozen; past it the activity is
# skipped with the count as its reason.

# Script options that name an inline endpoint's location, by the Location field they fill.
_LOCATION_OPTIONS = {
    "container": ("fileSystem", "container", "bucket"),
    "folder": ("folderPath",),
    "file": ("fileName",),
    "schema": ("schemaName",),
    "table": ("tableName", "table"),
    "collection": ("collection", "collectionName"),
    "database": ("database",),
}


def dataflow_lineage(resolver: RunResolver, definition: Mapping[str, Any], run: Mapping[str, Any],
                     result: ActivityResult) -> None:
    """One flow per sink of the data flow."""
    scope = resolver.scope_for(definition, run, result.notes)
    if scope is resolver.base_scope:  # no run-time values: each run of the activity finds the same sources and sinks
        sinks, assets, notes = resolver.memo(("data flow endpoints", str(definition.get("name"))),
                                             lambda: _endpoints(resolver, definition, scope))
    else:
        sinks, assets, notes = _endpoints(resolver, definition, scope)
    pairs = sum(len(sources) for _, sources in sinks)
    if pairs > MAX_SOURCE_SINK_PAIRS:  # the script's own count came first; this one bounds a flow without a script
        raise Skip(f"data flow too wide: its {len(sinks):,} sinks are fed by {pairs:,} source-sink pairs in all, "
                   f"more than the {MAX_SOURCE_SINK_PAIRS:,} one activity's lineage may hold")
    result.notes.extend(notes)
    profile = mapping(mapping(mapping(run.get("output")).get("runStatus")).get("profile"))
    for sink, sources in sinks:
        maps = _column_maps(mapping(mapping(profile.get(sink)).get("lineage")), assets, assets[sink])
        result.flows.append(Flow(sink=assets[sink], sources=sources, column_maps=maps))


_Endpoints = tuple[list[tuple[str, tuple[stores.Asset, ...]]], dict[str, stores.Asset], list[str]]


def _endpoints(resolver: RunResolver, definition: Mapping[str, Any], scope: Scope) -> _Endpoints:
    """The data flow's assets by stream name, its sinks with their sources, and notes on what was not found."""
    notes: list[str] = []
    props = mapping(definition.get("typeProperties"))
    reference = mapping(props.get("dataflow") or props.get("dataFlow"))
    name = resolve_text(reference.get("referenceName"), scope, "data flow reference")
    flow = resolver.record.dataflows.get(name)
    if not isinstance(flow, Mapping):
        raise Skip(f"data flow {name!r} is not in the run record")
    flow_props = mapping(mapping(flow.get("properties")).get("typeProperties"))
    try:
        script: DataFlowScript = resolver.memo(("dataflow", name), lambda: parse_script(script_text(flow_props)))
    except NoScriptError:
        return _without_script(resolver, name, flow_props, scope=scope, dataset_parameters=mapping(
            reference.get("datasetParameters") or props.get("datasetParameters")))
    except DataFlowScriptError as exc:
        raise Skip(f"data flow {name!r} script not understood: {exc}") from exc
    parameters = _parameters(script, mapping(reference.get("parameters")), scope)
    declared = {str(e.get("name")): e for e in [*flow_props.get("sources", []), *flow_props.get("sinks", [])]
                if isinstance(e, Mapping)}
    dataset_parameters = mapping(reference.get("datasetParameters") or props.get("datasetParameters"))
    assets: dict[str, stores.Asset] = {}
    for endpoint in [*script.sources, *script.sinks]:
        try:
            assets[endpoint.name] = _endpoint_asset(
                resolver, declared.get(endpoint.name), endpoint.options, parameters=parameters,
                dataset_parameters=mapping(dataset_parameters.get(endpoint.name)), scope=scope)
        except (Skip, stores.StoreError, DataFlowScriptError) as exc:
            reason = exc.reason if isinstance(exc, Skip) else str(exc)
            notes.append(f"{endpoint.kind} {endpoint.name}: {reason}")
    try:
        reaching = script.sources_by_sink(MAX_SOURCE_SINK_PAIRS)
    except ScriptTooWideError as exc:
        raise Skip(f"data flow {name!r} too wide: {exc}") from exc
    by_names: dict[tuple[str, ...], tuple[stores.Asset, ...]] = {}  # sinks fed by the same sources share the tuple
    sinks = []
    for sink in script.sinks:
        if sink.name in assets:
            names = reaching[sink.name]
            if names not in by_names:
                by_names[names] = tuple(sorted({assets[s] for s in names if s in assets}))
            sinks.append((sink.name, by_names[names]))
    return sinks, assets, notes


def _without_script(resolver: RunResolver, name: str, flow_props: Mapping[str, Any], *, scope: Scope,
                    dataset_parameters: Mapping[str, Any]) -> _Endpoints:
    """A data flow with no script at all: which source reaches which sink is unknown, so every dataset source is
    tied to every dataset sink (inline ones need the script's options), and the row says so."""
    notes = [f"data flow {name!r} has no script: every source is tied to every sink"]
    assets: dict[str, stores.Asset] = {}
    kinds: dict[str, str] = {}
    for kind in ("sources", "sinks"):
        for declared in flow_props.get(kind) or []:
            if not isinstance(declared, Mapping) or not isinstance(declared.get("name"), str):
                continue
            endpoint = str(declared["name"])
            try:
                if not isinstance(declared.get("dataset"), Mapping):
                    raise Skip("an inline endpoint is named by the script's options, and there is no script")
                assets[endpoint] = _endpoint_asset(resolver, declared, {}, parameters={}, scope=scope,
                                                   dataset_parameters=mapping(dataset_parameters.get(endpoint)))
                kinds[endpoint] = kind
            except (Skip, stores.StoreError) as exc:
                notes.append(f"{kind[:-1]} {endpoint}: {exc.reason if isinstance(exc, Skip) else exc}")
    sources = tuple(sorted({a for n, a in assets.items() if kinds[n] == "sources"}))
    sinks = [(n, sources) for n in sorted(assets) if kinds[n] == "sinks"]
    return sinks, assets, notes


def dataflow_facts(run: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Rows written by all sinks (``runStatus.metrics.<sink>.rowsWritten``); data flows report no byte count."""
    metrics = mapping(mapping(mapping(run.get("output")).get("runStatus")).get("metrics"))
    rows = [m.get("rowsWritten") for m in metrics.values() if isinstance(m, Mapping)]
    known = [r for r in rows if type(r) is int and 0 <= r < LONG_LIMIT]
    return (sum(known) if known else None), None


def _endpoint_asset(resolver: RunResolver, declared: Mapping[str, Any] | None, options: Mapping[str, str], *,
                    parameters: Mapping[str, str], dataset_parameters: Mapping[str, Any],
                    scope: Scope) -> stores.Asset:
    if declared is None:
        raise Skip("not declared in the data flow's sources/sinks")
    if isinstance(declared.get("dataset"), Mapping):
        dataset_ref = dict(declared["dataset"])
        dataset_ref["parameters"] = {**mapping(dataset_ref.get("parameters")), **dataset_parameters}
        return resolver.dataset(dataset_ref, scope).asset()
    if isinstance(declared.get("linkedService"), Mapping):
        endpoint = resolver.linked_service(declared["linkedService"], scope)
        return stores.asset(endpoint, _inline_location(options, parameters))
    raise Skip("neither a dataset nor a linked service")


def _inline_location(options: Mapping[str, str], parameters: Mapping[str, str]) -> stores.Location:
    values: dict[str, str | None] = {}
    for field_name, keys in _LOCATION_OPTIONS.items():
        for key in keys:
            if key in options:
                values[field_name] = evaluate_option(options[key], parameters) or None
                break
    wildcard = options.get("wildcardPaths")
    if wildcard and not values.get("file"):
        first = wildcard.strip().removeprefix("[").removesuffix("]").split(",")[0]
        folder, _, file = evaluate_option(first, parameters).rpartition("/")
        values["folder"] = "/".join(p for p in (values.get("folder"), folder) if p) or None
        values["file"] = file or None
    return stores.Location(**values)


def _parameters(script: DataFlowScript, given: Mapping[str, Any], scope: Scope) -> dict[str, str]:
    """Data flow parameter expressions: the script's defaults, then the activity's values.

    An activity value written as a pipeline expression (``@...``) yields a plain value, which becomes a quoted
    data flow literal; any other value is data flow expression text already.
    """
    values = {p.name: p.default for p in script.parameters if p.default is not None}
    for key, value in given.items():
        raw = value.get("value") if isinstance(value, Mapping) else value
        if isinstance(raw, str) and raw.startswith("@"):
            literal = resolve_text(raw, scope, f"data flow parameter {key}")
            values[key] = "'" + literal.replace("\\", "\\\\").replace("'", "\\'") + "'"
        elif raw is not None:
            values[key] = str(raw)
    return values


def _column_maps(lineage: Mapping[str, Any], assets: Mapping[str, stores.Asset],
                 sink: stores.Asset) -> tuple[ColumnMap, ...]:
    pairs: dict[str, list[tuple[str, str]]] = {}
    for column, spec in sorted(lineage.items()):
        if not isinstance(spec, Mapping) or spec.get("mapped") is False:
            continue
        for origin in spec.get("from") or []:
            source = assets.get(str(mapping(origin).get("source")))
            if source is None:
                continue
            for source_column in mapping(origin).get("columns") or []:
                pairs.setdefault(source.qualified_name, []).append((str(source_column), str(column)))
    return tuple(ColumnMap(qn, sink.qualified_name, tuple(p)) for qn, p in sorted(pairs.items()))

