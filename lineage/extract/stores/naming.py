"""One small, validated class per platform that knows how Purview's scanners name its assets.

A reader finds any store's qualifiedName rule here, in one place (field notes §5), with Purview's ingestion
normalization (§4) applied so that our names match scanned assets instead of duplicating them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_WILDCARD = re.compile(r"[*?]")
# Purview's normalization rules (field notes §5): "Lowercase File Extension" touches 2-5 characters after the last
# dot only; "Trim Section Spaces" removes spaces at both ends and around "/", ":" and ".".
_EXTENSION = re.compile(r"\.[^.]{2,5}$")
_SECTION_SPACES = re.compile(r"^\s+|\s+$|\s*([/:.])\s*")
# Characters that make a name unreadable or deceptive: controls (NUL, newline...), lone surrogates, the
# bidirectional marks that make text display in another order than it is stored ("Trojan Source"), and the
# characters that display as nothing at all: format characters (zero-width space and joiners, word joiner, soft
# hyphen, byte-order mark, the invisible "tag" letters that can smuggle a whole text) and the line and paragraph
# separators U+2028/U+2029, which end a line in JSON viewers and log readers. Two names that differ only by one of
# these look the same in Purview and are two assets; a log line holding one can be made to look like two.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# As one character class (categories Cc, Cs, Cf, Zl and Zp of Unicode 15; tests/test_nobody_gets_in.py checks it
# against the running interpreter's Unicode database). Cc is fixed by Unicode; a later version may add Cf characters.
INVISIBLE_CLASS = (
    "\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{INVISIBLE_CLASS}]")
MAX_NAME_CHARS = 1_024  # the longest single name any supported store allows (a blob name)
MAX_PATH_CHARS = 2_048  # container and path together (a blob name is at most 1,024)
SQL_NAME_CHARS = 255  # SQL Server allows 128, Snowflake 255: no SQL store has longer identifiers


class StoreError(ValueError):
    """A store location that cannot be named; the message says what is missing or wrong."""


@dataclass(slots=True, order=True, unsafe_hash=True)
class Asset:
    """A data asset as Purview knows it: identity is the type and the qualifiedName.

    The other fields say how a scanner would create it when the catalog does not hold it yet (its ``parent`` through
    the relationship attribute ``link``, and the plain ``attributes`` it writes: field notes §5 lists what the real
    type definitions make mandatory), and under which other identities the catalog may already hold the same data
    (``alternatives``: a view rather than a table, the same account scanned as the other storage family, the file
    itself where the account does not group it). The writer looks those up before creating anything.

    Never changed once made, but not a frozen dataclass: a frozen one's constructor costs five times as much, and a
    ForEach iteration makes half a dozen (a file, the other family's name, the resource set, a table and its view).
    """

    type_name: str
    qualified_name: str
    name: str
    parent: Asset | None = field(default=None, compare=False)
    link: str = field(default="", compare=False)
    attributes: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    alternatives: tuple[Asset, ...] = field(default=(), compare=False)

    def lineage(self) -> tuple[Asset, ...]:
        """The asset and its parents up to the top (server, account, bucket...), nearest first."""
        chain: list[Asset] = []
        node: Asset | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return tuple(chain)


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
    """What makes ``text`` unfit for a name (a control character, a lone surrogate, a bidirectional mark, an
    invisible character, a line separator), or None.

    Every name of every run goes through here: one regular-expression search, not a look-up per character.
    """
    found = _UNSAFE.search(text)
    if found is None:
        return None
    char = found.group()
    kind = "a bidirectional mark" if char in _BIDI_CONTROLS else {
        "Cc": "a control character", "Cs": "a lone surrogate", "Zl": "a line separator",
        "Zp": "a paragraph separator"}.get(unicodedata.category(char), "an invisible character")
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
    """Whether a path holds ``*`` or ``?`` (asked of every file of every run: two substring tests, no regex)."""
    return any("*" in part or "?" in part for part in parts if part)


def path(*parts: str | None, is_file: bool) -> tuple[str, bool]:
    """A path as Purview normalizes it (no empty or duplicate slashes, spaces around sections trimmed, braces
    encoded, an extension of 2-5 characters lower-cased), cut before any wildcard segment; returns it and whether it
    names a file."""
    segments = [s for part in parts if part for s in _trimmed(part).split("/") if s]
    literal: list[str] = []
    for segment in segments:
        encoded = _segment(segment)
        if encoded is None:
            is_file = False
            break
        literal.append(encoded)
    if is_file and literal:
        extension = _EXTENSION.search(literal[-1])
        if extension is not None and not extension.group().islower():
            literal[-1] = literal[-1][:extension.start()] + extension.group().lower()
    joined = "/".join(literal)
    if len(joined) > MAX_PATH_CHARS:
        raise StoreError(f"path of {len(joined)} characters is longer than the {MAX_PATH_CHARS} a store allows")
    return joined, is_file and bool(literal)


def _trimmed(text: str) -> str:
    text = text.replace("\\", "/")
    return _SECTION_SPACES.sub(r"\1", text) if " " in text or "\t" in text else text


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

# Where scanners group files (field notes §5), the type of the group: only Copy lineage points at it.
RESOURCE_SET_TYPES = {
    "azure_blob_path": "azure_blob_resource_set",
    "azure_datalake_gen2_path": "azure_datalake_gen2_resource_set",
    "azure_datalake_gen1_path": "azure_datalake_gen1_resource_set",
    "azure_file": "azure_file_resource_set",
    "aws_s3_v2_object": "aws_s3_v2_resource_set",
}


@dataclass(frozen=True, slots=True)
class BlobPath:
    """Blob Storage. An account is scanned either as Blob or as ADLS Gen2, never both, and a linked service of
    either kind may reach it: the other family's name is the alternative the catalog is asked for."""

    account: str
    container: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        return _storage_family(self.account, self.container, self.path, self.is_file, first="blob")


@dataclass(frozen=True, slots=True)
class AdlsGen2Path:
    account: str
    filesystem: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        return _storage_family(self.account, self.filesystem, self.path, self.is_file, first="dfs")


def _storage_family(account_name: str, container: str, path_text: str, is_file: bool, *, first: str) -> Asset:
    acct = account(account_name)
    text = _container_path("storage", container, path_text, is_file)
    name = _last(text, container)
    blob = ("azure_blob_path", f"https://{acct}.blob.core.windows.net/{text}")
    dfs = ("azure_datalake_gen2_path", f"https://{acct}.dfs.core.windows.net/{text}")
    primary, other = (blob, dfs) if first == "blob" else (dfs, blob)
    return Asset(*primary, name, alternatives=(Asset(*other, name),))


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
    """Azure Files: a file is ``azure_file``, a folder ``azure_file_directory``; both carry the mandatory ``path``."""

    account: str
    share: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        text = _container_path("azure_file", self.share, self.path, self.is_file)
        _, is_file = path(self.path, is_file=self.is_file)  # False where a wildcard cut the path to its folder
        type_name = "azure_file" if is_file else "azure_file_directory"
        return Asset(type_name, f"https://{account(self.account)}.file.core.windows.net/{text}",
                     _last(text, self.share), attributes=(("path", f"/{text}"),))


@dataclass(frozen=True, slots=True)
class S3Object:
    """Amazon S3: objects and directories belong to their bucket (the mandatory ``container``)."""

    bucket: str
    path: str = ""
    is_file: bool = True

    def asset(self) -> Asset:
        bucket = self.bucket.strip().lower()
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise StoreError(f"S3 bucket {_preview(self.bucket)} is not a valid bucket name")
        container = Asset("aws_s3_v2_bucket", f"s3://{bucket}", bucket)
        text, is_file = path(self.path, is_file=self.is_file)
        if is_file:
            return Asset("aws_s3_v2_object", f"s3://{bucket}/{text}", _last(text, bucket), container, "container")
        prefix = text + "/" if text else ""
        return Asset("aws_s3_v2_directory", f"s3://{bucket}/{prefix}", _last(text, bucket), container, "container",
                     (("objectPrefix", prefix),))


def _container_path(what: str, container: str, path_text: str, is_file: bool) -> str:
    if not container or not container.strip("/ "):
        raise StoreError(f"{what}: the container (file system, share) is missing")
    text, _ = path(container, path_text, is_file=is_file)
    if not text:  # the container itself is a wildcard: no one container to name
        raise StoreError(f"{what}: the container {_preview(container)} is a wildcard")
    return text


def resource_set(asset: Asset, group: Callable[[str], str | None]) -> Asset:
    """The resource set a file belongs to where the account's rules group it (``group`` maps the path after the
    host to the grouped path, or None), else the file itself. The file and the other storage family stay
    alternatives: an account that does not group (or is scanned as the other family) holds those instead."""
    rs_type = RESOURCE_SET_TYPES.get(asset.type_name)
    if rs_type is None:
        return asset
    base, path_text = _split(asset.qualified_name)
    grouped = group(path_text) if path_text else None
    if grouped is None:
        return asset
    rs_name = _last(grouped, grouped)
    others: list[Asset] = []
    for alternative in asset.alternatives:
        alt_type = RESOURCE_SET_TYPES.get(alternative.type_name)
        alt_base, alt_path = _split(alternative.qualified_name)
        alt_grouped = grouped if alt_path == path_text else group(alt_path) if alt_path else None
        if alt_grouped is not None and alt_type is not None:
            others.append(Asset(alt_type, f"{alt_base}/{alt_grouped}", rs_name))
    others.append(Asset(asset.type_name, asset.qualified_name, asset.name, asset.parent, asset.link,
                        asset.attributes) if asset.alternatives else asset)
    others.extend(asset.alternatives)
    return Asset(rs_type, f"{base}/{grouped}", rs_name, alternatives=tuple(others))


def _split(qualified_name: str) -> tuple[str, str]:
    """``scheme://host`` and the path after it."""
    scheme, _, rest = qualified_name.partition("://")
    host_name, _, path_text = rest.partition("/")
    return f"{scheme}://{host_name}", path_text


# -------------------------------------------------------------------------------------------------- databases


@dataclass(frozen=True, slots=True)
class _SqlFamily:
    """One SQL platform's types, top-down, and the relationship attribute each level names its parent by."""

    table: str
    view: str
    schema: str
    database: str
    database_link: str  # schema -> database
    server: str
    server_link: str  # database -> server (instance, workspace)


_SQL_FAMILIES = {
    "azure_sql_table": _SqlFamily("azure_sql_table", "azure_sql_view", "azure_sql_schema", "azure_sql_db", "db",
                                  "azure_sql_server", "server"),
    "azure_sql_dw_table": _SqlFamily("azure_sql_dw_table", "azure_sql_dw_view", "azure_sql_dw_schema", "azure_sql_dw",
                                     "dataWarehouse", "azure_sql_server", "server"),
    "azure_sql_mi_table": _SqlFamily("azure_sql_mi_table", "azure_sql_mi_view", "azure_sql_mi_schema",
                                     "azure_sql_mi_db", "db", "azure_sql_mi", "instance"),
    "azure_synapse_dedicated_sql_table": _SqlFamily(
        "azure_synapse_dedicated_sql_table", "azure_synapse_dedicated_sql_view", "azure_synapse_dedicated_sql_schema",
        "azure_synapse_dedicated_sql_db", "db", "azure_synapse_workspace", "workspace"),
    "azure_synapse_serverless_sql_table": _SqlFamily(
        "azure_synapse_serverless_sql_table", "azure_synapse_serverless_sql_view",
        "azure_synapse_serverless_sql_schema", "azure_synapse_serverless_sql_db", "db", "azure_synapse_workspace",
        "workspace"),
    "mssql_table": _SqlFamily("mssql_table", "mssql_view", "mssql_schema", "mssql_db", "db", "mssql_instance",
                              "instance"),
}
# The linked-service (or dataset) family a SQL endpoint declares, used only where its host does not tell.
SQL_DECLARED = {"azure_sql": "azure_sql_table", "azure_sql_mi": "azure_sql_mi_table", "sql_dw": "azure_sql_dw_table",
                "synapse": "azure_synapse_dedicated_sql_table", "sql_server": "mssql_table"}


@lru_cache(maxsize=1024)  # every table of a server asks again
def sql_type(server_host: str, declared: str) -> str:
    """The table type of a SQL server, by its host: Purview types an asset by what its scan registered, whatever
    linked-service type reached it (field notes §5). ``declared`` decides only for hosts that say nothing."""
    if server_host.endswith("-ondemand.sql.azuresynapse.net"):
        return "azure_synapse_serverless_sql_table"
    if server_host.endswith(".sql.azuresynapse.net"):
        return "azure_synapse_dedicated_sql_table"
    if server_host.endswith(".database.windows.net"):
        if server_host.count(".") >= 4:  # {mi}.{dnszone}.database.windows.net (and {mi}.public.{dnszone}...)
            return "azure_sql_mi_table"
        return "azure_sql_dw_table" if declared == "sql_dw" else "azure_sql_table"
    return SQL_DECLARED.get(declared, "mssql_table")


@lru_cache(maxsize=1024)  # every table of a server asks again
def sql_server_host(server: str) -> tuple[str, str | None]:
    """The host a scan registers for a server as connection strings write it (``tcp:``, ``,port``, ``\\instance``,
    a private endpoint's ``privatelink`` label), and the named instance if any."""
    name, _, instance = server.strip().removeprefix("tcp:").split(",")[0].partition("\\")
    server_host = host(name, "SQL server").replace(".privatelink.", ".")
    return server_host, instance or None


@dataclass(frozen=True, slots=True)
class SqlTable:
    """Every SQL Server engine: ``mssql://host/db/schema/table`` (SQL Server adds its instance after the host), typed
    by the host, with the parent chain a scan creates (server -> database -> schema -> table)."""

    server: str
    database: str
    schema: str
    table: str
    declared: str = "azure_sql"
    instance: str = "MSSQLSERVER"

    def asset(self) -> Asset:
        server_host, named_instance = sql_server_host(self.server)
        family = _SQL_FAMILIES[sql_type(server_host, self.declared)]
        sch = _sql_schema(family, server_host, named_instance or self.instance, self.database, self.schema or "dbo")
        return _table_or_view(family.table, family.view, sch, "dbSchema", self.table)


def _table_or_view(table_type: str, view_type: str, parent: Asset, link: str, table_name: str) -> Asset:
    """A table under ``parent``; the catalog may hold the same name as a view, which is asked for too."""
    table = sql_part(table_name, "table")
    qn, name = f"{parent.qualified_name}/{table}", table.replace("%20", " ")
    return Asset(table_type, qn, name, parent, link, alternatives=(Asset(view_type, qn, name, parent, link),))


@lru_cache(maxsize=4096)  # every table of a schema (a ForEach's iterations) shares the chain above it
def _sql_schema(family: _SqlFamily, server_host: str, instance_name: str, database_name: str,
                schema_name: str) -> Asset:
    """A SQL schema with the database and server (instance, workspace) a scan creates above it."""
    database = sql_part(database_name, "database")
    schema = sql_part(schema_name, "schema")
    if family.table == "mssql_table":
        instance = sql_part(instance_name, "instance")
        top = Asset(family.server, f"mssql://{server_host}/{instance}", instance,
                    attributes=(("hostname", server_host),))
    elif family.server == "azure_synapse_workspace":  # (unverified) the workspace as its Synapse source registers
        workspace = server_host.split(".", maxsplit=1)[0].removesuffix("-ondemand")
        top = Asset(family.server, f"https://{workspace}.dev.azuresynapse.net", workspace)
    else:
        attributes = (("hostname", server_host),) if family.server == "azure_sql_mi" else ()
        top = Asset(family.server, f"mssql://{server_host}", server_host.split(".", maxsplit=1)[0],
                    attributes=attributes)
    server_qn = f"mssql://{server_host}/{top.name}" if family.table == "mssql_table" else f"mssql://{server_host}"
    db = Asset(family.database, f"{server_qn}/{database}", database.replace("%20", " "), top, family.server_link)
    return Asset(family.schema, f"{db.qualified_name}/{schema}", schema.replace("%20", " "), db, family.database_link)


@dataclass(frozen=True, slots=True)
class PostgresTable:
    server: str
    database: str
    schema: str
    table: str

    def asset(self) -> Asset:
        server_host = host(self.server, "PostgreSQL server")
        server = Asset("azure_postgresql_server", f"postgresql://{server_host}", server_host.split(".")[0])
        database = sql_part(self.database, "database")
        db = Asset("azure_postgresql_db", f"{server.qualified_name}/{database}", database.replace("%20", " "),
                   server, "server")
        schema = sql_part(self.schema or "public", "schema")
        sch = Asset("azure_postgresql_schema", f"{db.qualified_name}/{schema}", schema.replace("%20", " "), db, "db")
        return _table_or_view("azure_postgresql_table", "azure_postgresql_view", sch, "dbSchema", self.table)


@dataclass(frozen=True, slots=True)
class MySqlTable:
    server: str
    database: str
    table: str

    def asset(self) -> Asset:
        server_host = host(self.server, "MySQL server")
        server = Asset("azure_mysql_server", f"mysql://{server_host}", server_host.split(".")[0])
        database = sql_part(self.database, "database")
        db = Asset("azure_mysql_db", f"{server.qualified_name}/{database}", database.replace("%20", " "), server,
                   "server")
        return _table_or_view("azure_mysql_table", "azure_mysql_view", db, "db", self.table)


@dataclass(frozen=True, slots=True)
class CosmosCollection:
    """Cosmos DB (NoSQL): no port in the name (scanned collections have none), the ``resourceLink`` the service
    gives each database and collection, and the account's API."""

    account: str
    database: str
    collection: str

    def asset(self) -> Asset:
        if not self.database or not self.collection:
            raise StoreError("Cosmos DB needs a database and a collection")
        _segments(("database", self.database), ("collection", self.collection))
        name = account(self.account, "Cosmos DB account")
        top = Asset("azure_cosmosdb_account", f"https://{name}.documents.azure.com", name,
                    attributes=(("api_type", "SQL"),))
        db_link = f"dbs/{self.database}"
        db = Asset("azure_cosmosdb_database", f"{top.qualified_name}/{db_link}", self.database, top, "account",
                   (("resourceLink", db_link),))
        link = f"{db_link}/colls/{self.collection}"
        return Asset("azure_cosmosdb_sqlapi_collection", f"{top.qualified_name}/{link}", self.collection, db, "db",
                     (("resourceLink", link),))


@dataclass(frozen=True, slots=True)
class KustoTable:
    cluster_host: str
    database: str
    table: str

    def asset(self) -> Asset:
        if not self.database or not self.table:
            raise StoreError("Data Explorer needs a database and a table")
        _segments(("database", self.database), ("table", self.table))
        cluster_host = host(self.cluster_host, "Data Explorer cluster")
        cluster = Asset("azure_data_explorer_cluster", f"https://{cluster_host}", cluster_host.split(".")[0])
        db = Asset("azure_data_explorer_database", f"{cluster.qualified_name}/{self.database}", self.database,
                   cluster, "cluster")
        return Asset("azure_data_explorer_table", f"{db.qualified_name}/{self.table}", self.table, db, "database")


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


def _samples() -> tuple[Asset, ...]:
    """One asset of every kind the classes above make (sample names): what they write is derived from these."""
    return (
        BlobPath("a0", "c", "f.csv").asset(), AdlsGen2Path("a0", "c", "d", is_file=False).asset(),
        AdlsGen1Path("a0", "f.csv").asset(), AzureFile("a0", "s", "f.csv").asset(),
        AzureFile("a0", "s", "d", is_file=False).asset(), S3Object("b00", "f.csv").asset(),
        S3Object("b00", "d", is_file=False).asset(), PostgresTable("h", "d", "s", "t").asset(),
        MySqlTable("h", "d", "t").asset(), CosmosCollection("a0", "d", "c").asset(), KustoTable("h", "d", "t").asset(),
        SnowflakeTable("h", "d", "s", "t").asset(),
        *(SqlTable(server, "d", "s", "t", declared).asset() for server, declared in (
            ("s.database.windows.net", "azure_sql"), ("s.database.windows.net", "sql_dw"),
            ("m.z.database.windows.net", "azure_sql"), ("w.sql.azuresynapse.net", "azure_sql"),
            ("w-ondemand.sql.azuresynapse.net", "azure_sql"), ("h.corp", "sql_server"))),
    )


def written_attributes() -> dict[str, frozenset[str]]:
    """Per asset type (parents and alternatives included): the attributes and relationship attributes we write when
    we create it. ``doctor`` holds them against what the live type definitions make mandatory."""
    written: dict[str, frozenset[str]] = {t: frozenset({"qualifiedName", "name"}) for t in RESOURCE_SET_TYPES.values()}
    for sample in _samples():
        for node in (*sample.lineage(), *(n for alternative in sample.alternatives for n in alternative.lineage())):
            written[node.type_name] = frozenset({"qualifiedName", "name", *dict(node.attributes),
                                                 *([node.link] if node.link else [])})
    return written


# Every asset type the classes above produce, parents and alternatives included: ``doctor`` checks that the Purview
# account knows each of them. Derived from the classes, so it cannot drift from them.
ASSET_TYPES = frozenset(written_attributes())
