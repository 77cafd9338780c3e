"""Every store's asset as the writer creates it when the catalog lacks it: the whole chain up to the server, account or
bucket (type, qualifiedName, name, the relationship attribute naming the parent, plain attributes), the other
identities asked for first, and the reason a location that cannot be named is refused.

``tests/test_stores.py`` pins the qualifiedNames from linked services and datasets; this pins the assets themselves,
which Purview refuses whole when a level, a link or a mandatory attribute is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from lineage.extract.stores import Endpoint, Location, copied_asset, naming
from lineage.extract.stores.naming import (
    AdlsGen1Path,
    AdlsGen2Path,
    Asset,
    AzureFile,
    BlobPath,
    CosmosCollection,
    KustoTable,
    MySqlTable,
    PostgresTable,
    S3Object,
    SnowflakeTable,
    SqlTable,
    StoreError,
    resource_set,
    sql_type,
)
from lineage.extract.stores.resource_sets import ResourceSetRules

Level = tuple[str, str, str, str, dict[str, str]]  # type, qualifiedName, name, link to the parent, attributes


def chain(asset: Asset) -> list[Level]:
    """The asset and its parents, nearest first."""
    return [(a.type_name, a.qualified_name, a.name, a.link, dict(a.attributes)) for a in asset.lineage()]


def alternatives(asset: Asset) -> list[list[Level]]:
    return [chain(a) for a in asset.alternatives]


PG = "postgresql://contoso-pg.postgres.database.azure.com"
MYSQL = "mysql://my.mysql.database.azure.com"
MI = "mssql://mi1.abc123.database.windows.net"


# --- databases ------------------------------------------------------------------------------------------------------

def test_a_postgresql_table_has_its_schema_database_and_server() -> None:
    asset = PostgresTable("Contoso-PG.postgres.database.azure.com", "sales db", "", "Order Lines").asset()
    above = [("azure_postgresql_schema", f"{PG}/sales%20db/public", "public", "db", {}),
             ("azure_postgresql_db", f"{PG}/sales%20db", "sales db", "server", {}),
             ("azure_postgresql_server", PG, "contoso-pg", "", {})]
    assert chain(asset) == [("azure_postgresql_table", f"{PG}/sales%20db/public/Order%20Lines", "Order Lines",
                             "dbSchema", {}), *above]
    assert alternatives(asset) == [[("azure_postgresql_view", f"{PG}/sales%20db/public/Order%20Lines", "Order Lines",
                                     "dbSchema", {}), *above]]
    assert chain(PostgresTable("pg.example.com", "[sales]", "ops", "t").asset())[:2] == [
        ("azure_postgresql_table", "postgresql://pg.example.com/sales/ops/t", "t", "dbSchema", {}),
        ("azure_postgresql_schema", "postgresql://pg.example.com/sales/ops", "ops", "db", {})]


def test_a_mysql_table_has_its_database_and_server() -> None:
    asset = MySqlTable("my.mysql.database.azure.com", "shop db", "Orders").asset()
    above = [("azure_mysql_db", f"{MYSQL}/shop%20db", "shop db", "server", {}),
             ("azure_mysql_server", MYSQL, "my", "", {})]
    assert chain(asset) == [("azure_mysql_table", f"{MYSQL}/shop%20db/Orders", "Orders", "db", {}), *above]
    assert alternatives(asset) == [[("azure_mysql_view", f"{MYSQL}/shop%20db/Orders", "Orders", "db", {}), *above]]


def test_a_cosmos_collection_has_its_database_and_account_with_their_resource_links() -> None:
    account = "https://contoso-cosmos.documents.azure.com"
    assert chain(CosmosCollection("Contoso-Cosmos", "retail", "orders").asset()) == [
        ("azure_cosmosdb_sqlapi_collection", f"{account}/dbs/retail/colls/orders", "orders", "db",
         {"resourceLink": "dbs/retail/colls/orders"}),
        ("azure_cosmosdb_database", f"{account}/dbs/retail", "retail", "account", {"resourceLink": "dbs/retail"}),
        ("azure_cosmosdb_account", account, "contoso-cosmos", "", {"api_type": "SQL"})]


def test_a_data_explorer_table_has_its_database_and_cluster() -> None:
    cluster = "https://help.kusto.windows.net"
    assert chain(KustoTable("Help.Kusto.Windows.Net", "Samples", "StormEvents").asset()) == [
        ("azure_data_explorer_table", f"{cluster}/Samples/StormEvents", "StormEvents", "database", {}),
        ("azure_data_explorer_database", f"{cluster}/Samples", "Samples", "cluster", {}),
        ("azure_data_explorer_cluster", cluster, "help", "", {})]


@pytest.mark.parametrize("account", ["xy12345.west-europe.azure", "xy12345.west-europe.azure.snowflakecomputing.com"])
def test_a_snowflake_table_is_named_under_its_account(account: str) -> None:
    assert chain(SnowflakeTable(account, "DB", "PUBLIC", "T").asset()) == [(
        "snowflake_table",
        "snowflake://xy12345.west-europe.azure.snowflakecomputing.com/databases/DB/schemas/PUBLIC/tables/T", "T", "",
        {})]


@pytest.mark.parametrize(("server", "declared", "levels"), [
    ("tcp:mi1.abc123.database.windows.net,1433", "azure_sql", [
        ("azure_sql_mi_table", f"{MI}/db/dbo/t", "t", "dbSchema", {}),
        ("azure_sql_mi_schema", f"{MI}/db/dbo", "dbo", "db", {}),
        ("azure_sql_mi_db", f"{MI}/db", "db", "instance", {}),
        ("azure_sql_mi", MI, "mi1", "", {"hostname": "mi1.abc123.database.windows.net"})]),
    ("srv.privatelink.database.windows.net", "sql_dw", [
        ("azure_sql_dw_table", "mssql://srv.database.windows.net/db/dbo/t", "t", "dbSchema", {}),
        ("azure_sql_dw_schema", "mssql://srv.database.windows.net/db/dbo", "dbo", "dataWarehouse", {}),
        ("azure_sql_dw", "mssql://srv.database.windows.net/db", "db", "server", {}),
        ("azure_sql_server", "mssql://srv.database.windows.net", "srv", "", {})]),
    ("ws-ondemand.sql.azuresynapse.net", "azure_sql", [
        ("azure_synapse_serverless_sql_table", "mssql://ws-ondemand.sql.azuresynapse.net/db/dbo/t", "t", "dbSchema",
         {}),
        ("azure_synapse_serverless_sql_schema", "mssql://ws-ondemand.sql.azuresynapse.net/db/dbo", "dbo", "db", {}),
        ("azure_synapse_serverless_sql_db", "mssql://ws-ondemand.sql.azuresynapse.net/db", "db", "workspace", {}),
        ("azure_synapse_workspace", "https://ws.dev.azuresynapse.net", "ws", "", {})]),
    ("erp01\\ERP", "sql_server", [
        ("mssql_table", "mssql://erp01/ERP/db/dbo/t", "t", "dbSchema", {}),
        ("mssql_schema", "mssql://erp01/ERP/db/dbo", "dbo", "db", {}),
        ("mssql_db", "mssql://erp01/ERP/db", "db", "instance", {}),
        ("mssql_instance", "mssql://erp01/ERP", "ERP", "", {"hostname": "erp01"})]),
    ("h.corp", "a platform of tomorrow", [
        ("mssql_table", "mssql://h.corp/MSSQLSERVER/db/dbo/t", "t", "dbSchema", {}),
        ("mssql_schema", "mssql://h.corp/MSSQLSERVER/db/dbo", "dbo", "db", {}),
        ("mssql_db", "mssql://h.corp/MSSQLSERVER/db", "db", "instance", {}),
        ("mssql_instance", "mssql://h.corp/MSSQLSERVER", "MSSQLSERVER", "", {"hostname": "h.corp"})]),
])
def test_a_sql_table_has_the_chain_its_servers_scan_creates(server: str, declared: str,
                                                            levels: list[Level]) -> None:
    asset = SqlTable(server, "db", "", "t", declared).asset()
    assert chain(asset) == levels
    view = levels[0][0].removesuffix("_table") + "_view"
    assert alternatives(asset) == [[(view, *levels[0][1:]), *levels[1:]]]


@pytest.mark.parametrize(("host", "declared", "table"), [
    ("h.corp", "azure_sql_mi", "azure_sql_mi_table"), ("h.corp", "synapse", "azure_synapse_dedicated_sql_table"),
    ("h.corp", "sql_dw", "azure_sql_dw_table"), ("h.corp", "azure_sql", "azure_sql_table"),
    ("h.corp", "sql_server", "mssql_table"), ("h.corp", "nothing we know", "mssql_table"),
    ("s.database.windows.net", "sql_server", "azure_sql_table"),
    ("w.sql.azuresynapse.net", "sql_dw", "azure_synapse_dedicated_sql_table")])
def test_a_host_that_says_nothing_is_typed_by_what_the_linked_service_declares(host: str, declared: str,
                                                                              table: str) -> None:
    assert sql_type(host, declared) == table


# --- files ------------------------------------------------------------------------------------------------------------

def test_a_blob_file_is_asked_for_as_the_other_storage_family_too() -> None:
    asset = BlobPath("Acct1", "cont", "d/F.CSV").asset()
    assert chain(asset) == [("azure_blob_path", "https://acct1.blob.core.windows.net/cont/d/F.csv", "F.csv", "", {})]
    assert alternatives(asset) == [[("azure_datalake_gen2_path", "https://acct1.dfs.core.windows.net/cont/d/F.csv",
                                     "F.csv", "", {})]]


@pytest.mark.parametrize(("path", "is_file", "qn", "name"), [
    ("d/F.CSV", True, "fs/d/F.csv", "F.csv"), ("d/F.CSV", False, "fs/d/F.CSV", "F.CSV"), ("", True, "fs", "fs")])
def test_an_adls_gen2_path_is_asked_for_as_blob_too(path: str, is_file: bool, qn: str, name: str) -> None:
    asset = AdlsGen2Path("acct1", "fs", path, is_file=is_file).asset()
    assert chain(asset) == [("azure_datalake_gen2_path", f"https://acct1.dfs.core.windows.net/{qn}", name, "", {})]
    assert alternatives(asset) == [[("azure_blob_path", f"https://acct1.blob.core.windows.net/{qn}", name, "", {})]]


@pytest.mark.parametrize(("path", "qn", "name"), [
    ("/a/b.PARQUET", "adl://lake1.azuredatalakestore.net/a/b.PARQUET", "b.PARQUET"),  # 7 letters: kept as is
    ("/a/b.CSV", "adl://lake1.azuredatalakestore.net/a/b.csv", "b.csv"),
    ("", "adl://lake1.azuredatalakestore.net", "lake1")])
def test_an_adls_gen1_path(path: str, qn: str, name: str) -> None:
    assert chain(AdlsGen1Path("Lake1", path).asset()) == [("azure_datalake_gen1_path", qn, name, "", {})]


@pytest.mark.parametrize(("path", "is_file", "level"), [
    ("dir/f.txt", True, ("azure_file", "share/dir/f.txt", "f.txt")),
    ("dir", False, ("azure_file_directory", "share/dir", "dir")),
    ("dir/*.txt", True, ("azure_file_directory", "share/dir", "dir")),  # a wildcard: its folder
    ("", False, ("azure_file_directory", "share", "share"))])
def test_an_azure_files_file_or_folder_carries_its_path(path: str, is_file: bool, level: tuple[str, str, str]) -> None:
    type_name, text, name = level
    assert chain(AzureFile("acct", "share", path, is_file=is_file).asset()) == [
        (type_name, f"https://acct.file.core.windows.net/{text}", name, "", {"path": f"/{text}"})]


@pytest.mark.parametrize(("path", "is_file", "level"), [
    ("/raw//2024/ f.CSV ", True, ("aws_s3_v2_object", "s3://my-bucket/raw/2024/f.csv", "f.csv", {})),
    ("raw/2024", False, ("aws_s3_v2_directory", "s3://my-bucket/raw/2024/", "2024", {"objectPrefix": "raw/2024/"})),
    ("", False, ("aws_s3_v2_directory", "s3://my-bucket/", "my-bucket", {"objectPrefix": ""}))])
def test_an_s3_object_or_directory_belongs_to_its_bucket(path: str, is_file: bool,
                                                         level: tuple[str, str, str, dict[str, str]]) -> None:
    type_name, qn, name, attributes = level
    assert chain(S3Object("My-Bucket", path, is_file=is_file).asset()) == [
        (type_name, qn, name, "container", attributes), ("aws_s3_v2_bucket", "s3://my-bucket", "my-bucket", "", {})]


# --- what cannot be named ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "reason"), [
    (lambda: PostgresTable("bad host!", "d", "s", "t"), "PostgreSQL server 'bad host!' is not a valid host name"),
    (lambda: PostgresTable("h.example.com", "", "s", "t"), "database is empty"),
    (lambda: PostgresTable("h.example.com", "d", "a/b", "t"), "schema 'a/b' contains '/'"),
    (lambda: PostgresTable("h.example.com", "d", "s", ""), "table is empty"),
    (lambda: MySqlTable("bad host!", "d", "t"), "MySQL server 'bad host!' is not a valid host name"),
    (lambda: MySqlTable("h.example.com", "[]", "t"), "database is empty"),
    (lambda: CosmosCollection("a", "d", "c"), "Cosmos DB account 'a' is not a valid account name"),
    (lambda: CosmosCollection("acct", "", "c"), "Cosmos DB needs a database and a collection"),
    (lambda: CosmosCollection("acct", "d", ""), "Cosmos DB needs a database and a collection"),
    (lambda: CosmosCollection("acct", "d/x", "c"), "database 'd/x' contains '/'"),
    (lambda: CosmosCollection("acct", "d", "c/x"), "collection 'c/x' contains '/'"),
    (lambda: CosmosCollection("acct", "x" * 256, "c"),
     "database of 256 characters is longer than the 255 a store allows"),
    (lambda: KustoTable("bad host!", "d", "t"), "Data Explorer cluster 'bad host!' is not a valid host name"),
    (lambda: KustoTable("h.kusto.windows.net", "", "t"), "Data Explorer needs a database and a table"),
    (lambda: KustoTable("h.kusto.windows.net", "d", ""), "Data Explorer needs a database and a table"),
    (lambda: KustoTable("h.kusto.windows.net", "d/x", "t"), "database 'd/x' contains '/'"),
    (lambda: KustoTable("h.kusto.windows.net", "d", "t/x"), "table 't/x' contains '/'"),
    (lambda: KustoTable("h.kusto.windows.net", "d", "t\u202e"), "table 't\\u202e' contains a bidirectional mark "
                                                                "(U+202E)"),
    (lambda: SnowflakeTable("bad host!", "d", "s", "t"), "Snowflake account 'bad host!' is not a valid host name"),
    (lambda: SnowflakeTable("acct", "", "s", "t"), "Snowflake needs a database, a schema and a table"),
    (lambda: SnowflakeTable("acct", "d", "", "t"), "Snowflake needs a database, a schema and a table"),
    (lambda: SnowflakeTable("acct", "d", "s", ""), "Snowflake needs a database, a schema and a table"),
    (lambda: SnowflakeTable("acct", "d/x", "s", "t"), "database 'd/x' contains '/'"),
    (lambda: SnowflakeTable("acct", "d", "s/x", "t"), "schema 's/x' contains '/'"),
    (lambda: SnowflakeTable("acct", "d", "s", "t/x"), "table 't/x' contains '/'"),
    (lambda: SnowflakeTable("acct", "d", "s", "t" * 256), "table of 256 characters is longer than the 255 a store "
                                                          "allows"),
    (lambda: S3Object("B", "f"), "S3 bucket 'B' is not a valid bucket name"),
    (lambda: AzureFile("acct", "", "f"), "azure_file: the container (file system, share) is missing"),
    (lambda: AzureFile("acct", " / ", "f"), "azure_file: the container (file system, share) is missing"),
    (lambda: AzureFile("acct", "*", "f"), "azure_file: the container '*' is a wildcard"),
    (lambda: BlobPath("acct", "", "f"), "storage: the container (file system, share) is missing"),
    (lambda: BlobPath("acct", "c*", "f"), "storage: the container 'c*' is a wildcard"),
    (lambda: AdlsGen2Path("acct", "/", "f"), "storage: the container (file system, share) is missing"),
    (lambda: BlobPath("x", "c", "f"), "storage account 'x' is not a valid account name"),
    (lambda: AdlsGen1Path("x", "f"), "Data Lake Store account 'x' is not a valid account name"),
    (lambda: SqlTable("bad host!", "d", "s", "t"), "SQL server 'bad host!' is not a valid host name"),
    (lambda: SqlTable("h.corp", "d", "s", "[]", "sql_server"), "table is empty"),
])
def test_a_location_that_cannot_be_named_says_why(make: Callable[[], Any], reason: str) -> None:
    with pytest.raises(StoreError) as refused:
        make().asset()
    assert str(refused.value) == reason


def test_a_container_of_spaces_and_slashes_is_missing_but_a_real_one_is_kept() -> None:
    assert BlobPath("acct", " c ", "f").asset().qualified_name == "https://acct.blob.core.windows.net/c/f"
    assert BlobPath("acct", "c/", "").asset().qualified_name == "https://acct.blob.core.windows.net/c"


# --- resource sets ----------------------------------------------------------------------------------------------------

def years(path: str) -> str | None:
    """A grouping rule for the tests: a four-digit year is {Year}; paths without one are not grouped."""
    return re.sub(r"\b\d{4}\b", "{Year}", path) if re.search(r"\b\d{4}\b", path) else None


def test_a_grouped_file_is_its_resource_set_with_the_file_and_the_other_family_as_alternatives() -> None:
    file = BlobPath("acct", "c", "2024/f.csv").asset()
    grouped = resource_set(file, years)
    assert chain(grouped) == [("azure_blob_resource_set", "https://acct.blob.core.windows.net/c/{Year}/f.csv",
                               "f.csv", "", {})]
    assert alternatives(grouped) == [
        [("azure_datalake_gen2_resource_set", "https://acct.dfs.core.windows.net/c/{Year}/f.csv", "f.csv", "", {})],
        [("azure_blob_path", "https://acct.blob.core.windows.net/c/2024/f.csv", "f.csv", "", {})],
        [("azure_datalake_gen2_path", "https://acct.dfs.core.windows.net/c/2024/f.csv", "f.csv", "", {})]]


def test_the_file_kept_as_an_alternative_keeps_its_parent_and_attributes() -> None:
    grouped = resource_set(S3Object("bucket", "2024/f.csv").asset(), years)
    assert chain(grouped) == [("aws_s3_v2_resource_set", "s3://bucket/{Year}/f.csv", "f.csv", "", {})]
    assert alternatives(grouped) == [[("aws_s3_v2_object", "s3://bucket/2024/f.csv", "f.csv", "container", {}),
                                      ("aws_s3_v2_bucket", "s3://bucket", "bucket", "", {})]]
    share = resource_set(AzureFile("acct", "s", "2024/f.csv").asset(), years)
    assert alternatives(share) == [[("azure_file", "https://acct.file.core.windows.net/s/2024/f.csv", "f.csv", "",
                                     {"path": "/s/2024/f.csv"})]]


def test_a_set_named_for_its_last_grouped_segment() -> None:
    grouped = resource_set(AdlsGen1Path("lake", "logs/2024").asset(), years)
    assert chain(grouped) == [("azure_datalake_gen1_resource_set", "adl://lake.azuredatalakestore.net/logs/{Year}",
                               "{Year}", "", {})]


def test_what_is_not_grouped_stays_itself() -> None:
    file = BlobPath("acct", "c", "f.csv").asset()
    assert resource_set(file, years) is file  # no rule groups it
    for asset in (SqlTable("s.database.windows.net", "d", "s", "2024").asset(),  # no resource sets of tables
                  AdlsGen1Path("lake", "").asset()):  # the account itself: no path to group
        assert resource_set(asset, lambda p: f"{p}-grouped") is asset


def test_each_alternative_is_grouped_by_its_own_path_and_only_a_file_store_has_a_set() -> None:
    other = Asset("azure_datalake_gen2_path", "https://acct.dfs.core.windows.net/other/1999/f.csv", "f.csv")
    top = Asset("azure_blob_path", "https://acct.blob.core.windows.net", "acct")
    ungrouped = Asset("azure_datalake_gen2_path", "https://acct.dfs.core.windows.net/plain/f.csv", "f.csv")
    table = Asset("azure_sql_table", "mssql://s.database.windows.net/d/s/2024", "2024")
    file = Asset("azure_blob_path", "https://acct.blob.core.windows.net/c/2024/f.csv", "f.csv",
                 alternatives=(other, top, ungrouped, table))
    grouped = resource_set(file, years)
    assert [(a.type_name, a.qualified_name, a.name) for a in grouped.alternatives] == [
        ("azure_datalake_gen2_resource_set", "https://acct.dfs.core.windows.net/other/{Year}/f.csv", "f.csv"),
        ("azure_blob_path", file.qualified_name, "f.csv"),
        (other.type_name, other.qualified_name, "f.csv"), (top.type_name, top.qualified_name, "acct"),
        (ungrouped.type_name, ungrouped.qualified_name, "f.csv"), (table.type_name, table.qualified_name, "2024")]


# --- what we write, for doctor ----------------------------------------------------------------------------------------

def test_the_attributes_written_per_asset_type_are_those_the_chains_carry() -> None:
    plain = {"qualifiedName", "name"}
    sql_levels = {"table": {"dbSchema"}, "view": {"dbSchema"}}
    expected: dict[str, set[str]] = {t: set() for t in naming.RESOURCE_SET_TYPES.values()}
    expected |= {"azure_blob_path": set(), "azure_datalake_gen2_path": set(), "azure_datalake_gen1_path": set(),
                 "azure_file": {"path"}, "azure_file_directory": {"path"}, "aws_s3_v2_object": {"container"},
                 "aws_s3_v2_bucket": set(), "aws_s3_v2_directory": {"container", "objectPrefix"},
                 "azure_postgresql_server": set(), "azure_postgresql_db": {"server"},
                 "azure_postgresql_schema": {"db"}, "azure_postgresql_table": {"dbSchema"},
                 "azure_postgresql_view": {"dbSchema"}, "azure_mysql_server": set(), "azure_mysql_db": {"server"},
                 "azure_mysql_table": {"db"}, "azure_mysql_view": {"db"}, "azure_cosmosdb_account": {"api_type"},
                 "azure_cosmosdb_database": {"account", "resourceLink"},
                 "azure_cosmosdb_sqlapi_collection": {"db", "resourceLink"}, "azure_data_explorer_cluster": set(),
                 "azure_data_explorer_database": {"cluster"}, "azure_data_explorer_table": {"database"},
                 "snowflake_table": set(), "azure_sql_server": set(), "azure_sql_db": {"server"},
                 "azure_sql_schema": {"db"}, "azure_sql_dw": {"server"}, "azure_sql_dw_schema": {"dataWarehouse"},
                 "azure_sql_mi": {"hostname"}, "azure_sql_mi_db": {"instance"}, "azure_sql_mi_schema": {"db"},
                 "azure_synapse_workspace": set(), "azure_synapse_dedicated_sql_db": {"workspace"},
                 "azure_synapse_dedicated_sql_schema": {"db"}, "azure_synapse_serverless_sql_db": {"workspace"},
                 "azure_synapse_serverless_sql_schema": {"db"}, "mssql_instance": {"hostname"},
                 "mssql_db": {"instance"}, "mssql_schema": {"db"}}
    for family in ("azure_sql", "azure_sql_dw", "azure_sql_mi", "azure_synapse_dedicated_sql",
                   "azure_synapse_serverless_sql", "mssql"):
        expected |= {f"{family}_{level}": links for level, links in sql_levels.items()}
    assert naming.written_attributes() == {t: frozenset(plain | links) for t, links in expected.items()}
    assert frozenset(naming.written_attributes()) == naming.ASSET_TYPES


# --- names and paths --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ("a\x00", "a control character (U+0000)"), ("a\ud800", "a lone surrogate (U+D800)"),
    ("a\u2028", "a line separator (U+2028)"), ("a\u2029", "a paragraph separator (U+2029)"),
    ("a\u200b", "an invisible character (U+200B)"), ("a\u202e", "a bidirectional mark (U+202E)"),
    ("a\U000e0041", "an invisible character (U+E0041)"), ("plain name", None)])
def test_what_makes_a_name_unfit_is_said(text: str, problem: str | None) -> None:
    assert naming.unsafe_character(text) == problem


@pytest.mark.parametrize(("value", "shown"), [("a" * 80, "'" + "a" * 80 + "'"), ("a" * 81, "'" + "a" * 80 + "...'")])
def test_a_long_value_is_quoted_in_part(value: str, shown: str) -> None:
    with pytest.raises(StoreError) as refused:
        KustoTable(value, "d", "t").asset()
    assert str(refused.value) == f"Data Explorer cluster {shown} is not a valid host name"


def test_names_and_paths_are_held_to_the_longest_a_store_allows() -> None:
    assert naming.name_part("y" * 1024, "path segment") == "y" * 1024
    with pytest.raises(StoreError, match=r"^path segment of 1025 characters is longer than the 1024 a store allows$"):
        naming.name_part("y" * 1025, "path segment")
    longest = "/".join(["x" * 1000, "x" * 1000, "x" * 46])
    assert naming.path(longest, is_file=False) == (longest, False)
    with pytest.raises(StoreError, match=r"^path of 2049 characters is longer than the 2048 a store allows$"):
        naming.path(longest + "x", is_file=False)
    assert SqlTable("h.corp", "d", "s", "t" * 255, "sql_server").asset().name == "t" * 255


@pytest.mark.parametrize(("parts", "is_file", "normalized"), [
    (("dir\\sub\\f.CSV",), True, ("dir/sub/f.csv", True)),  # backslashes are separators
    (("\tdir\t/ f.csv",), True, ("dir/f.csv", True)),  # tabs and spaces around sections trimmed
    (("d/*.csv",), True, ("d", False)),  # cut before a wildcard: a folder, not a file
    (("d", "f.TXT"), False, ("d/f.TXT", False)),  # a folder's "extension" is kept
])
def test_a_path_as_purview_normalizes_it(parts: tuple[str, ...], is_file: bool,
                                         normalized: tuple[str, bool]) -> None:
    assert naming.path(*parts, is_file=is_file) == normalized


def test_a_line_break_in_a_path_is_refused_not_trimmed() -> None:
    with pytest.raises(StoreError, match=r"^path segment 'a\\n' contains a control character \(U\+000A\)$"):
        BlobPath("acct", "c", "a\n/f.csv").asset()


def test_spaces_in_names_are_encoded_in_the_qualified_name_only() -> None:
    asset = AzureFile("acct", "share", "my dir/F.TXT").asset()
    assert (asset.qualified_name, asset.name) == ("https://acct.file.core.windows.net/share/my dir/F.txt", "F.txt")
    schema = PostgresTable("pg.example.com", "d", "ops team", "t").asset().parent
    assert schema is not None
    assert (schema.qualified_name, schema.name) == ("postgresql://pg.example.com/d/ops%20team", "ops team")


def test_copy_names_a_file_of_a_set_by_its_set_and_a_folder_or_wildcard_by_itself() -> None:
    lake = Endpoint("adls_gen2", host="lake")
    rules = ResourceSetRules.default()
    file = copied_asset(lake, Location("raw", "sales/2024/01/02", "orders.csv"), rules)
    assert (file.type_name, file.qualified_name) == (
        "azure_datalake_gen2_resource_set", "https://lake.dfs.core.windows.net/raw/sales/{Year}/{Month}/{Day}/orders.csv")
    folder = copied_asset(lake, Location("raw", "sales/2024/01/02"), rules)  # a folder is never a resource set
    assert (folder.type_name, folder.qualified_name) == (
        "azure_datalake_gen2_path", "https://lake.dfs.core.windows.net/raw/sales/2024/01/02")
    wildcard = copied_asset(lake, Location("raw", "sales/2024/01/02", "*.csv"), rules)  # stops at its folder
    assert (wildcard.type_name, wildcard.qualified_name) == (folder.type_name, folder.qualified_name)
    plain = copied_asset(lake, Location("raw", "sales/2024/01/02", "orders.csv"), None)  # resourceSets: false
    assert plain.type_name == "azure_datalake_gen2_path" and plain.qualified_name.endswith("/orders.csv")
    assert copied_asset(lake, Location("raw", "sales/2024/01/02", "orders.csv"), rules) is file  # remembered
