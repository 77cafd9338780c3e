"""Tables a SQL query reads, found with a real SQL parser (sqlglot).

A query that does not parse is reported by where it fails, never by what it says: the reason becomes a skip reason
in ``explain`` and the worker's logs, and a query's text can hold a literal password or a customer's data. sqlglot's
own messages quote the text (the tokenizer the whole rest of the query), so they are not passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

DIALECT_BY_PLATFORM = {
    "azure_sql": "tsql", "azure_sql_mi": "tsql", "synapse": "tsql", "sql_dw": "tsql", "sql_server": "tsql",
    "postgresql": "postgres", "mysql": "mysql", "snowflake": "snowflake",
}
MAX_QUERY_CHARS = 1_000_000
_QUOTING = re.compile(r"[:<'\"`\[]")  # where a sqlglot description starts quoting a token or the query


class SqlParseError(ValueError):
    """A query whose tables cannot be known."""


@dataclass(frozen=True, order=True, slots=True)
class TableRef:
    catalog: str | None
    schema: str | None
    name: str
    server: str | None = None  # a four-part name's linked server (SQL Server), whose host is not in the query


@lru_cache(maxsize=1024)
def tables_read(query: str, dialect: str) -> tuple[TableRef, ...]:
    if len(query) > MAX_QUERY_CHARS:
        raise SqlParseError(f"{dialect} query longer than {MAX_QUERY_CHARS} characters")
    try:
        statements = sqlglot.parse(query, read=dialect)
    except (SqlglotError, RecursionError) as exc:
        raise SqlParseError(f"{dialect} query does not parse: {parse_problem(exc)}") from None
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
            parts = [part.name for part in table.parts]
            if len(parts) >= 4:  # server.database.schema.table: the parser reads the server as the catalog
                found.add(TableRef(parts[-3] or None, parts[-2] or None, name, parts[-4] or None))
            else:
                found.add(TableRef(table.catalog or None, table.db or None, name))
    return tuple(sorted(found, key=lambda t: (t.server or "", t.catalog or "", t.schema or "", t.name)))


def parse_problem(exc: BaseException) -> str:
    """Where and how a query fails to parse, in sqlglot's words up to the point where they would quote it."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, TokenError):  # its message is the rest of the query
        return "it cannot be split into SQL tokens (an unclosed quote, bracket or comment?)"
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = _QUOTING.split(str(first.get("description") or ""), maxsplit=1)[0].strip(" .")[:80]
        return f"{description or 'unexpected text'} at line {first.get('line')}, column {first.get('col')}"
    return f"sqlglot {type(exc).__name__}"
