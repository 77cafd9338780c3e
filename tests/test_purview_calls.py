"""The Purview writer's calls, against the local Purview over HTTPS: which failures are retried and how long it waits,
what an error says, and which answers it believes (a redirect, a web page, unreadable JSON, a bulk answer that is
no mutation result are permanent errors with their reason).

The writer's waits are read from its ``sleep``; the server counts the requests it answered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyapacheatlas.auth.azcredential import AzCredentialWrapper
from pyapacheatlas.core.util import AtlasException

from lineage.azure.purview import PurviewError, PurviewWriter, _SessionAtlasClient
from lineage.extract.config import LineageOptions
from lineage.extract.entities import explain
from lineage.extract.run import extract
from lineage.extract.runrecord import RunRecord
from lineage.extract.stores import StoreSettings, sql_table_asset
from lineage.local.credential import LocalCredential
from lineage.local.httpserver import Request, Response
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import make_local_tls
from tests.conftest import SAMPLES

TYPEDEF = "/types/typedef/name/"
TYPEDEF_CALLS = "GET */*/*/*/types/typedef/name/*"  # the server's counter of typedef reads
RECORD = json.loads((SAMPLES / "copy_blob_to_sql.json").read_text())
ENTITIES: list[dict[str, Any]] = explain(extract(RunRecord.from_json(RECORD), LineageOptions()),
                                         "dataFactory")["entities"]


class RecordingPurview(PurviewServer):
    """The local Purview, keeping every request it answered (method, path, query) for the tests to read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[Request] = []

    def route(self, request: Request) -> Response:
        self.requests.append(request)
        return super().route(request)


@pytest.fixture(scope="module")
def purview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingPurview]:
    tls = make_local_tls(Path(tmp_path_factory.mktemp("tls")))
    with pytest.MonkeyPatch.context() as patch, RecordingPurview(tls=tls) as server:
        patch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_bundle))
        yield server


@pytest.fixture(autouse=True)
def clean(purview: RecordingPurview) -> None:
    purview.reset()
    purview.clear_faults()
    purview.stats.clear()  # requests counted per test
    purview.requests.clear()


def writer(purview: PurviewServer, slept: list[float] | None = None, **options: Any) -> PurviewWriter:
    return PurviewWriter(LocalCredential(), f"{purview.url}/datamap/api/atlas/v2",
                         sleep=(slept if slept is not None else []).append, **options)


def typedef_calls(purview: PurviewServer) -> int:
    return purview.stats[TYPEDEF_CALLS]


def refused(call: Any) -> PurviewError:
    with pytest.raises(PurviewError) as failure:
        call()
    return failure.value


# --- retries --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_a_transient_status_is_retried_until_it_passes(purview: PurviewServer, status: int) -> None:
    slept: list[float] = []
    active = writer(purview, slept)
    purview.inject(status=status, times=2, path_contains=TYPEDEF)
    assert active.type_definition("adf_copy_activity") is not None
    assert typedef_calls(purview) == 3 and len(slept) == 2
    assert active.calls == 3


@pytest.mark.parametrize("status", [400, 401, 403, 409, 412])
def test_any_other_status_fails_at_once(purview: PurviewServer, status: int) -> None:
    slept: list[float] = []
    purview.inject(status=status, times=1, path_contains=TYPEDEF)
    error = refused(lambda: writer(purview, slept).type_definition("adf_copy_activity"))
    assert (error.status, error.transient) == (status, False)
    assert typedef_calls(purview) == 1 and slept == []


def test_the_last_attempt_raises_the_transient_error(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=503, times=3, path_contains=TYPEDEF)
    error = refused(lambda: writer(purview, slept, max_attempts=3).type_definition("adf_copy_activity"))
    assert error.transient and error.status == 503 and error.code == "ATLAS-503-00-001"
    assert str(error) == "Purview typedef: HTTP 503 ATLAS-503-00-001: injected fault"
    assert typedef_calls(purview) == 3 and len(slept) == 2


def test_a_dropped_connection_is_a_transient_network_error(purview: PurviewServer) -> None:
    purview.inject(drop=True, times=2, path_contains=TYPEDEF)
    error = refused(lambda: writer(purview, max_attempts=2).type_definition("adf_copy_activity"))
    assert error.transient and error.status is None and error.code is None
    assert str(error).startswith("Purview typedef: network error: ")


def test_the_backoff_doubles_from_the_base_to_its_cap_with_jitter(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=503, times=5, path_contains=TYPEDEF)
    writer(purview, slept, max_attempts=6, backoff_base_s=1.0, backoff_cap_s=5.0).type_definition("adf_pipeline")
    for wait, (low, high) in zip(slept, [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)], strict=True):
        assert low <= wait <= high


def test_each_retry_is_logged_with_the_call_the_error_and_the_wait(purview: PurviewServer,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    purview.inject(status=503, retry_after=0, times=1, path_contains=TYPEDEF)
    with caplog.at_level(logging.WARNING, logger="lineage.azure.purview"):
        writer(purview).type_definition("adf_pipeline")
    assert [r.getMessage() for r in caplog.records] == [
        "Purview typedef failed (Purview typedef: HTTP 503 ATLAS-503-00-001: injected fault), attempt 1 of 5; "
        "retrying in 0.0s"]


@pytest.mark.parametrize(("draw", "wait"), [(0.0, 1.0), (0.5, 1.5), (0.999, 1.999)])
def test_the_jitter_waits_between_half_the_backoff_and_all_of_it(purview: PurviewServer,
                                                                 monkeypatch: pytest.MonkeyPatch, draw: float,
                                                                 wait: float) -> None:
    slept: list[float] = []
    monkeypatch.setattr(random, "random", lambda: draw)
    purview.inject(status=503, times=2, path_contains=TYPEDEF)
    writer(purview, slept, backoff_base_s=2.0).type_definition("adf_pipeline")
    assert slept == pytest.approx([wait, 2 * wait])


def test_a_retry_after_is_not_carried_over_to_a_failure_without_an_answer(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=429, retry_after=7, times=1, path_contains=TYPEDEF)
    purview.inject(drop=True, times=2, path_contains=TYPEDEF)
    error = refused(lambda: writer(purview, slept, max_attempts=3).type_definition("adf_pipeline"))
    assert slept[0] == 7.0 and slept[1] <= 2.0  # the dropped connection said nothing about waiting
    assert error.status is None  # nor about its status


# --- what an error says -------------------------------------------------------------------------------------------

def test_an_atlas_error_says_its_code_and_message(purview: PurviewServer) -> None:
    purview.inject(status=400, times=1, path_contains=TYPEDEF,
                   body={"errorCode": "ATLAS-400-00-014", "errorMessage": "Given typename x was invalid"})
    error = refused(lambda: writer(purview).type_definition("x"))
    assert str(error) == "Purview typedef: HTTP 400 ATLAS-400-00-014: Given typename x was invalid"
    assert error.code == "ATLAS-400-00-014"


def test_an_error_that_is_not_atlas_json_says_its_text(purview: PurviewServer) -> None:
    purview.inject(status=502, times=1, path_contains=TYPEDEF, text="Bad Gateway " + "x" * 400,
                   content_type="text/plain")
    error = refused(lambda: writer(purview, max_attempts=1).type_definition("x"))
    assert str(error) == "Purview typedef: HTTP 502: Bad Gateway " + "x" * 288  # the first 300 characters
    assert error.code is None and error.transient


def test_an_error_with_fields_of_the_wrong_type_is_not_read_as_atlas(purview: PurviewServer) -> None:
    purview.inject(status=400, times=1, path_contains=TYPEDEF, body={"errorCode": 5, "errorMessage": ["no"]})
    error = refused(lambda: writer(purview).type_definition("x"))
    assert error.code is None
    assert str(error) == 'Purview typedef: HTTP 400: {"errorCode": 5, "errorMessage": ["no"]}'


def test_an_empty_error_says_there_was_no_response(purview: PurviewServer) -> None:
    purview.inject(status=500, times=1, path_contains=TYPEDEF, text="", content_type="text/plain")
    assert str(refused(lambda: writer(purview, max_attempts=1).type_definition("x"))) == \
        "Purview typedef: HTTP 500: no response"


# --- answers that are not believed --------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "location", "where"), [
    (302, "https://login.example.com/sign-in?x=1", "https://login.example.com"), (307, "/elsewhere", "the same host"),
    (300, None, "the same host"), (399, "https://a.example:8443/", "https://a.example:8443")])
def test_no_answer_in_the_redirect_range_is_followed(purview: PurviewServer, status: int, location: str | None,
                                                     where: str) -> None:
    purview.inject(status=status, times=1, path_contains=TYPEDEF, text="", content_type="text/plain",
                   headers={"Location": location} if location else {})
    error = refused(lambda: writer(purview).type_definition("adf_pipeline"))
    assert str(error).startswith(f"Purview typedef: HTTP {status} redirect to {where} not followed")
    assert (error.status, error.transient) == (status, False)


@pytest.mark.parametrize(("location", "where"), [("https://login.example.com/sign-in?x=1", "https://login.example.com"),
                                                 ("/elsewhere", "the same host"), (None, "the same host")])
def test_a_redirect_is_not_followed(purview: PurviewServer, location: str | None, where: str) -> None:
    purview.inject(status=302, times=1, path_contains=TYPEDEF, text="", content_type="text/plain",
                   headers={"Location": location} if location else {})
    error = refused(lambda: writer(purview).type_definition("adf_pipeline"))
    assert str(error) == (f"Purview typedef: HTTP 302 redirect to {where} not followed (the request carries the "
                          "token and the payload): set PURVIEW_ENDPOINT to the address that answers")
    assert (error.status, error.transient) == (302, False)
    assert typedef_calls(purview) == 1


@pytest.mark.parametrize(("text", "content_type", "shown"), [
    ("<html><body>Sign in</body></html>", "text/html; charset=utf-8", "text/html"),
    ("  <!DOCTYPE html>", "application/json", "application/json"),
    ("<p>", "", "no content type"),
    ("Please sign in to continue", "text/html", "text/html"),
])
def test_a_web_page_is_not_atlas_json(purview: PurviewServer, text: str, content_type: str, shown: str) -> None:
    purview.inject(status=200, times=1, path_contains=TYPEDEF, text=text, content_type=content_type)
    error = refused(lambda: writer(purview).type_definition("adf_pipeline"))
    assert str(error) == (f"Purview typedef: HTTP 200 with an HTML page ({shown}), not Atlas JSON: a proxy or "
                          "sign-in page, or PURVIEW_ENDPOINT is not the Data Map API")
    assert (error.status, error.transient) == (200, False)


def test_json_no_parser_here_reads_is_a_permanent_error(purview: PurviewServer) -> None:
    purview.inject(status=200, times=1, path_contains=TYPEDEF, text='{"name": 1', content_type="application/json")
    error = refused(lambda: writer(purview).type_definition("adf_pipeline"))
    assert str(error) == ("Purview typedef: HTTP 200, but the answer is not JSON: Expecting ',' delimiter at line 1, "
                          "column 11")
    assert (error.status, error.transient) == (200, False)


def test_an_empty_answer_is_no_definition(purview: PurviewServer) -> None:
    purview.inject(status=204, times=1, path_contains=TYPEDEF, text="", content_type="text/plain")
    assert writer(purview).type_definition("adf_pipeline") is None
    purview.inject(status=200, times=1, path_contains=TYPEDEF, body=None, text="", content_type="application/json")
    assert writer(purview).type_definition("adf_pipeline") is None
    purview.inject(status=200, times=1, path_contains=TYPEDEF, body=None, text="[1]", content_type="application/json")
    assert writer(purview).type_definition("adf_pipeline") is None


def test_a_type_purview_does_not_know_has_no_definition(purview: PurviewServer) -> None:
    assert writer(purview).type_definition("no_such_type") is None


def test_a_transient_failure_reading_a_definition_is_raised_not_read_as_unknown(purview: PurviewServer) -> None:
    purview.inject(status=503, times=1, path_contains=TYPEDEF)
    assert refused(lambda: writer(purview, max_attempts=1).type_definition("adf_pipeline")).transient


def test_the_resource_set_rules_must_be_a_configuration(purview: PurviewServer) -> None:
    rules = {"properties": {"advancedResourceSet": {"modifiedAt": "2022-02-01T00:00:00Z"}}}
    purview.inject(status=200, times=1, path_contains="resourceSetRuleConfigs", body=rules)
    assert writer(purview).resource_set_config() == rules
    purview.inject(status=200, times=1, path_contains="resourceSetRuleConfigs", text="[]",
                   content_type="application/json")
    error = refused(lambda: writer(purview).resource_set_config())
    assert str(error) == "Purview resource-set rules: the answer is not a rule configuration"
    assert error.transient is False
    purview.inject(status=403, times=1, path_contains="resourceSetRuleConfigs",
                   body={"error": {"code": "Forbidden", "message": "Not allowed"}})
    assert str(refused(lambda: writer(purview).resource_set_config())).startswith(
        "Purview resource-set rules: HTTP 403")
    with contextlib.suppress(PurviewError):  # served only where the shared contracts hold an account's rules
        writer(purview).resource_set_config()
    [asked] = [r for r in purview.requests if r.path.endswith("/defaultResourceSetRuleConfig")]
    assert asked.query == {"api-version": ["2019-11-01-preview"]}


# --- what a bulk write answered -------------------------------------------------------------------------------------

def test_a_bulk_write_counts_what_purview_says_it_changed(purview: PurviewServer) -> None:
    answer = {"mutatedEntities": {"CREATE": [{"guid": "a"}, {"guid": "b"}], "UPDATE": [{"guid": "c"}],
                                  "PARTIAL_UPDATE": [{"guid": "d"}]},
              "guidAssignments": {"-1": "a", "-2": "b"}}
    purview.inject(status=200, times=1, path_contains="/entity/bulk", method="POST", body=answer)
    result = writer(purview).push(ENTITIES)
    assert (result.created, result.updated, result.calls) == (2, 2, 1)
    assert result.guid_assignments == {"-1": "a", "-2": "b"}


def test_what_several_bulk_calls_changed_adds_up(purview: PurviewServer) -> None:
    result = writer(purview, max_entities_per_call=4).push(ENTITIES)
    assert result.calls == purview.stats["POST */*/*/*/entity/bulk"] >= 2
    assert (result.created, result.updated) == (len(ENTITIES), 0)
    changed = {"adf_copy_activity": {"lastRunTime": 1_900_000_000_000},  # in the first call
               "adf_copy_operation": {"description": "nightly load"}}  # in another
    later = [{**e, "attributes": {**e["attributes"], **changed.get(e["typeName"], {})}} for e in ENTITIES]
    again = writer(purview, max_entities_per_call=2).push(later)
    assert again.calls >= 2 and (again.created, again.updated) == (0, 2)


@pytest.mark.parametrize("answer", [{"guidAssignments": {}}, {"mutatedEntities": {}},
                                    {"mutatedEntities": {"CREATE": []}, "guidAssignments": None}])
def test_a_mutation_result_that_changed_nothing_is_believed(purview: PurviewServer, answer: dict[str, Any]) -> None:
    purview.inject(status=200, times=1, path_contains="/entity/bulk", method="POST", body=answer)
    result = writer(purview).push(ENTITIES)
    assert (result.created, result.updated, result.calls, result.guid_assignments) == (0, 0, 1, {})


@pytest.mark.parametrize(("text", "kind"), [
    ("{}", "a JSON object"),
    ('{"mutatedEntities": {"CREATE": "all"}}', "a JSON object"),
    ('{"mutatedEntities": ["x"]}', "a JSON object"),
    ('{"guidAssignments": ["-1"]}', "a JSON object"),
    ('{"mutatedEntities": null, "guidAssignments": null}', "a JSON object"),
    ("[]", "a JSON list"),
    ('"ok"', "a JSON str"),
    ("", "empty"),
])
def test_a_bulk_answer_that_is_no_mutation_result_fails_the_push(purview: PurviewServer, text: str,
                                                                 kind: str) -> None:
    purview.inject(status=200, times=1, path_contains="/entity/bulk", method="POST", text=text,
                   content_type="application/json")
    error = refused(lambda: writer(purview).push(ENTITIES))
    assert str(error) == (f"Purview upload: the answer is not a mutation result (it is {kind}, without a "
                          "well-formed mutatedEntities or guidAssignments): nothing shows the entities were written")
    assert error.transient is False and error.status is None


# --- look-ups ---------------------------------------------------------------------------------------------------------

def test_a_look_up_reads_only_entities_that_name_themselves(purview: PurviewServer) -> None:
    asset = sql_table_asset("contoso-sql.database.windows.net", "sales", "dbo", "DailySales", StoreSettings())
    for answer in ({"entities": "none"}, {"entities": [5, {"attributes": []}, {"attributes": {"qualifiedName": 3}}]},
                   {"referredEntities": {}}, ["not", "an", "object"]):
        purview.inject(status=200, times=len(asset.alternatives) + 1, path_contains="/uniqueAttribute/",
                       text=json.dumps(answer), content_type="application/json")
        active = writer(purview)
        assert active.resolve([asset]) == {asset: asset}  # nothing it can believe: the asset itself, to create
    purview.seed([{**e, "guid": "-1"} for e in ENTITIES if e["typeName"] == "azure_sql_server"])
    held = [e for e in ENTITIES if e["typeName"] == "azure_sql_server"]
    found = list(writer(purview)._lookup({(held[0]["typeName"], held[0]["attributes"]["qualifiedName"])}))
    assert [key for key, _ in found] == [(held[0]["typeName"], held[0]["attributes"]["qualifiedName"])]


def test_a_look_up_asks_for_the_entities_alone_and_says_so_when_it_fails(purview: RecordingPurview) -> None:
    asset = sql_table_asset("contoso-sql.database.windows.net", "sales", "dbo", "DailySales", StoreSettings())
    writer(purview).resolve([asset])
    lookups = [r for r in purview.requests if "/uniqueAttribute/" in r.path]
    assert {r.path.rsplit("/", 1)[-1] for r in lookups} == {"azure_sql_table", "azure_sql_view"}
    for request in lookups:
        assert request.query["ignoreRelationships"] == ["True"] and request.query["minExtInfo"] == ["True"]
    purview.inject(status=400, times=1, path_contains="/uniqueAttribute/",
                   body={"errorCode": "ATLAS-400-00-01A", "errorMessage": "bad query"})
    assert str(refused(lambda: writer(purview).resolve([asset]))) == \
        "Purview lookup: HTTP 400 ATLAS-400-00-01A: bad query"


def test_a_look_up_asks_for_forty_names_a_call_one_type_at_a_time(purview: PurviewServer) -> None:
    names = {("azure_sql_table", f"mssql://h/db/dbo/T{i:03d}") for i in range(81)} | {("azure_sql_view", "v")}
    assert list(writer(purview)._lookup(names)) == []
    assert purview.stats["GET */*/*/*/entity/bulk/uniqueAttribute/type/*"] == 3 + 1


# --- the client: pyapacheatlas' own requests, on kept-alive connections -----------------------------------------------

def client(purview: PurviewServer) -> _SessionAtlasClient:
    return _SessionAtlasClient(f"{purview.url}/datamap/api/atlas/v2", AzCredentialWrapper(LocalCredential()),
                               deadline_s=30.0, requests_timeout=10.0)


def test_the_client_passes_on_pyapacheatlas_header_options(purview: RecordingPurview) -> None:
    url = f"{purview.url}/datamap/api/atlas/v2/types/typedef/name/adf_pipeline"
    answer = client(purview)._get_http(url, headers_include={"X-Probe": "on"})
    assert (answer.status_code, answer.method, answer.is_successful) == (200, "GET", True)
    assert answer.body["name"] == "adf_pipeline"
    assert purview.requests[-1].headers.get("X-Probe") == "on"
    with pytest.raises(AtlasException, match="missing or invalid bearer token"):
        client(purview)._get_http(url, headers_exclude=["Authorization"])


def test_the_client_reads_an_answer_as_bytes_when_asked(purview: PurviewServer) -> None:
    url = f"{purview.url}/datamap/api/atlas/v2/types/typedef/name/adf_pipeline"
    answer = client(purview)._get_http(url, responseNotJson=True)
    assert isinstance(answer.body, bytes) and json.loads(answer.body)["name"] == "adf_pipeline"


def test_the_client_uploads_files(purview: PurviewServer) -> None:
    with pytest.raises(AtlasException, match="body is not JSON"):  # the local Purview takes JSON bodies only
        client(purview)._post_http(f"{purview.url}/datamap/api/atlas/v2/entity/bulk",
                                   files={"file": ("rules.csv", b"a,b\n")})
