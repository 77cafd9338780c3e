"""SSIS packages (``.dtsx``) run inline by Execute SSIS Package: their sources, destinations and connections.

Parsed with defusedxml — a package comes from a run record, so no DTD, entity expansion or external entity is
ever honoured. Connection strings and connection-manager properties are read through an allow-list (server,
database, file path, storage account and service): user names, passwords and account keys are never read, only
skipped by name. Like Purview's own SSIS lineage, a data flow task's destinations are fed by its sources.

The Azure Feature Pack's components (Azure Blob Source / Destination, Flexible File Source / Destination) are
managed code: a package names them by their class inside ``componentClassID`` or, under the generic
``Microsoft.ManagedComponentHost``, inside ``UserComponentTypeName``, with an assembly version that changes between
releases. So they are known by the class name within either, not by one exact string.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from lineage.extract.stores.linked_services import connection_string_fields

DTS = "{www.microsoft.com/SqlServer/Dts}"
MAX_PACKAGE_CHARS = 20_000_000
# componentClassID -> role, for the native components read here
_NATIVE = {
    "Microsoft.OLEDBSource": "source", "Microsoft.ADONETSource": "source", "Microsoft.FlatFileSource": "source",
    "Microsoft.ExcelSource": "source", "Microsoft.SSISODBCSrc": "source",
    "Microsoft.OLEDBDestination": "destination", "Microsoft.ADONETDestination": "destination",
    "Microsoft.FlatFileDestination": "destination", "Microsoft.ExcelDestination": "destination",
    "Microsoft.SQLServerDestination": "destination", "Microsoft.SSISODBCDst": "destination",
    "Microsoft.Lookup": "source",  # its reference table or query is read: an input of what the task writes
}
# managed components, by the class name inside componentClassID or UserComponentTypeName: (pattern, role, layout)
_MANAGED = (
    (re.compile(r"azureblob(source|src)\b", re.IGNORECASE), "source", "blob"),
    (re.compile(r"azureblob(destination|dest|dst)\b", re.IGNORECASE), "destination", "blob"),
    (re.compile(r"(flexible|ext)file(source|src)\b", re.IGNORECASE), "source", "folder"),
    (re.compile(r"(flexible|ext)file(destination|dest|dst)\b", re.IGNORECASE), "destination", "folder"),
    (re.compile(r"datareadersourceadapter\b", re.IGNORECASE), "source", "table"),  # ADO NET Source
    (re.compile(r"adonetdestination\b", re.IGNORECASE), "destination", "table"),
)
_SERVER_KEYS = ("data source", "server", "address", "addr", "network address")
# AzureStorage connection managers: the keys that name the account and service, wherever the package keeps them
# (attributes, <Property Name=...> elements, a connection string). AccountKey, SAS tokens and application keys
# are not among them: they are never read.
_STORAGE_KEYS = {"accountname": "account", "storageaccountname": "account", "endpointsuffix": "suffix",
                 "usedevelopmentstorage": "emulator", "servicetype": "service", "service": "service",
                 "connectiontype": "service", "environment": "environment"}
_ENVIRONMENT_SUFFIX = {"azureglobal": "core.windows.net", "azurechina": "core.chinacloudapi.cn",
                       "azureusgovernment": "core.usgovcloudapi.net", "azuregermany": "core.cloudapi.de"}
_ODBC_KEYS = ("driver", "dsn")
_DATA_FLOW_TASKS = frozenset({"Microsoft.Pipeline", "SSIS.Pipeline.3", "{5918251B-2970-45A4-AB5F-01C3C588FE5A}"})
_DATABASE_KEYS = ("initial catalog", "database")


class PackageError(ValueError):
    """A package that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Connection:
    name: str
    kind: str  # sql | file | storage | odbc | other
    server: str | None = None
    database: str | None = None
    path: str | None = None
    account: str | None = None  # storage: the account name, and where it lives
    suffix: str | None = None
    service: str | None = None  # storage: blob | adls_gen2
    emulator: bool = False
    driver: str | None = None  # odbc
    dsn: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    role: str  # source | destination | transform
    component: str
    connection: Connection
    task: str
    schema: str | None = None
    table: str | None = None
    sql_command: str | None = None
    container: str | None = None  # blob container or ADLS Gen2 file system
    folder: str | None = None
    file: str | None = None
    layout: str = "table"  # table | file | blob | folder: which of the fields above name the data


@dataclass(frozen=True, slots=True)
class Unread:
    """A component whose data the lineage cannot name, and why (``reason`` says it in full)."""

    task: str
    role: str  # source | destination | transform
    component: str
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    endpoints: tuple[Endpoint, ...]
    unsupported: tuple[Unread, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionOverrides:
    """Connection-manager properties set on the activity (package- and project-level), allow-listed."""

    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __hash__(self) -> int:  # a parsed package is remembered by its text and these (``parse_package``)
        return hash(tuple(sorted((name, tuple(sorted(props.items()))) for name, props in self.values.items())))

    @classmethod
    def from_activity(cls, type_properties: Mapping[str, Any]) -> ConnectionOverrides:
        merged: dict[str, dict[str, str]] = {}
        for key in ("projectConnectionManagers", "packageConnectionManagers"):
            managers = type_properties.get(key)
            for name, props in (managers.items() if isinstance(managers, Mapping) else ()):
                for prop, value in (props.items() if isinstance(props, Mapping) else ()):
                    text = value.get("value") if isinstance(value, Mapping) else value
                    secure = isinstance(value, Mapping) and value.get("type") == "SecureString"
                    if isinstance(text, str) and not secure and prop in ("ConnectionString", "ServerName",
                                                                         "InitialCatalog", "AccountName"):
                        if prop == "ConnectionString":  # keep only what names the store, never credentials
                            text = _reduced(text)
                        merged.setdefault(str(name), {})[prop] = text
        return cls(merged)

    def apply(self, connection: Connection) -> Connection:
        props = self.values.get(connection.name)
        if not props:
            return connection
        if "ConnectionString" in props and connection.kind == "storage":  # what it names replaces, the rest stays
            pairs = connection_string_fields(props["ConnectionString"], _STORAGE_KEYS)
            given = _storage(connection.name, pairs)
            named_service = any(_STORAGE_KEYS[key] == "service" for key in pairs)
            connection = replace(connection, account=given.account or connection.account,
                                 suffix=given.suffix or connection.suffix,
                                 emulator=given.emulator if "usedevelopmentstorage" in pairs else connection.emulator,
                                 service=given.service if named_service else connection.service)
        elif "ConnectionString" in props:
            connection = _connection(connection.name, connection.kind, props["ConnectionString"])
        if "AccountName" in props and connection.kind == "storage":
            connection = replace(connection, account=props["AccountName"])
        if "ServerName" in props:
            connection = replace(connection, server=props["ServerName"])
        if "InitialCatalog" in props:
            connection = replace(connection, database=props["InitialCatalog"])
        return connection


def package_xml(type_properties: Mapping[str, Any]) -> str:
    """The XML of an InlinePackage; PackageError for packages stored elsewhere."""
    location = type_properties.get("packageLocation")
    if not isinstance(location, Mapping):
        raise PackageError("the activity has no packageLocation")
    kind = location.get("type") or "SSISDB"
    if kind != "InlinePackage":
        raise PackageError(f"package not inline ({kind}: {location.get('packagePath') or 'path not shown'}); "
                           "its contents are not in the run record")
    location_props = location.get("typeProperties")
    content = location_props.get("packageContent") if isinstance(location_props, Mapping) else None
    if not isinstance(content, str) or not content.strip():
        raise PackageError("InlinePackage without packageContent")
    text = content.strip()
    if not text.startswith("<"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise PackageError("packageContent is neither XML nor base64 XML") from exc
    return text


@lru_cache(maxsize=64)  # the runs of a pipeline day after day carry the same package: parsed once per process
def parse_package(xml_text: str, overrides: ConnectionOverrides | None = None) -> Package:
    """The package's sources and destinations, with the activity's overrides applied."""
    if len(xml_text) > MAX_PACKAGE_CHARS:
        raise PackageError(f"package larger than {MAX_PACKAGE_CHARS} characters")
    try:
        root = SafeET.fromstring(xml_text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PackageError(f"package refused: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except SafeET.ParseError as exc:
        raise PackageError(f"package is not well-formed XML: {exc}") from exc
    if root.tag != f"{DTS}Executable":
        raise PackageError("not an SSIS package (the root is not DTS:Executable)")
    overrides = overrides or ConnectionOverrides()
    connections = {}
    for manager in root.iter(f"{DTS}ConnectionManager"):
        name = manager.get(f"{DTS}ObjectName")
        if not name:
            continue
        inner = manager.find(f"{DTS}ObjectData/{DTS}ConnectionManager")
        text = inner.get(f"{DTS}ConnectionString", "") if inner is not None else ""
        creation = (manager.get(f"{DTS}CreationName") or "").upper()
        kind = "file" if creation.startswith(("FLATFILE", "FILE", "EXCEL")) else \
            "sql" if creation.startswith(("OLEDB", "ADO.NET", "MSOLAP")) else \
            "storage" if creation.startswith("AZURESTORAGE") else "odbc" if creation.startswith("ODBC") else "other"
        connection = overrides.apply(_storage_connection(name, manager) if kind == "storage"
                                     else _connection(name, kind, text))
        for key in (f"Package.ConnectionManagers[{name}]", manager.get(f"{DTS}refId") or "",
                    manager.get(f"{DTS}DTSID") or ""):
            if key:
                connections[key] = connection
    endpoints: list[Endpoint] = []
    unsupported: list[Unread] = []
    for component, task_name in _components(root):
        endpoint = _endpoint(component, connections, task_name, unsupported)
        if endpoint is not None:
            endpoints.append(endpoint)
    return Package(root.get(f"{DTS}ObjectName") or "package", tuple(endpoints), tuple(unsupported))


def _components(root: Element) -> Iterator[tuple[Element, str]]:
    """Each component of the package's data flow tasks, once, with the innermost data flow task that holds it, in
    document order.

    In a real package a data flow task holds no other task; in one whose tasks nest anyway, asking each task for
    every component below it read each component again for every task around it: a 0.9 MB package of 2,000
    nested tasks made two million endpoints and 358 MB. This is one walk over the tree (iterative: nesting may be
    as deep as the XML parser allows), and a component's own subtree is left to ``_endpoint``.
    """
    stack: list[tuple[Element, str | None]] = [(root, None)]
    while stack:
        element, task = stack.pop()
        if element.tag == f"{DTS}Executable" and (element.get(f"{DTS}ExecutableType") or element.get(
                f"{DTS}CreationName") or "") in _DATA_FLOW_TASKS:
            task = element.get(f"{DTS}refId") or element.get(f"{DTS}ObjectName") or "data flow"
        elif element.tag == "component" and task is not None:
            yield element, task
            continue
        stack.extend((child, task) for child in reversed(element))


def _endpoint(component: Element, connections: Mapping[str, Connection], task: str,
              unsupported: list[Unread]) -> Endpoint | None:
    class_id = component.get("componentClassID") or ""
    name = component.get("name") or class_id
    # its own properties and connections only: an output column's properties (or anything nested) are not its own
    props = {p.get("name"): (p.text or "") for p in component.iterfind("properties/property")}
    kind = props.get("UserComponentTypeName") or class_id
    role, layout = _kind(class_id, kind)
    ref = next((c.get("connectionManagerRefId") or c.get("connectionManagerID")
                for c in component.iterfind("connections/connection")), None)
    if role is None:
        role = _role(component)
        if role is not None:  # a source or destination not read here: said, never silently missing from lineage
            unsupported.append(Unread(task, role, name, f"{role} {name} ({kind.split(',')[0]}) is not read: the "
                                      f"lineage lacks what it {'reads' if role == 'source' else 'writes'}"))
        elif ref is not None:  # a transform that reaches a store itself (OLE DB Command, a slowly changing dimension)
            unsupported.append(Unread(task, "transform", name, f"{name} ({kind.split(',')[0]}) uses connection "
                                      f"manager {ref!r}: what it reads or writes there is not in the lineage"))
        return None
    connection = connections.get(ref or "")
    if connection is None:
        unsupported.append(Unread(task, role, name, f"{role} {name}: its connection manager {ref!r} is not in the "
                                  "package"))
        return None
    if layout == "blob":
        return Endpoint(role, name, connection, task, container=_text(props.get("BlobContainer")),
                        file=_text(props.get("BlobName")), layout="blob")
    if layout == "folder":
        container, _, folder = (props.get("FolderPath") or "").replace("\\", "/").strip(" /").partition("/")
        return Endpoint(role, name, connection, task, container=_text(container), folder=_text(folder),
                        file=_text(props.get("FileName")), layout="folder")
    if connection.kind == "file":
        return Endpoint(role, name, connection, task, layout="file")
    table = props.get("OpenRowset") or props.get("TableOrViewName") or props.get("TableName") or None
    command = props.get("SqlCommand") or None
    query_mode = ("1",) if class_id == "Microsoft.SSISODBCSrc" else ("2", "SQL Command")  # ODBC: 0 table, 1 SQL
    if props.get("AccessMode") in query_mode and command:
        table = None
    schema, table_name = _split_table(table) if table else (None, None)
    return Endpoint(role, name, connection, task, schema, table_name, command if table is None else None)


def _kind(class_id: str, type_name: str) -> tuple[str | None, str]:
    """A component's role and layout when it is one read here, by its class id or (managed) its type name."""
    native = _NATIVE.get(class_id)
    if native is not None:
        return native, "table"
    for pattern, role, layout in _MANAGED:
        if pattern.search(class_id) or pattern.search(type_name):
            return role, layout
    return None, ""


def _text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _role(component: Element) -> str | None:
    """What a component is by its shape: a source has outputs and no input; a destination has an input and no
    output but error outputs; anything else transforms."""
    inputs = component.findall("inputs/input")
    outputs = [o for o in component.findall("outputs/output") if o.get("isErrorOut") != "true"]
    if outputs and not inputs:
        return "source"
    if inputs and not outputs:
        return "destination"
    return None


def _split_table(text: str) -> tuple[str | None, str]:
    parts = [p.strip().strip("[]\"") for p in text.split(".")]
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def _reduced(connection_string: str) -> str:
    """A connection string cut down to its allow-listed keys; a file's path (no ``key=value`` in it) as it is."""
    if "=" not in connection_string and ";" not in connection_string:
        return connection_string
    return ";".join(part.strip() for part in connection_string.split(";")
                    if part.partition("=")[0].strip().lower() in (*_SERVER_KEYS, *_DATABASE_KEYS, *_STORAGE_KEYS,
                                                                  *_ODBC_KEYS))


def _connection(name: str, kind: str, text: str) -> Connection:
    if kind == "file":  # a flat file's connection string is its path; an Excel one names it as its Data Source
        excel = "data source=" in text.lower().replace(" =", "=")
        path = connection_string_fields(text, ("data source",)).get("data source") if excel else text.strip()
        return Connection(name, kind, path=path or None)
    if kind == "storage":
        return _storage(name, connection_string_fields(text, _STORAGE_KEYS))
    fields = connection_string_fields(text, (*_SERVER_KEYS, *_DATABASE_KEYS, *_ODBC_KEYS))
    server = next((fields[k] for k in _SERVER_KEYS if k in fields), None)
    database = next((fields[k] for k in _DATABASE_KEYS if k in fields), None)
    return Connection(name, kind, server=server, database=database, driver=fields.get("driver"),
                      dsn=fields.get("dsn"))


def _storage_connection(name: str, manager: Element) -> Connection:
    """An AzureStorage connection manager, from the allow-listed properties it holds in any of the shapes a package
    may keep them in: attributes, ``<Property Name=...>`` elements, or a connection string."""
    found: dict[str, str] = {}
    texts = [manager.get(f"{DTS}ConnectionString") or ""]
    data = manager.find(f"{DTS}ObjectData")
    for element in data.iter() if data is not None else ():
        for key, value in element.attrib.items():
            local = key.rsplit("}", 1)[-1].lower()
            if local == "connectionstring":
                texts.append(value)
            elif local in _STORAGE_KEYS:
                found.setdefault(local, value.strip())
        named = (element.get("Name") or element.get(f"{DTS}Name") or "").lower()
        if named in _STORAGE_KEYS and element.text and element.text.strip():
            found.setdefault(named, element.text.strip())
        elif named == "connectionstring" and element.text:
            texts.append(element.text)
    for text in texts:
        for key, value in connection_string_fields(text, _STORAGE_KEYS).items():
            found.setdefault(key, value)
    return _storage(name, found)


def _storage(name: str, fields: Mapping[str, str]) -> Connection:
    by_role: dict[str, str] = {}
    for key, value in fields.items():
        by_role.setdefault(_STORAGE_KEYS[key], value)
    service = by_role.get("service", "").lower().replace(" ", "")
    environment = by_role.get("environment", "").lower().replace(" ", "")
    suffix = by_role.get("suffix") or _ENVIRONMENT_SUFFIX.get(environment) or (
        environment if environment else None)
    return Connection(name, "storage", account=by_role.get("account"), suffix=suffix,
                      service="adls_gen2" if any(w in service for w in ("gen2", "dfs", "datalake", "adls"))
                      else "blob",
                      emulator=by_role.get("emulator", "").strip().lower() in ("true", "1", "yes"))
