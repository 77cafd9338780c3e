"""Tables a SQL query reads, found with a real SQL parser (sqlglot)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

DIALECT_BY_PLATFORM = {
    "azure_sql": "tsql", "azure_sql_mi": "tsql", "synapse": "tsql", "sql_dw": "tsql", "sql_server": "tsql",
    "postgresql": "postgres", "mysql": "mysql", "snowflake": "snowflake",
}
MAX_QUERY_CHARS = 1_000_000


class SqlParseError(ValueError):
    """A query whose tables cannot be known."""


@dataclass(frozen=True, order=True, slots=True)
class TableRef:
    catalog: str | None
    schema: str | None
    name: str


@lru_cache(maxsize=1024)
def tables_read(query: str, dialect: str) -> tuple[TableRef, ...]:
    if len(query) > MAX_QUERY_CHARS:
        raise SqlParseError(f"{dialect} query longer than {MAX_QUERY_CHARS} characters")
    try:
        statements = sqlglot.parse(query, read=dialect)
    except (SqlglotError, RecursionError) as exc:
        raise SqlParseError(f"{dialect} query does not parse: {str(exc).splitlines()[0][:200]}") from exc
    found: set[TableRef] = set()
    for statement in statements:
        if statement is None:
            continue
        if not isinstance(statement, exp.Query):
            raise SqlParseError(f"{dialect} statement {statement.key.upper()} is not a query")
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        into = statement.args.get("into")
        written = {t.name for t in into.find_all(exp.Table)} if into is not None else set()
        for table in statement.find_all(exp.Table):
            name = table.name
            identifier = table.this
            temporary = isinstance(identifier, exp.Identifier) and bool(
                identifier.args.get("temporary") or identifier.args.get("global_"))
            if not name or temporary or (name.lower() in ctes and not table.db) or name.startswith(("#", "@")) \
                    or name in written:
                continue
            found.add(TableRef(table.catalog or None, table.db or None, name))
    return tuple(sorted(found, key=lambda t: (t.catalog or "", t.schema or "", t.name)))
