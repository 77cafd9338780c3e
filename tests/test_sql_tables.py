"""Tables a source query reads, with a real SQL parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineage.extract.sql_tables import SqlParseError, TableRef, tables_read


def names(query: str, dialect: str = "tsql") -> list[str]:
    return [".".join(p for p in (t.catalog, t.schema, t.name) if p) for t in tables_read(query, dialect)]


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM Orders", ["Orders"]),
    ("SELECT * FROM [sales ops].[Order Lines] o JOIN dbo.Customers c ON c.id = o.cid",
     ["dbo.Customers", "sales ops.Order Lines"]),
    ("SELECT * FROM crm.dbo.Accounts a LEFT JOIN dbo.Owners o ON 1=1", ["dbo.Owners", "crm.dbo.Accounts"]),
    ("WITH Orders AS (SELECT * FROM dbo.RawOrders) SELECT * FROM Orders", ["dbo.RawOrders"]),
    ("WITH r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", []),
    ("SELECT * FROM (SELECT * FROM dbo.A WHERE id IN (SELECT id FROM dbo.B)) x", ["dbo.A", "dbo.B"]),
    ("SELECT a FROM dbo.A UNION SELECT a FROM dbo.C WHERE EXISTS (SELECT 1 FROM dbo.D)",
     ["dbo.A", "dbo.C", "dbo.D"]),
    ("SELECT * FROM #staging s JOIN ##global g ON 1=1 JOIN dbo.Real r ON 1=1", ["dbo.Real"]),
    ("SELECT * INTO dbo.Copy FROM dbo.Source", ["dbo.Source"]),
    ("SELECT 1 FROM dbo.A; SELECT 2 FROM dbo.A", ["dbo.A"]),
])
def test_tsql_tables_read(query: str, expected: list[str]) -> None:
    assert names(query) == expected


@pytest.mark.parametrize(("query", "dialect", "expected"), [
    ('SELECT * FROM "Sales"."Orders" JOIN public.customers USING (id)', "postgres",
     ["Sales.Orders", "public.customers"]),
    ("SELECT * FROM `shop`.`orders`", "mysql", ["shop.orders"]),
    ("SELECT * FROM EDW.CORE.DIM_DATE", "snowflake", ["EDW.CORE.DIM_DATE"]),
])
def test_other_dialects(query: str, dialect: str, expected: list[str]) -> None:
    assert names(query, dialect) == expected


def test_result_is_sorted_and_deduplicated() -> None:
    assert tables_read("SELECT * FROM dbo.B, dbo.A, dbo.B", "tsql") == (
        TableRef(None, "dbo", "A"), TableRef(None, "dbo", "B"))


@pytest.mark.parametrize(("query", "message"), [
    ("EXEC dbo.LoadOrders @day = '2026-11-24'", "not a query"),
    ("DELETE FROM dbo.A", "not a query"),
    ("SELECT FROM WHERE (", "does not parse"),
])
def test_non_queries_and_invalid_sql_are_refused(query: str, message: str) -> None:
    with pytest.raises(SqlParseError, match=message):
        tables_read(query, "tsql")


@given(st.text(max_size=200))
def test_any_text_gives_tables_or_a_clear_error(text: str) -> None:
    with contextlib.suppress(SqlParseError):
        assert isinstance(tables_read(text, "tsql"), tuple)
