"""The lineage graph as a Mermaid flowchart, for people who would rather look than read JSON.

Drawn from the entities themselves (operations and the assets they read and write), so it shows exactly what would
be pushed to Purview and nothing the entities do not say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_OPERATION_SUFFIX = "_operation"


def flowchart(entities: Iterable[Mapping[str, Any]]) -> str:
    """``flowchart LR``: assets as rounded nodes, operations as boxes named after their activity."""
    entities = list(entities)
    operations = [e for e in entities if str(e.get("typeName", "")).endswith(_OPERATION_SUFFIX)]
    ids: dict[tuple[str, str], str] = {}
    lines = ["flowchart LR"]

    def node(type_name: str, qualified_name: str, label: str, shape: str) -> str:
        key = (type_name, qualified_name)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            opening, closing = ("([", "])") if shape == "asset" else ("[", "]")
            lines.append(f'    {ids[key]}{opening}"{label}"{closing}')
        return ids[key]

    names = {(e["typeName"], e["attributes"]["qualifiedName"]): e["attributes"].get("name") for e in entities}
    edges: list[str] = []
    for op in operations:
        attrs = op["attributes"]
        kind = op["typeName"].removeprefix("adf_").removesuffix(_OPERATION_SUFFIX)
        op_id = node(op["typeName"], attrs["qualifiedName"], _escape(f"{attrs['name']} ({kind})"), "operation")
        for direction in ("inputs", "outputs"):
            for target in attrs.get(direction, []):
                type_name, qn = target["typeName"], target["uniqueAttributes"]["qualifiedName"]
                label = f"{_escape(names.get((type_name, qn)) or qn)}<br/><small>{_escape(type_name)}</small>"
                asset_id = node(type_name, qn, label, "asset")
                edges.append(f"    {asset_id} --> {op_id}" if direction == "inputs" else f"    {op_id} --> {asset_id}")
    if not operations:
        lines.append('    empty["no lineage in this run"]')
    return "\n".join([*lines, *edges]) + "\n"


def _escape(text: str) -> str:
    """Mermaid labels in double quotes take HTML entities: a quote or bracket in a name must not end the label."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
