"""The local Purview refuses what the real one refuses, over real HTTPS: the types of a live account's typedef export,
mandatory attributes (relationship attributes included), placeholder guids in both forms, reads that show each
relationship from both ends, soft delete, search, bounded lineage, and an answer to every request."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lineage.local.credential import TOKEN_PREFIX, LocalCredential
from lineage.local.purview_server import (
    DEFAULT_SPEC,
    MAX_LINEAGE_DEPTH,
    MAX_SEARCH_LIMIT,
    MERMAID_JS,
    AtlasError,
    PurviewServer,
)
from lineage.local.purview_types import BASE_MODEL, DEFAULT_SHARED, FALLBACK_SOURCE, TYPEDEF_DUMP, TypeRegistry
from lineage.local.tls import LocalTLS, make_local_tls

HAS_DUMPS = (DEFAULT_SHARED / BASE_MODEL).is_file() and (DEFAULT_SHARED / TYPEDEF_DUMP).is_file()
SQL = "mssql://contoso-sql.database.windows.net"
COSMOS = "https://contoso-cosmos.documents.azure.com"
BLOB = "https://contosolake.blob.core.windows.net/raw"
FACTORY = "/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.DataFactory/factories/contoso-adf"


def needs_shared() -> None:
    """Skip, saying why, where the real type definitions are the point and ../shared is not beside the project."""
    if not HAS_DUMPS:
        pytest.skip(f"the real Purview type definitions are absent ({DEFAULT_SHARED / TYPEDEF_DUMP}): this test holds "
                    "the local Purview to them")


def needs_spec(purview: PurviewServer) -> None:
    if not purview.validates_against_spec:
        pytest.skip(f"Purview's API spec is absent ({DEFAULT_SPEC}): requests are not checked against it")


class Client:
    """HTTPS calls with the bearer token the local server accepts (the CA given per call: the environment's wins
    over a session's)."""

    def __init__(self, purview: PurviewServer, tls: LocalTLS) -> None:
        self.base = f"{purview.url}/datamap/api"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN_PREFIX}https://purview.azure.net"
        self.verify = str(tls.ca_bundle)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        prefix = "" if path.startswith("/search") else "/atlas/v2"
        return self.session.request(method, f"{self.base}{prefix}{path}", json=body, verify=self.verify,
                                    timeout=10, **kwargs)

    def bulk(self, *entities: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/entity/bulk", {"entities": list(entities)})

    def entity(self, guid: str) -> dict[str, Any]:
        response = self.call("GET", f"/entity/guid/{guid}")
        assert response.status_code == 200, response.text
        entity: dict[str, Any] = response.json()["entity"]
        return entity

    def search(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/search/query", body)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTLS:
    return make_local_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module", params=["typedef dumps", FALLBACK_SOURCE])
def purview(request: pytest.FixtureRequest, tls: LocalTLS,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PurviewServer]:
    """The server on each source of types: both must hold the product to the same rules."""
    if request.param != FALLBACK_SOURCE:
        needs_shared()
    shared = DEFAULT_SHARED if request.param != FALLBACK_SOURCE else tmp_path_factory.mktemp("no-shared")
    with PurviewServer(tls, shared=shared) as server:
        assert server.types.source.startswith(request.param)
        yield server


@pytest.fixture
def client(purview: PurviewServer, tls: LocalTLS) -> Client:
    purview.reset()
    return Client(purview, tls)


def asset(type_name: str, qualified_name: str, guid: str | int, **extra: Any) -> dict[str, Any]:
    rels = {k: v for k, v in extra.items() if isinstance(v, dict | list)}
    attributes = {k: v for k, v in extra.items() if k not in rels}
    return {"typeName": type_name, "guid": guid, "relationshipAttributes": rels,
            "attributes": {"qualifiedName": qualified_name, "name": qualified_name.rsplit("/", 1)[-1], **attributes}}


def sql_chain(table: str = "sales") -> list[dict[str, Any]]:
    """server -> database -> schema -> table, as a scanner creates them, with placeholders in both forms."""
    return [
        asset("azure_sql_server", SQL, "-1"),
        asset("azure_sql_db", f"{SQL}/shop", -2, server={"guid": -1}),
        asset("azure_sql_schema", f"{SQL}/shop/dbo", "-3", db={"guid": "-2", "typeName": "azure_sql_db"}),
        asset("azure_sql_table", f"{SQL}/shop/dbo/{table}", -4, dbSchema={"guid": "-3"}),
    ]


def cosmos_chain(api_type: str = "SQL") -> list[dict[str, Any]]:
    return [
        asset("azure_cosmosdb_account", COSMOS, -1, api_type=api_type),
        asset("azure_cosmosdb_database", f"{COSMOS}/dbs/shop", -2, resourceLink="dbs/shop", account={"guid": -1}),
        asset("azure_cosmosdb_sqlapi_collection", f"{COSMOS}/dbs/shop/colls/orders", -3,
              resourceLink="dbs/shop/colls/orders", db={"guid": -2}),
    ]


def lineage_chain() -> list[dict[str, Any]]:
    """A copy operation of Purview's Data Factory types, from one blob to another."""
    pipeline, activity = f"{FACTORY}/pipelines/Load", f"{FACTORY}/pipelines/Load/activities/Copy"
    return [
        asset("azure_data_factory", FACTORY, -1),
        asset("adf_pipeline", pipeline, -2, dataFactory={"guid": -1}),
        asset("adf_copy_activity", activity, -3, parent={"guid": -2}),
        asset("azure_blob_path", f"{BLOB}/in.csv", -4),
        asset("azure_blob_path", f"{BLOB}/out.csv", -5),
        asset("adf_copy_operation", f"{activity}#{BLOB}/out.csv#azure_blob_path", -6, parent={"guid": -3},
              inputs=[{"guid": -4}], outputs=[{"typeName": "azure_blob_path", "guid": "-5"}]),
    ]


def refused(response: requests.Response, status: int, code: str) -> str:
    assert (response.status_code, response.json()["errorCode"]) == (status, code), response.text
    message: str = response.json()["errorMessage"]
    return message


# ------------------------------------------------------------------------------------- types and what they demand


def test_an_unknown_type_is_refused(client: Client) -> None:
    message = refused(client.bulk(asset("azure_sql_tabel", f"{SQL}/shop/dbo/sales", -1)), 400, "ATLAS-400-00-014")
    assert "azure_sql_tabel" in message


def test_a_sql_table_without_its_schema_is_refused_naming_dbschema(client: Client, purview: PurviewServer) -> None:
    message = refused(client.bulk(asset("azure_sql_table", f"{SQL}/shop/dbo/sales", -1)), 404, "ATLAS-404-00-007")
    assert message == ("Invalid instance creation/updation parameters passed : azure_sql_table.dbSchema: mandatory "
                       "attribute value missing in type azure_sql_table")
    assert purview.entities() == []


def test_the_chain_server_db_schema_table_in_one_call_with_string_and_integer_placeholders(client: Client) -> None:
    response = client.bulk(*sql_chain())
    assert response.status_code == 200, response.text
    assigned = response.json()["guidAssignments"]
    assert sorted(assigned) == ["-1", "-2", "-3", "-4"]
    assert len(response.json()["mutatedEntities"]["CREATE"]) == 4
    table = client.entity(assigned["-4"])
    assert table["relationshipAttributes"]["dbSchema"]["guid"] == assigned["-3"]
    schema = client.entity(assigned["-3"])
    assert [t["guid"] for t in schema["relationshipAttributes"]["tables"]] == [assigned["-4"]]  # the other end
    assert schema["relationshipAttributes"]["db"]["uniqueAttributes"] == {"qualifiedName": f"{SQL}/shop"}


def test_a_reference_to_a_placeholder_no_entity_has_is_refused(client: Client, purview: PurviewServer) -> None:
    chain = sql_chain()
    chain[3]["relationshipAttributes"]["dbSchema"] = {"guid": -9}
    refused(client.bulk(*chain), 404, "ATLAS-404-00-00A")
    assert purview.entities() == []  # all or nothing


def test_a_reference_to_the_wrong_type_is_refused(client: Client) -> None:
    chain = sql_chain()
    chain[3]["relationshipAttributes"]["dbSchema"] = {"guid": -2}  # the database, not a schema
    assert "is not a azure_sql_schema" in refused(client.bulk(*chain), 400, "ATLAS-400-00-001")


def test_a_cosmos_collection_without_its_resource_link_is_refused(client: Client) -> None:
    chain = cosmos_chain()
    del chain[2]["attributes"]["resourceLink"]
    message = refused(client.bulk(*chain), 404, "ATLAS-404-00-007")
    assert message.endswith("azure_cosmosdb_sqlapi_collection.resourceLink: mandatory attribute value missing in type "
                            "azure_cosmosdb_sqlapi_collection")
    assert client.bulk(*cosmos_chain()).status_code == 200


def test_a_cosmos_account_needs_an_api_type_the_enum_knows(client: Client) -> None:
    # Atlas reports an enum value it does not know among the entity's invalid parameters (AtlasEnumType.validateValue)
    message = refused(client.bulk(*cosmos_chain(api_type="Postgres")), 404, "ATLAS-404-00-007")
    assert "azure_cosmosdb_account.api_type=Postgres: invalid value for type cosmosdb_account_api" in message
    no_api = cosmos_chain()
    del no_api[0]["attributes"]["api_type"]
    assert "azure_cosmosdb_account.api_type: mandatory" in refused(client.bulk(*no_api), 404, "ATLAS-404-00-007")
    response = client.bulk(*cosmos_chain(api_type="sql"))  # matched case-insensitively, stored as declared
    assert client.entity(response.json()["guidAssignments"]["-1"])["attributes"]["api_type"] == "SQL"


def test_a_pipeline_needs_its_factory_but_no_parent_process(client: Client) -> None:
    factory, pipeline = asset("azure_data_factory", FACTORY, -1), asset("adf_pipeline", f"{FACTORY}/pipelines/p", -2)
    message = refused(client.bulk(factory, pipeline), 404, "ATLAS-404-00-007")
    assert "adf_pipeline.dataFactory: mandatory" in message
    pipeline["relationshipAttributes"]["dataFactory"] = {"guid": -1}
    assert client.bulk(factory, pipeline).status_code == 200


def test_an_operation_needs_its_parent(client: Client) -> None:
    chain = lineage_chain()
    del chain[5]["relationshipAttributes"]["parent"]
    assert "adf_copy_operation.parent: mandatory" in refused(client.bulk(*chain), 404, "ATLAS-404-00-007")


def test_a_mandatory_reference_may_come_under_attributes(client: Client) -> None:
    chain = sql_chain()
    chain[3]["attributes"]["dbSchema"] = chain[3]["relationshipAttributes"].pop("dbSchema")
    assert client.bulk(*chain).status_code == 200


def test_seeds_go_through_the_same_checks(purview: PurviewServer) -> None:
    purview.reset()
    with pytest.raises(AtlasError) as refusal:
        purview.seed([asset("azure_sql_table", f"{SQL}/shop/dbo/sales", -1)])
    assert (refusal.value.status, refusal.value.code) == (404, "ATLAS-404-00-007")
    assert purview.entities() == []
    guids = purview.seed({k: v for k, v in e.items() if k != "guid"} if e["typeName"] == "azure_sql_server" else e
                         for e in sql_chain())
    assert [e["guid"] for e in purview.entities()] == [guids[i] for i in (1, 2, 0, 3)]  # sorted by type


def test_excluded_types_are_unknown(tls: LocalTLS) -> None:
    with PurviewServer(tls, exclude_types=["adf_dataflow_operation"]) as purview:
        client = Client(purview, tls)
        refused(client.call("GET", "/types/typedef/name/adf_dataflow_operation"), 404, "ATLAS-404-00-003")
        assert client.call("GET", "/types/typedef/name/adf_copy_operation").status_code == 200


# ------------------------------------------------------------------------------------------ reads and delete


def test_entities_read_by_guid_and_by_several_guids(client: Client) -> None:
    assigned = client.bulk(*sql_chain()).json()["guidAssignments"]
    both = client.call("GET", "/entity/bulk", params={"guid": [assigned["-4"], assigned["-1"]]})
    assert [e["typeName"] for e in both.json()["entities"]] == ["azure_sql_table", "azure_sql_server"]
    assert both.json()["referredEntities"] == {}
    missing = client.call("GET", "/entity/bulk", params={"guid": [assigned["-4"], "no-such-guid"]})
    refused(missing, 404, "ATLAS-404-00-005")
    refused(client.call("GET", "/entity/guid/no-such-guid"), 404, "ATLAS-404-00-005")


def test_a_deleted_entity_is_gone_from_look_ups_and_search(client: Client) -> None:
    assigned = client.bulk(asset("azure_blob_path", f"{BLOB}/a.csv", -1)).json()["guidAssignments"]
    deleted = client.call("DELETE", f"/entity/guid/{assigned['-1']}")
    assert deleted.status_code == 200
    [header] = deleted.json()["mutatedEntities"]["DELETE"]
    assert (header["guid"], header["status"]) == (assigned["-1"], "DELETED")
    look_up = client.call("GET", "/entity/uniqueAttribute/type/azure_blob_path",
                          params={"attr:qualifiedName": f"{BLOB}/a.csv"})
    refused(look_up, 404, "ATLAS-404-00-009")
    bulk_look_up = client.call("GET", "/entity/bulk/uniqueAttribute/type/azure_blob_path",
                               params={"attr_0:qualifiedName": f"{BLOB}/a.csv"})
    assert bulk_look_up.json()["entities"] == []
    assert client.search({"keywords": "a.csv"}).json()["@search.count"] == 0
    assert client.entity(assigned["-1"])["status"] == "DELETED"  # still readable by guid, as in Atlas
    again = client.bulk(asset("azure_blob_path", f"{BLOB}/a.csv", -1)).json()["guidAssignments"]["-1"]
    assert again != assigned["-1"]
    refused(client.call("DELETE", "/entity/guid/no-such-guid"), 404, "ATLAS-404-00-005")


def test_process_references_show_under_attributes_and_at_both_ends(client: Client) -> None:
    assigned = client.bulk(*lineage_chain()).json()["guidAssignments"]
    operation = client.entity(assigned["-6"])
    source = {"guid": assigned["-4"], "typeName": "azure_blob_path",
              "uniqueAttributes": {"qualifiedName": f"{BLOB}/in.csv"}}
    assert operation["attributes"]["inputs"] == [source]
    [related] = operation["relationshipAttributes"]["inputs"]
    assert {k: related[k] for k in source} == source
    assert related["relationshipType"] == "dataset_process_inputs"
    assert operation["relationshipAttributes"]["parent"]["guid"] == assigned["-3"]
    read_source = client.entity(assigned["-4"])["relationshipAttributes"]
    assert [p["guid"] for p in read_source["inputToProcesses"]] == [assigned["-6"]]
    sink = client.entity(assigned["-5"])["relationshipAttributes"]
    assert [p["guid"] for p in sink["outputFromProcesses"]] == [assigned["-6"]]
    activity = client.entity(assigned["-3"])["relationshipAttributes"]
    assert [p["guid"] for p in activity["subProcesses"]] == [assigned["-6"]]
    factory = client.entity(assigned["-1"])["relationshipAttributes"]
    assert [p["guid"] for p in factory["pipelines"]] == [assigned["-2"]]


# ------------------------------------------------------------------------------------------------------ search


def test_search_by_qualified_name_by_type_and_combined(client: Client) -> None:
    client.bulk(*sql_chain(), asset("azure_blob_path", f"{BLOB}/a.csv", -5),
                asset("azure_blob_path", f"{BLOB}/b.csv", -6))
    by_name = client.search({"keywords": None, "limit": 10, "filter": {
        "attributeName": "qualifiedName", "operator": "eq", "attributeValue": f"{SQL}/shop/dbo/sales"}}).json()
    assert by_name["@search.count"] == 1
    [row] = by_name["value"]
    assert (row["qualifiedName"], row["entityType"], row["name"]) == (
        f"{SQL}/shop/dbo/sales", "azure_sql_table", "sales")
    by_type = client.search({"filter": {"typeName": "azure_blob_path"}}).json()
    assert sorted(r["name"] for r in by_type["value"]) == ["a.csv", "b.csv"]
    nested = client.search({"filter": {"and": [{"typeName": "DataSet"}, {"or": [
        {"attributeName": "name", "operator": "eq", "attributeValue": "b.csv"},
        {"attributeName": "qualifiedName", "operator": "prefix", "attributeValue": SQL}]}]}}).json()
    assert sorted(r["name"] for r in nested["value"]) == ["b.csv", "sales"]  # subtypes of DataSet, not the schema
    refused(client.search({"filter": {"near": "here"}}), 400, "ATLAS-400-00-001")
    refused(client.search({"limit": 0}), 400, "ATLAS-400-00-001")


def test_a_search_answers_at_most_a_thousand(client: Client, purview: PurviewServer) -> None:
    purview.seed(asset("azure_blob_path", f"{BLOB}/{n:04d}.csv", -n - 1) for n in range(MAX_SEARCH_LIMIT + 1))
    found = client.search({"keywords": "*", "limit": 5000}).json()
    assert (found["@search.count"], len(found["value"])) == (MAX_SEARCH_LIMIT + 1, MAX_SEARCH_LIMIT)


def test_a_search_body_is_held_to_the_spec(client: Client, purview: PurviewServer) -> None:
    needs_spec(purview)
    assert "violates the API spec" in refused(client.search({"keywords": ["sales"]}), 400, "ATLAS-400-00-001")


# ----------------------------------------------------------------------------------------------------- lineage


def test_lineage_refuses_a_bad_direction_or_depth_and_caps_a_deep_one(client: Client, purview: PurviewServer) -> None:
    count = MAX_LINEAGE_DEPTH + 3
    datasets = [asset("azure_blob_path", f"{BLOB}/step{n}.csv", -1 - n) for n in range(count + 1)]
    processes = [asset("Process", f"copy-{n}", -100 - n, inputs=[{"guid": -1 - n}], outputs=[{"guid": -2 - n}])
                 for n in range(count)]
    guids = purview.seed([*datasets, *processes])
    start = guids[0]
    refused(client.call("GET", f"/lineage/{start}", params={"direction": "SIDEWAYS"}), 400, "ATLAS-400-00-001")
    refused(client.call("GET", f"/lineage/{start}", params={"depth": "deep"}), 400, "ATLAS-400-00-001")
    graph = client.call("GET", f"/lineage/{start}", params={"direction": "OUTPUT", "depth": "1000000"}).json()
    assert graph["lineageDepth"] == MAX_LINEAGE_DEPTH
    reached = set(graph["guidEntityMap"])
    assert guids[MAX_LINEAGE_DEPTH] in reached and guids[MAX_LINEAGE_DEPTH + 1] not in reached
    upstream = client.call("GET", f"/lineage/{guids[2]}", params={"direction": "INPUT", "depth": "1"}).json()
    assert set(upstream["guidEntityMap"]) == {guids[2], guids[1], guids[count + 2]}  # step1 -> copy-1 -> step2


# ------------------------------------------------------------------------------------ every request is answered


def test_an_unsupported_method_answers_405_and_a_bad_body_400(client: Client, purview: PurviewServer) -> None:
    for method, path in (("PUT", "/entity/bulk"), ("PATCH", "/entity/bulk"), ("DELETE", "/types/typedefs"),
                         ("GET", "/search/query")):
        response = client.call(method, path)
        refused(response, 405, "ATLAS-405-00-001")
    assert client.call("PUT", "/entity/bulk").headers["Allow"] == "GET, POST"
    json_headers = {"Content-Type": "application/json"}
    for raw in (b"{not json", b"\xff\xfe{}", b"[" * 100_000):
        refused(client.call("POST", "/entity/bulk", data=raw, headers=json_headers), 400, "ATLAS-400-00-001")
    assert client.call("GET", "/types/typedef/name/azure_sql_table").status_code == 200  # the connection lives on
    connection = http.client.HTTPSConnection(purview.url.removeprefix("https://"), timeout=10,
                                             context=ssl.create_default_context(cafile=client.verify))
    connection.putrequest("POST", "/datamap/api/atlas/v2/entity/bulk")
    connection.putheader("Authorization", f"Bearer {TOKEN_PREFIX}https://purview.azure.net")
    connection.putheader("Content-Length", "lots")
    connection.endheaders()
    assert connection.getresponse().status == 400
    connection.close()


def test_a_bulk_body_is_held_to_the_spec(client: Client, purview: PurviewServer) -> None:
    needs_spec(purview)
    message = refused(client.call("POST", "/entity/bulk", {"entities": {"not": "a list"}}), 400, "ATLAS-400-00-001")
    assert "violates the API spec" in message


def test_pyapacheatlas_writes_with_the_local_token(purview: PurviewServer, tls: LocalTLS,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pyapacheatlas.auth.azcredential import AzCredentialWrapper
    from pyapacheatlas.core import AtlasClient, AtlasEntity

    purview.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_bundle))
    atlas = AtlasClient(f"{purview.url}/datamap/api/atlas/v2", AzCredentialWrapper(LocalCredential()))
    source = AtlasEntity("in.csv", "azure_blob_path", f"{BLOB}/in.csv", guid=-1)  # an integer placeholder
    atlas.upload_entities([source])
    found = atlas.get_entity(qualifiedName=f"{BLOB}/in.csv", typeName="azure_blob_path")
    assert [e["attributes"]["name"] for e in found["entities"]] == ["in.csv"]


# ---------------------------------------------------------------------------------------- where the types come from


def test_the_fallback_is_said_once_and_agrees_with_the_dumps(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        fallback = TypeRegistry(shared=tmp_path)
        TypeRegistry(shared=tmp_path)
    assert fallback.source == FALLBACK_SOURCE
    assert [r.levelname for r in caplog.records if str(tmp_path) in r.getMessage()] == ["WARNING"]
    needs_shared()
    real = TypeRegistry()
    assert real.source == f"typedef dumps {DEFAULT_SHARED / TYPEDEF_DUMP}"

    def rules(registry: TypeRegistry, type_name: str) -> tuple[set[Any], set[Any], frozenset[str]]:
        rels = registry.relationships(type_name)
        plain = registry.attributes(type_name)
        return ({(n, a.type_name) for n, a in plain.items() if not a.optional and n not in rels},
                {(n, a.type_name, a.relationship) for n, a in rels.items() if not a.optional},
                registry.ancestors(type_name) & set(fallback.defs))

    assert {t: rules(real, t) for t in fallback.defs} == {t: rules(fallback, t) for t in fallback.defs}


def test_the_custom_spark_types_are_left_out_but_not_same_named_attributes(tls: LocalTLS) -> None:
    needs_shared()
    real = TypeRegistry()
    assert not real.known("spark_ml_model")
    assert {"model", "pipeline"}.isdisjoint(real.relationships("azure_sql_table"))
    assert not real.relationships("erwin_view")["model"].optional  # erwin_view's own `model` stays mandatory
    with PurviewServer(tls) as purview:
        definition = Client(purview, tls).call("GET", "/types/typedef/name/azure_sql_table").json()
    names = {d["name"]: d["isOptional"] for d in definition["relationshipAttributeDefs"]}
    assert names["dbSchema"] is False and "model" not in names


def test_without_the_spec_the_server_says_so(tls: LocalTLS, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), PurviewServer(tls, spec_path=tmp_path / "purviewdatamap.json") as purview:
        assert not purview.validates_against_spec
    assert [r.levelname for r in caplog.records if "API spec not found" in r.getMessage()] == ["WARNING"]


def test_the_typedef_dump_is_served_whole(client: Client, purview: PurviewServer) -> None:
    typedefs = client.call("GET", "/types/typedefs").json()
    names = {d["name"] for d in typedefs["entityDefs"]}
    assert {"azure_sql_table", "adf_copy_operation"} <= names
    assert "snowflake_table" not in names  # the export predates Purview's Snowflake types: neither source has them
    assert json.dumps(typedefs).count('"spark_') == 0
    assert len(names) == len(purview.types.defs)


def test_the_account_answers_with_its_resource_set_rules(tls: LocalTLS, tmp_path: Path) -> None:
    needs_shared()
    path = "/account/resourceSetRuleConfigs/defaultResourceSetRuleConfig"
    with PurviewServer(tls) as purview:
        client = Client(purview, tls)
        rules = client.session.get(f"{purview.url}{path}", params={"api-version": "2021-07-01"}, verify=client.verify,
                                   timeout=10).json()
        refused(client.session.put(f"{purview.url}{path}", verify=client.verify, timeout=10), 405, "ATLAS-405-00-001")
    assert rules["name"] == "defaultResourceSetRuleConfig" and rules["pathPatternConfig"]["regexReplacers"]
    with PurviewServer(tls, shared=tmp_path) as without:
        absent = Client(without, tls).session.get(f"{without.url}{path}", verify=client.verify, timeout=10)
    refused(absent, 404, "ATLAS-404-00-001")


def test_the_page_draws_its_graph_with_the_locally_installed_mermaid(purview: PurviewServer, tls: LocalTLS) -> None:
    """No CDN: the page works offline, with the npm package the bootstrap installs."""
    page = requests.get(f"{purview.url}/", verify=str(tls.ca_bundle), timeout=10)
    assert page.status_code == 200
    assert "<script src='/mermaid.min.js'>" in page.text and "cdn" not in page.text.lower()
    script = requests.get(f"{purview.url}/mermaid.min.js", verify=str(tls.ca_bundle), timeout=30)
    if not MERMAID_JS.is_file():
        assert script.status_code == 404 and "bootstrap" in script.text
        pytest.skip("Mermaid is not installed in node_modules (scripts/bootstrap installs it)")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "mermaid" in script.text[:100_000].lower()
