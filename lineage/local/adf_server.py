"""A local Data Factory management API that serves run records from a folder.

It answers the real REST paths of api-version 2018-06-01 with the records' own bodies: pipeline runs, paginated
activity-run and pipeline-run queries with their required time window, definitions, ARM error bodies. Runs can be
held ``InProgress`` for their first reads and permissions denied per factory, so the product's waiting and its
error reporting can be seen working.
"""

from __future__ import annotations

import argparse
import base64
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lineage.extract.runrecord import FactoryId, RunRecord, decode
from lineage.local.arm import ArmDirectory
from lineage.local.httpserver import LocalServer, Request, Response, list_page, query_value, skip_offset
from lineage.local.tls import LocalTLS, make_local_tls

_FACTORY = re.compile(
    r"^(?P<factory>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.DataFactory/factories/[^/]+)"
    r"(?P<rest>/.*)?$", re.IGNORECASE)
_DEFINITION_KEYS = {"pipelines": "pipelines", "datasets": "datasets", "linkedservices": "linkedServices",
                    "dataflows": "dataflows"}


class AdfServer(LocalServer):
    """``with AdfServer(Path("samples"), tls) as adf: adf.url``."""

    audience = "https://management.azure.com"

    def __init__(self, root: Path | None, tls: LocalTLS, host: str = "127.0.0.1", port: int = 0,
                 page_size: int = 100) -> None:
        super().__init__(tls, host, port)
        self.page_size = page_size
        self._runs: dict[str, dict[str, Any]] = {}
        self._holds: dict[str, int] = {}
        self._denied: set[tuple[str, str]] = set()
        self.arm = ArmDirectory()
        self.created_pipelines: dict[tuple[str, str], dict[str, Any]] = {}
        self._deleted: set[tuple[str, str]] = set()  # (factory lower-cased, pipeline name lower-cased)
        self._state = threading.Lock()
        for record in read_records(root)[0] if root else []:
            self.put_run(record)

    def put_run(self, record: Mapping[str, Any]) -> None:
        """Serve (or replace) a run record."""
        with self._state:
            self._runs[str(record["pipelineRun"]["runId"])] = dict(record)

    def hold_in_progress(self, run_id: str, reads: int) -> None:
        """Report the run as InProgress for its next ``reads`` reads."""
        with self._state:
            self._holds[run_id] = reads

    def deny(self, factory_id: str, action: str) -> None:
        """Answer 403 for ``action`` (``queryActivityruns``, ``pipelineruns``, ``pipelines``...) on a factory."""
        with self._state:
            self._denied.add((factory_id.lower(), action.lower()))

    def allow_all(self) -> None:
        """Undo every ``deny``."""
        with self._state:
            self._denied.clear()

    # --------------------------------------------------------------------------------------------- routing

    def route(self, request: Request) -> Response:
        answer = self.arm.route(request, self.url, self.page_size)  # the Function App and its roles, for doctor
        if answer is not None:
            return answer
        if query_value(request.query, "api-version") != "2018-06-01":
            return self._error(400, "InvalidApiVersionParameter", "api-version 2018-06-01 is required")
        match = _FACTORY.match(request.path)
        if not match:
            return self._error(404, "InvalidResourceType", f"no such resource path {request.path}")
        factory = FactoryId.parse(match["factory"]).resource_id
        parts = [unquote(p) for p in (match["rest"] or "").split("/") if p]  # names are percent-encoded, as in ARM
        action = parts[-1] if parts and parts[-1].startswith("query") else (parts[0] if parts else "")
        if request.method in ("PUT", "DELETE"):
            action += "/write" if request.method == "PUT" else "/delete"
        if (factory.lower(), action.lower()) in self._denied:
            return self._error(403, "AuthorizationFailed",
                               f"The client does not have authorization to perform action on {factory}")
        if request.method == "GET" and len(parts) == 2 and parts[0] == "pipelineruns":
            return self._pipeline_run(factory, parts[1])
        if request.method == "POST" and len(parts) == 3 and parts[0] == "pipelineruns" \
                and parts[2] == "queryActivityruns":
            return self._activity_runs(factory, parts[1], request.body)
        if request.method == "POST" and parts == ["queryPipelineRuns"]:
            return self._query_pipeline_runs(factory, request.body)
        if request.method == "GET" and parts == ["globalParameters", "default"]:
            return self._global_parameters(factory)
        if request.method == "GET" and len(parts) == 2 and parts[0].lower() in _DEFINITION_KEYS:
            return self._definition(factory, _DEFINITION_KEYS[parts[0].lower()], parts[1])
        if request.method == "PUT" and len(parts) == 2 and parts[0].lower() == "pipelines":
            return self._put_pipeline(factory, parts[1], request.body)
        if request.method == "DELETE" and len(parts) == 2 and parts[0].lower() == "pipelines":
            return self._delete_pipeline(factory, parts[1])
        if request.method == "GET" and parts == ["pipelines"]:
            return self._list_pipelines(factory, query_value(request.query, "$skipToken"))
        if request.method == "GET" and not parts:
            if not self._records(factory):
                return self._error(404, "ResourceNotFound", f"The Resource '{factory}' was not found")
            return Response(200, {"id": factory, "name": factory.rsplit("/", 1)[-1],
                                  "type": "Microsoft.DataFactory/factories", "properties": {}})
        return self._error(404, "NotFound", f"no route for {request.method} {match['rest']}")

    def _pipeline_run(self, factory: str, run_id: str) -> Response:
        record = self._record(factory, run_id)
        if record is None:
            return self._error(404, "PipelineRunNotFound", f"Pipeline run {run_id} does not exist")
        run = dict(record["pipelineRun"])
        with self._state:
            held = self._holds.get(run_id, 0)
            if held > 0:
                self._holds[run_id] = held - 1
                run.update(status="InProgress", runEnd=None, durationInMs=None)
        return Response(200, run)

    def _activity_runs(self, factory: str, run_id: str, body: Any) -> Response:
        record = self._record(factory, run_id)
        if record is None:
            return self._error(404, "PipelineRunNotFound", f"Pipeline run {run_id} does not exist")
        window = _window(body)
        if isinstance(window, Response):
            return window
        after, before = window
        runs = [r for r in record["activityRuns"]
                if after <= _time(r.get("activityRunEnd") or r.get("activityRunStart")) < before]
        return self._page(runs, body)

    def _query_pipeline_runs(self, factory: str, body: Any) -> Response:
        window = _window(body)
        if isinstance(window, Response):
            return window
        after, before = window
        names: set[str] | None = None
        for condition in body.get("filters") or []:
            if condition.get("operand") == "PipelineName":
                names = set(condition.get("values") or [])
        with self._state:
            records = [r for r in self._runs.values() if r["factory"].lower() == factory.lower()]
        runs = sorted((r["pipelineRun"] for r in records
                       if after <= _time(r["pipelineRun"].get("lastUpdated") or r["pipelineRun"].get("runEnd")) < before
                       and (names is None or r["pipelineRun"]["pipelineName"] in names)),
                      key=lambda run: (str(run.get("lastUpdated")), str(run["runId"])))
        return self._page(runs, body)

    def _page(self, items: list[Any], body: Mapping[str, Any]) -> Response:
        token = body.get("continuationToken")
        try:
            start = int(base64.b64decode(token).decode()) if token else 0
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "BadRequest", "invalid continuationToken")
        page = items[start:start + self.page_size]
        result: dict[str, Any] = {"value": page}
        if start + self.page_size < len(items):
            result["continuationToken"] = base64.b64encode(str(start + self.page_size).encode()).decode()
        return Response(200, result)

    def _pipelines(self, factory: str) -> dict[str, dict[str, Any]]:
        """The factory's pipelines now: those of its run records, replaced by those put since, less the deleted."""
        found: dict[str, dict[str, Any]] = {}
        for record in self._records(factory):
            for name, definition in (record.get("pipelines") or {}).items():
                found.setdefault(name, {"id": f"{record['factory']}/pipelines/{name}", "name": name, **definition})
        with self._state:
            for (owner, name), stored in self.created_pipelines.items():
                if owner == factory.lower():
                    found[name] = stored
            deleted = {name for owner, name in self._deleted if owner == factory.lower()}
        return {name: body for name, body in found.items() if name.lower() not in deleted}

    def _list_pipelines(self, factory: str, skip: str | None) -> Response:
        """ARM's list: a page of ``value`` and a ``nextLink`` to the next, as long as there is one."""
        if skip_offset(skip) is None:  # before the 404: ARM checks the query first
            return self._error(400, "BadRequest", "invalid $skipToken")
        with self._state:
            created = any(owner == factory.lower() for owner, _ in self.created_pipelines)
        if not created and not self._records(factory):  # ARM: a factory that does not exist has no list
            return self._error(404, "ResourceNotFound", f"The Resource '{factory}' was not found")
        pipelines = [body for _, body in sorted(self._pipelines(factory).items())]
        page = list_page(pipelines, skip, self.page_size, f"{self.url}{factory}/pipelines?api-version=2018-06-01")
        return Response(200, page)

    def _delete_pipeline(self, factory: str, name: str) -> Response:
        """ARM's delete: 200 when it was there, 204 when it was not; names compare without case, as ARM's do."""
        present = [known for known in self._pipelines(factory) if known.lower() == name.lower()]
        with self._state:
            self._deleted.add((factory.lower(), name.lower()))
            for known in present:
                self.created_pipelines.pop((factory.lower(), known), None)
        return Response(200 if present else 204)

    def _definition(self, factory: str, key: str, name: str) -> Response:
        if key == "pipelines":
            with self._state:
                if (factory.lower(), name.lower()) in self._deleted:
                    return self._error(404, "ResourceNotFound", f"{key} {name} not found")
        created = self.created_pipelines.get((factory.lower(), name)) if key == "pipelines" else None
        if created is not None:
            return Response(200, created)
        for record in self._records(factory):
            definition = (record.get(key) or {}).get(name)
            if definition is not None:  # ARM answers with the resource's id and name in their canonical case
                return Response(200, {"id": f"{record['factory']}/{key.lower()}/{name}", "name": name, **definition})
        return self._error(404, "ResourceNotFound", f"{key} {name} not found")

    def _put_pipeline(self, factory: str, name: str, body: Any) -> Response:
        """Create or replace a pipeline as ARM does: the body's ``properties`` with ``activities``, echoed back."""
        if not isinstance(body, Mapping) or not isinstance(body.get("properties"), Mapping) \
                or not isinstance(body["properties"].get("activities"), list):
            return self._error(400, "BadRequest", "a pipeline needs properties.activities")
        stored = {"id": f"{factory}/pipelines/{name}", "name": name, "properties": dict(body["properties"]),
                  "type": "Microsoft.DataFactory/factories/pipelines", "etag": f"{time.time_ns():x}"}
        with self._state:
            self.created_pipelines[(factory.lower(), name)] = stored
            self._deleted.discard((factory.lower(), name.lower()))
        return Response(200, stored)

    def _global_parameters(self, factory: str) -> Response:
        for record in self._records(factory):
            if record.get("globalParameters"):
                return Response(200, {"name": "default", "type": "Microsoft.DataFactory/factories/globalParameters",
                                      "id": f"{factory}/globalParameters/default",
                                      "properties": record["globalParameters"]})
        return self._error(404, "ResourceNotFound", "no global parameters")

    def _record(self, factory: str, run_id: str) -> dict[str, Any] | None:
        with self._state:
            record = self._runs.get(run_id)
        return record if record is not None and record["factory"].lower() == factory.lower() else None

    def _records(self, factory: str) -> list[dict[str, Any]]:
        with self._state:
            return [r for r in self._runs.values() if r["factory"].lower() == factory.lower()]

    def _error(self, status: int, code: str, message: str) -> Response:
        return Response(status, self.error_body(status, code, message))


def read_records(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every run record in a folder, in name order, and one line per file that is not one (its name and why):
    a malformed file is reported and passed over, never the end of the others."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in sorted(root.glob("*.json")):
        try:
            doc = decode(path.read_bytes())
            RunRecord.from_json(doc)
        except (OSError, ValueError) as exc:  # unreadable, not JSON, not UTF-8, or not a run record
            problems.append(f"{path.name}: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}")
            continue
        records.append(doc)
    return records, problems


def _window(body: Any) -> tuple[datetime, datetime] | Response:
    if not isinstance(body, Mapping) or not body.get("lastUpdatedAfter") or not body.get("lastUpdatedBefore"):
        return Response(400, {"error": {"code": "BadRequest",
                                        "message": "lastUpdatedAfter and lastUpdatedBefore are required"}})
    return _time(body["lastUpdatedAfter"]), _time(body["lastUpdatedBefore"])


def _time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve run records over Data Factory's REST API, locally.")
    parser.add_argument("--root", type=Path, default=Path("samples"))
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tls-dir", type=Path, default=Path(".local/tls/adf"),
                        help="where its CA is written (its own: the local Purview's is beside it)")
    args = parser.parse_args()
    with AdfServer(args.root, make_local_tls(args.tls_dir), port=args.port) as server:
        print(f"Data Factory API at {server.url} (CA: {args.tls_dir / 'local-ca.pem'})", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
