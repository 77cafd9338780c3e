"""Copy activity lineage: the source and sink datasets of each run, narrowed by what the run itself reports.

A Copy run's ``input`` is its evaluated ``typeProperties`` (field notes §2): it knows the wildcards and the query that
actually ran but not the datasets, so datasets come from the pipeline definition and the run supplies the rest.
Files that the account's resource-set rules group are named as their resource set, as Purview's own Copy lineage
does (Data Flow lineage keeps paths, as native does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lineage.extract import sql_tables, stores
from lineage.extract.expressions import ExpressionError, Scope, Unresolvable, resolve
from lineage.extract.jsontext import mapping
from lineage.extract.model import LONG_LIMIT, ActivityResult, ColumnMap, Flow, Skip
from lineage.extract.resolver import ResolvedDataset, RunResolver
from lineage.extract.stores.resource_sets import ResourceSetRules

_QUERY_KEYS = ("sqlReaderQuery", "query")
_PROC_KEYS = ("sqlReaderStoredProcedureName", "storedProcedureName")


def copy_lineage(resolver: RunResolver, definition: Mapping[str, Any], run: Mapping[str, Any],
                 result: ActivityResult) -> None:
    """Add the run's flow (sources -> sink, with column pairs) to ``result``."""
    scope = resolver.scope_for(definition, run, result.notes)
    inputs, outputs = definition.get("inputs"), definition.get("outputs")
    if not isinstance(inputs, list) or not inputs or not isinstance(outputs, list) or not outputs:
        raise Skip("Copy activity without an input and an output dataset")
    run_input = _run_input(definition, run, result)
    props = mapping(definition.get("typeProperties"))
    source_settings = _settings(run_input, props, "source", scope, result)

    source_ds = resolver.dataset(inputs[0], scope)
    sink_ds = resolver.dataset(outputs[0], scope)
    group = resolver.options.resource_sets
    sources = _source_assets(source_ds, source_settings, result, group, resolver.options.stores)
    sink = sink_asset(sink_ds, group)
    column_pairs = _column_pairs(run_input, props, scope, source=source_ds, sink=sink_ds, result=result)
    column_maps: tuple[ColumnMap, ...] = ()
    if column_pairs:
        origin = sources[0].qualified_name if len(sources) == 1 else "*"
        column_maps = (ColumnMap(origin, sink.qualified_name, column_pairs),)
    result.flows.append(Flow(sink=sink, sources=sources, column_maps=column_maps))


def sink_asset(sink: ResolvedDataset, group: ResourceSetRules | None) -> stores.Asset:
    """The asset a Copy writes: its sink dataset's, named as its resource set where the account groups the file."""
    return stores.copied_asset(sink.endpoint, sink.location(), group)


def copy_facts(run: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Rows and bytes written, as Purview's integration reports them (``rowCount``, ``dataSize``)."""
    output = mapping(run.get("output"))
    return _int(output.get("rowsCopied")), _int(output.get("dataWritten"))


def _run_input(definition: Mapping[str, Any], run: Mapping[str, Any], result: ActivityResult) -> Mapping[str, Any]:
    if mapping(definition.get("policy")).get("secureInput") is True:
        result.notes.append("secure input hidden: wildcards and queries evaluated at run time are not visible")
        return {}
    return mapping(run.get("input"))


def _settings(run_input: Mapping[str, Any], props: Mapping[str, Any], key: str, scope: Scope,
              result: ActivityResult) -> Mapping[str, Any]:
    """The run's evaluated source/sink settings, or the definition's resolved where the run does not show them."""
    shown = run_input.get(key)
    if type(shown) is dict or isinstance(shown, Mapping):
        return shown
    try:
        return mapping(resolve(mapping(props.get(key)), scope))
    except (Unresolvable, ExpressionError) as exc:
        result.notes.append(f"{key} settings not resolvable ({_reason(exc)}): dataset location used as is")
        return {}


def _source_assets(dataset: ResolvedDataset, settings: Mapping[str, Any], result: ActivityResult,
                   group: ResourceSetRules | None, store_settings: stores.StoreSettings) -> tuple[stores.Asset, ...]:
    for key in _PROC_KEYS:
        if settings.get(key):
            result.notes.append("stored procedure source: the tables it reads are not visible")
            return ()
    for key in _QUERY_KEYS:
        query = settings.get(key)
        if isinstance(query, str) and query.strip():
            dialect = sql_tables.DIALECT_BY_PLATFORM.get(dataset.endpoint.platform)
            if dialect is not None:
                return _query_assets(dataset, query, dialect, result, store_settings)
    store = mapping(settings.get("storeSettings"))
    overrides: dict[str, Any] = {}
    if isinstance(store.get("wildcardFolderPath"), str):
        overrides["folder"] = store["wildcardFolderPath"]
    if isinstance(store.get("wildcardFileName"), str):
        overrides["file"] = store["wildcardFileName"]
    location = dataset.location(**overrides)
    asset = stores.copied_asset(dataset.endpoint, location, group)
    if location.wildcard:
        result.notes.append(f"wildcard path reported as its folder {asset.qualified_name}")
    return (asset,)


def _query_assets(dataset: ResolvedDataset, query: str, dialect: str, result: ActivityResult,
                  settings: stores.StoreSettings) -> tuple[stores.Asset, ...]:
    try:
        tables = sql_tables.tables_read(query, dialect)
    except sql_tables.SqlParseError as exc:
        raise Skip(f"source query not understood: {exc}") from exc
    if not tables:
        raise Skip("source query reads no table")
    assets = []
    for table in tables:
        if table.server is not None:  # read through a linked server: another server, named by the settings
            asset = _linked_server_table(dataset, table, settings, result)
            if asset is not None:
                assets.append(asset)
            continue
        asset = dataset.asset(database=table.catalog or dataset.endpoint.database, schema=table.schema,
                                 table=table.name)
        assets.append(asset)
    if not assets:
        raise Skip("the source query reads only tables of linked servers whose hosts are not known")
    result.notes.append(f"source is a query reading {len(assets)} table(s)")
    return tuple(sorted(set(assets)))


def _linked_server_table(dataset: ResolvedDataset, table: sql_tables.TableRef, settings: stores.StoreSettings,
                         result: ActivityResult) -> stores.Asset | None:
    """A four-part name's table, on the linked server's host (and instance) as ``linkedServiceHosts`` names it."""
    configured = settings.linked_service_hosts.get(str(table.server))
    parts = configured if isinstance(configured, Mapping) else {"host": configured} if configured else {}
    host, instance = parts.get("host"), parts.get("instance") or settings.sql_server_default_instance
    if not host or not table.catalog:
        result.notes.append(f"table {table.name!r} is read through linked server {table.server!r}, whose host is "
                            f'not known: add "{table.server}": "<host>" to linkedServiceHosts')
        return None
    endpoint = replace(dataset.endpoint, host=host, platform="sql_server", instance=instance)  # typed by its host
    return stores.asset(endpoint, stores.Location(database=table.catalog, schema=table.schema, table=table.name))


def _column_pairs(run_input: Mapping[str, Any], props: Mapping[str, Any], scope: Scope, *, source: ResolvedDataset,
                  sink: ResolvedDataset, result: ActivityResult) -> tuple[tuple[str, str], ...]:
    """Column pairs from the translator, else by name when both datasets declare their columns."""
    translator: Any = run_input.get("translator")
    if translator is None and "translator" in props:
        try:
            translator = resolve(props["translator"], scope)
        except (Unresolvable, ExpressionError) as exc:
            result.notes.append(f"column mapping not resolvable: {_reason(exc)}")
            return ()
    if translator is not None and isinstance(translator, Mapping):  # most runs map no columns: no ABC check
        return translator_pairs(translator)
    if source.columns and sink.columns:
        sink_columns = set(sink.columns)
        return tuple((name, name) for name in source.columns if name in sink_columns)
    return ()


def translator_pairs(translator: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Column pairs of a TabularTranslator: ``mappings`` (name or JSON path) or the legacy ``columnMappings``."""
    pairs: list[tuple[str, str]] = []
    for pair in translator.get("mappings") or ():
        if isinstance(pair, Mapping):
            src, dst = _column_name(pair.get("source")), _column_name(pair.get("sink"))
            if src and dst:
                pairs.append((src, dst))
    legacy = translator.get("columnMappings")
    if isinstance(legacy, str):
        for part in legacy.split(","):
            src, sep, dst = part.partition(":")
            if sep and src.strip() and dst.strip():
                pairs.append((src.strip(), dst.strip()))
    elif isinstance(legacy, Mapping):
        pairs.extend((str(k), str(v)) for k, v in legacy.items())
    return tuple(pairs)


def _column_name(side: Any) -> str | None:
    if isinstance(side, Mapping):
        value = side.get("name") or side.get("path")
        return value if isinstance(value, str) else None
    return None


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, Unresolvable) else str(exc)


def _int(value: Any) -> int | None:
    """A count as Purview stores it (a long): a non-negative integer below 2**63, else unknown."""
    return value if type(value) is int and 0 <= value < LONG_LIMIT else None

