"""Finding an activity's definition in a pipeline, however deeply it is nested.

Activity names are unique within a pipeline, including inside ForEach, Until, If Condition and Switch, which is what
lets every activity run (each loop iteration is one, all with the same name) find its definition by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Where container activities keep their children (typeProperties keys; Switch also nests under cases[]).
_CHILD_LISTS = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def activities_by_name(pipeline: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every activity of a pipeline body (GET pipelines/{name}), nested ones included, keyed by name."""
    return {str(activity["name"]): activity for activity in _walk(_top(pipeline))
            if isinstance(activity.get("name"), str)}


def enclosing_loops(pipeline: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], ...]]:
    """For every activity inside a ForEach (at any depth, through If / Switch / Until too): the ForEach activities
    around it, outermost first. An activity in no loop is not in the result."""
    found: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for activity, loops in _walk_with_loops(_top(pipeline)):
        if loops and isinstance(activity.get("name"), str):
            found[str(activity["name"])] = loops
    return found


def _top(pipeline: Mapping[str, Any]) -> Any:
    props = pipeline.get("properties", pipeline)
    return props.get("activities", []) if isinstance(props, Mapping) else []


def _walk(activities: Any) -> Iterator[Mapping[str, Any]]:
    for activity, _ in _walk_with_loops(activities):
        yield activity


def _walk_with_loops(activities: Any) -> Iterator[tuple[Mapping[str, Any], tuple[Mapping[str, Any], ...]]]:
    stack: list[tuple[Any, tuple[Mapping[str, Any], ...]]] = [
        (a, ()) for a in reversed(activities)] if isinstance(activities, list) else []
    while stack:
        activity, loops = stack.pop()
        if not isinstance(activity, Mapping):
            continue
        yield activity, loops
        props = activity.get("typeProperties")
        if not isinstance(props, Mapping):
            continue
        inner = (*loops, activity) if activity.get("type") == "ForEach" else loops
        children: list[Any] = []
        for key in _CHILD_LISTS:
            if isinstance(props.get(key), list):
                children.extend(props[key])
        for case in props.get("cases", []) if isinstance(props.get("cases"), list) else []:
            if isinstance(case, Mapping) and isinstance(case.get("activities"), list):
                children.extend(case["activities"])
        stack.extend((child, inner) for child in reversed(children))
