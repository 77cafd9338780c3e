"""Reading one pipeline run back from Data Factory's management REST API (api-version 2018-06-01).

azure-core's pipeline does the HTTP work: bearer tokens from any ``TokenCredential`` (``DefaultAzureCredential`` in
Azure), retries with backoff that honours ``Retry-After``, timeouts. Definitions (pipelines, datasets, linked
services, data flows, global parameters) change rarely and are read often, so they are cached with a bound and an
expiry; a steady stream of runs of the same pipelines costs one run GET and one activity-run query per run.
Linked-service bodies carry masked secrets at most, but they are never logged or put into an error.

Nothing it waits for is unbounded: each call has an overall deadline (``lineage.azure.sessions``), a ``Retry-After``
is honoured up to a cap, paging stops with an error when a continuation token comes back again or the page count
passes a cap, and an answer no JSON parser here reads (an integer longer than Python reads, nesting too deep, an
HTML page) is a permanent error that says so, not a crash or a retry of the same answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest

from lineage.azure.pages import next_link, pages
from lineage.azure.sessions import RETRY_AFTER_CAP_S, azure_transport, call_deadline, retry_after_s
from lineage.extract.jsontext import JSONTextError, loads, mapping
from lineage.extract.pipeline import activities_by_name
from lineage.extract.redact import redact
from lineage.extract.runrecord import FactoryId, RunRecordError, check_pipeline_run

log = logging.getLogger(__name__)

API_VERSION = "2018-06-01"
ARM_SCOPE = "https://management.azure.com/.default"
WINDOW_MARGIN = timedelta(minutes=10)
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
# Pages of one query: queryActivityruns and queryPipelineRuns answer 100 items a page, so this is 500,000 activity
# runs of one pipeline run, or runs ended in one window: far beyond any real one, short of looping for ever.
MAX_PAGES = 5_000


class DataFactoryError(Exception):
    """A failed Data Factory call; ``transient`` says whether trying again later may help."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.transient = transient


class RunNotFoundError(DataFactoryError):
    """The pipeline run does not exist (wrong id or factory, or older than the 45 days Data Factory keeps)."""


class _CappedRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retries, with ``Retry-After`` honoured up to a cap (azure-core sleeps whatever the header says,
    and cannot read an HTTP date in the past or a number too long to be one)."""

    def __init__(self, *, retry_after_cap_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after_cap_s = retry_after_cap_s

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        headers = response.http_response.headers
        seconds = retry_after_s(headers.get("Retry-After") or headers.get("retry-after"), self.retry_after_cap_s)
        if seconds is None:
            for ms_header in ("retry-after-ms", "x-ms-retry-after-ms"):
                millis = retry_after_s(headers.get(ms_header), self.retry_after_cap_s * 1000)
                if millis is not None:
                    return millis / 1000
        return seconds


class _Cache:
    """A bounded LRU with expiry, shared by the threads of one process."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._items: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def drop_factory(self, factory_key: str) -> None:
        """Forget one factory's definitions (keys start with its lower-cased resource id)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == factory_key]:
                del self._items[key]

    def put(self, key: tuple[str, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class DataFactoryReader:
    """Builds run records (the core's input) from the management API."""

    def __init__(self, credential: TokenCredential, *, base_url: str = "https://management.azure.com",
                 cache_size: int = 512, cache_ttl_s: float = 300.0, timeout_s: float = 30.0,
                 deadline_s: float | None = None, retry_total: int = 5, retry_backoff_s: float = 0.8,
                 retry_after_cap_s: float = RETRY_AFTER_CAP_S, max_pages: int = MAX_PAGES,
                 connection_verify: str | bool | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        policies = [
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="adf-purview-lineage"),
            _CappedRetryPolicy(retry_total=retry_total, retry_backoff_factor=retry_backoff_s, retry_backoff_max=60,
                               timeout=timeout_s * (retry_total + 1), retry_after_cap_s=retry_after_cap_s),
            BearerTokenCredentialPolicy(credential, ARM_SCOPE),
        ]
        deadline = call_deadline(timeout_s, deadline_s)
        self._client: PipelineClient[HttpRequest, Any] = PipelineClient(
            self.base_url, policies=policies, transport=azure_transport(deadline))
        self.max_pages = max_pages
        self._timeout_s = timeout_s
        self._verify = connection_verify
        self._cache = _Cache(cache_size, cache_ttl_s)
        self.calls: Counter[str] = Counter()
        self.cache_hits = 0

    # ------------------------------------------------------------------------------------------------ runs

    def pipeline_run(self, factory: FactoryId, run_id: str) -> dict[str, Any]:
        """The body of ``GET pipelineruns/{runId}``; RunNotFoundError when it does not exist."""
        return self._json("run", "GET", f"{_base(factory)}/pipelineruns/{quote(run_id, safe='')}",
                          not_found=RunNotFoundError)

    def activity_runs(self, factory: FactoryId, pipeline_run: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page of ``queryActivityruns`` for the run, in a window around its start and end."""
        start = _parse_time(pipeline_run.get("runStart")) or datetime.now(UTC) - timedelta(days=45)
        end = _parse_time(pipeline_run.get("runEnd")) or datetime.now(UTC)
        body: dict[str, Any] = {"lastUpdatedAfter": _iso(start - WINDOW_MARGIN),
                                "lastUpdatedBefore": _iso(end + WINDOW_MARGIN)}
        url = f"{_base(factory)}/pipelineruns/{quote(str(pipeline_run['runId']), safe='')}/queryActivityruns"
        return list(self._pages("activityRuns", url, body))

    def query_pipeline_runs(self, factory: FactoryId, after: datetime, before: datetime,
                            pipelines: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Pipeline runs last updated in ``[after, before)``, all pages (for reconciliation and backfill)."""
        body: dict[str, Any] = {"lastUpdatedAfter": _iso(after), "lastUpdatedBefore": _iso(before)}
        if pipelines:
            body["filters"] = [{"operand": "PipelineName", "operator": "In", "values": list(pipelines)}]
        yield from self._pages("queryPipelineRuns", f"{_base(factory)}/queryPipelineRuns", body)

    def _pages(self, kind: str, url: str, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The items of every page of a query (its ``continuationToken`` sent back in the next query's body)."""
        def fetch(token: str | None) -> dict[str, Any]:
            return self._json(kind, "POST", url, body={**body, "continuationToken": token} if token else body)

        for number, page in pages(fetch, next_key="continuationToken", max_pages=self.max_pages,
                                  fail=lambda reason: DataFactoryError(f"Data Factory {kind}: {reason}")):
            items = page.get("value")
            if items is not None and not isinstance(items, list):
                raise DataFactoryError(f"Data Factory {kind}: page {number}'s value is not a list")
            yield from items or []

    def run_record(self, factory: FactoryId, run_id: str, *,
                   pipeline_run: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The run record of one pipeline run: the run, its activity runs, and the definitions they need."""
        run = dict(check_pipeline_run(pipeline_run if pipeline_run is not None
                                      else self.pipeline_run(factory, run_id)))
        record: dict[str, Any] = {
            "factory": factory.resource_id,
            "pipelineRun": run,
            "activityRuns": self.activity_runs(factory, run),
            "pipelines": {}, "datasets": {}, "linkedServices": {}, "dataflows": {},
        }
        pipeline = self._definition(factory, "pipelines", str(run["pipelineName"]))
        if pipeline is None:
            return record
        record["factory"] = canonical_factory(pipeline, factory).resource_id
        record["pipelines"][run["pipelineName"]] = pipeline
        self._add_references(factory, pipeline, record)
        if "globalParameters" in _text(pipeline) or any("globalParameters" in _text(d)
                                                          for d in record["datasets"].values()):
            parameters = self._definition(factory, "globalParameters", "default")
            if parameters is not None:
                record["globalParameters"] = parameters.get("properties") or {}
        return record

    def factory_definitions(self, factory: FactoryId) -> dict[str, Any]:
        """Every pipeline of the factory now, with the datasets, data flows, linked services and global parameters
        they name, in the run record's shape (``prune`` compares Purview with it). The factory id is ARM's
        canonical case when a pipeline says it. Read afresh, not from the definitions cache: a dataset changed a
        minute ago must not make the lineage written to its new table look stale."""
        doc: dict[str, Any] = {"factory": factory.resource_id, "pipelines": {}, "datasets": {}, "linkedServices": {},
                               "dataflows": {}}
        self._cache.drop_factory(factory.resource_id.lower())
        for pipeline in self.listed("pipelines", f"{_base(factory)}/pipelines"):
            name = pipeline.get("name")
            if not isinstance(name, str) or not name:
                raise DataFactoryError("Data Factory pipelines: an item of the list has no name")
            doc["pipelines"][name] = pipeline
            doc["factory"] = canonical_factory(pipeline, factory).resource_id
            self._add_references(factory, pipeline, doc)
        if any("globalParameters" in _text(d) for kind in ("pipelines", "datasets") for d in doc[kind].values()):
            parameters = self._definition(factory, "globalParameters", "default")
            if parameters is not None:
                doc["globalParameters"] = parameters.get("properties") or {}
        return doc

    def listed(self, kind: str, path: str, api_version: str = API_VERSION,
               params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of an ARM list (``GET path``), following ``nextLink`` only on the same host: it would carry
        the token. An item that is not an object stops the listing: dropped, a pipeline would look deleted."""
        def fail(reason: str) -> DataFactoryError:
            return DataFactoryError(f"Data Factory {kind}: {reason}")

        def fetch(link: str | None) -> dict[str, Any]:
            if link is None:
                return self._json(kind, "GET", path, api_version=api_version, params=params)
            return self._json(kind, "GET", next_link(link, self.base_url, fail), api_version=api_version)

        for number, page in pages(fetch, next_key="nextLink", max_pages=self.max_pages, fail=fail):
            items = page.get("value")
            if not isinstance(items, list):
                raise fail(f"page {number} has no list of values")
            for item in items:
                if not isinstance(item, dict):
                    raise fail(f"page {number} holds an item that is not an object")
                yield item

    def factory(self, factory: FactoryId) -> dict[str, Any]:
        """The factory resource itself (``doctor``: does it exist, may we read it)."""
        return self._json("factory", "GET", _base(factory))

    def definition(self, factory: FactoryId, kind: str, name: str) -> dict[str, Any]:
        """The body of ``GET {kind}/{name}``, uncached and raising on 404 (for ``wrap`` and ``doctor``)."""
        return self._json(kind, "GET", f"{_base(factory)}/{kind}/{quote(name, safe='')}")

    def put_pipeline(self, factory: FactoryId, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a pipeline (``wrap``: needs ``pipelines/write``, which the service itself never has)."""
        return self._json("pipelines/write", "PUT", f"{_base(factory)}/pipelines/{quote(name, safe='')}", body=body)

    def resource(self, kind: str, path: str, api_version: str, params: Mapping[str, str] | None = None,
                 ) -> dict[str, Any]:
        """Another ARM resource read with the same client and token (``doctor``: the Function App, its roles)."""
        return self._json(kind, "GET", path, api_version=api_version, params=params)

    # ------------------------------------------------------------------------------------------ definitions

    def _add_references(self, factory: FactoryId, pipeline: Mapping[str, Any], record: dict[str, Any]) -> None:
        """Datasets, data flows and linked services the pipeline's lineage activities name."""
        datasets: set[str] = set()
        linked: set[str] = set()
        for activity in activities_by_name(pipeline).values():
            for ref in [*_items(activity.get("inputs")), *_items(activity.get("outputs"))]:
                _add_name(datasets, ref)
            flow = mapping(activity.get("typeProperties")).get("dataflow")
            if isinstance(flow, Mapping) and isinstance(flow.get("referenceName"), str):
                definition = self._definition(factory, "dataflows", flow["referenceName"])
                if definition is not None:
                    record["dataflows"][flow["referenceName"]] = definition
                    flow_props = mapping(mapping(definition.get("properties")).get("typeProperties"))
                    for end in [*_items(flow_props.get("sources")), *_items(flow_props.get("sinks"))]:
                        _add_name(datasets, mapping(end).get("dataset"))
                        _add_name(linked, mapping(end).get("linkedService"))
        for name in sorted(datasets):
            definition = self._definition(factory, "datasets", name)
            if definition is not None:
                record["datasets"][name] = definition
                _add_name(linked, mapping(definition.get("properties")).get("linkedServiceName"))
        for name in sorted(linked):
            definition = self._definition(factory, "linkedservices", name)
            if definition is not None:
                record["linkedServices"][name] = definition

    def _definition(self, factory: FactoryId, kind: str, name: str) -> dict[str, Any] | None:
        key = (factory.resource_id.lower(), kind, name)
        cached = self._cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return dict(cached)
        try:
            body = self._json(kind, "GET", f"{_base(factory)}/{kind}/{quote(name, safe='')}")
        except DataFactoryError as exc:
            if exc.status == 404:
                log.warning("%s %r of %s not found: lineage that needs it will say so", kind, name,
                            factory.factory_name)
                return None
            raise
        self._cache.put(key, body)
        return body

    # ----------------------------------------------------------------------------------------------- HTTP

    def _json(self, kind: str, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              not_found: type[DataFactoryError] = DataFactoryError, api_version: str = API_VERSION,
              params: Mapping[str, str] | None = None) -> dict[str, Any]:
        request = HttpRequest(method, f"{self.base_url}{path}", params={**(params or {}), "api-version": api_version},
                              json=dict(body) if body is not None else None)
        self.calls[kind] += 1
        kwargs: dict[str, Any] = {"connection_timeout": self._timeout_s, "read_timeout": self._timeout_s}
        if self._verify is not None:
            kwargs["connection_verify"] = self._verify
        try:
            response = self._client.send_request(request, **kwargs)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise DataFactoryError(f"Data Factory unreachable ({kind}): {type(exc).__name__}",
                                   transient=True) from exc
        except AzureError as exc:
            raise DataFactoryError(f"Data Factory call failed ({kind}): {type(exc).__name__}",
                                   transient=True) from exc
        if response.status_code >= 400:
            raise _error(kind, path, response.status_code, _safe_json(response), not_found)
        if response.status_code >= 300:  # azure-core follows no redirect here, and nor do we: the token would go too
            raise DataFactoryError(f"Data Factory answered {kind} with HTTP {response.status_code}, a redirect; not "
                                   "followed (is DATAFACTORY_ENDPOINT Azure Resource Manager?)",
                                   status=response.status_code)
        try:
            result = loads(response.content)
        except JSONTextError as exc:
            raise DataFactoryError(f"Data Factory's answer to {kind} {exc}", status=response.status_code) from None
        if not isinstance(result, dict):
            raise DataFactoryError(f"Data Factory answered {kind} with a body that is not a JSON object",
                                   status=response.status_code, transient=True)
        return result


def _error(kind: str, path: str, status: int, body: Any, not_found: type[DataFactoryError]) -> DataFactoryError:
    error = body.get("error") if isinstance(body, Mapping) else None
    code = str(error.get("code")) if isinstance(error, Mapping) and error.get("code") else None
    where = path.rsplit("/providers/Microsoft.DataFactory/factories/", maxsplit=1)[-1]
    if status == 404:
        return not_found(f"not found: {where} ({code or 'NotFound'})", status=status, code=code)
    if status == 403:
        action = {"activityRuns": "pipelineruns/queryactivityruns/action", "run": "pipelineruns/read",
                  "queryPipelineRuns": "querypipelineruns/action",
                  "pipelines/write": "pipelines/write", "factory": "read"}.get(kind, f"{kind}/read")
        return DataFactoryError(f"the identity lacks Microsoft.DataFactory/factories/{action} on factory "
                                f"{where.split('/')[0]} ({code or 'AuthorizationFailed'})", status=status, code=code)
    if status == 401:
        return DataFactoryError(f"Data Factory rejected the credential ({code or 'AuthenticationFailed'})",
                                status=status, code=code)
    message = redact(str(error.get("message")))[:300] if isinstance(error, Mapping) and error.get("message") else ""
    return DataFactoryError(f"Data Factory {kind} failed: HTTP {status} {code or ''} {message}".strip(),
                            status=status, code=code, transient=status in _TRANSIENT)


def canonical_factory(definition: Mapping[str, Any], factory: FactoryId) -> FactoryId:
    """The factory as ARM spells it (resource group and factory name as created), from a definition's ``id``.

    Purview stores the factory, pipeline and activity qualifiedNames in ARM's canonical case (field notes §5); an
    event or a setting may name the factory in any case, and ARM matches it case-insensitively.
    """
    resource_id = definition.get("id")
    if isinstance(resource_id, str):
        head, sep, _ = resource_id.lower().rpartition("/pipelines/")
        if sep:
            try:
                canonical = FactoryId.parse(resource_id[:len(head)])
            except RunRecordError:
                return factory
            if canonical.resource_id.lower() == factory.resource_id.lower():
                return canonical
    return factory


def _safe_json(response: Any) -> Any:
    """An error answer's body, when it is JSON this service reads (else None: the status tells enough)."""
    try:
        return loads(response.content)
    except JSONTextError:
        return None



def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _add_name(names: set[str], reference: Any) -> None:
    if isinstance(reference, Mapping) and isinstance(reference.get("referenceName"), str):
        names.add(reference["referenceName"])


def _text(value: Any) -> str:
    return str(value)


def _base(factory: FactoryId) -> str:
    return factory.resource_id


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
