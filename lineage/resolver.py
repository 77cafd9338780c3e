"""Turning one run's dataset and linked-service references into Purview assets.

A run record is resolved once per run: definitions are looked up by name, every distinct (dataset, parameter values)
pair is resolved once, and every distinct (linked service, parameter values) pair once, so a ForEach of thousands of
iterations costs one dictionary look-up per iteration that repeats an earlier one. Expressions are parsed once per
distinct text by the expression module itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lineage import stores
from lineage.config import LineageOptions
from lineage.expressions import ExpressionError, Scope, Unresolvable, canonical, is_expression, resolve
from lineage.model import Skip
from lineage.pipeline import activities_by_name
from lineage.runrecord import RunRecord


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Deferred:
    """A parameter value that could not be resolved; it only matters if something reads it."""

    __slots__ = ("error",)

    def __init__(self, error: Unresolvable) -> None:
        self.error = error


class _Params(Mapping[str, Any]):
    """Parameter values where an unresolvable one raises only when it is actually read."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        if isinstance(value, _Deferred):
            raise value.error
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def key(self) -> str:
        """A hashable, order-independent identity of the values (for the caches)."""
        return json.dumps(
            {k: (f"<unresolved {v.error.reason}>" if isinstance(v, _Deferred) else v) for k, v in self._values.items()},
            sort_keys=True,
            default=str,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedDataset:
    """A dataset reference made concrete: its type, resolved typeProperties, and the store endpoint behind it."""

    name: str
    dataset_type: str
    props: Mapping[str, Any]
    endpoint: stores.Endpoint
    columns: tuple[str, ...] | None

    def asset(self, **location_overrides: Any) -> tuple[stores.Asset, stores.Location]:
        """The asset this dataset points at, optionally with location parts replaced (wildcards, tables of a query)."""
        loc = stores.location(self.dataset_type, self.props)
        if location_overrides:
            loc = dataclasses.replace(loc, **location_overrides)
        return stores.asset(self.endpoint, loc), loc


class RunResolver:
    """Everything about one run record that is computed once and shared by all its activity runs."""

    def __init__(self, record: RunRecord, options: LineageOptions) -> None:
        self.record = record
        self.options = options
        pipeline = record.pipelines.get(record.pipeline_name)
        self.activities = activities_by_name(pipeline) if isinstance(pipeline, Mapping) else None
        self.base_scope = Scope(
            pipeline_parameters=_mapping(record.pipeline_run.get("parameters")),
            global_parameters=record.global_parameter_values(),
            system=record.system_variables(),
        )
        self._user_property_keys: dict[str, tuple[tuple[str, str], ...]] = {}
        self._datasets: dict[tuple[str, str], Any] = {}
        self._endpoints: dict[tuple[str, str], Any] = {}
        self._memo: dict[tuple[str, str], Any] = {}

    def memo(self, key: tuple[str, str], compute: Callable[[], Any]) -> Any:
        """Compute once per run what every run of one activity shares (a parsed script or package).

        A failure is remembered too, so a broken definition costs one parse, not one per iteration.
        """
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except Exception as exc:  # noqa: BLE001 - kept and re-raised below, for every run that asks
                self._memo[key] = _Failed(exc)
        value = self._memo[key]
        if isinstance(value, _Failed):
            raise value.error
        return value

    def definition(self, activity_name: str) -> Mapping[str, Any]:
        """The activity's definition in the pipeline the run executed."""
        if self.activities is None:
            raise Skip(f"the run record holds no definition of pipeline {self.record.pipeline_name!r}")
        activity = self.activities.get(activity_name)
        if activity is None:
            raise Skip(f"activity {activity_name!r} is not in the pipeline definition (changed since the run?)")
        return activity

    def scope_for(self, definition: Mapping[str, Any], run: Mapping[str, Any]) -> Scope:
        """The pipeline scope plus values the run's ``userProperties`` supply for run-time-only expressions."""
        keys = self._user_property_keys.get(str(definition.get("name")))
        if keys is None:
            keys = _user_property_keys(definition)
            self._user_property_keys[str(definition.get("name"))] = keys
        values = run.get("userProperties")
        if not keys or not isinstance(values, Mapping):
            return self.base_scope
        overrides = {key: values[name] for name, key in keys if name in values}
        return dataclasses.replace(self.base_scope, overrides=overrides) if overrides else self.base_scope

    def dataset(self, reference: Any, scope: Scope) -> ResolvedDataset:
        """Resolve a DatasetReference (name and parameters) in the activity's scope."""
        resolved: ResolvedDataset = self._cached(self._datasets, "dataset", self.record.datasets,
                                                 reference=reference, scope=scope, compute=self._resolve_dataset)
        return resolved

    def linked_service(self, reference: Any, scope: Scope) -> stores.Endpoint:
        """Resolve a LinkedServiceReference to the store endpoint it connects to (host, account, database)."""
        endpoint: stores.Endpoint = self._cached(self._endpoints, "linked service", self.record.linked_services,
                                                 reference=reference, scope=scope,
                                                 compute=self._resolve_linked_service)
        return endpoint

    def _cached(self, cache: dict[tuple[str, str], Any], kind: str, definitions: Mapping[str, Any], *,
                reference: Any, scope: Scope, compute: Callable[[str, Mapping[str, Any], _Params], Any]) -> Any:
        """A reference's definition with its parameter values, resolved once per distinct values (failures too)."""
        if not isinstance(reference, Mapping):
            raise Skip(f"{kind} reference is not an object")
        name = resolve_text(reference.get("referenceName"), scope, f"{kind} reference name")
        definition = definitions.get(name)
        if not isinstance(definition, Mapping):
            raise Skip(f"{kind} {name!r} is not in the run record")
        props = _mapping(definition.get("properties"))
        params = _params(reference.get("parameters"), props.get("parameters"), scope)
        key = (name, params.key())
        if key not in cache:
            try:
                cache[key] = compute(name, props, params)
            except stores.StoreError as exc:
                cache[key] = Skip(f"{kind} {name!r}: {exc}")
            except Skip as skip:
                cache[key] = skip
        value = cache[key]
        if isinstance(value, Skip):
            raise value
        return value

    def _resolve_linked_service(self, name: str, props: Mapping[str, Any], params: _Params) -> stores.Endpoint:
        ls_scope = dataclasses.replace(self.base_scope, linked_service=params)
        type_props = _resolve_mapping(props.get("typeProperties"), ls_scope, f"linked service {name!r}")
        return stores.endpoint(str(props.get("type")), type_props, name, self.options.stores)

    def _resolve_dataset(self, name: str, props: Mapping[str, Any], params: _Params) -> ResolvedDataset:
        ds_scope = dataclasses.replace(self.base_scope, dataset=params)
        type_props = _resolve_mapping(props.get("typeProperties"), ds_scope, f"dataset {name!r}")
        endpoint = self.linked_service(props.get("linkedServiceName"), ds_scope)
        return ResolvedDataset(
            name=name,
            dataset_type=str(props.get("type")),
            props=type_props,
            endpoint=endpoint,
            columns=_schema_columns(props),
        )


def _user_property_keys(definition: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(property name, canonical expression) for each userProperty whose definition is an expression."""
    keys: list[tuple[str, str]] = []
    for prop in definition.get("userProperties") or ():
        if not isinstance(prop, Mapping) or not isinstance(prop.get("name"), str):
            continue
        value = prop.get("value")
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, str) and is_expression(value):
            try:
                keys.append((prop["name"], canonical(value)))
            except ExpressionError:
                continue  # a broken userProperty only loses its help in resolving; the activity is still processed
    return tuple(keys)


def _params(given: Any, declared: Any, scope: Scope) -> _Params:
    """Reference parameters resolved in the caller's scope, then the definition's defaults for the rest."""
    values: dict[str, Any] = {}
    for key, value in _mapping(given).items():
        try:
            values[key] = resolve(value, scope)
        except Unresolvable as exc:
            values[key] = _Deferred(exc)
        except ExpressionError as exc:
            raise Skip(f"parameter {key!r}: {exc}") from exc
    for key, spec in _mapping(declared).items():
        if key not in values and isinstance(spec, Mapping) and "defaultValue" in spec:
            values[key] = spec["defaultValue"]
    return _Params(values)


def _resolve_mapping(value: Any, scope: Scope, what: str) -> Mapping[str, Any]:
    try:
        resolved = resolve(_mapping(value), scope)
    except Unresolvable as exc:
        raise Skip(f"unresolvable expression in {what}: {exc.reason}") from exc
    except ExpressionError as exc:
        raise Skip(f"broken expression in {what}: {exc}") from exc
    return resolved if isinstance(resolved, Mapping) else {}


def resolve_text(value: Any, scope: Scope, what: str) -> str:
    """A value that must resolve to non-empty text (a name, a parameter value); Skip with the reason otherwise."""
    try:
        resolved = resolve(value, scope)
    except Unresolvable as exc:
        raise Skip(f"unresolvable {what}: {exc.reason}") from exc
    except ExpressionError as exc:
        raise Skip(f"broken expression in {what}: {exc}") from exc
    if isinstance(resolved, bool) or not isinstance(resolved, str | int | float) or resolved == "":
        raise Skip(f"{what} is missing")
    return str(resolved)


def _schema_columns(props: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Column names a dataset declares (``schema``, or the legacy ``structure``), if it declares any."""
    for key in ("schema", "structure"):
        columns = props.get(key)
        if isinstance(columns, list) and columns:
            names = tuple(c["name"] for c in columns if isinstance(c, Mapping) and isinstance(c.get("name"), str))
            if names:
                return names
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
