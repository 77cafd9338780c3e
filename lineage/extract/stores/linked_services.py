"""Which store a linked service connects to: platform, host or account, database — and never its secrets.

Connection strings are read through an allow-list of keys: every other key (passwords, account keys, SAS tokens)
is skipped without being kept anywhere. Masked values (``**********``), SecureStrings and Key Vault references mean
"not known here": the host then comes from ``StoreSettings.linked_service_hosts``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from lineage.extract.stores.naming import StoreError, account, host, sql_server_host

_ALLOWED_KEYS = frozenset({
    "accountname", "endpointsuffix", "blobendpoint", "fileendpoint", "server", "data source", "address", "addr",
    "network address", "database", "initial catalog", "accountendpoint", "host", "port", "db",
})
# The typeProperties the readers read (``visible_properties``), which of them hold URLs, and the query parameters of
# a URL that name a store rather than authenticate to it.
_READ_KEYS = frozenset({"connectionString", "serviceEndpoint", "sasUri", "url", "host", "fileShare",
                        "dataLakeStoreUri", "server", "database", "accountEndpoint", "endpoint", "accountIdentifier"})
_URL_KEYS = frozenset({"connectionString", "serviceEndpoint", "sasUri", "url", "host", "dataLakeStoreUri",
                       "accountEndpoint", "endpoint"})
_URL_QUERY_KEYS = frozenset({"db"})
_USER_INFO = re.compile(r"^[^/]*@(?!\{)")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What a deployment tells the naming rules (see README, Settings)."""

    # linked-service name -> its host (or URL), or an object naming the parts a masked or Key Vault connection
    # string hides: {"host": ..., "database": ..., "instance": ...}
    linked_service_hosts: Mapping[str, str | Mapping[str, str]] = field(default_factory=dict)
    adls_gen2_accounts: frozenset[str] = frozenset()
    blob_accounts: frozenset[str] = frozenset()
    sql_server_default_instance: str = "MSSQLSERVER"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The store behind a linked service. ``platform`` picks the naming class."""

    platform: str
    host: str | None = None  # account name for storage platforms, DNS host for databases
    database: str | None = None
    instance: str | None = None
    share: str | None = None
    linked_service: str = field(default="", compare=False)  # whose setting fixes a missing part
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every asset a run names is remembered by its endpoint and location: the hash is worked out once.
        object.__setattr__(self, "_hash", hash((self.platform, self.host, self.database, self.instance, self.share)))

    def __hash__(self) -> int:
        return self._hash


def connection_string_fields(text: str, keys: Collection[str] = _ALLOWED_KEYS) -> dict[str, str]:
    """Allow-listed ``key=value`` pairs of a connection string (keys lower-cased, values without their quotes or
    ODBC braces); every other pair is skipped unread. A key given twice: the last wins, as ADO.NET reads it."""
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if sep and key in keys:
            fields[key] = value.strip().strip("'\"{}")
    return fields


def visible_properties(type_properties: Mapping[str, Any]) -> dict[str, Any]:
    """The linked-service properties the readers below read, with every secret they may carry taken out.

    Applied before the properties' expressions are evaluated, so that no password, key, token or SAS signature is
    ever parsed as an expression or quoted in an error message: other keys are dropped, SecureStrings and Key Vault
    references too (they are "not visible" anyway), connection strings keep their allow-listed pairs, URLs lose
    their user info and query (a SAS token lives there) except a JDBC URL's ``db``.
    """
    visible: dict[str, Any] = {}
    for key in sorted(_READ_KEYS & set(type_properties)):
        value = _without_secrets(key, type_properties[key])
        if value is not None:
            visible[key] = value
    return visible


def _without_secrets(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):  # an Expression wrapper keeps its shape; SecureString / Key Vault: dropped
        inner = value.get("value")
        if value.get("type") != "Expression" or not isinstance(inner, str):
            return None
        whole = not inner.startswith("@") and "@{" not in inner  # the wrapper's text is one expression
        return value if whole else {**value, "value": _without_secrets(key, inner)}
    if not isinstance(value, str):
        return None
    if value.startswith("@") and not value.startswith(("@@", "@{")):
        return value  # one whole expression: evaluated as written, its value then read through the allow-lists
    if key == "connectionString" and not value.strip().lower().startswith("jdbc:"):
        return ";".join(f"{k}={v}" for k, v in connection_string_fields(value).items())
    if key in _URL_KEYS:
        return _url_without_secrets(value)
    return value


def _url_without_secrets(url: str) -> str:
    base, _, query = url.partition("?")
    base = base.split("#", maxsplit=1)[0]
    scheme, sep, rest = base.rpartition("://")
    if sep:
        netloc, slash, path_text = rest.partition("/")
        netloc = _USER_INFO.sub("", netloc)
        base = f"{scheme}{sep}{netloc}{slash}{path_text}"
    kept = [part for part in query.split("&") if part.partition("=")[0].strip().lower() in _URL_QUERY_KEYS]
    return f"{base}?{'&'.join(kept)}" if kept else base


def endpoint(ls_type: str, props: Mapping[str, Any], ls_name: str, settings: StoreSettings) -> Endpoint:
    """The endpoint of a linked service from its resolved ``typeProperties``."""
    reader = _READERS.get(ls_type)
    if reader is None:
        raise StoreError(f"unmapped store: linked service type {ls_type!r} ({ls_name!r}) is not supported")
    return reader(_Props(props, ls_name, settings))


class _Props:
    def __init__(self, props: Mapping[str, Any], name: str, settings: StoreSettings) -> None:
        self.props = props
        self.name = name
        self.settings = settings

    def text(self, key: str) -> str | None:
        """A plain, known value; None when absent, masked, secure or in Key Vault."""
        value = self.props.get(key)
        if isinstance(value, Mapping):
            value = value.get("value") if value.get("type") not in ("SecureString", "AzureKeyVaultSecret") else None
        if not isinstance(value, str) or not value.strip() or set(value.strip()) == {"*"}:
            return None
        return value.strip()

    def connection(self) -> dict[str, str]:
        text = self.text("connectionString")
        return connection_string_fields(text) if text else {}

    def configured(self, what: str) -> str:
        configured = self.part("host")
        if configured:
            return configured
        raise StoreError(
            f"the {what} of linked service {self.name!r} is not visible (masked or in Key Vault): add "
            f'"{self.name}": "<host>" (or {{"host": ..., "database": ...}}) to linkedServiceHosts in the lineage '
            "settings")

    def part(self, key: str) -> str | None:
        """A part of the store's name the settings give for this linked service (``host``, ``database``...)."""
        configured = self.settings.linked_service_hosts.get(self.name)
        if isinstance(configured, str):
            return configured if key == "host" else None
        value = configured.get(key) if isinstance(configured, Mapping) else None
        return value if isinstance(value, str) and value else None


def _url_host(url: str) -> str:
    try:
        hostname = urllib.parse.urlsplit(url if "://" in url else f"https://{url}").hostname
    except ValueError:  # an unbalanced IPv6 bracket, a bad port
        hostname = None
    if not hostname:
        shown = url.split("?", maxsplit=1)[0].rsplit("@", maxsplit=1)[-1]  # never a query or user info: secrets
        raise StoreError(f"no host in {shown[:80]!r}")
    return host(hostname)


def _storage(p: _Props, default: str) -> Endpoint:
    conn = p.connection()
    acct: str | None = None
    for key in ("serviceEndpoint", "sasUri", "url", "host"):
        value = p.text(key)
        if value:
            acct = _url_host(value.replace("\\\\", "https://").replace("\\", "/")).split(".")[0]
            break
    if acct is None and conn.get("accountname"):
        acct = conn["accountname"]
    if acct is None and (conn.get("blobendpoint") or conn.get("fileendpoint")):
        acct = _url_host(conn.get("blobendpoint") or conn["fileendpoint"]).split(".")[0]
    if acct is None:
        configured = p.configured("storage account")
        acct = _url_host(configured).split(".")[0] if "." in configured else configured
    acct = account(acct)
    platform = default
    if default == "blob" and acct in p.settings.adls_gen2_accounts:
        platform = "adls_gen2"
    elif default == "adls_gen2" and acct in p.settings.blob_accounts:
        platform = "blob"
    return Endpoint(platform, acct, share=p.text("fileShare"))


def _blob(p: _Props) -> Endpoint:
    return _storage(p, "blob")


def _adls_gen2(p: _Props) -> Endpoint:
    return _storage(p, "adls_gen2")


def _files(p: _Props) -> Endpoint:
    return _storage(p, "azure_files")


def _adls_gen1(p: _Props) -> Endpoint:
    uri = p.text("dataLakeStoreUri") or p.configured("Data Lake Store account")
    return Endpoint("adls_gen1", account(_url_host(uri).split(".")[0], "Data Lake Store account"))


def _sql(platform: str) -> Callable[[_Props], Endpoint]:
    def read(p: _Props) -> Endpoint:
        conn = p.connection()
        server = p.text("server") or conn.get("data source") or conn.get("server") or conn.get("address") or \
            conn.get("addr") or conn.get("network address")
        database = p.text("database") or conn.get("initial catalog") or conn.get("database") or p.part("database")
        if not server:
            server = p.configured("server")
        server_host, instance = sql_server_host(server)
        if platform == "sql_server":
            instance = instance or p.part("instance") or p.settings.sql_server_default_instance
        return Endpoint(platform, server_host, database, instance, linked_service=p.name)
    return read


def _postgres_mysql(platform: str) -> Callable[[_Props], Endpoint]:
    def read(p: _Props) -> Endpoint:
        conn = p.connection()
        server = p.text("server") or conn.get("host") or conn.get("server") or p.configured("server")
        database = p.text("database") or conn.get("database") or p.part("database")
        return Endpoint(platform, host(server.split(",")[0].split(":")[0], f"{platform} server"), database,
                        linked_service=p.name)
    return read


def _cosmos(p: _Props) -> Endpoint:
    conn = p.connection()
    url = p.text("accountEndpoint") or conn.get("accountendpoint") or p.configured("account endpoint")
    return Endpoint("cosmos", account(_url_host(url).split(".")[0], "Cosmos DB account"),
                    p.text("database") or conn.get("database") or p.part("database"), linked_service=p.name)


def _kusto(p: _Props) -> Endpoint:
    url = p.text("endpoint") or p.configured("cluster endpoint")
    return Endpoint("kusto", _url_host(url), p.text("database") or p.part("database"), linked_service=p.name)


def _s3(_: _Props) -> Endpoint:
    return Endpoint("s3")


def _snowflake(p: _Props) -> Endpoint:
    identifier = p.text("accountIdentifier")
    database = p.text("database")
    if identifier is None:
        text = p.text("connectionString")
        if text and text.lower().startswith("jdbc:snowflake://"):
            parsed = urllib.parse.urlsplit(text[len("jdbc:"):])
            identifier = parsed.hostname
            query = dict(urllib.parse.parse_qsl(parsed.query))
            database = database or query.get("db")
    identifier = identifier or p.configured("account")
    return Endpoint("snowflake", host(identifier, "Snowflake account"), database or p.part("database"),
                    linked_service=p.name)


_READERS: dict[str, Callable[[_Props], Endpoint]] = {
    "AzureBlobStorage": _blob,
    "AzureStorage": _blob,
    "AzureBlobFS": _adls_gen2,
    "AzureDataLakeStore": _adls_gen1,
    "AzureFileStorage": _files,
    "AzureSqlDatabase": _sql("azure_sql"),
    "AzureSqlMI": _sql("azure_sql_mi"),
    "AzureSqlDW": _sql("sql_dw"),
    "SqlServer": _sql("sql_server"),
    "AzurePostgreSql": _postgres_mysql("postgresql"),
    "AzureMySql": _postgres_mysql("mysql"),
    "CosmosDb": _cosmos,
    "AzureDataExplorer": _kusto,
    "AmazonS3": _s3,
    "Snowflake": _snowflake,
    "SnowflakeV2": _snowflake,
}
