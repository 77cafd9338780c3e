"""ForEach iterations from the run record: which item each iteration's activity run processed.

Most ForEach loops iterate over a Lookup's ``output.value``, a Get Metadata's ``output.childItems``, a Filter's
output, a parameter or a variable, and pass ``@item()...`` into dataset parameters. The item of an iteration is in no
activity run, but the items are: the loop's ``items`` expression evaluates against the outputs of the activities that
ran before it and the variables Set / Append Variable runs set (their ``input`` holds the value).

Which run processed which item is then read from the run where the run shows it: a Copy run's ``input`` is its
evaluated ``typeProperties``, so where the definition's typeProperties depend on ``item()`` (a query, a wildcard, a
table option), the item whose evaluation equals the run's input is the run's (items are indexed by those values, so
matching is linear). Where no input tells the items apart, runs are paired with items in start order: exact for a
sequential loop; for a parallel one the set of (source, sink) pairs is still exact, but not which run did which, and
the run's row says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lineage.extract.expressions import NO_ITEM, ExpressionError, Scope, Unresolvable, resolve
from lineage.extract.pipeline import enclosing_loops

MAX_ITEMS = 100_000  # Data Factory runs at most 100,000 ForEach iterations
_ITEM_CALL = "item()"


Signature = str | tuple[str, ...]  # see _signature


@dataclass(frozen=True, slots=True)
class Iteration:
    """The item of one activity run, or why it is not known (``note`` is also set when the match is by order)."""

    item: Any = NO_ITEM
    note: str | None = None


_NOT_LOOPED = Iteration()


@dataclass(slots=True)
class _Plan:
    """One looped activity: its items, their index by the values the run's input shows, its runs in start order."""

    items: list[Any] = field(default_factory=list)
    paths: tuple[tuple[str, ...], ...] = ()
    by_signature: dict[Signature, list[int]] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)  # activityRunId -> rank among the succeeded runs
    sequential: bool = False
    unknown: Iteration | None = None  # the same answer for every run: why its item is not known
    mismatch: Iteration | None = None  # runs and items differ in number: the answer where the input does not match
    used: bool = True  # whether the activity's definition reads item() at all


def run_outputs(activity_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``activity('X').output`` for every activity that ran once: one ran many times (in a loop) is ambiguous."""
    counts: dict[str, int] = {}
    outputs: dict[str, Any] = {}
    for run in activity_runs:
        name = run.get("activityName")
        if isinstance(name, str) and run.get("status") == "Succeeded":
            counts[name] = counts.get(name, 0) + 1
            outputs[name] = run.get("output")
    return {name: output for name, output in outputs.items() if counts[name] == 1}


def run_variables(pipeline: Mapping[str, Any] | None, activity_runs: Sequence[Mapping[str, Any]],
                  before: str | None = None) -> dict[str, Any]:
    """Pipeline variables as the run set them: declared defaults, then Set Variable and Append Variable runs in the
    order they ended (those that ended before ``before``, an ISO time, when it is given)."""
    props = pipeline.get("properties", pipeline) if isinstance(pipeline, Mapping) else {}
    declared = props.get("variables") if isinstance(props, Mapping) else None
    values: dict[str, Any] = {}
    for name, spec in declared.items() if isinstance(declared, Mapping) else ():
        if isinstance(spec, Mapping) and "defaultValue" in spec:
            values[str(name)] = spec["defaultValue"]
    changes = sorted((run for run in activity_runs if run.get("status") == "Succeeded"
                      and run.get("activityType") in ("SetVariable", "AppendVariable")),
                     key=lambda run: (str(run.get("activityRunEnd") or ""), str(run.get("activityRunId"))))
    for run in changes:
        end = str(run.get("activityRunEnd") or "")
        if before is not None and end and end > before:
            break
        given = run.get("input")
        if not isinstance(given, Mapping) or not isinstance(given.get("variableName"), str) or "value" not in given:
            continue
        name = given["variableName"]
        if run["activityType"] == "SetVariable":
            values[name] = given["value"]
        else:
            current = values.get(name)
            values[name] = [*(current if isinstance(current, list) else []), given["value"]]
    return values


class Iterations:
    """The items of every looped activity of one run, worked out once per activity and shared by its runs."""

    def __init__(self, pipeline: Mapping[str, Any] | None, activity_runs: Sequence[Mapping[str, Any]],
                 base: Scope) -> None:
        self._loops = enclosing_loops(pipeline) if isinstance(pipeline, Mapping) else {}
        self._pipeline = pipeline
        self._runs = activity_runs
        self._base = base
        self._plans: dict[str, _Plan] = {}
        self._loop_starts: dict[str, str] | None = None

    def in_loop(self, activity_name: str) -> bool:
        return activity_name in self._loops

    def of(self, definition: Mapping[str, Any], run: Mapping[str, Any]) -> Iteration:
        """The item of this run of a looped activity (``NO_ITEM`` outside loops)."""
        name = str(definition.get("name"))
        if name not in self._loops:
            return _NOT_LOOPED
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = self._plan(name, definition) if _uses_item(definition) else _Plan(used=False)
        if not plan.used:  # in a loop, but reads nothing of the item: every run is the same
            return _NOT_LOOPED
        if plan.unknown is not None:
            return plan.unknown
        if plan.paths:
            signature = _signature(_input_values(run, plan.paths))
            matches = plan.by_signature.get(signature) if signature is not None else None
            if matches is not None and (len(matches) == 1 or len({_json(plan.items[i]) for i in matches}) == 1):
                return Iteration(plan.items[matches[0]])
        rank = plan.order.get(str(run.get("activityRunId")))
        if rank is None or plan.mismatch is not None:
            return plan.mismatch or _mismatch(plan)
        if plan.sequential:
            return Iteration(plan.items[rank], "item matched by run order (a sequential ForEach)")
        return Iteration(plan.items[rank], "item paired by run order: the runs' input does not tell the ForEach's "
                                           "items apart, so which run processed which is not known (the set of "
                                           "sources and sinks is)")

    def _plan(self, name: str, definition: Mapping[str, Any]) -> _Plan:
        loops = self._loops[name]
        plan = _Plan(sequential=all(_props(loop).get("isSequential") is True for loop in loops))
        try:
            plan.items = self._items(loops)
        except (Unresolvable, ExpressionError) as exc:
            reason = exc.reason if isinstance(exc, Unresolvable) else str(exc)
            plan.unknown = Iteration(
                note=f"the items of ForEach {loops[-1].get('name')!r} are not known from the run: {reason}")
            return plan
        plan.paths = tuple(_item_paths(_props(definition)))
        if plan.paths:
            for index, item in enumerate(plan.items):
                scope = self._base._replace(item=item)
                try:
                    values = [resolve(_at(_props(definition), path), scope) for path in plan.paths]
                except (Unresolvable, ExpressionError):
                    continue
                signature = _signature(values)
                if signature is not None:
                    plan.by_signature.setdefault(signature, []).append(index)
        runs = sorted((str(r.get("activityRunStart") or ""), str(r.get("activityRunId")))
                      for r in self._runs if r.get("activityName") == name and r.get("status") == "Succeeded")
        plan.order = {run_id: rank for rank, (_, run_id) in enumerate(runs)}
        if len(plan.order) != len(plan.items):  # runs and items cannot be paired by order: one answer for all
            plan.mismatch = _mismatch(plan)
            if not plan.paths:  # nor told apart by their input
                plan.unknown = plan.mismatch
        return plan

    def _items(self, loops: tuple[Mapping[str, Any], ...]) -> list[Any]:
        """The innermost loop's items; an inner loop's ``items`` evaluated once per item of the loop around it."""
        current: list[Any] = [NO_ITEM]
        for loop in loops:
            scope = self._base._replace(variables=self._variables_at(loop))
            expression = _props(loop).get("items")
            found: list[Any] = []
            for outer in current:
                value = resolve(expression, scope._replace(item=outer))
                if isinstance(value, str) and value[:1] == "[":
                    try:
                        value = json.loads(value)  # an array parameter arrives JSON-encoded
                    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                        raise ExpressionError(f"items are not an array: {exc}") from exc
                if not isinstance(value, list):
                    raise ExpressionError(f"items evaluate to a {type(value).__name__}, not an array")
                found.extend(value)
                if len(found) > MAX_ITEMS:
                    raise ExpressionError(f"more than {MAX_ITEMS:,} items")
            current = found
        return current

    def _variables_at(self, loop: Mapping[str, Any]) -> Mapping[str, Any]:
        """Variables as the loop saw them when it started (its own run's start, where the record has it)."""
        if self._loop_starts is None:
            self._loop_starts = {str(r.get("activityName")): str(r.get("activityRunStart") or "")
                                 for r in self._runs if r.get("activityType") == "ForEach"}
        start = self._loop_starts.get(str(loop.get("name"))) or None
        return run_variables(self._pipeline, self._runs, before=start)


def _mismatch(plan: _Plan) -> Iteration:
    return Iteration(note=f"the ForEach has {len(plan.items)} item(s) and {len(plan.order)} succeeded run(s) of this "
                          "activity, and the runs' input does not tell which item each processed")


def _uses_item(definition: Mapping[str, Any]) -> bool:
    return _ITEM_CALL in json.dumps(definition, default=str).lower().replace(" ", "")


def _props(activity: Mapping[str, Any]) -> Mapping[str, Any]:
    props = activity.get("typeProperties")
    return props if isinstance(props, Mapping) else {}


def _item_paths(value: Any, path: tuple[str, ...] = (), depth: int = 0) -> list[tuple[str, ...]]:
    """Where a definition's typeProperties depend on ``item()``: those values identify an iteration."""
    if depth > 16:
        return []
    if isinstance(value, str):
        return [path] if "@" in value and _ITEM_CALL in value.lower().replace(" ", "") else []
    if isinstance(value, Mapping):
        if value.get("type") == "Expression" and isinstance(value.get("value"), str):
            return [path] if _ITEM_CALL in value["value"].lower().replace(" ", "") else []
        return [p for key, inner in value.items() if key not in ("activities",)
                for p in _item_paths(inner, (*path, str(key)), depth + 1)]
    return []


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _input_values(run: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> list[Any] | None:
    given = run.get("input")
    if not isinstance(given, Mapping):
        return None
    values = [_at(given, path) for path in paths]
    return None if all(v is None for v in values) else values


def _signature(values: list[Any] | None) -> Signature | None:
    """What identifies an iteration's values, the same for a run's input and an item's evaluation: the texts
    themselves where they are all texts (the common case, and no encoding per run), else their JSON."""
    if values is None:
        return None
    if all(type(value) is str for value in values):
        return tuple(values)
    return _json(values)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
