"""Where a dataset points inside its store, and the asset that makes with the store's endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from lineage.extract.stores import naming
from lineage.extract.stores.linked_services import Endpoint, StoreSettings
from lineage.extract.stores.naming import Asset, StoreError
from lineage.extract.stores.resource_sets import ResourceSetRules

_FILE_FORMATS = frozenset({"DelimitedText", "Parquet", "Json", "Avro", "Orc", "Binary", "Excel", "Xml"})


class Location(NamedTuple):
    """A dataset's place in its store, whatever the store (a named tuple: immutable, and quick to make)."""

    container: str | None = None  # container, file system, share or bucket
    folder: str | None = None
    file: str | None = None
    database: str | None = None
    schema: str | None = None
    table: str | None = None
    collection: str | None = None

    @property
    def wildcard(self) -> bool:
        return naming.has_wildcard(self.folder, self.file)


def location(dataset_type: str, props: Mapping[str, Any]) -> Location:
    """The location a dataset's resolved ``typeProperties`` describe."""
    if dataset_type in _FILE_FORMATS:
        loc = props.get("location")
        if type(loc) is not dict and not isinstance(loc, Mapping):  # the exact type first: an ABC check costs more
            raise StoreError(f"{dataset_type} dataset without a location")
        container = loc.get("container") or loc.get("fileSystem") or loc.get("bucketName")
        return Location(_s(container), _s(loc.get("folderPath")), _s(loc.get("fileName")))
    if dataset_type in ("AzureBlob", "AzureBlobFSFile"):
        folder = _s(props.get("folderPath")) or ""
        container, _, rest = folder.strip("/").partition("/")
        return Location(container or None, rest or None, _s(props.get("fileName")))
    if dataset_type in ("AzureDataLakeStoreFile", "AzureFileStorageFile", "FileShare"):
        return Location(None, _s(props.get("folderPath")), _s(props.get("fileName")))
    if dataset_type in ("AzureSqlTable", "AzureSqlMITable", "AzureSqlDWTable", "SqlServerTable",
                        "AzurePostgreSqlTable", "SnowflakeTable", "SnowflakeV2Table"):
        return _table(props)
    if dataset_type == "AzureMySqlTable":
        return Location(table=_s(props.get("table")) or _s(props.get("tableName")))
    if dataset_type in ("CosmosDbSqlApiCollection", "DocumentDbCollection"):
        return Location(collection=_s(props.get("collectionName")))
    if dataset_type == "AzureDataExplorerTable":
        return Location(table=_s(props.get("table")))
    raise StoreError(f"unmapped store: dataset type {dataset_type!r} is not supported")


def _table(props: Mapping[str, Any]) -> Location:
    schema, table = _s(props.get("schema")), _s(props.get("table"))
    legacy = _s(props.get("tableName"))
    if table is None and legacy:
        parts = [p.strip().strip("[]\"") for p in legacy.split(".")]
        schema, table = (parts[-2] if len(parts) > 1 else None), parts[-1]
    return Location(schema=schema, table=table)


@lru_cache(maxsize=16_384)  # a pipeline's runs name the same files and tables again, day after day
def asset(endpoint: Endpoint, loc: Location) -> Asset:
    """The asset at ``loc`` in the store ``endpoint`` connects to (a pure function of the two: assets are never
    changed once made, so one made for an earlier run serves the next)."""
    p = endpoint.platform
    is_file = bool(loc.file)
    if p in ("blob", "adls_gen2", "azure_files"):
        acct = endpoint.host or ""
        container = loc.container or (endpoint.share if p == "azure_files" else None) or ""
        folder_and_file = _folder_and_file(loc)
        if p == "blob":
            return naming.BlobPath(acct, container, folder_and_file, is_file).asset()
        if p == "adls_gen2":
            return naming.AdlsGen2Path(acct, container, folder_and_file, is_file).asset()
        return naming.AzureFile(acct, container, folder_and_file, is_file).asset()
    if p == "adls_gen1":
        return naming.AdlsGen1Path(endpoint.host or "", _folder_and_file(loc), is_file).asset()
    if p == "s3":
        return naming.S3Object(loc.container or "", _folder_and_file(loc), is_file).asset()
    if p == "cosmos":
        return naming.CosmosCollection(endpoint.host or "", loc.database or endpoint.database or "",
                                       loc.collection or "").asset()
    table = loc.table or _missing("table")
    database = loc.database or endpoint.database or _missing_database(endpoint)
    if p in naming.SQL_DECLARED:
        return naming.SqlTable(endpoint.host or "", database, loc.schema or "dbo", table, p,
                               endpoint.instance or "MSSQLSERVER").asset()
    if p == "postgresql":
        return naming.PostgresTable(endpoint.host or "", database, loc.schema or "public", table).asset()
    if p == "mysql":
        return naming.MySqlTable(endpoint.host or "", database, table).asset()
    if p == "kusto":
        return naming.KustoTable(endpoint.host or "", database, table).asset()
    if p == "snowflake":
        return naming.SnowflakeTable(endpoint.host or "", database, loc.schema or "PUBLIC", table).asset()
    raise StoreError(f"unmapped store platform {p!r}")


def copied_asset(endpoint: Endpoint, loc: Location, rules: ResourceSetRules | None) -> Asset:
    """The asset Copy lineage names at ``loc`` (and SSIS's, which follows it): a file of a set the account's rules
    group is named as its resource set, as Purview's own Copy lineage does (field notes §5); a wildcard path stops
    at its folder, which the caller says in a note. Data Flow lineage keeps paths: it calls ``asset``."""
    found = asset(endpoint, loc)
    if rules is None or not loc.file or loc.wildcard:
        return found
    return rules.resource_set(found)


def sql_table_asset(server: str, database: str, schema: str | None, table: str, settings: StoreSettings) -> Asset:
    """A table on a server named directly (SQL text, SSIS connection managers): the type from the host alone."""
    return naming.SqlTable(server, database, schema or "dbo", table, "sql_server",
                           settings.sql_server_default_instance).asset()


def _folder_and_file(loc: Location) -> str:
    folder, file = loc.folder, loc.file
    return f"{folder}/{file}" if folder and file else folder or file or ""


def _missing(what: str) -> str:
    raise StoreError(f"the dataset names no {what}")


def _missing_database(endpoint: Endpoint) -> str:
    name = endpoint.linked_service or "<linked service>"
    raise StoreError(f"neither the dataset nor linked service {name!r} shows a database (a connection string in Key "
                     f'Vault or masked?): add "{name}": {{"host": "<host>", "database": "<database>"}} to '
                     "linkedServiceHosts in the lineage settings")


def _s(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
