"""The sample run records are what the README says: valid, self-consistent, free of secrets, and explainable."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.pipeline import activities_by_name
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from tests.conftest import SAMPLES

FILES = sorted(SAMPLES.glob("*.json"))
SECRET = re.compile(r"(AccountKey|Password|pwd|SharedAccessSignature|sig)=(?!\*)[^;\"&]+", re.IGNORECASE)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_there_are_samples_and_the_readme_lists_each() -> None:
    readme = (SAMPLES / "README.md").read_text()
    assert len(FILES) >= 3
    for path in FILES:
        assert f"`{path.name}`" in readme


def test_the_samples_are_one_factory_each_definition_name_means_one_definition() -> None:
    """The local Data Factory serves every sample from one factory: a name defined twice, differently, would give
    one run the other's definition when it is read back."""
    seen: dict[tuple[str, str], tuple[str, Any]] = {}
    for path in FILES:
        doc = load(path)
        for kind in ("pipelines", "datasets", "linkedServices", "dataflows"):
            for name, body in doc.get(kind, {}).items():
                first, known = seen.setdefault((kind, name), (path.name, body))
                assert known == body, f"{kind} {name!r} differs between {first} and {path.name}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sample_is_consistent(path: Path) -> None:
    doc = load(path)
    record = RunRecord.from_json(doc)
    assert record.pipeline_name in record.pipelines
    names = activities_by_name(record.pipelines[record.pipeline_name])
    for run in record.activity_runs:
        assert run["pipelineRunId"] == record.run_id
        assert run["activityName"] in names
    for activity in names.values():
        for ref in [*activity.get("inputs", []), *activity.get("outputs", [])]:
            assert ref["referenceName"] in record.datasets
    for dataset in record.datasets.values():
        assert dataset["properties"]["linkedServiceName"]["referenceName"] in record.linked_services
    for service in record.linked_services.values():
        for value in service["properties"]["typeProperties"].values():
            if isinstance(value, dict) and value.get("type") == "SecureString":
                assert value["value"] == "**********"
    assert not SECRET.search(path.read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_activity_run_of_a_sample_gets_one_row(path: Path) -> None:
    doc = load(path)
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    assert sorted(r["activityRunId"] for r in result["activities"]) == sorted(
        r["activityRunId"] for r in doc["activityRuns"])
    for row in result["activities"]:
        assert row["outcome"] in ("emitted", "skipped")
        if row["outcome"] == "skipped":
            assert row["reason"]


def test_foreach_sample_ties_each_iteration_to_its_own_table() -> None:
    doc = load(SAMPLES / "foreach_adls_to_synapse.json")
    result = explain(extract(RunRecord.from_json(doc), LineageOptions()), "dataFactory")
    pairs = sorted(
        (e["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"],
         e["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"])
        for e in result["entities"] if e["typeName"] == "adf_copy_operation")
    assert pairs == [
        (f"https://contosolake.dfs.core.windows.net/curated/silver/{t}/{t.lower()}.parquet",
         f"mssql://contoso-syn.sql.azuresynapse.net/dw/stg/{t}") for t in ("Customers", "Orders", "Products")]
