"""The type definitions the local Purview server enforces, and the checks Atlas makes with them.

A stand-in is only worth testing against if it refuses what the real service refuses. So the types come from the
real ones when the shared contracts sit beside the project: Atlas' base model plus a live Purview account's full
typedef export (``../shared/contracts``, see its README). A fresh clone without them gets a small built-in copy of
the rules the product depends on (field notes §5), and says so: ``TypeRegistry.source`` names what was loaded and
the fallback is announced once as a warning, so a run against it is never mistaken for one against the real types.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.extract.config import PIPELINE_FACTORY_ATTRIBUTE

log = logging.getLogger(__name__)

DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BASE_MODEL = Path("contracts/atlas/0010-base_model.json")
TYPEDEF_DUMP = Path("contracts/purview/typedef-dumps/typedefs-2021-06-29.json")
FALLBACK_SOURCE = "built-in fallback"
# The dumped account's owner created the spark_* types (the dumps' README); a fresh account lacks them, and through
# them every DataSet subtype carries two optional relationship attributes (`model`, `pipeline`) a fresh account does
# not have. They are dropped, with every relationship that has one of them at an end. (Dropped by relationship, not
# by attribute name: erwin_view's and looker_view's own mandatory `model` stay.)
CUSTOM_TYPE_PREFIX = "spark_"
# Purview's own Data Factory integration writes pipelines whose container is the factory (`dataFactory`, which stays
# mandatory), never another process (field notes §5): the `parent` an adf_pipeline inherits from adf_process through
# `process_parent` is not asked of it.
NOT_ASKED = frozenset({("adf_pipeline", "parent")})
ADF_KINDS = ("copy", "dataflow", "executeSsisPackage")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(message: str) -> None:
    """Log a WARNING the first time a process sees this message (many servers start in one test run)."""
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning(message)


@dataclass(frozen=True)
class Attribute:
    """An attribute or relationship attribute: its type (``array<T>`` for lists) and whether it may be left out."""

    type_name: str
    optional: bool = True
    relationship: str | None = None

    @property
    def element_type(self) -> str:
        return self.type_name.removeprefix("array<").removesuffix(">")

    @property
    def is_array(self) -> bool:
        return self.type_name.startswith("array<")


@dataclass(frozen=True)
class TypeModel:
    """Type definitions in Atlas' own JSON shape, as ``GET /types/typedefs`` serves them."""

    source: str
    entity_defs: Mapping[str, Mapping[str, Any]]
    relationship_defs: Mapping[str, Mapping[str, Any]]
    enum_defs: Mapping[str, Mapping[str, Any]]
    other_defs: Mapping[str, list[Any]]  # struct and classification defs: served, not enforced


class TypeRegistry:
    """Known entity types, with inherited attributes resolved once, and Atlas' checks of an entity against them."""

    def __init__(self, exclude: Iterable[str] = (), shared: Path | None = DEFAULT_SHARED) -> None:
        model = dump_model(shared) if shared is not None else None
        if model is None:
            warn_once(f"Purview type definitions not found under {shared}: the local Purview enforces its "
                      f"{FALLBACK_SOURCE} types, a subset of the real ones")
            model = fallback_model()
        self.model = model
        self.source = model.source
        excluded = set(exclude)
        self.defs = {name: d for name, d in model.entity_defs.items() if name not in excluded}
        self.enums = {name: {str(e["value"]).lower(): str(e["value"]) for e in d.get("elementDefs") or []}
                      for name, d in model.enum_defs.items()}
        self._ends: dict[str, dict[str, Attribute]] = {}
        self._inverse: dict[tuple[str, str], str] = {}
        for name, rel in model.relationship_defs.items():
            one, two = rel["endDef1"], rel["endDef2"]
            for end, other in ((one, two), (two, one)):
                kind = f"array<{other['type']}>" if end.get("cardinality") == "SET" else other["type"]
                self._ends.setdefault(end["type"], {})[end["name"]] = Attribute(kind, True, name)
                self._inverse[(name, end["name"])] = other["name"]
        self._lock = threading.RLock()
        self._ancestors: dict[str, frozenset[str]] = {}
        self._attributes: dict[str, dict[str, Attribute]] = {}
        self._relationships: dict[str, dict[str, Attribute]] = {}

    def known(self, type_name: str) -> bool:
        return type_name in self.defs

    def typedef(self, name: str) -> Mapping[str, Any] | None:
        """Any type definition by name, as ``GET /types/typedef/name/{name}`` returns it."""
        return self.defs.get(name) or self.model.enum_defs.get(name) or self.model.relationship_defs.get(name)

    def ancestors(self, type_name: str) -> frozenset[str]:
        """The type and all its super types (several levels, several parents)."""
        with self._lock:
            return self._ancestors_locked(type_name)

    def is_a(self, type_name: str, super_type: str) -> bool:
        return type_name in self.defs and super_type in self.ancestors(type_name)

    def attributes(self, type_name: str) -> dict[str, Attribute]:
        with self._lock:
            return self._resolved(type_name, self._attributes, _declared_attributes)

    def relationships(self, type_name: str) -> dict[str, Attribute]:
        with self._lock:
            return self._resolved(type_name, self._relationships, self._own_relationships)

    def inverse(self, attribute: Attribute, name: str) -> str | None:
        """The name the other end of a relationship attribute has (``inputs`` -> ``inputToProcesses``)."""
        return self._inverse.get((attribute.relationship or "", name))

    def problems(self, type_name: str, attributes: Mapping[str, Any], relationships: Mapping[str, Any]) -> list[str]:
        """What Atlas' AtlasEntityType.validateValue reports of an entity, in its words, attributes first."""
        messages: list[str] = []
        rels = self.relationships(type_name)
        for name, spec in self.attributes(type_name).items():
            if name in rels:
                continue  # a legacy reference attribute (Process.inputs): checked with the relationship attributes
            value = attributes.get(name)
            if value is None:
                if not spec.optional and relationships.get(name) is None:
                    messages.append(_missing(type_name, name))
            elif spec.type_name in self.enums and str(value).lower() not in self.enums[spec.type_name]:
                messages.append(f"{type_name}.{name}={value}: invalid value for type {spec.type_name}")
        ancestors = self.ancestors(type_name)
        for name, spec in rels.items():
            if spec.optional or any((t, name) in NOT_ASKED for t in ancestors):
                continue
            if attributes.get(name) is None and relationships.get(name) is None:
                messages.append(_missing(type_name, name))
        return messages

    def normalized(self, type_name: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes with enum values in their declared spelling (Atlas matches them case-insensitively)."""
        specs = self.attributes(type_name)
        out = dict(attributes)
        for name, value in attributes.items():
            spec = specs.get(name)
            if spec is not None and value is not None and spec.type_name in self.enums:
                out[name] = self.enums[spec.type_name].get(str(value).lower(), value)
        return out

    # ---------------------------------------------------------------------------------------------- internals

    def _ancestors_locked(self, type_name: str) -> frozenset[str]:
        found = self._ancestors.get(type_name)
        if found is None:
            definition = self.defs.get(type_name) or {}
            parents = [p for p in definition.get("superTypes") or [] if p in self.defs]
            found = frozenset({type_name}).union(*(self._ancestors_locked(p) for p in parents))
            self._ancestors[type_name] = found
        return found

    def _resolved(self, type_name: str, cache: dict[str, dict[str, Attribute]],
                  own: Any) -> dict[str, Attribute]:
        """Inherited first, then the type's own (which win): each type resolved once."""
        if type_name not in cache:
            merged: dict[str, Attribute] = {}
            definition = self.defs.get(type_name) or {}
            for parent in definition.get("superTypes") or []:
                if parent in self.defs:
                    merged.update(self._resolved(parent, cache, own))
            merged.update(own(type_name, definition))
            cache[type_name] = merged
        return cache[type_name]

    def _own_relationships(self, type_name: str, definition: Mapping[str, Any]) -> dict[str, Attribute]:
        """Ends of relationship defs at this type, overridden by the type's declared relationship attributes.

        A dump declares them resolved, with ``isOptional``; where two relationships give one name (hive_column's
        ``table``), the mandatory one stands for it.
        """
        own = dict(self._ends.get(type_name, {}))
        declared: dict[str, Attribute] = {}
        for d in definition.get("relationshipAttributeDefs") or []:
            attribute = Attribute(d["typeName"], bool(d.get("isOptional", True)), d.get("relationshipTypeName"))
            if d["name"] not in declared or not attribute.optional:
                declared[d["name"]] = attribute
        own.update(declared)
        return own


def _declared_attributes(_: str, definition: Mapping[str, Any]) -> dict[str, Attribute]:
    return {d["name"]: Attribute(d["typeName"], bool(d.get("isOptional", True)))
            for d in definition.get("attributeDefs") or []}


def _missing(type_name: str, name: str) -> str:
    return f"{type_name}.{name}: mandatory attribute value missing in type {type_name}"


# -------------------------------------------------------------------------------------------- the real types


@functools.cache
def dump_model(shared: Path) -> TypeModel | None:
    """Atlas' base model overlaid with a live account's export (Purview's own versions of the base types win)."""
    base, dump = shared / BASE_MODEL, shared / TYPEDEF_DUMP
    if not (base.is_file() and dump.is_file()):
        return None
    documents = [json.loads(base.read_text(encoding="utf-8")), json.loads(dump.read_text(encoding="utf-8"))]
    return _model(f"typedef dumps {dump}", documents)


def _model(source: str, documents: Iterable[Mapping[str, Any]]) -> TypeModel:
    merged: dict[str, dict[str, Any]] = {}
    for document in documents:
        for category, defs in document.items():
            if isinstance(defs, list):
                merged.setdefault(category, {}).update({d["name"]: d for d in defs})
    dropped_types = {n for n in merged.get("entityDefs", {}) if n.startswith(CUSTOM_TYPE_PREFIX)}
    relationship_defs = {n: r for n, r in merged.get("relationshipDefs", {}).items()
                         if not {r["endDef1"]["type"], r["endDef2"]["type"]} & dropped_types}
    dropped_relationships = set(merged.get("relationshipDefs", {})) - set(relationship_defs)
    entity_defs: dict[str, Mapping[str, Any]] = {}
    for name, definition in merged.get("entityDefs", {}).items():
        if name in dropped_types:
            continue
        clean = copy.copy(definition)
        clean["relationshipAttributeDefs"] = [d for d in definition.get("relationshipAttributeDefs") or []
                                              if d.get("relationshipTypeName") not in dropped_relationships]
        if "subTypes" in definition:
            clean["subTypes"] = [t for t in definition["subTypes"] if t not in dropped_types]
        entity_defs[name] = clean
    others = {c: list(defs.values()) for c, defs in merged.items()
              if c not in ("entityDefs", "relationshipDefs", "enumDefs")}
    return TypeModel(source, entity_defs, relationship_defs, merged.get("enumDefs", {}), others)


# --------------------------------------------------------------------------------------- the built-in fallback

_SET, _ONE = "SET", "SINGLE"
_TEXT, _LONG = "string", "long"
_Attrs = Mapping[str, str | tuple[str, bool]]
# (type, super types, attributes: name -> type, or (type, optional) for a mandatory one)
_FALLBACK_ENTITIES: tuple[tuple[str, tuple[str, ...], _Attrs], ...] = (
    ("Referenceable", (), {"qualifiedName": (_TEXT, False)}),
    ("Asset", ("Referenceable",), {"name": (_TEXT, False), "description": _TEXT, "owner": _TEXT}),
    ("DataSet", ("Asset",), {}),
    ("Process", ("Asset",), {"inputs": "array<DataSet>", "outputs": "array<DataSet>"}),
    ("azure_resource", ("Asset",), {"subscriptionId": _TEXT, "resourceGroupName": _TEXT, "location": _TEXT}),
    ("azure_data_factory", ("azure_resource",), {}),
    ("adf_process", ("Process",), {}),
    ("adf_pipeline", ("adf_process",), {}),
    ("adf_activity", ("adf_process",), {"status": _TEXT, "lastRunTime": _LONG, "rowCount": _LONG, "dataSize": _LONG,
                                        "errorMessage": _TEXT}),
    ("adf_activity_operation", ("adf_process",), {"columnMapping": _TEXT}),
    ("adf_activity_run", ("adf_process",), {}),
    ("ssis_package", ("Asset",), {}),
    ("resource_set", ("DataSet",), {}),
    ("azure_storage_account", ("azure_resource",), {}),
    ("azure_storage_service", ("azure_resource",), {}),
    ("azure_datalake_gen2_service", ("azure_storage_service",), {}),
    ("azure_datalake_gen2_filesystem", ("DataSet",), {}),
    ("azure_file", ("DataSet",), {"path": (_TEXT, False)}),
    ("azure_file_directory", ("DataSet",), {"path": (_TEXT, False)}),
    ("azure_file_resource_set", ("resource_set",), {}),
    ("azure_cosmosdb_account", ("azure_resource",), {"api_type": ("cosmosdb_account_api", False)}),
    ("azure_cosmosdb_database", ("Asset",), {"resourceLink": (_TEXT, False)}),
    ("azure_cosmosdb_container", ("DataSet",), {"resourceLink": (_TEXT, False)}),
    ("azure_cosmosdb_sqlapi_collection", ("azure_cosmosdb_container",), {}),
    ("azure_sql_server", ("azure_resource",), {}),
    ("azure_sql_db", ("azure_resource",), {}),
    ("azure_sql_mi", ("azure_resource",), {"hostname": (_TEXT, False)}),
    ("azure_sql_mi_db", ("Asset",), {}),
    ("mssql_instance", ("Asset",), {"hostname": (_TEXT, False)}),
    ("mssql_db", ("Asset",), {}),
    ("azure_synapse_workspace", ("azure_resource",), {}),
    ("azure_synapse_sql_db", (), {}),
    ("azure_synapse_dedicated_sql_db", ("azure_resource", "azure_synapse_sql_db"), {}),
    ("azure_synapse_serverless_sql_db", ("Asset", "azure_synapse_sql_db"), {}),
    ("azure_synapse_sql_schema", (), {}),
    ("azure_synapse_dedicated_sql_schema", ("azure_synapse_sql_schema", "Asset"), {}),
    ("azure_synapse_serverless_sql_schema", ("azure_synapse_sql_schema", "Asset"), {}),
    ("azure_synapse_sql_table", (), {}),
    ("azure_synapse_dedicated_sql_table", ("DataSet", "azure_synapse_sql_table"), {}),
    ("azure_synapse_serverless_sql_table", ("DataSet", "azure_synapse_sql_table"), {}),
    ("azure_synapse_dedicated_sql_view", ("DataSet",), {}),
    ("azure_synapse_serverless_sql_view", ("DataSet",), {}),
    ("azure_sql_dw", ("azure_resource",), {}),
    ("azure_sql_dw_schema", ("Asset",), {}),
    ("azure_postgresql_server", ("azure_resource",), {}),
    ("azure_postgresql_db", ("Asset",), {}),
    ("azure_postgresql_schema", ("Asset",), {}),
    ("azure_mysql_server", ("azure_resource",), {}),
    ("azure_mysql_db", ("Asset",), {}),
    ("azure_data_explorer_cluster", ("azure_resource",), {}),
    ("azure_data_explorer_database", ("azure_resource",), {}),
    ("aws_s3_v2_base", ("DataSet",), {}),
    ("aws_s3_v2_container", (), {}),
    ("aws_s3_v2_contained", (), {}),
    ("aws_s3_v2_bucket", ("aws_s3_v2_base", "aws_s3_v2_container"), {}),
    ("aws_s3_v2_object", ("aws_s3_v2_contained", "aws_s3_v2_base"), {}),
    ("aws_s3_v2_directory", ("aws_s3_v2_container", "aws_s3_v2_object"), {"objectPrefix": (_TEXT, False)}),
    ("aws_s3_v2_resource_set", ("resource_set",), {}),
    *((f"azure_{s}_{k}", supers, {}) for s in ("blob", "datalake_gen2", "datalake_gen1") for k, supers in (
        ("object", ()), ("path", ("DataSet", f"azure_{s}_object")),
        ("resource_set", ("resource_set", f"azure_{s}_object")))),
    *((f"adf_{kind}_{k}", (f"adf_{s}",), {}) for kind in ADF_KINDS for k, s in (
        ("activity", "activity"), ("operation", "activity_operation"), ("activity_run", "activity_run"))),
    *((t, ("DataSet",), {}) for t in (
        "azure_sql_table", "azure_sql_view", "azure_sql_mi_table", "azure_sql_mi_view", "mssql_table", "mssql_view",
        "azure_sql_dw_table", "azure_sql_dw_view", "azure_postgresql_table", "azure_postgresql_view",
        "azure_mysql_table", "azure_mysql_view", "azure_data_explorer_table")),
    *((t, ("Asset",), {}) for t in ("azure_sql_schema", "azure_sql_mi_schema", "mssql_schema")),
)
# (relationship, (type, attribute, cardinality) of each end); the end marked "!" is mandatory, as the dumps have it
_FALLBACK_RELATIONSHIPS: tuple[tuple[str, tuple[str, str, str], tuple[str, str, str]], ...] = (
    ("dataset_process_inputs", ("Process", "inputs", _SET), ("DataSet", "inputToProcesses", _SET)),
    ("process_dataset_outputs", ("Process", "outputs", _SET), ("DataSet", "outputFromProcesses", _SET)),
    ("process_parent", ("adf_process", "!parent", _ONE), ("adf_process", "subProcesses", _SET)),
    ("adf_pipeline_dataFactory", ("adf_pipeline", f"!{PIPELINE_FACTORY_ATTRIBUTE}", _ONE),
     ("azure_data_factory", "pipelines", _SET)),
    ("adf_activity_run_instances", ("adf_activity", "runInstances", _SET), ("adf_activity_run", "!activity", _ONE)),
    ("storage_account_services", ("azure_storage_account", "services", _SET),
     ("azure_storage_service", "!account", _ONE)),
    ("datalake_gen2_service_filesystems", ("azure_datalake_gen2_service", "filesystems", _SET),
     ("azure_datalake_gen2_filesystem", "!datalakeService", _ONE)),
    ("cosmosdb_account_database", ("azure_cosmosdb_account", "databases", _SET),
     ("azure_cosmosdb_database", "!account", _ONE)),
    ("cosmosdb_database_container", ("azure_cosmosdb_database", "containers", _SET),
     ("azure_cosmosdb_container", "!db", _ONE)),
    ("azure_sql_server_databases", ("azure_sql_server", "databases", _SET), ("azure_sql_db", "!server", _ONE)),
    ("azure_sql_db_schemas", ("azure_sql_db", "schemas", _SET), ("azure_sql_schema", "!db", _ONE)),
    ("azure_sql_schema_tables", ("azure_sql_schema", "tables", _SET), ("azure_sql_table", "!dbSchema", _ONE)),
    ("azure_sql_schema_views", ("azure_sql_schema", "views", _SET), ("azure_sql_view", "!dbSchema", _ONE)),
    ("azure_sql_managed_instance_dbs", ("azure_sql_mi", "databases", _SET), ("azure_sql_mi_db", "!instance", _ONE)),
    ("azure_sql_mi_db_schemas", ("azure_sql_mi_db", "schemas", _SET), ("azure_sql_mi_schema", "!db", _ONE)),
    ("azure_sql_mi_schema_tables", ("azure_sql_mi_schema", "tables", _SET), ("azure_sql_mi_table", "!dbSchema", _ONE)),
    ("azure_sql_mi_schema_views", ("azure_sql_mi_schema", "views", _SET), ("azure_sql_mi_view", "!dbSchema", _ONE)),
    ("mssql_instance_dbs", ("mssql_instance", "databases", _SET), ("mssql_db", "!instance", _ONE)),
    ("mssql_db_schemas", ("mssql_db", "schemas", _SET), ("mssql_schema", "!db", _ONE)),
    ("mssql_schema_tables", ("mssql_schema", "tables", _SET), ("mssql_table", "!dbSchema", _ONE)),
    ("mssql_schema_views", ("mssql_schema", "views", _SET), ("mssql_view", "!dbSchema", _ONE)),
    ("azure_synapse_sql_pools", ("azure_synapse_workspace", "sqlPools", _SET),
     ("azure_synapse_sql_db", "!workspace", _ONE)),
    ("azure_synapse_sql_db_schemas", ("azure_synapse_sql_db", "schemas", _SET),
     ("azure_synapse_sql_schema", "!db", _ONE)),
    ("azure_synapse_sql_schema_tables", ("azure_synapse_sql_schema", "tables", _SET),
     ("azure_synapse_sql_table", "!dbSchema", _ONE)),
    ("azure_synapse_dedicated_sql_schema_views", ("azure_synapse_dedicated_sql_schema", "views", _SET),
     ("azure_synapse_dedicated_sql_view", "!dbSchema", _ONE)),
    ("azure_synapse_serverless_sql_schema_views", ("azure_synapse_serverless_sql_schema", "views", _SET),
     ("azure_synapse_serverless_sql_view", "!dbSchema", _ONE)),
    ("azure_sql_server_data_warehouses", ("azure_sql_server", "dataWarehouses", _SET),
     ("azure_sql_dw", "!server", _ONE)),
    ("azure_sql_dw_schemas", ("azure_sql_dw", "schemas", _SET), ("azure_sql_dw_schema", "!dataWarehouse", _ONE)),
    ("azure_sql_dw_schema_tables", ("azure_sql_dw_schema", "tables", _SET), ("azure_sql_dw_table", "!dbSchema", _ONE)),
    ("azure_postgresql_server_databases", ("azure_postgresql_server", "databases", _SET),
     ("azure_postgresql_db", "!server", _ONE)),
    ("azure_postgresql_db_schemas", ("azure_postgresql_db", "schemas", _SET), ("azure_postgresql_schema", "!db", _ONE)),
    ("azure_postgresql_schema_tables", ("azure_postgresql_schema", "tables", _SET),
     ("azure_postgresql_table", "!dbSchema", _ONE)),
    ("azure_mysql_server_databases", ("azure_mysql_server", "databases", _SET), ("azure_mysql_db", "!server", _ONE)),
    ("azure_mysql_db_tables", ("azure_mysql_db", "tables", _SET), ("azure_mysql_table", "!db", _ONE)),
    ("azure_mysql_db_views", ("azure_mysql_db", "views", _SET), ("azure_mysql_view", "!db", _ONE)),
    ("azure_postgresql_schema_views", ("azure_postgresql_schema", "views", _SET),
     ("azure_postgresql_view", "!dbSchema", _ONE)),
    ("azure_sql_dw_schema_views", ("azure_sql_dw_schema", "views", _SET), ("azure_sql_dw_view", "!dbSchema", _ONE)),
    ("azure_data_explorer_cluster_databases", ("azure_data_explorer_cluster", "databases", _SET),
     ("azure_data_explorer_database", "!cluster", _ONE)),
    ("azure_data_explorer_database_tables", ("azure_data_explorer_database", "tables", _SET),
     ("azure_data_explorer_table", "!database", _ONE)),
    ("aws_s3_v2_container_contained", ("aws_s3_v2_container", "contained", _SET),
     ("aws_s3_v2_contained", "!container", _ONE)),
)
_FALLBACK_ENUMS = {"cosmosdb_account_api": ("SQL", "MongoDb", "Cassandra", "Table", "Gremlin")}


@functools.cache
def fallback_model() -> TypeModel:
    """The product's types and their parents, with the mandatory attributes the dumps give them (field notes §5)."""
    entities = {name: _entity(name, supers, attributes) for name, supers, attributes in _FALLBACK_ENTITIES}
    relationships = []
    for name, *ends in _FALLBACK_RELATIONSHIPS:
        one, two = ({"type": t, "name": n.lstrip("!"), "cardinality": c} for t, n, c in ends)
        relationships.append({"category": "RELATIONSHIP", "name": name, "typeVersion": "1.0",
                              "endDef1": one, "endDef2": two})
        for (_, marked, _), end, other in ((ends[0], one, two), (ends[1], two, one)):
            if marked.startswith("!"):
                kind = f"array<{other['type']}>" if end["cardinality"] == _SET else other["type"]
                entities[end["type"]]["relationshipAttributeDefs"].append(
                    {"name": end["name"], "typeName": kind, "isOptional": False, "relationshipTypeName": name,
                     "cardinality": end["cardinality"]})
    enums = [{"category": "ENUM", "name": name,
              "elementDefs": [{"ordinal": i, "value": v} for i, v in enumerate(values)]}
             for name, values in _FALLBACK_ENUMS.items()]
    document = {"entityDefs": list(entities.values()), "relationshipDefs": relationships, "enumDefs": enums}
    return _model(FALLBACK_SOURCE, [document])


def _entity(name: str, supers: tuple[str, ...], attributes: _Attrs | None = None) -> dict[str, Any]:
    defs = []
    for attribute, spec in (attributes or {}).items():
        type_name, optional = spec if isinstance(spec, tuple) else (spec, True)
        defs.append({"name": attribute, "typeName": type_name, "isOptional": optional,
                     "cardinality": "SET" if type_name.startswith("array<") else "SINGLE",
                     "isUnique": attribute == "qualifiedName"})
    return {"category": "ENTITY", "name": name, "typeVersion": "1.0", "superTypes": list(supers),
            "attributeDefs": defs, "relationshipAttributeDefs": []}
