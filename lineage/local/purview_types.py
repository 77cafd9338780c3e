"""The type definitions the local Purview server enforces: Atlas' base model and Purview's Data Factory types.

This is the project's own description, from Atlas' base model and Purview's exported type definitions as the field
notes describe them: an operation's and an activity's ``parent`` is required, process ``inputs``/``outputs`` hold
DataSets, a pipeline links to its factory. It serves the typedef API in Atlas' shape so the product's checks can
read it like a live account's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lineage.extract.config import PIPELINE_FACTORY_ATTRIBUTE

ADF_KINDS = ("copy", "dataflow", "executeSsisPackage")
STORE_TYPES = (
    "azure_blob_path", "azure_blob_resource_set", "azure_datalake_gen2_path", "azure_datalake_gen2_resource_set",
    "azure_datalake_gen2_filesystem", "azure_datalake_gen1_path", "azure_file", "azure_sql_table", "azure_sql_view",
    "azure_sql_mi_table", "azure_synapse_dedicated_sql_table", "azure_sql_dw_table", "mssql_table",
    "azure_postgresql_table", "azure_mysql_table", "azure_cosmosdb_sqlapi_collection", "azure_data_explorer_table",
    "aws_s3_v2_object", "aws_s3_v2_directory", "aws_s3_v2_resource_set", "snowflake_table", "ssis_package",
)


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
class EntityDef:
    name: str
    super_types: tuple[str, ...] = ()
    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    relationships: Mapping[str, Attribute] = field(default_factory=dict)

    def to_atlas(self) -> dict[str, Any]:
        """The typedef as ``GET /types/typedef/name/{name}`` returns it."""
        return {
            "category": "ENTITY", "name": self.name, "typeVersion": "1.0", "superTypes": list(self.super_types),
            "attributeDefs": [{"name": n, "typeName": a.type_name, "isOptional": a.optional,
                               "cardinality": "SET" if a.is_array else "SINGLE", "isUnique": n == "qualifiedName"}
                              for n, a in self.attributes.items()],
            "relationshipAttributeDefs": [{"name": n, "typeName": a.type_name, "isOptional": a.optional,
                                           "relationshipTypeName": a.relationship,
                                           "cardinality": "SET" if a.is_array else "SINGLE"}
                                          for n, a in self.relationships.items()],
        }


def _defs() -> list[EntityDef]:
    text, long_ = "string", "long"
    defs = [
        EntityDef("Referenceable", attributes={"qualifiedName": Attribute(text, optional=False)}),
        EntityDef("Asset", ("Referenceable",), {"name": Attribute(text, optional=False),
                                                "description": Attribute(text), "owner": Attribute(text)}),
        EntityDef("DataSet", ("Asset",)),
        EntityDef("Process", ("Asset",), relationships={
            "inputs": Attribute("array<DataSet>", relationship="dataset_process_inputs"),
            "outputs": Attribute("array<DataSet>", relationship="process_dataset_outputs")}),
        EntityDef("azure_data_factory", ("Asset",), {"subscriptionId": Attribute(text),
                                                     "resourceGroupName": Attribute(text)},
                  {"pipelines": Attribute("array<adf_pipeline>", relationship="adf_data_factory_pipelines")}),
        EntityDef("adf_process", ("Process",), relationships={
            "parent": Attribute("adf_process", relationship="process_parent"),
            "subProcesses": Attribute("array<adf_process>", relationship="process_parent")}),
        EntityDef("adf_pipeline", ("adf_process",), relationships={
            PIPELINE_FACTORY_ATTRIBUTE: Attribute("azure_data_factory", relationship="adf_data_factory_pipelines")}),
        EntityDef("adf_activity", ("adf_process",), {
            "status": Attribute(text), "lastRunTime": Attribute(long_), "rowCount": Attribute(long_),
            "dataSize": Attribute(long_), "errorMessage": Attribute(text)},
            {"parent": Attribute("adf_process", optional=False, relationship="process_parent"),
             "runInstances": Attribute("array<adf_activity_run>", relationship="adf_activity_run_instances")}),
        EntityDef("adf_activity_operation", ("adf_process",), {"columnMapping": Attribute(text)},
                  {"parent": Attribute("adf_process", optional=False, relationship="process_parent")}),
        EntityDef("adf_activity_run", ("Asset",)),
    ]
    for kind in ADF_KINDS:
        defs.append(EntityDef(f"adf_{kind}_activity", ("adf_activity",), relationships={
            "parent": Attribute("adf_process", optional=False, relationship="process_parent")}))
        defs.append(EntityDef(f"adf_{kind}_operation", ("adf_activity_operation",), relationships={
            "parent": Attribute("adf_process", optional=False, relationship="process_parent")}))
        defs.append(EntityDef(f"adf_{kind}_activity_run", ("adf_activity_run",)))
    defs.extend(EntityDef(name, ("DataSet",)) for name in STORE_TYPES)
    return defs


class TypeRegistry:
    """Known entity types, with inherited attributes resolved once."""

    def __init__(self, exclude: Iterable[str] = ()) -> None:
        excluded = set(exclude)
        self.defs = {d.name: d for d in _defs() if d.name not in excluded}
        self._attributes: dict[str, dict[str, Attribute]] = {}
        self._relationships: dict[str, dict[str, Attribute]] = {}
        self._ancestors: dict[str, set[str]] = {}

    def known(self, type_name: str) -> bool:
        return type_name in self.defs

    def ancestors(self, type_name: str) -> set[str]:
        """The type and all its super types."""
        if type_name not in self._ancestors:
            found = {type_name}
            for parent in self.defs[type_name].super_types if type_name in self.defs else ():
                found |= self.ancestors(parent)
            self._ancestors[type_name] = found
        return self._ancestors[type_name]

    def is_a(self, type_name: str, super_type: str) -> bool:
        return type_name in self.defs and super_type in self.ancestors(type_name)

    def attributes(self, type_name: str) -> dict[str, Attribute]:
        if type_name not in self._attributes:
            merged: dict[str, Attribute] = {}
            for parent in self.defs[type_name].super_types:
                merged.update(self.attributes(parent))
            merged.update(self.defs[type_name].attributes)
            self._attributes[type_name] = merged
        return self._attributes[type_name]

    def relationships(self, type_name: str) -> dict[str, Attribute]:
        if type_name not in self._relationships:
            merged: dict[str, Attribute] = {}
            for parent in self.defs[type_name].super_types:
                merged.update(self.relationships(parent))
            merged.update(self.defs[type_name].relationships)
            self._relationships[type_name] = merged
        return self._relationships[type_name]
