"""The lineage graph as a Mermaid flowchart, for people who would rather look than read JSON.

Drawn from the entities themselves (operations and the assets they read and write), so it shows exactly what would
be pushed to Purview and nothing the entities do not say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_OPERATION_SUFFIX = "_operation"


def flowchart(entities: Iterable[Mapping[str, Any]]) -> str:
    """``flowchart LR``: assets as rounded nodes, operations as boxes named after their activity. When the
    operations belong to more than one pipeline, each pipeline's are drawn in a box of their own (a subgraph), with
    the assets between them: one graph of many runs still shows which pipeline moved what."""
    entities = list(entities)
    operations = [e for e in entities if str(e.get("typeName", "")).endswith(_OPERATION_SUFFIX)]
    ids: dict[tuple[str, str], str] = {}
    assets: list[str] = []
    steps: dict[str, list[str]] = {}  # pipeline qualifiedName -> its operations' nodes

    def node(type_name: str, qualified_name: str, label: str, into: list[str], shape: str) -> str:
        key = (type_name, qualified_name)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            opening, closing = ("([", "])") if shape == "asset" else ("[", "]")
            into.append(f'{ids[key]}{opening}"{label}"{closing}')
        return ids[key]

    names = {(e["typeName"], e["attributes"]["qualifiedName"]): e["attributes"].get("name") for e in entities}
    drawn = {(t["typeName"], t["uniqueAttributes"]["qualifiedName"]) for op in operations
             for direction in ("inputs", "outputs") for t in op["attributes"].get(direction, [])}
    shared = _shared_names({key: names.get(key) or key[1] for key in drawn})
    edges: list[str] = []
    order: list[str] = []  # node definitions in the order they were first met (one pipeline: no boxes)
    for op in operations:
        attrs = op["attributes"]
        kind = op["typeName"].removeprefix("adf_").removesuffix(_OPERATION_SUFFIX)
        pipeline = str(attrs["qualifiedName"]).split("/activities/", 1)[0]
        before = len(ids)
        op_id = node(op["typeName"], attrs["qualifiedName"], _escape(f"{attrs['name']} ({kind})"),
                     steps.setdefault(pipeline, []), "operation")
        if len(ids) > before:
            order.append(steps[pipeline][-1])
        for direction in ("inputs", "outputs"):
            for target in attrs.get(direction, []):
                type_name, qn = target["typeName"], target["uniqueAttributes"]["qualifiedName"]
                short = names.get((type_name, qn)) or qn
                if short in shared:  # two assets of one name: their place tells them apart
                    short = f"{_place(qn)}/{short}"
                label = f"{_escape(short)}<br/><small>{_escape(type_name)}</small>"
                before = len(ids)
                asset_id = node(type_name, qn, label, assets, "asset")
                if len(ids) > before:
                    order.append(assets[-1])
                edges.append(f"    {asset_id} --> {op_id}" if direction == "inputs" else f"    {op_id} --> {asset_id}")
    lines = ["flowchart LR"]
    if len(steps) > 1:
        for number, (pipeline, nodes) in enumerate(steps.items()):
            lines.append(f'    subgraph p{number}["{_escape(pipeline.rsplit("/pipelines/", 1)[-1])}"]')
            lines.extend(f"        {n}" for n in nodes)
            lines.append("    end")
        lines.extend(f"    {a}" for a in assets)
    else:
        lines.extend(f"    {n}" for n in order)
    if not operations:
        lines.append('    empty["no lineage in this run"]')
    return "\n".join([*lines, *edges]) + "\n"


def _shared_names(short: dict[tuple[str, str], str]) -> set[str]:
    seen: dict[str, int] = {}
    for name in short.values():
        seen[name] = seen.get(name, 0) + 1
    return {name for name, count in seen.items() if count > 1}


def _place(qualified_name: str) -> str:
    """The container, database or folder above an asset: the segment before its last one."""
    parts = qualified_name.split("://", 1)[-1].rstrip("/").split("/")
    return parts[-2] if len(parts) > 1 else parts[0]


def _escape(text: str) -> str:
    """Mermaid labels in double quotes take HTML entities: a quote or bracket in a name must not end the label."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
