"""Turning one run's dataset and linked-service references into Purview assets.

A run record is resolved once per run: definitions are looked up by name, every distinct (dataset, parameter values)
pair is resolved once, and every distinct (linked service, parameter values) pair once, so a ForEach of thousands of
iterations costs one dictionary look-up per iteration that repeats an earlier one. What a definition says whatever
its parameter values (declared defaults, schema, a linked service named without expressions, the parts of its
typeProperties without expressions) is read once per run, so an iteration that does not repeat an earlier one only
evaluates what depends on its values. Expressions are parsed once per distinct text by the expression module itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from lineage.extract import stores
from lineage.extract.config import LineageOptions
from lineage.extract.drift import DRIFT
from lineage.extract.expressions import (
    EMPTY,
    MAX_DEPTH,
    NO_ITEM,
    ExpressionError,
    Scope,
    Unresolvable,
    canonical,
    is_expression,
    prepared,
    resolve,
)
from lineage.extract.jsontext import mapping
from lineage.extract.loops import Iterations, run_outputs, run_variables
from lineage.extract.model import Skip
from lineage.extract.pipeline import activities_by_name
from lineage.extract.runrecord import RunRecord
from lineage.extract.stores.linked_services import visible_properties

_Key = tuple[str, frozenset[tuple[str, ...]]]  # a definition's name and its parameter values


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

    def __contains__(self, key: object) -> bool:
        """As Mapping's (reading a deferred value raises), without its look-up by exception."""
        if key not in self._values:
            return False
        self[key]  # a deferred value raises
        return True

    def key(self) -> frozenset[tuple[str, ...]]:
        """A hashable, order-independent identity of the values (for the caches).

        Text values, nearly all of them, stand for themselves; any other value by its JSON text, tagged so that
        ``"1"`` and ``1`` (or a value and an unresolved one) never share a cache entry.
        """
        items: list[tuple[str, ...]] = []
        for k, v in self._values.items():
            if type(v) is str:
                items.append((k, v))
            elif isinstance(v, _Deferred):
                items.append((k, "unresolved", v.error.reason))
            else:
                items.append((k, "json", json.dumps(v, sort_keys=True, default=str)))
        return frozenset(items)


class ResolvedDataset(NamedTuple):
    """A dataset reference made concrete: its type, resolved typeProperties, and the store endpoint behind it.

    A named tuple: immutable, and cheaper to make than a frozen dataclass (one per dataset per ForEach iteration).
    """

    name: str
    dataset_type: str
    props: Mapping[str, Any]
    endpoint: stores.Endpoint
    columns: tuple[str, ...] | None

    def location(self, **overrides: Any) -> stores.Location:
        """Where this dataset points in its store, optionally with parts replaced (wildcards, tables of a query)."""
        loc = stores.location(self.dataset_type, self.props)
        return loc._replace(**overrides) if overrides else loc

    def asset(self, **location_overrides: Any) -> stores.Asset:
        """The asset this dataset points at."""
        return stores.asset(self.endpoint, self.location(**location_overrides))


class RunResolver:
    """Everything about one run record that is computed once and shared by all its activity runs."""

    def __init__(self, record: RunRecord, options: LineageOptions) -> None:
        self.record = record
        self.options = options
        pipeline = record.pipelines.get(record.pipeline_name)
        self.activities = activities_by_name(pipeline) if isinstance(pipeline, Mapping) else None
        self.base_scope = Scope(
            pipeline_parameters=_pipeline_parameters(record.pipeline_run, pipeline),
            global_parameters=record.global_parameter_values(),
            system=record.system_variables(),
            activity_outputs=run_outputs(record.activity_runs),
            variables=run_variables(pipeline if isinstance(pipeline, Mapping) else None, record.activity_runs),
        )
        self.iterations = Iterations(pipeline if isinstance(pipeline, Mapping) else None, record.activity_runs,
                                     self.base_scope)
        self._user_property_keys: dict[str, tuple[tuple[str, str], ...]] = {}
        self._datasets: dict[_Key, Any] = {}
        self._endpoints: dict[_Key, Any] = {}
        self._memo: dict[tuple[str, str], Any] = {}
        self._declared: dict[tuple[str, str], _Declared] = {}

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
            raise value.error.with_traceback(None)  # raised once per iteration: its traceback must not grow
        return value

    def definition(self, activity_name: str) -> Mapping[str, Any]:
        """The activity's definition in the pipeline the run executed."""
        if self.activities is None:
            raise Skip(f"the run record holds no definition of pipeline {self.record.pipeline_name!r}")
        activity = self.activities.get(activity_name)
        if activity is None:
            raise Skip(f"{DRIFT}: activity {activity_name!r} is no longer in the pipeline's definition")
        return activity

    def scope_for(self, definition: Mapping[str, Any], run: Mapping[str, Any],
                  notes: list[str] | None = None) -> Scope:
        """The pipeline scope, with the run's ForEach item (from the run record, ``loops``) and the values its
        ``userProperties`` supply for run-time-only expressions (they win where both are given). How the item was
        found, where it is not exact, goes to ``notes``."""
        keys = self._user_property_keys.get(str(definition.get("name")))
        if keys is None:
            keys = _user_property_keys(definition)
            self._user_property_keys[str(definition.get("name"))] = keys
        values = run.get("userProperties")
        overrides: dict[str, Any] = {}
        if keys and (type(values) is dict or isinstance(values, Mapping)):
            overrides = {key: values[name] for name, key in keys if name in values}
        iteration = self.iterations.of(definition, run)
        if iteration.note is not None and notes is not None and not overrides:
            notes.append(iteration.note)
        if iteration.item is NO_ITEM:
            return self._scope(overrides=overrides) if overrides else self.base_scope
        return self.base_scope._replace(overrides=overrides, item=iteration.item)

    def _scope(self, *, dataset: Mapping[str, Any] | None = None, linked_service: Mapping[str, Any] | None = None,
               overrides: Mapping[str, Any] = EMPTY) -> Scope:
        """The pipeline scope with one addition (``dataclasses.replace`` costs more than the rest of a look-up)."""
        base = self.base_scope
        return Scope(base.pipeline_parameters, base.global_parameters, base.system, dataset, linked_service,
                     base.activity_outputs, overrides, base.variables)

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

    def _cached(self, cache: dict[_Key, Any], kind: str, definitions: Mapping[str, Any], *,
                reference: Any, scope: Scope, compute: Callable[[str, _Declared, _Params], Any]) -> Any:
        """A reference's definition with its parameter values, resolved once per distinct values (failures too)."""
        if type(reference) is not dict and not isinstance(reference, Mapping):
            raise Skip(f"{kind} reference is not an object")
        name = reference.get("referenceName")
        if type(name) is not str or not name or "@" in name:  # a plain name is its own value
            name = resolve_text(name, scope, f"{kind} reference name")
        declared = self._declared.get((kind, name))
        if declared is None:
            definition = definitions.get(name)
            if not isinstance(definition, Mapping):
                raise Skip(f"{kind} {name!r} is not in the run record")
            props = mapping(definition.get("properties"))
            declared = self._declared[kind, name] = _Declared(props, mapping(props.get("parameters")))
        params = _params(reference.get("parameters"), declared, scope)
        key = (name, params.key())
        value = cache.get(key)
        if value is None:
            try:
                value = compute(name, declared, params)
            except stores.StoreError as exc:
                value = Skip(f"{kind} {name!r}: {exc}")
            except Skip as skip:
                value = skip
            cache[key] = value
        if isinstance(value, Skip):
            raise value.with_traceback(None)  # raised again and again: its traceback must not grow each time
        return value

    def _resolve_linked_service(self, name: str, declared: _Declared, params: _Params) -> stores.Endpoint:
        props = declared.props
        ls_scope = self._scope(linked_service=params)
        visible = visible_properties(mapping(props.get("typeProperties")))  # secrets out before evaluating
        type_props = _resolve_mapping(prepared(visible), ls_scope, "linked service", name)
        return stores.endpoint(str(props.get("type")), type_props, name, self.options.stores)

    def _resolve_dataset(self, name: str, declared: _Declared, params: _Params) -> ResolvedDataset:
        if declared.type_properties is None:
            declared.type_properties = prepared(mapping(declared.props.get("typeProperties")))
        ds_scope = self._scope(dataset=params)
        type_props = _resolve_mapping(declared.type_properties, ds_scope, "dataset", name)
        return ResolvedDataset(
            name=name,
            dataset_type=declared.type,
            props=type_props,
            endpoint=self._linked_endpoint(declared, ds_scope),
            columns=declared.columns,
        )

    def _linked_endpoint(self, dataset: _Declared, scope: Scope) -> stores.Endpoint:
        """A dataset's linked service. A reference without expressions names the same one whatever the dataset's
        parameters, so a ForEach over one dataset looks it up once, not once per iteration."""
        reference = dataset.props.get("linkedServiceName")
        if not dataset.constant_link:
            return self.linked_service(reference, scope)
        if dataset.endpoint is None:
            try:
                dataset.endpoint = self.linked_service(reference, scope)
            except Skip as skip:
                dataset.endpoint = skip
        if isinstance(dataset.endpoint, Skip):
            raise dataset.endpoint.with_traceback(None)
        return dataset.endpoint


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


def _pipeline_parameters(run: Mapping[str, Any], pipeline: Any) -> Mapping[str, Any]:
    """The run's parameter values; those the pipeline declares SecureString can never be read."""
    declared = mapping(mapping(mapping(pipeline).get("properties")).get("parameters"))
    values: dict[str, Any] = dict(mapping(run.get("parameters")))
    for key in _secure(declared):
        values[key] = _Deferred(Unresolvable(f"pipeline().parameters.{key} is a SecureString: its value is never "
                                             "used", f"pipeline().parameters.{key}"))
    return _Params(values)


def _secure(declared: Mapping[str, Any]) -> list[str]:
    """The names of the declared parameters of type SecureString."""
    return [str(key) for key, spec in declared.items()
            if isinstance(spec, Mapping) and str(spec.get("type")).lower() == "securestring"]


class _Declared:
    """What a dataset's or linked service's definition says whatever its parameter values, read once per run."""

    __slots__ = ("columns", "constant_link", "defaults", "endpoint", "props", "secure", "type", "type_properties")

    def __init__(self, props: Mapping[str, Any], declared: Mapping[str, Any]) -> None:
        self.props = props
        self.type = str(props.get("type"))
        self.secure = _secure(declared)
        self.defaults = {key: spec["defaultValue"] for key, spec in declared.items()
                         if isinstance(spec, Mapping) and "defaultValue" in spec}
        self.columns = _schema_columns(props)
        self.type_properties: Callable[[Scope], Any] | None = None  # a dataset's, prepared when first resolved
        self.constant_link = _constant(props.get("linkedServiceName"))  # datasets only
        self.endpoint: stores.Endpoint | Skip | None = None  # of that constant link, once resolved


def _constant(value: Any, depth: int = 0) -> bool:
    """Whether a JSON value holds no expression, so that it resolves to the same value in every scope."""
    if depth > MAX_DEPTH:
        return False  # resolved as any other value, which refuses it
    if isinstance(value, str):
        return "@" not in value
    if isinstance(value, Mapping):
        return value.get("type") != "Expression" and all(_constant(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_constant(v, depth + 1) for v in value)
    return True


def _params(given: Any, declared: _Declared, scope: Scope) -> _Params:
    """Reference parameters resolved in the caller's scope, then the definition's defaults for the rest.

    A parameter declared SecureString is never read, whatever value it is given.
    """
    values: dict[str, Any] = {}
    for key in declared.secure:
        values[key] = _Deferred(Unresolvable(f"parameter {key} is a SecureString: its value is never used"))
    for key, value in mapping(given).items():
        if key in values:
            continue
        try:
            values[key] = resolve(value, scope)
        except Unresolvable as exc:
            values[key] = _Deferred(exc)
        except ExpressionError as exc:
            raise Skip(f"parameter {key!r}: {exc}") from exc
    for key, default in declared.defaults.items():
        if key not in values:
            values[key] = default
    return _Params(values)


def _resolve_mapping(value: Callable[[Scope], Any], scope: Scope, kind: str, name: str) -> Mapping[str, Any]:
    try:
        resolved = value(scope)
    except Unresolvable as exc:
        raise Skip(f"unresolvable expression in {kind} {name!r}: {exc.reason}") from exc
    except ExpressionError as exc:
        raise Skip(f"broken expression in {kind} {name!r}: {exc}") from exc
    return mapping(resolved)


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

