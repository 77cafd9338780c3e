"""Planning bulk calls: placeholders for what a call creates, unique attributes for what already exists."""

from __future__ import annotations

from typing import Any

from lineage.azure.purview import plan_batches
from lineage.extract.entities import ref

ACT = ("adf_copy_activity", "/f/pipelines/p/activities/A")


def entity(type_name: str, qn: str, **extra: Any) -> dict[str, Any]:
    return {"typeName": type_name, "attributes": {"qualifiedName": qn, "name": qn, **extra.pop("attrs", {})}, **extra}


def op(sink: str, *sources: str) -> dict[str, Any]:
    return entity("adf_copy_operation", f"{ACT[1]}#{sink}#azure_blob_path", attrs={
        "inputs": [ref("azure_blob_path", s) for s in sources], "outputs": [ref("azure_blob_path", sink)]},
        relationshipAttributes={"parent": ref(*ACT)})


def run_entities(n_ops: int) -> list[dict[str, Any]]:
    entities = [entity("azure_data_factory", "/f"), entity("adf_pipeline", "/f/pipelines/p"), entity(*ACT)]
    for i in range(n_ops):
        entities += [entity("azure_blob_path", f"in{i}"), entity("azure_blob_path", f"out{i}")]
    entities += [op(f"out{i}", f"in{i}", "shared") for i in range(n_ops)]
    entities.append(entity("azure_blob_path", "shared"))
    return entities


def test_one_call_references_existing_assets_and_creates_missing_ones() -> None:
    batches = plan_batches(run_entities(2), existing={("azure_blob_path", "shared"), ("azure_blob_path", "in0")},
                           max_per_call=1000)
    assert len(batches) == 1
    sent = {(e["typeName"], e["attributes"]["qualifiedName"]): e for e in batches[0]}
    assert ("azure_blob_path", "shared") not in sent and ("azure_blob_path", "in0") not in sent
    assert all(e["guid"].startswith("-") for e in batches[0])
    op0 = sent[("adf_copy_operation", f"{ACT[1]}#out0#azure_blob_path")]
    inputs = op0["attributes"]["inputs"]
    assert {"typeName": "azure_blob_path", "uniqueAttributes": {"qualifiedName": "in0"}} in inputs
    assert {"typeName": "azure_blob_path", "uniqueAttributes": {"qualifiedName": "shared"}} in inputs
    assert op0["attributes"]["outputs"] == [{"guid": sent[("azure_blob_path", "out0")]["guid"],
                                              "typeName": "azure_blob_path"}]
    assert op0["relationshipAttributes"]["parent"]["guid"] == sent[ACT]["guid"]


def test_batches_keep_each_operation_with_the_assets_it_creates() -> None:
    entities = run_entities(10)
    batches = plan_batches(entities, existing=set(), max_per_call=8)
    assert len(batches) > 1
    seen: set[tuple[str, str]] = set()
    for batch in batches:
        here = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in batch}
        guids = {e["guid"] for e in batch}
        for e in batch:
            for r in e["attributes"].get("inputs", []) + e["attributes"].get("outputs", []):
                if "guid" in r:
                    assert r["guid"] in guids  # a placeholder always points inside its own call
                else:
                    key = (r["typeName"], r["uniqueAttributes"]["qualifiedName"])
                    assert key in seen  # a unique-attribute reference points at an entity an earlier call made
        seen |= here
    sent = [(e["typeName"], e["attributes"]["qualifiedName"]) for b in batches for e in b]
    assert len(sent) == len(set(sent)) == len(entities)  # everything once, nothing twice
