"""Each factory's lineage lands in its own Purview collection: the mapping's rules, most specific first, and the
whole path end to end, where assets a scan put elsewhere stay there and a collection without the Data Curator role
refuses the run (poison queue, with the reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from lineage.azure import catalog
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.cli.main import main
from lineage.extract.collection_map import CollectionConfigError, Collections
from lineage.extract.config import ConfigError, LineageOptions
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.credential import LOCAL_PRINCIPAL_ID, LocalCredential
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, local_stack
from lineage.service.poison import read_poison
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES, SHARED
from tests.records import SUB
from tests.test_catalog import SERVER, blob_to_sql, push

SALES = f"/subscriptions/{SUB}/resourceGroups/rg-sales/providers/Microsoft.DataFactory/factories/sales-adf"
OTHER_SUB = "0a0b0c0d-1111-4222-8333-444455556666"


def factory(resource_id: str) -> FactoryId:
    return FactoryId.parse(resource_id)


def fid(sub: str, rg: str, name: str) -> FactoryId:
    return FactoryId(sub, rg, name)


MAPPING = Collections.from_setting({
    "default": "shared1",
    "factories": {SALES.upper(): "sales1"},
    "namePatterns": [{"pattern": "fin-*", "collection": "finance"}, {"pattern": "f*", "collection": "never"}],
    "resourceGroups": {f"/subscriptions/{SUB}/resourceGroups/RG-Sales": "salesrg", f"/subscriptions/{SUB}/"
                       "resourceGroups/rg-fin": "finrg"},
    "subscriptions": {OTHER_SUB.upper(): "othersub"},
})


def test_a_factory_named_by_id_wins_over_every_broader_rule_whatever_the_case() -> None:
    assert MAPPING.collection_for(factory(SALES)) == "sales1"
    assert MAPPING.collection_for(factory(SALES.replace("sales-adf", "SALES-ADF"))) == "sales1"


def test_a_name_pattern_wins_over_the_resource_group_and_the_first_matching_pattern_wins() -> None:
    assert MAPPING.collection_for(fid(SUB, "rg-fin", "FIN-daily")) == "finance"
    assert MAPPING.collection_for(fid(SUB, "rg-fin", "forecasts")) == "never"


def test_resource_group_then_subscription_then_default_then_nothing() -> None:
    assert MAPPING.collection_for(fid(SUB, "rg-sales", "sales-other")) == "salesrg"
    assert MAPPING.collection_for(fid(SUB, "rg-fin", "ledger")) == "finrg"
    assert MAPPING.collection_for(fid(OTHER_SUB, "rg-fin", "ledger")) == "othersub"  # another subscription's rg
    assert MAPPING.collection_for(fid(SUB, "rg-x", "ledger")) == "shared1"
    assert Collections().collection_for(fid(SUB, "rg-x", "ledger")) is None
    assert Collections.from_setting({"factories": {SALES: "sales1"}}).collection_for(fid(SUB, "rg", "x")) is None


@given(st.lists(st.booleans(), min_size=len(SALES), max_size=len(SALES)),
       st.sampled_from(["rg-sales", "rg-fin", "rg-x"]), st.sampled_from(["sales-adf", "fin-daily", "ledger"]),
       st.sampled_from([SUB, OTHER_SUB]))
def test_resolution_ignores_case_everywhere_as_arm_does(flips: list[bool], rg: str, name: str, sub: str) -> None:
    def recased(text: str) -> str:
        return "".join(c.upper() if flip else c.lower() for c, flip in zip(text, flips, strict=False))

    plain = fid(sub, rg, name)
    assert MAPPING.collection_for(fid(recased(sub), recased(rg), recased(name))) == MAPPING.collection_for(plain)
    assert MAPPING.collection_for(factory(recased(SALES))) == "sales1"


def test_every_collection_the_mapping_can_send_lineage_to_is_named_once() -> None:
    assert MAPPING.named() == ["finance", "finrg", "never", "othersub", "sales1", "salesrg", "shared1"]
    assert Collections().named() == []


@pytest.mark.parametrize(("setting", "says"), [
    ([], "must be an object"),
    ({"defaults": "x"}, "unknown collections key"),
    ({"default": "Sales Team"}, "collections.default must be a collection name"),
    ({"default": ""}, "collections.default"),
    ({"factories": {"/subscriptions/s/resourceGroups/rg/factories/f": "x"}}, "collections.factories"),
    ({"factories": ["x"]}, "collections.factories must be an object"),
    ({"resourceGroups": {"rg-sales": "x"}}, "is not a resource group id"),
    ({"subscriptions": {"a b": "x"}}, "is not a subscription id"),
    ({"subscriptions": {SUB: 7}}, "must be a collection name"),
    ({"namePatterns": {"sales-*": "x"}}, "must be a list"),
    ({"namePatterns": [{"pattern": "", "collection": "x"}]}, "namePatterns[0].pattern"),
    ({"namePatterns": [{"pattern": "a*"}]}, "namePatterns[0] must be"),
])
def test_a_malformed_mapping_is_refused_naming_the_part(setting: Any, says: str) -> None:
    with pytest.raises(CollectionConfigError) as caught:
        Collections.from_setting(setting)
    assert says in str(caught.value)
    with pytest.raises(ConfigError) as as_setting:
        LineageOptions.from_mapping({"collections": setting})
    assert says in str(as_setting.value)


def test_the_mapping_is_read_from_the_lineage_settings() -> None:
    options = LineageOptions.from_mapping({"collections": {"default": "k3x9qa"}})
    assert options.collections.collection_for(factory(SALES)) == "k3x9qa"
    assert LineageOptions().collections.named() == []


# ----------------------------------------------------------------------------------------------- end to end

FAST_HOST = HostSettings(max_dequeue_count=2, visibility_timeout_s=1, batch_size=16)
FIN = f"/subscriptions/{SUB}/resourceGroups/rg-fin/providers/Microsoft.DataFactory/factories/fin-adf"
LOCKED = f"/subscriptions/{SUB}/resourceGroups/rg-locked/providers/Microsoft.DataFactory/factories/locked-adf"
TABLE_QN = f"{SERVER}/sales/dbo/DailySales"
SETTINGS = {"collections": {
    "factories": {SALES: "sales1", LOCKED: "locked"},
    "resourceGroups": {f"/subscriptions/{SUB}/resourceGroups/rg-fin": "finance"},
}}


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    if not (SHARED / "contracts" / "purview" / "typedef-dumps").is_dir():
        pytest.skip("needs Purview's real typedef dumps in the shared contracts folder (the local Purview enforces "
                    "them)")
    with local_stack(SAMPLES, host_settings=FAST_HOST, azurite=azurite, queue_name="collections-runs",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": "2", "LINEAGE_SETTINGS": json.dumps(SETTINGS)}) as running:
        purview = running.purview
        purview.add_collection("scans")
        purview.add_collection("sales1")
        purview.add_collection("finance")
        purview.set_curators(purview.root_collection, [])  # the identity is curator of its collections only
        purview.set_curators("sales1", [LOCAL_PRINCIPAL_ID])
        purview.set_curators("finance", [LOCAL_PRINCIPAL_ID])
        purview.add_collection("locked")  # exists, but the identity holds no role there
        purview.add_collection("salesteam", parent="sales1")  # the role inherited from sales1
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> Iterator[None]:
    stack.reset()
    yield
    stack.reset()


def seed_scanned_table(stack: LocalStack) -> None:
    """The table as a scan registered it, in the collection the scan writes to."""
    server, db, schema = SERVER, f"{SERVER}/sales", f"{SERVER}/sales/dbo"
    stack.purview.seed([
        {"typeName": "azure_sql_server", "attributes": {"qualifiedName": server, "name": "contoso-sql"},
         "guid": "-1"},
        {"typeName": "azure_sql_db", "attributes": {"qualifiedName": db, "name": "sales"}, "guid": "-2",
         "relationshipAttributes": {"server": {"guid": "-1"}}},
        {"typeName": "azure_sql_schema", "attributes": {"qualifiedName": schema, "name": "dbo"}, "guid": "-3",
         "relationshipAttributes": {"db": {"guid": "-2"}}},
        {"typeName": "azure_sql_table", "attributes": {"qualifiedName": TABLE_QN, "name": "DailySales"},
         "guid": "-4", "relationshipAttributes": {"dbSchema": {"guid": "-3"}}},
    ], collection="scans")


def own(stack: LocalStack, factory_id: str) -> dict[tuple[str, str], str]:
    """Our entities under a factory, each with its collection."""
    return {(e["typeName"], e["attributes"]["qualifiedName"]): e["collectionId"] for e in stack.purview.entities()
            if e["attributes"]["qualifiedName"].startswith(factory_id)}


def test_each_factory_s_lineage_lands_in_its_collection_and_scanned_assets_stay_where_they_are(
        stack: LocalStack) -> None:
    seed_scanned_table(stack)
    scanned_in = stack.purview.collection_of("azure_sql_table", TABLE_QN)
    push(stack, blob_to_sql(1, factory=SALES))
    push(stack, blob_to_sql(2, factory=FIN))
    sales, fin = own(stack, SALES), own(stack, FIN)
    assert len(sales) == 4 and set(sales.values()) == {"sales1"}  # factory, pipeline, activity, operation
    assert len(fin) == 4 and set(fin.values()) == {"finance"}
    assert stack.purview.collection_of("azure_sql_table", TABLE_QN) == scanned_in == "scans"
    blob = [e for e in stack.purview.entities() if e["typeName"].startswith("azure_blob")]
    assert [e["collectionId"] for e in blob] == ["sales1"]  # created by the first run, in its factory's collection
    assert stack.worker.outcomes[Outcome.PUSHED] == 2


def test_a_collection_where_the_identity_is_not_data_curator_refuses_the_run_and_nothing_is_written(
        stack: LocalStack) -> None:
    seed_scanned_table(stack)
    push(stack, blob_to_sql(3, factory=LOCKED))
    assert own(stack, LOCKED) == {}
    [message] = stack.queues.poison.peek_messages(max_messages=32)
    reason = read_poison(str(message.content)).reason
    assert "403" in reason and "not a Data Curator of collection 'locked'" in reason


def test_without_a_collection_the_writer_asks_for_none_and_the_root_needs_the_role(stack: LocalStack) -> None:
    writer = PurviewWriter(LocalCredential(), stack.worker.writer._client.endpoint_url, max_attempts=1)
    factory_entity = {"typeName": "azure_data_factory", "attributes": {
        "qualifiedName": SALES, "name": "sales-adf", "subscriptionId": SUB, "resourceGroupName": "rg-sales"}}
    with pytest.raises(PurviewError) as refused:
        writer.push([factory_entity])
    assert refused.value.status == 403 and not refused.value.transient
    assert writer.push([factory_entity], "sales1").created == 1
    assert stack.purview.collection_of("azure_data_factory", SALES) == "sales1"


def test_the_local_purview_page_shows_each_entity_s_collection(stack: LocalStack) -> None:
    push(stack, blob_to_sql(4, factory=SALES))
    page = requests.get(f"{stack.purview.url}/", verify=str(stack.purview.tls.ca_bundle), timeout=30).text
    assert "<h2>Collections</h2>" in page
    # the factory's 4, and the 5 assets the run created: the blob, and the table with its schema, database, server
    assert "<li>sales1 (under localpurview): 9 entities</li>" in page
    assert "<li>scans (under localpurview): 0 entities</li>" in page
    assert f"<tr><td>sales1</td><td>adf_pipeline</td><td>{SALES}/pipelines/Load4</td></tr>" in page


def test_doctor_checks_each_mapped_collection_exists_and_the_identity_is_data_curator_there(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = {"collections": {"default": "nosuch", "factories": {SALES: "salesteam", LOCKED: "locked"},
                               "subscriptions": {SUB: "finance"}}}
    monkeypatch.setenv("LINEAGE_SETTINGS", json.dumps(mapping))
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    capsys.readouterr()
    assert main(["doctor", "--json"], credential=stack.credential) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"].startswith("collection")}
    assert sorted(checks) == ["collection finance", "collection locked", "collection nosuch", "collection salesteam"]
    assert checks["collection finance"]["ok"] and checks["collection finance"]["detail"] == \
        f"exists; {LOCAL_PRINCIPAL_ID} is Data Curator"
    team, locked = checks["collection salesteam"], checks["collection locked"]
    assert team["ok"] and "(inherited from sales1)" in team["detail"]
    assert not locked["ok"] and "is not Data Curator there" in locked["detail"]
    assert "--collection locked" in checks["collection locked"]["fix"]
    assert not checks["collection nosuch"]["ok"] and checks["collection nosuch"]["detail"] == \
        "no such collection in the account"


def test_collections_are_read_over_every_page_and_a_next_link_elsewhere_is_not_followed(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.purview, "collections_page_size", 1)  # the account API pages a long list
    writer = PurviewWriter(LocalCredential(), stack.worker.writer._client.endpoint_url, max_attempts=1)
    listed = catalog.collections(writer)
    assert len(listed) >= 6 and listed["sales1"] == "localpurview" and listed["localpurview"] is None
    last = sorted(listed)[-1]
    monkeypatch.setenv("LINEAGE_SETTINGS", json.dumps({"collections": {"default": last}}))
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    capsys.readouterr()
    main(["doctor", "--json"], credential=stack.credential)
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks[f"collection {last}"]["detail"] != "no such collection in the account"  # found on the last page

    elsewhere = "https://elsewhere.example/account/collections?api-version=2019-11-01-preview&$skipToken=1"
    stack.purview.inject(status=200, body={"value": [], "nextLink": elsewhere}, path_contains="/account/collections")
    with pytest.raises(PurviewError, match=r"nextLink points to another host \(elsewhere.example\); not followed"):
        catalog.collections(writer)


def test_explain_with_a_mapping_shows_the_collection_each_run_would_go_to(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"collections": {"factories": {SALES: "sales1"}}}))
    runs = []
    for n, factory_id in enumerate((SALES, FIN)):
        path = tmp_path / f"run{n}.json"
        path.write_text(json.dumps(blob_to_sql(n, factory=factory_id)))
        runs.append(str(path))
    capsys.readouterr()
    assert main(["explain", runs[0], "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["collection"] == "sales1"
    assert main(["explain", *runs, "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert '"collection": "sales1"' in printed and '"collection": null' in printed  # FIN: no rule, the root
    assert main(["explain", runs[0]]) == 0
    assert "collection" not in json.loads(capsys.readouterr().out), "without a mapping the document is unchanged"


def test_our_entities_written_elsewhere_before_move_into_the_mapped_collection_only_with_the_role_there(
        stack: LocalStack) -> None:
    """Purview's own integration (or an earlier mapping) may hold the factory's entities in another collection: the
    bulk write moves them, which needs Data Curator where they are as well."""
    factory_entity = {"typeName": "azure_data_factory", "guid": "-1", "attributes": {
        "qualifiedName": SALES, "name": "sales-adf", "subscriptionId": SUB, "resourceGroupName": "rg-sales"}}
    stack.purview.seed([factory_entity], collection="locked")
    push(stack, blob_to_sql(5, factory=SALES))
    assert stack.purview.collection_of("azure_data_factory", SALES) == "locked"
    [message] = stack.queues.poison.peek_messages(max_messages=32)
    assert "not authorized to move it out of 'locked'" in read_poison(str(message.content)).reason
    stack.queues.poison.clear_messages()
    stack.purview.seed([factory_entity], collection="finance")  # moved by someone with the role, where we have it
    push(stack, blob_to_sql(6, factory=SALES))
    assert stack.purview.collection_of("azure_data_factory", SALES) == "sales1"
    assert set(own(stack, SALES).values()) == {"sales1"}


def test_the_write_probe_writes_into_each_mapped_collection_and_fails_where_the_identity_may_not(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_SETTINGS", json.dumps({"collections": {"factories": {SALES: "salesteam",
                                                                                       LOCKED: "locked"}}}))
    monkeypatch.setenv("PURVIEW_ENDPOINT", f"{stack.purview.url}/datamap/api/atlas/v2")
    monkeypatch.setenv("DATAFACTORY_ENDPOINT", stack.adf.url)
    monkeypatch.setenv("AzureWebJobsStorage", stack.azurite.connection_string)
    capsys.readouterr()
    assert main(["doctor", "--write-probe", "--json"], credential=stack.credential) == 1
    probes = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"].startswith("write")}
    assert sorted(probes) == ["write access in collection locked (probe entity created and deleted)",
                              "write access in collection salesteam (probe entity created and deleted)"]
    assert probes["write access in collection salesteam (probe entity created and deleted)"]["ok"]
    refused = probes["write access in collection locked (probe entity created and deleted)"]
    assert not refused["ok"] and "Data Curator" in refused["fix"]
    assert not [e for e in stack.purview.entities() if e["typeName"] == "DataSet"]  # the one written was deleted


@pytest.mark.parametrize("setting", [
    {"factories": {f"{SALES}": "a", SALES.upper(): "b"}},
    {"subscriptions": {SUB: "a", SUB.upper(): "b"}},
])
def test_two_keys_that_differ_only_in_case_are_refused(setting: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="names the same thing as another key"):
        LineageOptions.from_mapping({"collections": setting})


def test_the_local_purview_takes_collection_id_only_on_the_2023_09_01_api_and_only_for_a_collection_it_has(
        stack: LocalStack) -> None:
    writer = PurviewWriter(LocalCredential(), stack.worker.writer._client.endpoint_url, max_attempts=1)
    probe = {"typeName": "DataSet", "attributes": {"qualifiedName": "probe://api-version", "name": "probe"}}
    root = stack.purview.root_collection
    with pytest.raises(PurviewError) as old_api:  # the Atlas v2 API of pyapacheatlas has no collectionId
        writer.request("upload", "POST", f"{writer.endpoint}/entity/bulk", params={"collectionId": root},
                       body={"entities": [probe]})
    assert old_api.value.status == 400 and "2023-09-01" in str(old_api.value)
    with pytest.raises(PurviewError) as unknown:
        writer.push([probe], "nosuchcollection")
    assert unknown.value.status == 404
    assert stack.purview.collection_of("DataSet", "probe://api-version") is None  # nothing written either time
    writer.push([probe], "sales1")  # a collection the identity curates
    assert stack.purview.collection_of("DataSet", "probe://api-version") == "sales1"
