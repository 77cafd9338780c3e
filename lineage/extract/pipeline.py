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
    props = pipeline.get("properties", pipeline)
    top = props.get("activities", []) if isinstance(props, Mapping) else []
    return {str(activity["name"]): activity for activity in _walk(top) if isinstance(activity.get("name"), str)}


def _walk(activities: Any) -> Iterator[Mapping[str, Any]]:
    stack = list(reversed(activities)) if isinstance(activities, list) else []
    while stack:
        activity = stack.pop()
        if not isinstance(activity, Mapping):
            continue
        yield activity
        props = activity.get("typeProperties")
        if not isinstance(props, Mapping):
            continue
        children: list[Any] = []
        for key in _CHILD_LISTS:
            if isinstance(props.get(key), list):
                children.extend(props[key])
        for case in props.get("cases", []) if isinstance(props.get("cases"), list) else []:
            if isinstance(case, Mapping) and isinstance(case.get("activities"), list):
                children.extend(case["activities"])
        stack.extend(reversed(children))
