"""``python -m benchmarks.prune``: what a prune pass costs on a large factory, over the local servers.

Writes the lineage of one run per pipeline (a Copy each, into a table of its own) into the local Purview, deletes a
fifth of the pipelines and re-points another fifth's Copy at a new table through the local Data Factory's API, then
times ``prune`` twice (dry run, then ``--apply``) and counts the calls each side served. The figures scale with the
factory, not with its square: one list call per hundred pipelines, each dataset and linked service read once, one
search call per thousand entities, one delete per stale entity.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from lineage.azure.datafactory import DataFactoryReader
from lineage.azure.purview import PurviewWriter
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord
from lineage.local.adf_server import AdfServer
from lineage.local.credential import TOKEN_PREFIX, LocalCredential
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import make_local_tls
from lineage.service.prune import prune_factory

FACTORY = ("/subscriptions/6f1c7c3e-2a7b-4c1e-9d55-3b1f0f4a9e21/resourceGroups/rg-bench/providers/"
           "Microsoft.DataFactory/factories/bench-adf")
BLOB_LS = {"name": "RawBlob", "properties": {"type": "AzureBlobStorage", "typeProperties": {
    "serviceEndpoint": "https://contosoraw.blob.core.windows.net/"}}}
SQL_LS = {"name": "SalesSql", "properties": {"type": "AzureSqlDatabase", "typeProperties": {
    "connectionString": "Data Source=contoso-sql.database.windows.net;Initial Catalog=sales"}}}
CSV_DS = {"name": "Csv", "properties": {"type": "DelimitedText", "linkedServiceName": {
    "referenceName": "RawBlob", "type": "LinkedServiceReference"}, "typeProperties": {"location": {
        "type": "AzureBlobStorageLocation", "container": "raw", "fileName": "sales.csv"}}}}
TABLE_DS = {"name": "Table", "properties": {"type": "AzureSqlTable", "linkedServiceName": {
    "referenceName": "SalesSql", "type": "LinkedServiceReference"}, "parameters": {"table": {"type": "String"}},
    "typeProperties": {"schema": "dbo", "table": {"value": "@dataset().table", "type": "Expression"}}}}


def pipeline(name: str, table: str) -> dict[str, Any]:
    copy_step = {"name": "Copy", "type": "Copy",
                 "inputs": [{"referenceName": "Csv", "type": "DatasetReference"}],
                 "outputs": [{"referenceName": "Table", "type": "DatasetReference", "parameters": {"table": table}}],
                 "typeProperties": {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "AzureSqlSink"}}}
    return {"id": f"{FACTORY}/pipelines/{name}", "name": name, "properties": {"activities": [copy_step]}}


def run_record(n: int) -> dict[str, Any]:
    name = f"P{n:05d}"
    run_id = f"00000000-0000-4000-8000-{n:012d}"
    return {
        "factory": FACTORY,
        "pipelineRun": {"runId": run_id, "pipelineName": name, "status": "Succeeded",
                        "runStart": "2026-11-24T01:00:00Z", "runEnd": "2026-11-24T01:05:00Z", "parameters": {}},
        "activityRuns": [{"activityName": "Copy", "activityType": "Copy", "activityRunId": f"a-{n}",
                          "pipelineRunId": run_id, "pipelineName": name, "status": "Succeeded",
                          "activityRunStart": "2026-11-24T01:00:00Z", "activityRunEnd": "2026-11-24T01:01:00Z",
                          "input": {}, "output": {"rowsCopied": 1}, "error": {}}],
        "pipelines": {name: pipeline(name, f"T{n}")},
        "datasets": {"Csv": CSV_DS, "Table": TABLE_DS},
        "linkedServices": {"RawBlob": BLOB_LS, "SalesSql": SQL_LS},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pipelines", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as work:
        tls = make_local_tls(Path(work) / "tls")
        os.environ["REQUESTS_CA_BUNDLE"] = str(tls.ca_bundle)
        with AdfServer(None, tls) as adf, PurviewServer(tls=tls) as purview:
            credential = LocalCredential()
            writer = PurviewWriter(credential, f"{purview.url}/datamap/api/atlas/v2")
            options = LineageOptions()
            started = time.perf_counter()
            for n in range(args.pipelines):
                record = run_record(n)
                adf.put_run(record)
                writer.push(explain(extract(RunRecord.from_json(record), options), "dataFactory")["entities"])
            held = len(purview.entities())
            print(f"{args.pipelines} pipelines written: {held} entities in {time.perf_counter() - started:.1f}s")
            changed = _change(adf, args.pipelines)
            for apply in (False, True):
                adf.stats.clear()
                purview.stats.clear()
                reader = DataFactoryReader(credential, base_url=adf.url)
                started = time.perf_counter()
                report = prune_factory(reader, PurviewWriter(credential, f"{purview.url}/datamap/api/atlas/v2"),
                                       FactoryId.parse(FACTORY), options, apply=apply)
                took = time.perf_counter() - started
                print(f"prune {'--apply' if apply else '--dry-run'}: {took:.2f}s; {len(report.stale)} stale "
                      f"({changed}), {len(report.removed)} removed, {len(report.failed)} failed; "
                      f"Data Factory calls {sum(adf.stats.values())}, Purview calls {sum(purview.stats.values())}")
            print(f"left: {len(purview.entities())} entities")
    return 0


def _change(adf: AdfServer, count: int) -> str:
    """Delete every fifth pipeline; point the Copy of every fifth other one at a new table."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN_PREFIX}https://management.azure.com"
    deleted = moved = 0
    for n in range(count):
        name = f"P{n:05d}"
        url = f"{adf.url}{FACTORY}/pipelines/{name}"
        if n % 5 == 0:
            session.delete(url, params={"api-version": "2018-06-01"}, timeout=30).raise_for_status()
            deleted += 1
        elif n % 5 == 1:
            body = pipeline(name, f"New{n}")
            session.put(url, params={"api-version": "2018-06-01"}, json={"properties": body["properties"]},
                        timeout=30).raise_for_status()
            moved += 1
    return f"{deleted} pipelines deleted, {moved} sinks moved"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
