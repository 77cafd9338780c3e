"""Execute SSIS Package lineage: for an inline package, each destination table fed by its data flow's sources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lineage.extract import sql_tables, stores
from lineage.extract.dtsx import ConnectionOverrides, Endpoint, Package, PackageError, package_xml, parse_package
from lineage.extract.model import ActivityResult, Flow, Skip
from lineage.extract.resolver import RunResolver

# The most (destination, source) pairs one Execute SSIS Package activity's lineage holds: within a data flow task
# every destination is fed by every source, one Purview operation per destination listing them all, so a task of
# thousands of each would build millions of references for a graph no one can read. Past this the activity is
# skipped with the count as its reason.
MAX_SOURCE_SINK_PAIRS = 10_000


def ssis_lineage(resolver: RunResolver, definition: Mapping[str, Any], run: Mapping[str, Any],
                 result: ActivityResult) -> None:
    props = definition.get("typeProperties")
    props = props if isinstance(props, Mapping) else {}
    try:  # the package is the same in every run of the activity: read once per run record
        flows, notes = resolver.memo(("ssis", str(definition.get("name"))),
                                     lambda: _package_lineage(props, resolver.options.stores))
    except PackageError as exc:
        raise Skip(f"SSIS package: {exc}") from exc
    result.notes.extend(notes)
    result.flows.extend(flows)


def _package_lineage(props: Mapping[str, Any], settings: stores.StoreSettings) -> tuple[list[Flow], list[str]]:
    """The flows of an inline package, and notes on what it holds that is not read."""
    package: Package = parse_package(package_xml(props), ConnectionOverrides.from_activity(props))
    notes = list(package.unsupported)
    by_task: dict[str, tuple[list[stores.Asset], list[stores.Asset]]] = {}
    for endpoint in package.endpoints:
        try:
            assets = _assets(endpoint, settings)
        except (stores.StoreError, sql_tables.SqlParseError) as exc:
            notes.append(f"{endpoint.role} {endpoint.component}: {exc}")
            continue
        sources, sinks = by_task.setdefault(endpoint.task, ([], []))
        (sources if endpoint.role == "source" else sinks).extend(assets)
    tasks = [(tuple(sorted(set(sources))), sorted(set(sinks))) for _, (sources, sinks) in sorted(by_task.items())]
    pairs = sum(len(sources) * len(sinks) for sources, sinks in tasks)
    if pairs > MAX_SOURCE_SINK_PAIRS:
        raise PackageError(f"too wide: its data flow tasks feed {sum(len(s) for _, s in tasks):,} destinations from "
                           f"{pairs:,} source-destination pairs in all, more than the {MAX_SOURCE_SINK_PAIRS:,} one "
                           "activity's lineage may hold")
    flows = [Flow(sink=sink, sources=sources) for sources, sinks in tasks for sink in sinks]  # one tuple per task
    return flows, notes


def ssis_facts(run: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The run output of Execute SSIS Package carries no row or byte counts."""
    return None, None


def _assets(endpoint: Endpoint, settings: stores.StoreSettings) -> list[stores.Asset]:
    connection = endpoint.connection
    if connection.kind != "sql":
        raise stores.StoreError(f"{connection.kind} connection {connection.name!r} has no Purview asset type")
    if not connection.server or not connection.database:
        raise stores.StoreError(f"connection {connection.name!r} names no server and database")
    if endpoint.table:
        return [stores.sql_table_asset(connection.server, connection.database, endpoint.schema, endpoint.table,
                                       settings)]
    if endpoint.sql_command and endpoint.role == "source":
        tables = sql_tables.tables_read(endpoint.sql_command, "tsql")
        return [stores.sql_table_asset(connection.server, t.catalog or connection.database, t.schema, t.name,
                                       settings) for t in tables]
    raise stores.StoreError("names neither a table nor a query")
