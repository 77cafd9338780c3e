"""The expression resolver on the forms Data Factory definitions really use."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineage.extract.expressions import (
    MAX_DEPTH,
    ExpressionError,
    Scope,
    Unresolvable,
    canonical,
    evaluate,
    is_expression,
    parse,
    prepared,
    resolve,
)
from tests.conftest import load_adf_example

SCOPE = Scope(
    pipeline_parameters={"runDate": "2026-11-24", "tables": '["Customers","Orders"]', "cfg": '{"path": "raw/x"}'},
    global_parameters={"lakeZone": "silver", "waitTime": 10},
    system={"RunId": "r-1", "Pipeline": "Load", "DataFactory": "adf", "TriggerTime": "2026-11-24T01:02:03Z"},
    dataset={"folder": "in", "n": 3},
    linked_service={"account": "contosoraw"},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("@@not an expression", "@not an expression"),
        ("@'it''s'", "it's"),
        ("@concat('raw/', pipeline().parameters.runDate)", "raw/2026-11-24"),
        ("@{pipeline().globalParameters.lakeZone}/@{dataset().folder}/x.csv", "silver/in/x.csv"),
        ("a@@b @{dataset().n}", "a@@b 3"),  # '@@' escapes only at the start and before '{'
        ("a @@{dataset().n} @{dataset().n}", "a @{dataset().n} 3"),
        ("@pipeline().RunId", "r-1"),
        ("@pipeline().runid", "r-1"),
        ("@PIPELINE().parameters.runDate", "2026-11-24"),
        ("@pipeline().parameters.tables[1]", "Orders"),
        ("@pipeline().parameters.cfg.path", "raw/x"),
        ("@pipeline().parameters.cfg?.missing", None),
        ("@linkedService().account", "contosoraw"),
        ("@formatDateTime(pipeline().TriggerTime, 'yyyy/MM/dd')", "2026/11/24"),
        ("@formatDateTime('2026-01-05T07:08:09Z', 'yyyyMMddHHmmss')", "20260105070809"),
        ("@adddays('2026-11-24T00:00:00Z', -1, 'yyyy-MM-dd')", "2026-11-23"),
        ("@toLower(replace('A-B-C', '-', '_'))", "a_b_c"),
        ("@substring('abcdef', 2, 3)", "cde"),
        ("@split('a/b/c', '/')", ["a", "b", "c"]),
        ("@join(createArray('a', 'b'), ',')", "a,b"),
        ("@if(equals(dataset().n, 3), 'three', 'other')", "three"),
        ("@coalesce(null, 'x')", "x"),
        ("@add(dataset().n, 4)", 7),
        ("@div(7, 2)", 3),
        ("@greater(length(json(pipeline().parameters.tables)), 1)", True),
        ("@string(pipeline().globalParameters.waitTime)", "10"),
        ("@{equals(1, 1)}", "True"),
        ("@base64ToString(base64('é/x'))", "é/x"),
        ("@uriComponent('a b/c')", "a%20b%2Fc"),
        ("@last(split('a.b.csv', '.'))", "csv"),
        ("@union(createArray(1, 2), createArray(2, 3))", [1, 2, 3]),
        ("@startOfMonth('2026-11-24T10:00:00Z', 'yyyy-MM-dd')", "2026-11-01"),
    ],
)
def test_evaluates_like_data_factory(text: str, expected: Any) -> None:
    assert evaluate(text, SCOPE) == expected


def test_resolve_walks_wrappers_lists_and_objects_without_mutating() -> None:
    value = {"folderPath": {"value": "@dataset().folder", "type": "Expression"},
             "list": ["@pipeline().RunId", 1, {"type": "Expression", "value": "concat('a', 'b')"}],
             "type": "DelimitedText"}
    original = json.dumps(value, sort_keys=True)
    assert resolve(value, SCOPE) == {"folderPath": "in", "list": ["r-1", 1, "ab"], "type": "DelimitedText"}
    assert json.dumps(value, sort_keys=True) == original


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("@item().name", "item() is only known inside the ForEach"),
        ("@variables('x')", "variables('x') is not known"),
        ("@utcnow()", "clock"),
        ("@guid()", "random"),
        ("@activity('Lookup').output.firstRow", "output of activity 'Lookup'"),
        ("@pipeline().parameters.missing", "pipeline().parameters.missing"),
        ("@pipeline().TriggerName", "TriggerName"),
    ],
)
def test_run_time_values_are_unresolvable_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(Unresolvable) as info:
        evaluate(text, SCOPE)
    assert reason in info.value.reason


def test_dataset_and_linked_service_outside_their_scope() -> None:
    with pytest.raises(Unresolvable, match=r"dataset\(\)"):
        evaluate("@dataset().x", Scope())
    with pytest.raises(Unresolvable, match=r"linkedService\(\)"):
        evaluate("@linkedService().x", Scope())


def test_user_properties_supply_run_time_values_by_canonical_expression() -> None:
    assert canonical("@item().name") == canonical("@{item().name}") == canonical("@ item() . name")
    scope = Scope(overrides={canonical("@item().name"): "Orders"})
    assert evaluate("@concat('raw/', toLower(item().name), '.parquet')", scope) == "raw/orders.parquet"
    assert evaluate("@{item().name}", scope) == "Orders"
    with pytest.raises(Unresolvable):
        evaluate("@item().other", scope)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@concat('a'", "expected"),
        ("@concat('a)", "unterminated string"),
        ("@nosuch(1)", "unknown function 'nosuch'"),
        ("@concat()", "takes 1 or more"),
        ("@substring('abc', 2, 5)", "out of range"),
        ("@div(1, 0)", "division by zero"),
        ("@{pipeline().RunId", "unterminated"),
        ("@int('x')", "cannot take these arguments"),
        ("@pipeline", "functions need parentheses"),
        ("@'a' 'b'", "unexpected"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, SCOPE)


def test_error_positions_point_into_the_text() -> None:
    with pytest.raises(ExpressionError, match="position 8"):
        parse("@concat(%)")


def test_depth_is_limited() -> None:
    deep = "@" + "concat(" * (MAX_DEPTH + 5) + "'x'" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse(deep)


def test_each_text_is_parsed_once() -> None:
    assert parse("@concat('a', 'b')") is parse("@concat('a', 'b')")


def test_is_expression() -> None:
    assert is_expression("@x()")
    assert is_expression("a@{b()}")
    assert is_expression({"type": "Expression", "value": "x"})
    assert not is_expression("user@example.com")
    assert not is_expression(3)


@given(st.text(max_size=200))
def test_any_text_evaluates_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(ExpressionError, Unresolvable):
        evaluate(text, SCOPE)


@given(st.text(min_size=1, max_size=10), st.text(min_size=1, max_size=10))
def test_concat_of_quoted_literals_returns_the_text(a: str, b: str) -> None:
    def quote(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    assert evaluate(f"@concat({quote(a)}, {quote(b)})", Scope()) == a + b


def test_public_example_item_is_unresolvable_unless_supplied(shared_dir: Path) -> None:
    pipeline = load_adf_example(shared_dir, "Pipelines_Get")
    copy = pipeline["properties"]["activities"][0]["typeProperties"]["activities"][0]
    params = copy["outputs"][0]["parameters"]
    assert resolve(params["MyFolderPath"], Scope()) == "examplecontainer"
    with pytest.raises(Unresolvable, match=r"item\(\)"):
        resolve(params["MyFileName"], Scope())
    supplied = Scope(overrides={canonical(params["MyFileName"]["value"]): "exampleoutput.csv"})
    assert resolve(params["MyFileName"], supplied) == "exampleoutput.csv"


_TEXTS = st.sampled_from(["plain", "", "@dataset().folder", "@{dataset().n}x", "@@at", "@pipeline().parameters.nope",
                          "@concat(", "@item().name", "a@{linkedService().account}"])
_JSON = st.recursive(
    st.none() | st.integers() | _TEXTS
    | st.builds(lambda v: {"type": "Expression", "value": v}, _TEXTS | st.integers()),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from("abc"), children, max_size=3),
    max_leaves=12,
)


@given(_JSON)
def test_prepared_resolves_as_resolve_does(value: Any) -> None:
    """The per-iteration fast path of dataset typeProperties: same values, same errors."""
    def outcome(fn: Any) -> Any:
        try:
            return ("value", json.dumps(fn(), sort_keys=True))
        except (ExpressionError, Unresolvable) as exc:
            return (type(exc).__name__, str(exc))

    assert outcome(lambda: prepared(value)(SCOPE)) == outcome(lambda: resolve(value, SCOPE))


def test_prepared_keeps_the_depth_limit() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ExpressionError, match="nested deeper"):
        prepared(deep)(SCOPE)
