"""Execute SSIS Package lineage: for an inline package, each destination (table, blob, file) fed by its data flow's
sources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lineage.extract import sql_tables, stores
from lineage.extract.dtsx import (
    Connection,
    ConnectionOverrides,
    Endpoint,
    PackageError,
    package_xml,
    parse_package,
)
from lineage.extract.model import MAX_SOURCE_SINK_PAIRS, ActivityResult, Flow, Skip
from lineage.extract.resolver import RunResolver
from lineage.extract.stores import naming
from lineage.extract.stores.resource_sets import ResourceSetRules

# MAX_SOURCE_SINK_PAIRS bounds a package too: within a data flow task every destination is fed by every source, one
# Purview operation per destination listing them all, so a task of thousands of each would build millions of
# references for a graph no one can read. Past it the activity is skipped with the count as its reason.
GLOBAL_SUFFIX = "core.windows.net"  # the cloud whose storage names naming.py writes
AZURE_FILES_HOST = ".file.core.windows.net"
_UNC = re.compile(r"^[\\/]{2}(?P<host>[^\\/]+)[\\/]+(?P<share>[^\\/]+)[\\/]*(?P<rest>.*)$")
_LOCAL = re.compile(r"^[A-Za-z]:")


def ssis_lineage(resolver: RunResolver, definition: Mapping[str, Any], run: Mapping[str, Any],
                 result: ActivityResult) -> None:
    props = definition.get("typeProperties")
    props = props if isinstance(props, Mapping) else {}
    try:  # the package is the same in every run of the activity: read once per run record
        flows, notes = resolver.memo(("ssis", str(definition.get("name"))),
                                     lambda: _package_lineage(props, resolver.options.stores,
                                                              resolver.options.resource_sets))
    except PackageError as exc:
        raise Skip(f"SSIS package: {exc}") from exc
    result.notes.extend(notes)
    result.flows.extend(flows)


def _package_lineage(props: Mapping[str, Any], settings: stores.StoreSettings,
                     group: ResourceSetRules | None) -> tuple[list[Flow], list[str]]:
    """The flows of an inline package, and notes on what it holds that is not read.

    A destination's operation lists every source of its data flow task that could be named; a source that could
    not be is said twice: on its own (why), and as an input the task's operations lack, so a partial operation is
    never mistaken for a whole one.
    """
    package = parse_package(package_xml(props), ConnectionOverrides.from_activity(props))
    notes: list[str] = []
    by_task: dict[str, tuple[list[stores.Asset], list[stores.Asset], list[str]]] = {}
    for unread in package.unsupported:
        notes.append(str(unread))
        if unread.role == "source":
            by_task.setdefault(unread.task, ([], [], []))[2].append(unread.component)
    for endpoint in package.endpoints:
        sources, sinks, missing = by_task.setdefault(endpoint.task, ([], [], []))
        try:
            assets = _assets(endpoint, settings, group, notes)
        except (stores.StoreError, sql_tables.SqlParseError) as exc:
            notes.append(f"{endpoint.role} {endpoint.component}: {exc}")
            if endpoint.role == "source":
                missing.append(endpoint.component)
            continue
        (sources if endpoint.role == "source" else sinks).extend(assets)
    tasks = []
    for task, (sources, sinks, missing) in sorted(by_task.items()):
        if sinks and missing:
            notes.append(f"the operations of data flow task {task} lack the input of {', '.join(missing)}")
        elif sinks and not sources:
            notes.append(f"the operations of data flow task {task} have no input: the task shows no source")
        tasks.append((tuple(sorted(set(sources))), sorted(set(sinks))))
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


def _assets(endpoint: Endpoint, settings: stores.StoreSettings, group: ResourceSetRules | None,
            notes: list[str]) -> list[stores.Asset]:
    connection = endpoint.connection
    if endpoint.layout in ("blob", "folder"):
        return [_storage_asset(endpoint, settings, group, notes)]
    if connection.kind == "file":
        return [_file_asset(connection)]
    if connection.kind == "storage":
        raise stores.StoreError(f"storage connection {connection.name!r} on a component that names no blob")
    if connection.kind == "odbc":
        _odbc_sql_server(connection)
    elif connection.kind != "sql":
        raise stores.StoreError(f"{connection.kind} connection {connection.name!r} has no Purview asset type")
    if not connection.server or not connection.database:
        raise stores.StoreError(f"connection {connection.name!r} names no server and database")
    if endpoint.table:
        return [stores.sql_table_asset(connection.server, connection.database, endpoint.schema, endpoint.table,
                                       settings)]
    if endpoint.sql_command and endpoint.role == "source":
        tables = sql_tables.tables_read(endpoint.sql_command, "tsql")
        if not tables:
            raise stores.StoreError("its query reads no table")
        return [stores.sql_table_asset(connection.server, t.catalog or connection.database, t.schema, t.name,
                                       settings) for t in tables]
    raise stores.StoreError("names neither a table nor a query")


def _storage_asset(endpoint: Endpoint, settings: stores.StoreSettings, group: ResourceSetRules | None,
                   notes: list[str]) -> stores.Asset:
    """A blob or ADLS Gen2 path, named as the Copy activity names the same file (the same naming classes, the same
    ``adlsGen2Accounts`` / ``blobAccounts`` settings, the same resource sets)."""
    connection = endpoint.connection
    if connection.kind != "storage":
        raise stores.StoreError(f"{connection.kind} connection {connection.name!r} is not an Azure Storage one")
    if connection.emulator:
        raise stores.StoreError(f"storage connection {connection.name!r} uses the local storage emulator, not an "
                                "Azure store")
    if not connection.account:
        raise stores.StoreError(f"storage connection {connection.name!r} names no storage account")
    if connection.suffix and connection.suffix.strip(". ").lower() != GLOBAL_SUFFIX:
        raise stores.StoreError(f"storage connection {connection.name!r} is in another cloud "
                                f"({connection.suffix.strip()}): its assets are not named here")
    account = naming.account(connection.account)
    if not endpoint.container:
        raise stores.StoreError("names no container" if endpoint.layout == "blob" else
                                "its folder path names no container or file system")
    linked_service_type = "AzureBlobFS" if connection.service == "adls_gen2" else "AzureBlobStorage"
    store = stores.endpoint(linked_service_type, {"connectionString": f"AccountName={account}"}, connection.name,
                            settings)
    location = stores.Location(endpoint.container, endpoint.folder, endpoint.file)
    asset = stores.copied_asset(store, location, group)
    if location.wildcard:
        notes.append(f"{endpoint.role} {endpoint.component}: wildcard path reported as its folder "
                     f"{asset.qualified_name}")
    return asset


def _file_asset(connection: Connection) -> stores.Asset:
    """A flat file or workbook: an Azure Files share reached by its UNC path is an Azure store; a local drive or
    another server's share is not, and the reason says which."""
    path = (connection.path or "").strip().strip('"')
    if not path:
        raise stores.StoreError(f"file connection {connection.name!r} names no file")
    unc = _UNC.match(path)
    if unc and unc.group("host").lower().endswith(AZURE_FILES_HOST):
        return naming.AzureFile(unc.group("host").split(".")[0], unc.group("share"),
                                unc.group("rest").replace("\\", "/")).asset()
    where = (f"network share \\\\{unc.group('host')}\\{unc.group('share')}" if unc else
             f"local path {_preview(path)}" if _LOCAL.match(path) else f"path {_preview(path)}")
    raise stores.StoreError(f"file connection {connection.name!r} reaches a {where}, not an Azure store")


def _odbc_sql_server(connection: Connection) -> None:
    """ODBC is read only where it reaches SQL Server by name: a DSN keeps its host outside the package."""
    if connection.dsn and not connection.server:
        raise stores.StoreError(f"ODBC connection {connection.name!r} uses the DSN {_preview(connection.dsn)}: its "
                                "host is set on the machine that runs the package, not in the package")
    if "sql server" not in (connection.driver or "").lower():
        raise stores.StoreError(f"ODBC connection {connection.name!r} uses the driver "
                                f"{_preview(connection.driver or 'not named')}: only SQL Server drivers are named")


def _preview(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")
