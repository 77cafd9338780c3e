"""Settings of the lineage core, from a JSON file or the Function App's settings.

Everything a deployment may need to correct is here rather than in code: hosts that linked services hide, which
storage accounts Purview scans as ADLS Gen2, whether failed activities get edges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage.extract.collection_map import CollectionConfigError, Collections
from lineage.extract.stores import StoreSettings
from lineage.extract.stores.resource_sets import ResourceSetConfigError, ResourceSetRules

# Purview's adf_pipeline -> azure_data_factory relationship attribute. No public source shows its name for certain
# (the factory side is `pipelines`); `doctor` checks it against the live type definitions.
PIPELINE_FACTORY_ATTRIBUTE = "dataFactory"


class ConfigError(ValueError):
    """A setting has the wrong shape; the message names it."""


@dataclass(frozen=True, slots=True)
class LineageOptions:
    """How runs become lineage."""

    stores: StoreSettings = field(default_factory=StoreSettings)
    emit_failed: bool = False
    skip_reported_by_data_factory: bool = True
    pipeline_factory_attribute: str = PIPELINE_FACTORY_ATTRIBUTE
    # How the Purview account groups files into resource sets (None: it does not; Copy lineage then names files).
    resource_sets: ResourceSetRules | None = field(default_factory=ResourceSetRules.default)
    # Which Purview collection each factory's lineage goes to (none mapped: Purview's root collection).
    collections: Collections = field(default_factory=Collections)

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> LineageOptions:
        """Read the JSON settings format documented in README.md (unknown keys are an error: typos must show)."""
        known = {
            "linkedServiceHosts", "adlsGen2Accounts", "blobAccounts", "sqlServerDefaultInstance",
            "emitFailedActivities", "skipReportedByDataFactory", "pipelineFactoryAttribute", "resourceSets",
            "resourceSetRules", "collections",
        }
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(f"unknown lineage setting(s) {unknown}; known: {sorted(known)}")
        hosts = doc.get("linkedServiceHosts", {})
        if not isinstance(hosts, Mapping) or not all(_host_entry(v) for v in hosts.values()):
            raise ConfigError("linkedServiceHosts must map linked-service names to a host name or URL, or to an "
                              f"object of text values with keys among {sorted(HOST_PARTS)}")
        stores = StoreSettings(
            linked_service_hosts=dict(hosts),
            adls_gen2_accounts=frozenset(_strings(doc, "adlsGen2Accounts")),
            blob_accounts=frozenset(_strings(doc, "blobAccounts")),
            sql_server_default_instance=str(doc.get("sqlServerDefaultInstance", "MSSQLSERVER")),
        )
        return cls(
            stores=stores,
            emit_failed=_flag(doc, "emitFailedActivities", default=False),
            skip_reported_by_data_factory=_flag(doc, "skipReportedByDataFactory", default=True),
            pipeline_factory_attribute=str(doc.get("pipelineFactoryAttribute", PIPELINE_FACTORY_ATTRIBUTE)),
            resource_sets=_resource_sets(doc),
            collections=_collections(doc),
        )

    @classmethod
    def load(cls, path: Path | None) -> LineageOptions:
        """Options from a JSON file, or the defaults when no file is given."""
        if path is None:
            return cls()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(doc, Mapping):
            raise ConfigError(f"settings file {path} must hold a JSON object")
        return cls.from_mapping(doc)


HOST_PARTS = frozenset({"host", "database", "instance"})


def _host_entry(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, Mapping) and bool(value) and set(value) <= HOST_PARTS and all(
        isinstance(v, str) and v for v in value.values())


def _resource_sets(doc: Mapping[str, Any]) -> ResourceSetRules | None:
    """``resourceSets: false`` for accounts that do not group files; ``resourceSetRules``: the account's own rule
    configuration (``python -m lineage resource-sets`` saves it), as a JSON file path or the object itself."""
    if not _flag(doc, "resourceSets", default=True):
        return None
    rules = doc.get("resourceSetRules")
    try:
        if rules is None:
            return ResourceSetRules.default()
        if isinstance(rules, str):
            return ResourceSetRules.load(Path(rules))
        if isinstance(rules, Mapping):
            return ResourceSetRules.from_config(rules)
    except ResourceSetConfigError as exc:
        raise ConfigError(f"resourceSetRules: {exc}") from exc
    raise ConfigError("resourceSetRules must be a JSON file path or the rule configuration object")


def _collections(doc: Mapping[str, Any]) -> Collections:
    try:
        return Collections.from_setting(doc.get("collections"))
    except CollectionConfigError as exc:
        raise ConfigError(str(exc)) from exc


def _strings(doc: Mapping[str, Any], key: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings")
    return [v.lower() for v in value]


def _flag(doc: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value
