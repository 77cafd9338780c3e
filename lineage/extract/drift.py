"""Definition drift: lineage is built from the definitions read back after the run, which may have changed since.

A pipeline or dataset edited between the run and its processing (or a backfill of a 40-day-old run) would give
today's lineage for yesterday's run. Where the run shows it, that is detected: an activity run's ``input`` is its
evaluated ``typeProperties``, so a setting the current definition gives (a query, a table option, a wildcard) that
differs from what the run used means the definition changed. Only what the definition states and the run shows is
compared (the service adds defaults of its own to the input); values that depend on the ForEach item are compared
by the iteration matching instead. A changed activity type is drift too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lineage.extract.expressions import ExpressionError, Scope, Unresolvable, is_expression, resolve

DRIFT = "definition drift"  # every drift reason starts with this, so reports can count them
_MAX_DEPTH = 16


def type_drift(definition: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    """The activity's type changed since the run."""
    now, then = definition.get("type"), run.get("activityType")
    if now != then and isinstance(now, str) and isinstance(then, str) and now.lower() != then.lower():
        return f"{DRIFT}: the activity is a {now} in today's definition but ran as a {then}"
    return None


Stated = tuple[tuple[tuple[str, ...], Any, bool], ...]


def stated_settings(definition: Mapping[str, Any]) -> Stated:
    """(path, value, whether it is an expression) of every setting the definition's typeProperties state, leaving
    out expressions of the ForEach item (the iteration matching compares those): read once per activity and run."""
    props = definition.get("typeProperties")
    if not isinstance(props, Mapping):
        return ()
    stated = []
    for path, value in _leaves(props):
        expression = is_expression(value)
        if not (expression and "item()" in json.dumps(value).lower().replace(" ", "")):
            stated.append((path, value, expression))
    return tuple(stated)


def settings_drift(stated: Stated, run: Mapping[str, Any], scope: Callable[[], Scope]) -> str | None:
    """The first stated setting that differs from what the run's input shows, or None. ``scope`` is asked for only
    where a stated setting is an expression (most are plain values)."""
    shown = run.get("input")
    if not stated or (type(shown) is not dict and not isinstance(shown, Mapping)):
        return None
    evaluated_in: Scope | None = None
    for path, stated_value, expression in stated:
        used = _at(shown, path)
        if used is _MISSING:
            continue
        value = stated_value
        if expression:
            evaluated_in = evaluated_in or scope()
            try:
                value = resolve(stated_value, evaluated_in)
            except (Unresolvable, ExpressionError):
                continue
        if _same(value, used):
            continue
        # Named, never quoted: a setting may be a query, and a reason must not carry what a query holds.
        return (f"{DRIFT}: typeProperties.{'.'.join(path)} in today's definition differs from what the run used; "
                "the lineage follows today's definition")
    return None


_MISSING = object()


def _leaves(value: Any, path: tuple[str, ...] = (), depth: int = 0) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every setting: plain values, and expressions as a whole."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping) and not is_expression(value):
        for key, inner in value.items():
            if key != "activities":  # a container's children are activities of their own
                yield from _leaves(inner, (*path, str(key)), depth + 1)
    elif not isinstance(value, list):
        yield path, value


def _at(value: Any, path: tuple[str, ...]) -> Any:
    try:  # asked for every stated setting of every run: no type check per step (a list or text refuses a str key)
        for key in path:
            value = value[key]
    except (KeyError, TypeError, IndexError):
        return _MISSING
    return value


def _same(a: Any, b: Any) -> bool:
    if a == b and type(a) is type(b):
        return True
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b or str(a).lower() == str(b).lower()
    if isinstance(a, int | float) and isinstance(b, int | float | str):
        return str(a) == str(b).strip() or _number(b) == a
    if isinstance(b, int | float) and isinstance(a, str):
        return _same(b, a)
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError, OverflowError):
        return None

