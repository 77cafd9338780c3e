"""Which Purview collection a factory's lineage is written to.

Purview's built-in integration puts every factory's lineage in the root collection, so collection-scoped roles and
browsing never apply to it. The ``collections`` lineage setting maps factories to collections; the most specific
rule wins, because a rule for one factory is a deliberate exception to the rule of its resource group:

    factory id  >  name pattern (first that matches, in the order written)  >  resource group  >  subscription
    >  default  >  none (Purview's default: the root collection)

Names are compared as ARM compares them, without regard to case. A collection is named by its *name* (the short id
the portal shows in its URL), not its display name: that is what the Data Map API takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from lineage.extract.runrecord import FactoryId, RunRecordError

# Purview collection names: letters, digits, '-' and '_' (the portal makes 6-character ones; the API takes longer).
_COLLECTION = re.compile(r"[A-Za-z0-9_-]{1,100}")
_SUBSCRIPTION = re.compile(r"[0-9A-Za-z-]{1,64}")
_RESOURCE_GROUP = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)", re.IGNORECASE)
KEYS = frozenset({"default", "factories", "resourceGroups", "subscriptions", "namePatterns"})


class CollectionConfigError(ValueError):
    """The ``collections`` setting has the wrong shape; the message names the part."""


@dataclass(frozen=True, slots=True)
class Collections:
    """The mapping, validated; ``collection_for`` is the one question the rest of the product asks it."""

    default: str | None = None
    factories: Mapping[str, str] = field(default_factory=dict)  # lower-cased factory resource id -> collection
    patterns: tuple[tuple[str, str], ...] = ()  # (lower-cased factory-name pattern, collection), in order
    resource_groups: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (sub, rg) lower-cased
    subscriptions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_setting(cls, doc: Any) -> Collections:
        """Read the ``collections`` object (README, "Beyond the built-in integration"); unknown keys are errors."""
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise CollectionConfigError("collections must be an object with keys among " + ", ".join(sorted(KEYS)))
        unknown = sorted(set(doc) - KEYS)
        if unknown:
            raise CollectionConfigError(f"unknown collections key(s) {unknown}; known: {sorted(KEYS)}")
        default = doc.get("default")
        if default is not None:
            default = _collection(default, "collections.default")
        factories: dict[str, str] = {}
        for key, value in _object(doc, "factories").items():
            try:
                factory = FactoryId.parse(key)
            except RunRecordError as exc:
                raise CollectionConfigError(f"collections.factories: {exc}") from None
            _unique(factories, factory.resource_id.lower(), key, "factories")
            factories[factory.resource_id.lower()] = _collection(value, f"collections.factories[{key!r}]")
        groups: dict[tuple[str, str], str] = {}
        for key, value in _object(doc, "resourceGroups").items():
            match = _RESOURCE_GROUP.fullmatch(key.strip())
            if match is None:
                raise CollectionConfigError(f"collections.resourceGroups: {key!r} is not a resource group id like "
                                            "/subscriptions/<id>/resourceGroups/<name>")
            _unique(groups, (match["sub"].lower(), match["rg"].lower()), key, "resourceGroups")
            groups[match["sub"].lower(), match["rg"].lower()] = _collection(
                value, f"collections.resourceGroups[{key!r}]")
        subscriptions: dict[str, str] = {}
        for key, value in _object(doc, "subscriptions").items():
            if not _SUBSCRIPTION.fullmatch(key):
                raise CollectionConfigError(f"collections.subscriptions: {key!r} is not a subscription id")
            _unique(subscriptions, key.lower(), key, "subscriptions")
            subscriptions[key.lower()] = _collection(value, f"collections.subscriptions[{key!r}]")
        return cls(default, factories, _patterns(doc.get("namePatterns", [])), groups, subscriptions)

    def collection_for(self, factory: FactoryId) -> str | None:
        """The collection of this factory's lineage; None when nothing maps it (Purview then uses the root)."""
        found = self.factories.get(factory.resource_id.lower())
        if found is not None:
            return found
        name = factory.factory_name.lower()
        for pattern, collection in self.patterns:
            if fnmatchcase(name, pattern):
                return collection
        found = self.resource_groups.get((factory.subscription_id.lower(), factory.resource_group.lower()))
        if found is not None:
            return found
        return self.subscriptions.get(factory.subscription_id.lower(), self.default)

    def named(self) -> list[str]:
        """Every collection the mapping can send lineage to, sorted (what ``doctor`` checks and the deployment
        grants); empty when nothing is mapped."""
        every = {*self.factories.values(), *(c for _, c in self.patterns), *self.resource_groups.values(),
                 *self.subscriptions.values()}
        if self.default is not None:
            every.add(self.default)
        return sorted(every)


def _unique(seen: Mapping[Any, str], normalized: Any, key: str, where: str) -> None:
    """ARM ids compare without case: two keys that differ only in case name one thing, and which one wins would
    depend on the order of the JSON."""
    if normalized in seen:
        raise CollectionConfigError(f"collections.{where}: {key!r} names the same thing as another key (ids are "
                                    "compared without case)")


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise CollectionConfigError(f"collections.{key} must be an object mapping ids to collection names")
    return value


def _patterns(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise CollectionConfigError('collections.namePatterns must be a list of {"pattern": "sales-*", '
                                    '"collection": "<name>"} objects, tried in order')
    out = []
    for number, entry in enumerate(value):
        where = f"collections.namePatterns[{number}]"
        if not isinstance(entry, Mapping) or set(entry) != {"pattern", "collection"}:
            raise CollectionConfigError(f'{where} must be {{"pattern": ..., "collection": ...}}')
        pattern = entry["pattern"]
        if not isinstance(pattern, str) or not pattern.strip():
            raise CollectionConfigError(f"{where}.pattern must be a non-empty factory-name pattern (* and ?)")
        out.append((pattern.strip().lower(), _collection(entry["collection"], f"{where}.collection")))
    return tuple(out)


def _collection(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _COLLECTION.fullmatch(value):
        raise CollectionConfigError(f"{where} must be a collection name (letters, digits, '-' and '_'; the name the "
                                    f"portal shows in its URL, not the display name), not {str(value)[:80]!r}")
    return value
