"""One small, validated class per platform that knows how Purview's scanners name its assets.

A reader finds any store's qualifiedName rule here, in one place (field notes §5), with Purview's ingestion
normalization (§4) applied so that our names match scanned assets instead of duplicating them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_WILDCARD = re.compile(r"[*?]")
# Characters that make a name unreadable or deceptive: controls (NUL, newline...), lone surrogates, and the
# bidirectional marks that make text display in another order than it is stored ("Trojan Source").
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The same characters as one class: Cc is U+0000-U+001F and U+007F-U+009F, Cs U+D800-U+DFFF (fixed by Unicode).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff" + "".join(sorted(_BIDI_CONTROLS)) + "]")
MAX_NAME_CHARS = 1_024  # the longest single name any supported store allows (a blob name)
MAX_PATH_CHARS = 2_048  # container and path together (a blob name is at most 1,024)
SQL_NAME_CHARS = 255  # SQL Server allows 128, Snowflake 255: no SQL store has longer identifiers


class StoreError(ValueError):
    """A store location that cannot be named; the message says what is missing or wrong."""


# Every asset type the store classes below produce: ``doctor`` checks that the Purview account knows each of them.
ASSET_TYPES = frozenset({
    "azure_blob_path", "azure_datalake_gen2_path", "azure_datalake_gen1_path", "azure_file",
    "azure_sql_table", "azure_sql_mi_table", "azure_synapse_dedicated_sql_table", "azure_sql_dw_table", "mssql_table",
    "azure_postgresql_table", "azure_mysql_table", "azure_cosmosdb_sqlapi_collection", "azure_data_explorer_table",
    "aws_s3_v2_object", "aws_s3_v2_directory", "snowflake_table",
})


@dataclass(frozen=True, slots=True, order=True)
class Asset:
    """A data asset as Purview knows it."""

    type_name: str
    qualified_name: str
    name: str


@lru_cache(maxsize=1024)  # every asset of a store checks its host again
def host(value: str, what: str = "host") -> str:
    """A DNS host name, lower-cased; anything that could carry a credential is refused."""
    text = value.strip().lower().rstrip(".")
    if not _HOST.match(text):
        raise StoreError(f"{what} {_preview(value)} is not a valid host name")
    return text


@lru_cache(maxsize=1024)  # every asset of a store checks its account again
def account(value: str, what: str = "storage account") -> str:
    text = value.strip().lower()
    if not _ACCOUNT.match(text):
        raise StoreError(f"{what} {_preview(value)} is not a valid account name")
    return text


def unsafe_character(text: str) -> str | None:
    """What makes ``text`` unfit for a name (a control character, a lone surrogate, a bidirectional mark), or None.

    Every name of every run goes through here: one regular-expression search, not a look-up per character.
    """
    found = _UNSAFE.search(text)
    if found is None:
        return None
    char = found.group()
    kind = {"Cc": "a control character", "Cs": "a lone surrogate"}.get(unicodedata.category(char),
                                                                       "a bidirectional mark")
    return f"{kind} (U+{ord(char):04X})"


def name_part(value: str, what: str, limit: int = MAX_NAME_CHARS) -> str:
    """A name that goes into a qualifiedName as is: refused when it is too long or holds an unsafe character."""
    if len(value) > limit:
        raise StoreError(f"{what} of {len(value)} characters is longer than the {limit} a store allows")
    problem = unsafe_character(value)
    if problem:
        raise StoreError(f"{what} {_preview(value)} contains {problem}")
    return value


def has_wildcard(*parts: str | None) -> bool:
    return any(part and _WILDCARD.search(part) for part in parts)


def path(*parts: str | None, is_file: bool) -> tuple[str, bool]:
    """A normalized path (no empty or duplicate slashes, braces encoded, extension lower-cased), cut before any
    wildcard segment; returns it and whether it names a file."""
    segments = [s for part in parts if part for s in part.replace("\\", "/").split("/") if s]
    literal: list[str] = []
    for segment in segments:
        encoded = _segment(segment)
        if encoded is None:
            is_file = False
            break
        literal.append(encoded)
    if is_file and literal and "." in literal[-1]:
        stem, ext = literal[-1].rsplit(".", 1)
        literal[-1] = f"{stem}.{ext.lower()}"
    joined = "/".join(literal)
    if len(joined) > MAX_PATH_CHARS:
        raise StoreError(f"path of {len(joined)} characters is longer than the {MAX_PATH_CHARS} a store allows")
    return joined, is_file and bool(literal)


@lru_cache(maxsize=4096)  # the folders above the files of a ForEach repeat in every iteration
def _segment(segment: str) -> str | None:
    """One segment of a path as it goes into a qualifiedName, or None for a wildcard (the path stops before it)."""
    if _WILDCARD.search(segment):
        return None
    name_part(segment, "path segment")
    if segment.strip() in (".", ".."):
        raise StoreError(f"path segment {segment.strip()!r} names no file or folder")
    return segment.replace("{", "%7B").replace("}", "%7D")


@lru_cache(maxsize=4096)  # a store's database and schema repeat in every iteration of a ForEach
def sql_part(value: str, what: str) -> str:
    """A SQL identifier as Purview writes it in a qualifiedName: brackets/quotes removed, spaces as %20."""
    text = value.strip()
    if len(text) >= 2 and text[0] in "[\"`" and text[-1] in "]\"`":
        text = text[1:-1]
    if not text:
        raise StoreError(f"{what} is empty")
    name_part(text, what, limit=SQL_NAME_CHARS)
    if "/" in text:
        raise StoreError(f"{what} {_preview(value)} contains '/'")
    return text.replace(" ", "%20")


def _segments(*named: tuple[str, str]) -> None:
    """Names that stand between slashes of a qualifiedName: no slash, no unsafe character, not overly long."""
    for what, value in named:
        name_part(value, what, limit=SQL_NAME_CHARS)
        if "/" in value:
            raise StoreError(f"{what} {_preview(value)} contains '/'")


def _last(path_text: str, fallback: str) -> str:
    return path_text.rsplit("/", 1)[-1] if path_text else fallback


def _preview(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


# ------------------------------------------------------------------------------------------------ file stores


@dataclass(frozen=True, slots=True)
class BlobPath:
    account: str
    container: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        return _file_asset("azure_blob_path", f"https://{account(self.account)}.blob.core.windows.net",
                           self.container, self.path, self.is_file)


@dataclass(frozen=True, slots=True)
class AdlsGen2Path:
    account: str
    filesystem: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        return _file_asset("azure_datalake_gen2_path", f"https://{account(self.account)}.dfs.core.windows.net",
                           self.filesystem, self.path, self.is_file)


@dataclass(frozen=True, slots=True)
class AdlsGen1Path:
    account: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        text, _ = path(self.path, is_file=self.is_file)
        name = account(self.account, "Data Lake Store account")
        base = f"adl://{name}.azuredatalakestore.net"
        return Asset("azure_datalake_gen1_path", f"{base}/{text}" if text else base, _last(text, name))


@dataclass(frozen=True, slots=True)
class AzureFile:
    account: str
    share: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        return _file_asset("azure_file", f"https://{account(self.account)}.file.core.windows.net", self.share,
                           self.path, self.is_file)


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        bucket = self.bucket.strip().lower()
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise StoreError(f"S3 bucket {_preview(self.bucket)} is not a valid bucket name")
        text, is_file = path(self.path, is_file=self.is_file)
        if is_file:
            return Asset("aws_s3_v2_object", f"s3://{bucket}/{text}", _last(text, bucket))
        return Asset("aws_s3_v2_directory", f"s3://{bucket}/{text + '/' if text else ''}", _last(text, bucket))


def _file_asset(type_name: str, base: str, container: str, path_text: str, is_file: bool) -> Asset:
    if not container or not container.strip("/ "):
        raise StoreError(f"{type_name}: the container (file system, share) is missing")
    text, _ = path(container, path_text, is_file=is_file)
    if not text:  # the container itself is a wildcard: no one container to name
        raise StoreError(f"{type_name}: the container {_preview(container)} is a wildcard")
    return Asset(type_name, f"{base}/{text}", _last(text, container))


# -------------------------------------------------------------------------------------------------- databases


@dataclass(frozen=True, slots=True)
class SqlTable:
    """SQL Database, Managed Instance, Synapse dedicated pool, SQL DW: ``mssql://host/db/schema/table``."""

    type_name: str
    server: str
    database: str
    schema: str
    table: str

    def asset(self) -> Asset:
        table = sql_part(self.table, "table")
        qn = f"mssql://{host(self.server, 'SQL server')}/{sql_part(self.database, 'database')}/" \
             f"{sql_part(self.schema or 'dbo', 'schema')}/{table}"
        return Asset(self.type_name, qn, table.replace("%20", " "))


@dataclass(frozen=True, slots=True)
class SqlServerTable:
    """SQL Server (on premises or VM): the instance is part of the name, ``MSSQLSERVER`` when unnamed."""

    server: str
    instance: str
    database: str
    schema: str
    table: str

    def asset(self) -> Asset:
        table = sql_part(self.table, "table")
        qn = f"mssql://{host(self.server, 'SQL Server host')}/{sql_part(self.instance, 'instance')}/" \
             f"{sql_part(self.database, 'database')}/{sql_part(self.schema or 'dbo', 'schema')}/{table}"
        return Asset("mssql_table", qn, table.replace("%20", " "))


@dataclass(frozen=True, slots=True)
class PostgresTable:
    server: str
    database: str
    schema: str
    table: str

    def asset(self) -> Asset:
        table = sql_part(self.table, "table")
        qn = f"postgresql://{host(self.server, 'PostgreSQL server')}/{sql_part(self.database, 'database')}/" \
             f"{sql_part(self.schema or 'public', 'schema')}/{table}"
        return Asset("azure_postgresql_table", qn, table.replace("%20", " "))


@dataclass(frozen=True, slots=True)
class MySqlTable:
    server: str
    database: str
    table: str

    def asset(self) -> Asset:
        table = sql_part(self.table, "table")
        qn = f"mysql://{host(self.server, 'MySQL server')}/{sql_part(self.database, 'database')}/{table}"
        return Asset("azure_mysql_table", qn, table.replace("%20", " "))


@dataclass(frozen=True, slots=True)
class CosmosCollection:
    account: str
    database: str
    collection: str

    def asset(self) -> Asset:
        if not self.database or not self.collection:
            raise StoreError("Cosmos DB needs a database and a collection")
        _segments(("database", self.database), ("collection", self.collection))
        qn = f"https://{account(self.account, 'Cosmos DB account')}.documents.azure.com:443/dbs/{self.database}" \
             f"/colls/{self.collection}"
        return Asset("azure_cosmosdb_sqlapi_collection", qn, self.collection)


@dataclass(frozen=True, slots=True)
class KustoTable:
    cluster_host: str
    database: str
    table: str

    def asset(self) -> Asset:
        if not self.database or not self.table:
            raise StoreError("Data Explorer needs a database and a table")
        _segments(("database", self.database), ("table", self.table))
        return Asset("azure_data_explorer_table",
                     f"https://{host(self.cluster_host, 'Data Explorer cluster')}/{self.database}/{self.table}",
                     self.table)


@dataclass(frozen=True, slots=True)
class SnowflakeTable:
    account: str
    database: str
    schema: str
    table: str

    def asset(self) -> Asset:
        if not (self.database and self.schema and self.table):
            raise StoreError("Snowflake needs a database, a schema and a table")
        _segments(("database", self.database), ("schema", self.schema), ("table", self.table))
        acct = host(self.account, "Snowflake account")
        acct = acct if acct.endswith(".snowflakecomputing.com") else f"{acct}.snowflakecomputing.com"
        qn = f"snowflake://{acct}/databases/{self.database}/schemas/{self.schema}/tables/{self.table}"
        return Asset("snowflake_table", qn, self.table)
