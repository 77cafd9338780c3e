"""Properties that hold for every input: the event parser, the expression evaluator, the qualifiedName builders.

Whatever they are given, they answer or refuse with their own error (never another exception), and what they
produce keeps its invariants: a work message round-trips, an expression's literals come back unchanged, a
qualifiedName is clean and stable.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lineage.extract.expressions import (
    MAX_DEPTH,
    ExpressionError,
    Scope,
    Unresolvable,
    canonical,
    evaluate,
    parse,
    resolve,
)
from lineage.extract.runrecord import FactoryId, RunRecordError
from lineage.extract.stores import naming
from lineage.extract.stores.datasets import sql_table_asset
from lineage.extract.stores.linked_services import StoreSettings
from lineage.extract.stores.naming import ASSET_TYPES, StoreError
from lineage.service import wiring
from lineage.service.events import EventError, RunRef, WorkMessage, run_ref
from lineage.service.poison import read_poison

SPECIAL = ["", " ", "\x00", "\n", "\u202e", "\u2066", "\ud800", "#", "/", "//", "\\", "%", "%2F", "'", '"', "''",
           "..", ".", "*", "?", "{", "}", "@", "@@", "@{", "}}", "[", "]", "é", "数据", "🚀", "x" * 300]
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Text of every kind: any code point (lone surrogates and controls included), the characters names trip on, and
# the strings that broke parsers before.
hostile_text = (st.text(st.characters(exclude_categories=()), max_size=40)
                | st.text(alphabet="/#%'\"\\ .*?{}@[]()\x00\n\u202e:;=&", max_size=30)
                | st.sampled_from(SPECIAL)
                | st.lists(st.sampled_from(SPECIAL), max_size=6).map("".join))
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | hostile_text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=16)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._()-]{0,30}", fullmatch=True)
run_ids = st.from_regex(r"[0-9A-Za-z-]{1,64}", fullmatch=True)
safe_event_ids = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1,
                         max_size=256).filter(
    lambda s: not any(c in BIDI for c in s))
EVENT_KEYS = ["runId", "factoryId", "subscriptionId", "resourceGroup", "factoryName", "status", "other"]


def attempt(call: Callable[[], Any], *errors: type[BaseException]) -> tuple[Any, BaseException | None]:
    """The call's value, or the error (of the kinds named) it refused with."""
    try:
        return call(), None
    except errors as exc:
        return None, exc


def clean(text: str) -> bool:
    """No control character, lone surrogate or bidirectional mark."""
    return not any(unicodedata.category(c) in ("Cc", "Cs", "Cf", "Zl", "Zp") or c in BIDI for c in text)


def factory_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DataFactory/factories/{name}"


# ------------------------------------------------------------------------------------------------------ events


@given(st.dictionaries(st.sampled_from(EVENT_KEYS), json_values | names | run_ids, max_size=6) | json_values)
@example({"runId": "a\n", "factoryId": factory_id("s", "r", "f")})
@example({"runId": "r", "factoryId": factory_id("s\n", "r", "f")})
def test_run_ref_answers_or_refuses_with_an_event_error(data: Any) -> None:
    ref, error = attempt(lambda: run_ref(data), EventError)
    if error is not None:
        assert str(error)
        return
    assert re.fullmatch(r"[0-9A-Za-z-]{1,64}", ref.run_id)
    assert FactoryId.parse(ref.factory.resource_id) == ref.factory
    assert clean(ref.factory.resource_id)


@given(run_ids, names, names, names)
def test_a_factory_named_by_id_or_by_parts_is_the_same_run(run_id: str, sub: str, rg: str, name: str) -> None:
    by_id = run_ref({"runId": run_id, "factoryId": factory_id(sub, rg, name)})
    by_parts = run_ref({"runId": run_id, "subscriptionId": sub, "resourceGroup": rg, "factoryName": name})
    assert by_id == by_parts == RunRef(FactoryId(sub, rg, name), run_id)
    assert run_ref(json.dumps({"runId": run_id, "factoryId": factory_id(sub, rg, name)})) == by_id


work_messages = st.builds(
    WorkMessage, run=st.builds(RunRef, factory=st.builds(FactoryId, names, names, names), run_id=run_ids),
    event_id=safe_event_ids | st.none(), received_at=st.just("2026-11-25T00:00:00Z"),
    waits=st.integers(min_value=0, max_value=10**6))


@given(work_messages)
def test_a_work_message_round_trips_and_stays_small(message: WorkMessage) -> None:
    text = message.to_json()
    assert WorkMessage.from_json(text) == message
    assert len(text.encode()) < 2_048


@given(hostile_text | json_values.map(json.dumps))
def test_any_queue_body_is_a_work_message_or_an_event_error(body: str) -> None:
    message, error = attempt(lambda: WorkMessage.from_json(body), EventError)
    assert (message is None) != (error is None)
    if message is not None:
        assert WorkMessage.from_json(message.to_json()) == message


@given(json_values, json_values)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_event_is_queued_or_poisoned_with_a_readable_reason(event_id: Any, data: Any) -> None:
    accepted = wiring.accept_event(event_id, data)
    assert (accepted.work is None) != (accepted.poison is None)
    if accepted.poison is not None:
        reason = read_poison(accepted.poison).reason
        assert reason and len(reason) <= 500 and "object at 0x" not in reason
        assert clean(reason)
    else:
        assert accepted.work is not None and len(accepted.work.encode()) < 2_048


@given(hostile_text)
@example(factory_id("s", "r", "f") + "/")
def test_factory_ids_parse_to_a_fixed_point_or_are_refused(text: str) -> None:
    factory, error = attempt(lambda: FactoryId.parse(text), RunRecordError)
    if error is not None:
        assert str(error)
        return
    assert FactoryId.parse(factory.resource_id) == factory
    assert clean(factory.resource_id)


# ------------------------------------------------------------------------------------------------- expressions

SCOPE = Scope(pipeline_parameters={"p": "v", "n": "3", "list": "[1, [2, 3]]", "deep": "[" * 3_000 + "]" * 3_000},
              global_parameters={"g": "G"}, system={"RunId": "r-1", "Pipeline": "Load"})


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Expression-shaped text: tokens of the language in any order, so the parser meets its own syntax gone wrong.
TOKENS = ["@", "@{", "}", "(", ")", "[", "]", ".", "?.", ",", "'", "''", "'x'", "1", "-2.5", "concat", "pipeline()",
          ".parameters", ".p", "item()", "dataset()", "replace", "substring", "json", "range", "int", "true", "null",
          "if", "equals", "@@", " ", "unknown", "'a''b'", "x", "activity('a')", ".output"]
expression_text = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join) | hostile_text


@given(expression_text)
@example("@" + "concat(" * (MAX_DEPTH + 5) + "'x'" + ")" * (MAX_DEPTH + 5))
@example("@pipeline()" + ".a" * 500)
@example("@json(pipeline().parameters.deep)")
@example("@string(range(0, 1000000000))")
def test_any_text_evaluates_or_is_refused_with_the_languages_errors(text: str) -> None:
    _, error = attempt(lambda: (parse(text), evaluate(text, SCOPE)), ExpressionError, Unresolvable)
    assert error is None or 0 < len(str(error)) <= 300


@given(json_values)
def test_any_json_value_resolves_or_is_refused(value: Any) -> None:
    _, error = attempt(lambda: resolve(value, SCOPE), ExpressionError, Unresolvable)
    assert error is None or str(error)


@given(json_values)
def test_values_without_expressions_resolve_to_themselves(value: Any) -> None:
    assume("@" not in json.dumps(value) and "Expression" not in json.dumps(value))
    assert resolve(value, SCOPE) == value or value != value  # noqa: PLR0124 - NaN is not equal to itself


@given(st.text(max_size=200))
def test_text_without_at_signs_is_literal_and_at_at_escapes(text: str) -> None:
    if "@" not in text:
        assert evaluate(text, SCOPE) == text
    assert evaluate("@@" + text, SCOPE) == "@" + text


@given(st.text(max_size=200))
def test_a_string_literal_comes_back_unchanged(text: str) -> None:
    assert evaluate("@" + quote(text), SCOPE) == text
    assert evaluate("a@{" + quote(text) + "}b", SCOPE) == f"a{text}b"


@given(st.lists(st.text(max_size=30), min_size=1, max_size=10))
def test_concat_of_literals_is_their_join(parts: list[str]) -> None:
    assert evaluate("@concat(" + ", ".join(quote(p) for p in parts) + ")", SCOPE) == "".join(parts)


@given(json_values)
def test_a_pipeline_parameter_is_its_value(value: Any) -> None:
    scope = Scope(pipeline_parameters={"p": value})
    result = evaluate("@pipeline().parameters.p", scope)
    assert result == value or value != value  # noqa: PLR0124 - NaN
    if isinstance(value, str):
        assert evaluate("a@{pipeline().parameters.p}b", scope) == f"a{value}b"


valid_expressions = st.recursive(
    st.text(alphabet=string.ascii_letters + " '", max_size=8).map(quote) | st.integers(-99, 99).map(str)
    | st.sampled_from(["pipeline().parameters.p", "pipeline().RunId", "item().name", "true", "null"]),
    lambda inner: st.builds(lambda f, args: f"{f}({', '.join(args)})",
                            st.sampled_from(["concat", "coalesce", "createArray"]), st.lists(inner, min_size=1,
                                                                                           max_size=3))
    | inner.map(lambda arg: f"toLower({arg})") | inner.map(lambda arg: f"json(string({arg}))"), max_leaves=10)


@given(valid_expressions)
def test_the_canonical_form_is_a_fixed_point(body: str) -> None:
    key = canonical("@" + body)
    assert canonical("@" + key) == key
    assert canonical("@{" + body + "}") == key


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH))
def test_nesting_is_evaluated_or_refused_by_depth_never_by_the_stack(depth: int) -> None:
    for text in ("@" + "concat(" * depth + "'x'" + ")" * depth, "@" + "toLower(" * depth + "'X'" + ")" * depth):
        value, error = attempt(lambda text=text: evaluate(text, SCOPE), ExpressionError)
        assert value == "x" if depth < MAX_DEPTH else "nested deeper" in str(error)
    _, error = attempt(lambda: evaluate("@json('{}')" + ".a" * depth, SCOPE), ExpressionError)
    assert "nested deeper" in str(error) if depth >= MAX_DEPTH else "not found" in str(error)


def iso(moment: datetime) -> str:
    """yyyy-MM-ddTHH:mm:ss, with the year padded to four digits (strftime leaves years before 1000 short)."""
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
       st.integers(min_value=0, max_value=9), st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_a_timestamp_with_an_offset_is_the_same_instant_in_utc_to_the_tick(moment: datetime, tick: int,
                                                                            offset: int) -> None:
    """'o' writes the instant in UTC with all seven fraction digits, and reads back to the same ticks."""
    sign, minutes = ("+" if offset >= 0 else "-"), abs(offset)
    text = f"{iso(moment)}.{moment.microsecond:06d}{tick}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    written = evaluate(f"@formatDateTime('{text}', 'o')", SCOPE)
    instant = moment - timedelta(minutes=offset)
    assert written == f"{iso(instant)}.{instant.microsecond:06d}{tick}Z"
    ticks = evaluate(f"@ticks('{text}')", SCOPE)
    assert ticks == evaluate(f"@ticks('{written}')", SCOPE)
    assert ticks == ((instant - datetime(1, 1, 1)) // timedelta(microseconds=1)) * 10 + tick


@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=-10**6, max_value=10**6))
def test_integer_div_and_mod_truncate_toward_zero(a: int, b: int) -> None:
    """mod takes the dividend's sign and div truncates, so that a = div(a, b) * b + mod(a, b)."""
    assume(b != 0)
    quotient, remainder = evaluate(f"@div({a}, {b})", SCOPE), evaluate(f"@mod({a}, {b})", SCOPE)
    assert quotient * b + remainder == a
    assert abs(remainder) < abs(b)
    assert remainder == 0 or (remainder > 0) == (a > 0)


@given(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=12), st.data())
def test_names_resolve_in_any_case(name: str, data: st.DataObject) -> None:
    spelled = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in name)
    scope = Scope(pipeline_parameters={name: "p"}, global_parameters={name: "g"}, variables={name: "v"},
                  activity_outputs={name: {name: "a"}}, dataset={name: "d"})
    assert evaluate(f"@pipeline().parameters.{spelled}", scope) == "p"
    assert evaluate(f"@pipeline().globalParameters.{spelled}", scope) == "g"
    assert evaluate(f"@variables('{spelled}')", scope) == "v"
    assert evaluate(f"@activity('{spelled}').output.{spelled}", scope) == "a"
    assert evaluate(f"@dataset().{spelled}", scope) == "d"


# ------------------------------------------------------------------------------------------ qualifiedName rules


def check_asset(build: Callable[[], naming.Asset], scheme: str) -> None:
    """A builder answers with a clean, stable asset of a known type, or refuses with a StoreError."""
    asset, error = attempt(build, StoreError)
    if error is not None:
        assert 0 < len(str(error)) <= 300
        return
    assert asset == build()
    assert asset.type_name in ASSET_TYPES
    for node in (*asset.lineage(), *asset.alternatives):  # parents and alternatives are named as cleanly
        assert node.type_name in ASSET_TYPES and clean(node.qualified_name) and node.name
        assert (node.parent is None) == (node.link == "")
    assert asset.qualified_name.startswith(scheme)
    assert asset.name and asset.qualified_name and len(asset.qualified_name) <= 4_500
    assert clean(asset.qualified_name) and clean(asset.name)
    assert "//" not in asset.qualified_name.removeprefix(scheme).split("?")[0].replace("://", "")


part = hostile_text | names
accounts = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True) | hostile_text


@given(accounts, part, part, st.booleans())
def test_file_store_names(account: str, container: str, path_text: str, is_file: bool) -> None:
    check_asset(lambda: naming.BlobPath(account, container, path_text, is_file).asset(), "https://")
    check_asset(lambda: naming.AdlsGen2Path(account, container, path_text, is_file).asset(), "https://")
    check_asset(lambda: naming.AzureFile(account, container, path_text, is_file).asset(), "https://")
    check_asset(lambda: naming.AdlsGen1Path(account, path_text, is_file).asset(), "adl://")
    check_asset(lambda: naming.S3Object(account, path_text, is_file).asset(), "s3://")


@given(st.sampled_from(["contoso-sql.database.windows.net", "ws.sql.azuresynapse.net", "onprem01"]) | hostile_text,
       part, part, part)
def test_database_names(server: str, database: str, schema: str, table: str) -> None:
    for declared in naming.SQL_DECLARED:
        check_asset(lambda d=declared: naming.SqlTable(server, database, schema, table, d).asset(),
                    "mssql://")
    check_asset(lambda: naming.PostgresTable(server, database, schema, table).asset(), "postgresql://")
    check_asset(lambda: naming.MySqlTable(server, database, table).asset(), "mysql://")
    check_asset(lambda: naming.KustoTable(server, database, table).asset(), "https://")
    check_asset(lambda: naming.SnowflakeTable(server, database, schema, table).asset(), "snowflake://")
    check_asset(lambda: naming.CosmosCollection(server, database, table).asset(), "https://")
    check_asset(lambda: sql_table_asset(server, database, schema, table, StoreSettings()), "mssql://")


@given(st.lists(part, max_size=5), st.booleans())
def test_paths_are_normalized_once_and_for_all(parts: list[str], is_file: bool) -> None:
    result, _ = attempt(lambda: naming.path(*parts, is_file=is_file), StoreError)
    assume(result is not None)
    text, file_flag = result
    assert naming.path(text, is_file=file_flag) == (text, file_flag)
    assert "//" not in text and not text.startswith("/") and not text.endswith("/")
    assert not naming.has_wildcard(text) and "{" not in text and "}" not in text
    assert clean(text) and ".." not in text.split("/")


@given(hostile_text)
def test_hosts_and_sql_parts_are_clean_or_refused(text: str) -> None:
    for build in (lambda: naming.host(text), lambda: naming.sql_part(text, "table"),
                  lambda: naming.account(text)):
        value, _ = attempt(build, StoreError)
        assert value is None or (value and clean(value) and "/" not in value)
    host, _ = attempt(lambda: naming.host(text), StoreError)
    assert host is None or naming.host(host) == host == host.lower()


@given(hostile_text)
def test_unsafe_character_agrees_with_unicode(text: str) -> None:
    assert (naming.unsafe_character(text) is None) == clean(text)
