"""The expression language as Microsoft documents it: every function of the reference, on its documented inputs.

Each row is a documented example (function, inputs, the result the reference gives) written as a case here. Where
the Data Factory page prints a result that cannot be right (a dropped hour, 'https' decoded from 'http%3A...'), the
workflow-language reference, which documents the same engine, gives the corrected value, and the row says so. Three
documented families are pinned to what the engine computes rather than to the page's illustration, each with the
reason beside its table: the invariant culture's long date ('D'), binary values, and floats.

Below the documented examples: the edge cases the engine decides (offsets, .NET format specifiers, ticks, null,
types and ranges, names ignoring case), each a case that fails if the evaluator drifts from the engine.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from lineage.extract.expressions import FUNCTIONS, ExpressionError, Scope, Unresolvable, evaluate

# The functions of "Expressions and functions in Azure Data Factory and Azure Synapse Analytics", by section.
DOCUMENTED_FUNCTIONS = {
    "string": ["concat", "endsWith", "guid", "indexOf", "lastIndexOf", "replace", "split", "startsWith", "substring",
               "toLower", "toUpper", "trim"],
    "collection": ["contains", "empty", "first", "intersection", "join", "last", "length", "skip", "take", "union"],
    "logical": ["and", "equals", "greater", "greaterOrEquals", "if", "less", "lessOrEquals", "not", "or"],
    "conversion": ["array", "base64", "base64ToBinary", "base64ToString", "binary", "bool", "coalesce", "createArray",
                   "dataUri", "dataUriToBinary", "dataUriToString", "decodeBase64", "decodeDataUri",
                   "decodeUriComponent", "encodeUriComponent", "float", "int", "json", "string", "uriComponent",
                   "uriComponentToBinary", "uriComponentToString", "xml", "xpath"],
    "math": ["add", "div", "max", "min", "mod", "mul", "rand", "range", "sub"],
    "date": ["addDays", "addHours", "addMinutes", "addSeconds", "addToTime", "convertFromUtc", "convertTimeZone",
             "convertToUtc", "dayOfMonth", "dayOfWeek", "dayOfYear", "formatDateTime", "getFutureTime", "getPastTime",
             "startOfDay", "startOfHour", "startOfMonth", "subtractFromTime", "ticks", "utcNow"],
}

# (expression, documented result)
DOCUMENTED: list[tuple[str, Any]] = [
    # string functions
    ("concat('Hello', 'World')", "HelloWorld"),
    ("concat('Baba', '''s ', 'book store')", "Baba's book store"),
    ("endsWith('hello world', 'world')", True),
    ("endsWith('hello world', 'universe')", False),
    ("indexOf('hello world', 'world')", 6),
    ("lastIndexOf('hello world', 'world')", 6),
    ("lastIndexOf('hello world hello world', 'world')", 18),
    ("lastIndexOf('hello world hello world', '')", 22),
    ("replace('the old string', 'old', 'new')", "the new string"),
    ("split('a_b_c', '_')", ["a", "b", "c"]),
    ("startsWith('hello world', 'hello')", True),
    ("startsWith('hello world', 'greetings')", False),
    ("substring('hello world', 6, 5)", "world"),
    ("toLower('Hello World')", "hello world"),
    ("toUpper('Hello World')", "HELLO WORLD"),
    ("trim(' Hello World  ')", "Hello World"),
    # collection functions
    ("contains('hello world', 'world')", True),
    ("contains('hello world', 'universe')", False),
    ("empty('')", True),
    ("empty('abc')", False),
    ("first('hello')", "h"),
    ("first(createArray(0, 1, 2))", 0),
    ("intersection(createArray(1, 2, 3), createArray(101, 2, 1, 10), createArray(6, 8, 1, 2))", [1, 2]),
    ("join(createArray('a', 'b', 'c'), '.')", "a.b.c"),
    ("last('abcd')", "d"),
    ("last(createArray(0, 1, 2, 3))", 3),
    ("length('abcd')", 4),
    ("length(createArray(0, 1, 2, 3))", 4),
    ("skip(createArray(0, 1, 2, 3), 1)", [1, 2, 3]),
    ("take('abcde', 3)", "abc"),
    ("take(createArray(0, 1, 2, 3, 4), 3)", [0, 1, 2]),
    ("union(createArray(1, 2, 3), createArray(1, 2, 10, 101))", [1, 2, 3, 10, 101]),
    # logical functions
    ("and(true, true)", True),
    ("and(false, true)", False),
    ("and(false, false)", False),
    ("and(equals(1, 1), equals(2, 2))", True),
    ("and(equals(1, 1), equals(1, 2))", False),
    ("and(equals(1, 2), equals(1, 3))", False),
    ("equals(true, 1)", True),
    ("equals('abc', 'abcd')", False),
    ("greater(10, 5)", True),
    ("greater('apple', 'banana')", False),
    ("greaterOrEquals(5, 5)", True),
    ("greaterOrEquals('apple', 'banana')", False),
    ("if(equals(1, 1), 'yes', 'no')", "yes"),
    ("less(5, 10)", True),
    ("less('banana', 'apple')", False),
    ("lessOrEquals(10, 10)", True),
    ("lessOrEquals('apply', 'apple')", False),
    ("not(false)", True),
    ("not(true)", False),
    ("not(equals(1, 2))", True),
    ("not(equals(1, 1))", False),
    ("or(true, false)", True),
    ("or(false, false)", False),
    ("or(equals(1, 1), equals(1, 2))", True),
    ("or(equals(1, 2), equals(1, 3))", False),
    # conversion functions
    ("array('hello')", ["hello"]),
    ("base64('hello')", "aGVsbG8="),
    ("base64ToString('aGVsbG8=')", "hello"),
    ("decodeBase64('aGVsbG8=')", "hello"),
    ("bool(1)", True),
    ("bool(0)", False),
    ("coalesce(null, true, false)", True),
    ("coalesce(null, 'hello', 'world')", "hello"),
    ("coalesce(null, null, null)", None),
    ("createArray('h', 'e', 'l', 'l', 'o')", ["h", "e", "l", "l", "o"]),
    ("dataUri('hello')", "data:text/plain;charset=utf-8;base64,aGVsbG8="),
    ("dataUriToString('data:text/plain;charset=utf-8;base64,aGVsbG8=')", "hello"),
    ("float('10.333')", 10.333),
    ("int('10')", 10),
    ("json('[1, 2, 3]')", [1, 2, 3]),
    ("json('{\"fullName\": \"Sophia Owen\"}')", {"fullName": "Sophia Owen"}),
    ("string(10)", "10"),
    ("uriComponentToString('http%3A%2F%2Fcontoso.com')", "http://contoso.com"),  # the page prints 'https://'
    ("decodeUriComponent('https%3A%2F%2Fcontoso.com')", "https://contoso.com"),  # as the workflow reference has it
    ("uriComponent('https://contoso.com')", "https%3A%2F%2Fcontoso.com"),  # the page prints 'http%3A...'
    ("encodeUriComponent('https://contoso.com')", "https%3A%2F%2Fcontoso.com"),  # corrected in the workflow reference
    # math functions
    ("add(1, 1.5)", 2.5),
    ("div(10, 5)", 2),
    ("div(11, 5)", 2),
    ("div(11, 5.0)", 2.2),  # the workflow reference: a float on either side divides as floats
    ("div(11.0, 5)", 2.2),
    ("max(1, 2, 3)", 3),
    ("max(createArray(1, 2, 3))", 3),
    ("min(1, 2, 3)", 1),
    ("min(createArray(1, 2, 3))", 1),
    ("mod(3, 2)", 1),
    ("mul(1, 2)", 2),
    ("mul(1.5, 2)", 3.0),
    ("range(1, 4)", [1, 2, 3, 4]),
    # date functions ('o', the default format, writes seven fraction digits; the page drops the '.' twice and the
    # hour of addDays' first example: its other examples and the workflow reference show the whole timestamp)
    ("addDays('2018-03-15T13:00:00Z', 10)", "2018-03-25T13:00:00.0000000Z"),
    ("addDays('2018-03-15T00:00:00Z', -5)", "2018-03-10T00:00:00.0000000Z"),
    ("addHours('2018-03-15T00:00:00Z', 10)", "2018-03-15T10:00:00.0000000Z"),
    ("addHours('2018-03-15T15:00:00Z', -5)", "2018-03-15T10:00:00.0000000Z"),
    ("addMinutes('2018-03-15T00:10:00Z', 10)", "2018-03-15T00:20:00.0000000Z"),
    ("addMinutes('2018-03-15T00:20:00Z', -5)", "2018-03-15T00:15:00.0000000Z"),
    ("addSeconds('2018-03-15T00:00:00Z', 10)", "2018-03-15T00:00:10.0000000Z"),
    ("addSeconds('2018-03-15T00:00:30Z', -5)", "2018-03-15T00:00:25.0000000Z"),
    ("addToTime('2018-01-01T00:00:00Z', 1, 'Day')", "2018-01-02T00:00:00.0000000Z"),
    ("subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day')", "2018-01-01T00:00:00.0000000Z"),
    # a converted wall time has no zone: 'o' writes no 'Z' (the workflow reference; the Data Factory page drops the
    # fraction of convertFromUtc's result)
    ("convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time')", "2018-01-01T00:00:00.0000000"),
    ("convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time')", "2018-01-01T00:00:00.0000000"),
    ("convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time')", "2018-01-01T08:00:00.0000000Z"),
    ("dayOfMonth('2018-03-15T13:27:36Z')", 15),
    ("dayOfWeek('2018-03-15T13:27:36Z')", 4),  # a Thursday, Sunday being 0; the Data Factory page prints 3
    ("dayOfYear('2018-03-15T13:27:36Z')", 74),
    ("formatDateTime('03/15/2018 12:00:00', 'yyyy-MM-ddTHH:mm:ss')", "2018-03-15T12:00:00"),
    ("startOfDay('2018-03-15T13:30:30Z')", "2018-03-15T00:00:00.0000000Z"),
    ("startOfHour('2018-03-15T13:30:30Z')", "2018-03-15T13:00:00.0000000Z"),
    ("startOfMonth('2018-03-15T13:30:30Z')", "2018-03-01T00:00:00.0000000Z"),
]

# The 'D' examples: the page writes the long date as the en-US culture does ("Monday, January 1, 2018"); the engine
# formats in the invariant culture, whose long date is "dddd, dd MMMM yyyy".
LONG_DATES: list[tuple[str, str]] = [
    ("addToTime('2018-01-01T00:00:00Z', 1, 'Day', 'D')", "Tuesday, 02 January 2018"),
    ("subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day', 'D')", "Monday, 01 January 2018"),
    ("convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time', 'D')", "Monday, 01 January 2018"),
    ("convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time', 'D')", "Monday, 01 January 2018"),
    ("convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time', 'D')", "Monday, 01 January 2018"),
]

# Binary values: the page shows each as a string of bits (of the input text, not of the decoded bytes); the engine
# carries binary content as its content type and its bytes in base64 under '$content', as the reference says of
# uriComponentToBinary.
HELLO = {"$content-type": "application/octet-stream", "$content": "aGVsbG8="}
BINARIES: list[tuple[str, Any]] = [
    ("base64ToBinary('aGVsbG8=')", HELLO),
    ("binary('hello')", HELLO),
    ("dataUriToBinary('data:text/plain;charset=utf-8;base64,aGVsbG8=')",
     {"$content-type": "text/plain;charset=utf-8", "$content": "aGVsbG8="}),
    ("decodeDataUri('data:text/plain;charset=utf-8;base64,aGVsbG8=')",
     {"$content-type": "text/plain;charset=utf-8", "$content": "aGVsbG8="}),
    ("uriComponentToBinary('http%3A%2F%2Fcontoso.com')",
     {"$content-type": "application/octet-stream", "$content": "aHR0cDovL2NvbnRvc28uY29t"}),
]

# Values only the run knows: documented, and unresolvable offline with the reason.
AT_RUN_TIME: list[tuple[str, str]] = [
    ("guid()", "random"),
    ("guid('P')", "random"),
    ("rand(1, 5)", "random"),
    ("utcNow()", "clock"),
    ("utcNow('D')", "clock"),
    ("getFutureTime(5, 'Day')", "clock"),
    ("getFutureTime(5, 'Day', 'D')", "clock"),
    ("getPastTime(5, 'Day')", "clock"),
    ("getPastTime(5, 'Day', 'D')", "clock"),
    ("xml('<name>Sophia Owen</name>')", "XML"),
    ("json(xml('<root><person id=''1''/></root>'))", "XML"),
    ("xpath(xml('<produce><item><count>30</count></item></produce>'), 'sum(/produce/item/count)')", "XML"),
]


def value(expression: str, scope: Scope | None = None) -> Any:
    return evaluate("@" + expression, scope or Scope())


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED + LONG_DATES + BINARIES, ids=lambda v: str(v)[:60])
def test_documented_examples(expression: str, expected: Any) -> None:
    result = value(expression)
    assert result == expected
    assert type(result) is type(expected)  # 2 is an integer, 2.2 a float, 3 from mul(1.5, 2) a float


def test_sub_of_floats_is_ieee_arithmetic() -> None:
    """sub(10.3, .3): the page prints 10; the engine subtracts doubles, which leaves the binary rounding error."""
    result = value("sub(10.3, .3)")
    assert isinstance(result, float)
    assert result == pytest.approx(10)


@pytest.mark.parametrize(("expression", "reason"), AT_RUN_TIME)
def test_documented_run_time_values_are_unresolvable(expression: str, reason: str) -> None:
    with pytest.raises(Unresolvable, match=reason):
        value(expression)


def test_every_documented_function_is_in_the_registry() -> None:
    documented = {name.lower() for names in DOCUMENTED_FUNCTIONS.values() for name in names}
    assert documented - set(FUNCTIONS) == set()


def test_every_documented_function_has_a_case_here() -> None:
    cases = DOCUMENTED + LONG_DATES + BINARIES + AT_RUN_TIME + TIMESTAMPS + [("sub(", None)]
    called = {name.lower() for expression, _ in cases
              for name in re.findall(r"([A-Za-z][A-Za-z0-9]*)\(", expression)}
    documented = {name.lower() for names in DOCUMENTED_FUNCTIONS.values() for name in names}
    assert documented - called == set()


# ------------------------------------------------------------------------------------------------- timestamps

MOMENT = "2018-03-05T07:08:09.1234567Z"  # a Monday; single-digit month, day and hour show padding


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("d", "03/05/2018"),
        ("D", "Monday, 05 March 2018"),
        ("f", "Monday, 05 March 2018 07:08"),
        ("F", "Monday, 05 March 2018 07:08:09"),
        ("g", "03/05/2018 07:08"),
        ("G", "03/05/2018 07:08:09"),
        ("m", "March 05"),
        ("M", "March 05"),
        ("o", "2018-03-05T07:08:09.1234567Z"),
        ("O", "2018-03-05T07:08:09.1234567Z"),
        ("r", "Mon, 05 Mar 2018 07:08:09 GMT"),
        ("R", "Mon, 05 Mar 2018 07:08:09 GMT"),
        ("s", "2018-03-05T07:08:09"),
        ("t", "07:08"),
        ("T", "07:08:09"),
        ("u", "2018-03-05 07:08:09Z"),
        ("U", "Monday, 05 March 2018 07:08:09"),
        ("y", "2018 March"),
        ("Y", "2018 March"),
    ],
)
def test_standard_formats_are_dotnet_invariant_culture(fmt: str, expected: str) -> None:
    assert value(f"formatDateTime('{MOMENT}', '{fmt}')") == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("yyyy/MM/dd", "2018/03/05"),
        ("y yy yyy yyyy yyyyy", "18 18 2018 2018 02018"),
        ("M MM MMM MMMM", "3 03 Mar March"),
        ("d dd ddd dddd", "5 05 Mon Monday"),
        ("h hh H HH", "7 07 7 07"),
        ("m mm s ss", "8 08 9 09"),
        ("f ff fff ffff fffff ffffff fffffff", "1 12 123 1234 12345 123456 1234567"),
        ("FFFFFFF", "1234567"),
        ("t tt", "A AM"),
        ("z zz zzz", "+0 +00 +00:00"),
        ("%K", "Z"),
        ("K K", "Z Z"),
        ("g", "03/05/2018 07:08"),  # one letter: the standard format, not the era
        ("%g gg", "A.D. A.D."),
        ("%d", "5"),
        ("%M", "3"),
        ("'yyyy' \"MM\" \\d", "yyyy MM d"),
        ("yyyyMMdd'T'HHmmss", "20180305T070809"),
        ("HH:mm 'h'", "07:08 h"),
    ],
)
def test_custom_format_specifiers(fmt: str, expected: str) -> None:
    quoted = fmt.replace("'", "''")
    assert value(f"formatDateTime('{MOMENT}', '{quoted}')") == expected


@pytest.mark.parametrize(
    ("timestamp", "fmt", "expected"),
    [
        ("2018-03-05T07:08:09Z", "ss.FFF", "09"),  # an empty 'F' fraction takes its '.' with it
        ("2018-03-05T07:08:09.5Z", "ss.FFF", "09.5"),
        ("2018-03-05T07:08:09.1200000Z", "FFFFFFF", "12"),
        ("2018-03-05T19:08:09Z", "h tt", "7 PM"),
        ("2018-03-05T00:08:09Z", "h tt", "12 AM"),
        ("2018-03-05T12:08:09Z", "hh t", "12 P"),
        ("2018-03-05T07:08:09", "%K", ""),  # no zone given: none written
        ("2018-03-05T07:08:09", "o", "2018-03-05T07:08:09.0000000"),
        ("0009-01-01T00:00:00Z", "y yy yyy", "9 09 009"),
    ],
)
def test_format_edge_cases(timestamp: str, fmt: str, expected: str) -> None:
    assert value(f"formatDateTime('{timestamp}', '{fmt}')") == expected


TIMESTAMPS: list[tuple[str, Any]] = [
    ("formatDateTime('2024-03-15T13:45:30+02:00', 'HH:mm')", "11:45"),
    ("formatDateTime('2024-03-15T13:45:30-05:30', 'o')", "2024-03-15T19:15:30.0000000Z"),
    ("formatDateTime('2024-03-15T00:30:00+0100', 'yyyy-MM-dd HH:mm')", "2024-03-14 23:30"),
    ("formatDateTime('2024-03-15T13:45:30+02:00', 'zzz K')", "+00:00 Z"),
    ("formatDateTime('2024-03-15', 'o')", "2024-03-15T00:00:00.0000000"),
    ("formatDateTime('2024-03-15 13:45', 's')", "2024-03-15T13:45:00"),
    ("formatDateTime('3/5/2018 1:02:03 PM', 's')", "2018-03-05T13:02:03"),
    ("formatDateTime('2018/03/05 13:02', 's')", "2018-03-05T13:02:00"),
    ("formatDateTime('Mon, 05 Mar 2018 13:02:03 GMT', 'o')", "2018-03-05T13:02:03.0000000Z"),
    ("formatDateTime('March 5, 2018', 'yyyy-MM-dd')", "2018-03-05"),
    ("formatDateTime('2018-03-05T13:02:03.12345678Z', 'fffffff')", "1234568"),  # beyond 100 ns: rounded
    ("ticks('0001-01-01T00:00:00Z')", 0),
    ("ticks('1970-01-01T00:00:00Z')", 621355968000000000),  # .NET's DateTime.UnixEpoch.Ticks
    ("ticks('2018-03-15T13:27:36.1234567Z')", 636567172561234567),
    ("sub(ticks('2018-03-15T13:27:36.0000001Z'), ticks('2018-03-15T13:27:36Z'))", 1),
    ("addSeconds('2018-03-15T13:27:36.1234567Z', 1)", "2018-03-15T13:27:37.1234567Z"),
    ("addDays('2018-03-15T00:00:00Z', 0.5)", "2018-03-15T12:00:00.0000000Z"),
    ("addToTime('2020-01-31T10:00:00Z', 1, 'Month')", "2020-02-29T10:00:00.0000000Z"),
    ("addToTime('2020-02-29T10:00:00Z', 1, 'year', 'yyyy-MM-dd')", "2021-02-28"),
    ("addToTime('2018-01-01T00:00:00Z', 2, 'Week', 'yyyy-MM-dd')", "2018-01-15"),
    ("subtractFromTime('2018-03-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')", "2018-02-28"),
    ("startOfHour('2018-03-15T13:30:30.5', 'o')", "2018-03-15T13:00:00.0000000"),
    ("startOfMonth('2018-03-15T13:30:30Z', 'yyyy-MM-dd')", "2018-03-01"),
    ("convertFromUtc('2018-07-01T12:00:00Z', 'W. Europe Standard Time', 'HH:mm')", "14:00"),
    ("convertFromUtc('2018-07-01T12:00:00Z', 'Europe/Berlin', 'HH:mm')", "14:00"),
    ("convertFromUtc('2018-07-01T12:00:00Z', 'india standard time', 'HH:mm')", "17:30"),
    ("convertFromUtc('2018-07-01T12:00:00Z', 'UTC')", "2018-07-01T12:00:00.0000000Z"),
    ("convertToUtc('2018-07-01 14:00', 'W. Europe Standard Time', 'HH:mm')", "12:00"),
    ("convertToUtc('2018-10-28 02:30', 'W. Europe Standard Time', 'HH:mm')", "01:30"),  # ambiguous: standard time
    ("convertTimeZone('2018-07-01 14:00', 'W. Europe Standard Time', 'Tokyo Standard Time', 'HH:mm')", "21:00"),
]


@pytest.mark.parametrize(("expression", "expected"), TIMESTAMPS)
def test_timestamps_as_the_engine_reads_and_computes_them(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("formatDateTime('15.03.2018', 'o')", "not a timestamp"),
        ("formatDateTime('2018-02-30T00:00:00Z', 'o')", "cannot take these arguments"),
        ("formatDateTime('2018-03-15T00:00:00Z', 'Q')", "not a standard date and time format"),
        ("formatDateTime('2018-03-15T00:00:00Z', 'K')", "not a standard"),  # one letter is a standard format
        ("formatDateTime('2018-03-15T00:00:00Z', 'ffffffff')", "at most 7"),
        ("formatDateTime('2018-03-15T00:00:00Z', 'yyyy''MM')", "unterminated quote"),
        ("formatDateTime('2018-03-15T00:00:00Z', 'yyyy\\')", "escape"),
        ("formatDateTime('2018-03-15T00:00:00Z', 'yy%')", "'%'"),
        ("formatDateTime(20180315, 'o')", "expects a string"),
        ("addDays('9999-12-31T00:00:00Z', 1)", "outside years 1 to 9999"),
        ("addDays('2018-03-15T00:00:00Z', '1')", "expects a number"),
        ("addToTime('2018-03-15T00:00:00Z', 1, 'Fortnight')", "not a time unit"),
        ("convertToUtc('2018-03-25 02:30', 'W. Europe Standard Time')", "does not exist"),
        ("convertToUtc('2018-03-25T02:30:00Z', 'W. Europe Standard Time')", "already UTC"),
    ],
)
def test_timestamp_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        value(expression)


def test_an_unknown_time_zone_is_unresolvable_not_an_error() -> None:
    with pytest.raises(Unresolvable, match="not one this service knows"):
        value("convertFromUtc('2018-07-01T12:00:00Z', 'Mars Standard Time')")


# ------------------------------------------------------------------------------------- the engine's edge cases


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("contains('hello world', 'World')", False),  # case-sensitive, as documented
        ("contains(createArray('a', 'b'), 'b')", True),
        ("contains(json('{\"Key\": 1}'), 'Key')", True),
        ("contains(json('{\"Key\": 1}'), 'key')", False),
        ("indexOf('Hello World', 'WORLD')", 6),  # indexOf, startsWith, endsWith: not case-sensitive
        ("startsWith('Hello', 'hE')", True),
        ("endsWith('Hello', 'LO')", True),
        ("lastIndexOf('', 'a')", -1),
        ("lastIndexOf('', '')", 0),
        ("lastIndexOf('abcABC', 'b')", 4),
        ("nthIndexOf('123456789123465789', '1', 1)", 0),
        ("nthIndexOf('123456789123465789', '1', 2)", 9),
        ("nthIndexOf('123456789123465789', '1', 3)", -1),
        ("nthIndexOf('a-b-c', '-', -1)", 3),
        ("nthIndexOf('a-b-c', '-', -2)", 1),
        ("split('abc', '')", ["abc"]),
        ("split('', ',')", [""]),
        ("mod(-7, 3)", -1),  # the remainder takes the dividend's sign
        ("mod(7, -3)", 1),
        ("mod(7.5, 2)", 1.5),
        ("mod(-7.5, 2)", -1.5),
        ("div(-7, 2)", -3),  # integer division truncates toward zero
        ("div(7, 2.0)", 3.5),
        ("max(1, 2.5)", 2.5),
        ("min(createArray(3, -1.5, 2))", -1.5),
        ("take('abc', 0)", ""),
        ("take(createArray(1, 2), 5)", [1, 2]),
        ("skip('abc', 5)", ""),
        ("createArray('a', 'b')[1]", "b"),
        ("json('[1, 2]')?[5]", None),
        ("json(null)", {}),
        ("concat('a', null, 'b')", "ab"),
        ("string(null)", ""),
        ("coalesce(null, '')", ""),
        ("empty(null)", True),
        ("uriComponent('a b~c_d.e-f')", "a%20b~c_d.e-f"),
        ("dataUriToString('data:,a%20b')", "a b"),
        ("bool('TRUE')", True),
        ("int('-3')", -3),
    ],
)
def test_edge_cases_as_the_engine_decides_them(expression: str, expected: Any) -> None:
    result = value(expression)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("toLower(null)", "expects a string, not null"),
        ("toUpper(null)", "expects a string, not null"),
        ("trim(null)", "expects a string, not null"),
        ("split(null, ',')", "expects a string, not null"),
        ("replace(null, 'a', 'b')", "expects a string, not null"),
        ("substring(null, 0, 1)", "expects a string, not null"),
        ("startsWith(null, 'a')", "expects a string, not null"),
        ("toLower(5)", "expects a string, not an integer"),
        ("add('1', 2)", "expects a number, not a string"),
        ("add(true, 2)", "expects a number, not a boolean"),
        ("mul(null, 2)", "expects a number, not null"),
        ("greater('10', 5)", "expects a number"),
        ("mod(1, 0)", "division by zero"),
        ("mod(1.5, 0)", "division by zero"),
        ("div(1, 0.0)", "division by zero"),
        ("take(createArray(1, 2), -1)", "negative"),
        ("skip('abc', -1)", "negative"),
        ("take(5, 1)", "expects a string or an array"),
        ("range(1, -1)", "negative"),
        ("if('true', 1, 2)", "expects a boolean, not a string"),
        ("if(1, 1, 2)", "expects a boolean, not an integer"),
        ("and(true, 'false')", "expects a boolean"),
        ("and(false, 'x')", "expects a boolean"),  # every argument is checked, also after a false one
        ("not(null)", "expects a boolean, not null"),
        ("bool('yes')", "not a boolean"),
        ("replace('abc', '', 'x')", "empty"),
        ("createArray('a', 'b')[-1]", "out of range"),
        ("createArray('a', 'b')[2]", "out of range"),
        ("max(createArray())", "no numbers"),
        ("max(1, 'a')", "expects a number"),
        ("union(createArray(1), json('{}'))", "arrays or objects"),
        ("nthIndexOf('abc', 'b', 0)", "must not be 0"),
        ("base64ToString('not base64!')", "cannot take these arguments"),
        ("dataUriToString('hello')", "not a data URI"),
    ],
)
def test_type_and_range_errors_are_expression_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        value(expression)
    assert not PYTHON_NONE.search(str(info.value))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a @@ b", "a @@ b"),  # '@@' escapes only at the start of a value and before '{'
        ("user@@example.com", "user@@example.com"),
        ("@@concat('a')", "@concat('a')"),
        ("Answer is: @@{pipeline().parameters.n}", "Answer is: @{pipeline().parameters.n}"),
        ("Answer is: @{pipeline().parameters.n}", "Answer is: 42"),
        ("@{toLower('A')}@@{x}", "a@{x}"),
    ],
)
def test_at_signs_as_the_engine_leaves_them(text: str, expected: str) -> None:
    assert evaluate(text, Scope(pipeline_parameters={"n": 42})) == expected


NAMED = Scope(
    pipeline_parameters={"TableName": "Orders"},
    global_parameters={"LakeZone": "silver"},
    dataset={"FolderPath": "raw"},
    linked_service={"AccountName": "contoso"},
    variables={"Target": "dbo.Orders"},
    activity_outputs={"Lookup Tables": {"firstRow": {"Schema": "dbo"}}},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@pipeline().parameters.tablename", "Orders"),
        ("@pipeline().PARAMETERS.TABLENAME", "Orders"),
        ("@pipeline().parameters['tableName']", "Orders"),
        ("@pipeline().globalParameters.lakezone", "silver"),
        ("@dataset().folderpath", "raw"),
        ("@linkedService().accountname", "contoso"),
        ("@variables('TARGET')", "dbo.Orders"),
        ("@activity('lookup tables').output.firstRow.schema", "dbo"),
        ("@activity('LOOKUP TABLES').Output.FirstRow.Schema", "dbo"),
    ],
)
def test_names_resolve_ignoring_case(text: str, expected: str) -> None:
    assert evaluate(text, NAMED) == expected


def test_a_name_that_differs_by_more_than_case_is_still_missing() -> None:
    with pytest.raises(Unresolvable, match="TableNames"):
        evaluate("@pipeline().parameters.TableNames", NAMED)
    with pytest.raises(Unresolvable, match="Lookup Table'"):
        evaluate("@activity('Lookup Table').output", NAMED)


PYTHON_NONE = re.compile(r"\bnone(type)?\b", re.IGNORECASE)
ANY_SCOPE = Scope(dataset={}, linked_service={})


def outcome(text: str, scope: Scope = ANY_SCOPE) -> tuple[Any, str | None]:
    """(the value, None), or (None, the message) of the language's own errors."""
    try:
        return evaluate(text, scope), None
    except (ExpressionError, Unresolvable) as exc:
        return None, str(exc)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_null_never_becomes_the_text_none(name: str) -> None:
    """Every function given null for each argument: a value that is not the text 'None', or an error that says
    null (or names the run-time value), never Python's None or NoneType."""
    low, high = FUNCTIONS[name].arity
    for count in sorted({low, min(high, low + 1)}):
        for position in range(count):
            call = f"{name}({', '.join('null' if i == position else TIMESTAMP for i in range(count))})"
            result, message = outcome("@" + call)
            text, _ = outcome("@{" + call + "}")
            assert not PYTHON_NONE.search(message or ""), message
            assert not PYTHON_NONE.search(text or ""), text
            assert not (isinstance(result, str) and PYTHON_NONE.search(result)), result


TIMESTAMP = "'2018-03-15T00:00:00Z'"  # an argument most functions take, beside the null under test


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@json('{\"a\": null}').a.b", "cannot read 'b' of null"),
        ("@json('[1]')[null]", "cannot read null of an array"),
        ("@json('{}')[null]", "property null not found"),
        ("@variables(null)", "variables(null)"),
        ("@activity(null).output", "activity null"),
        ("@length(5)", "not an integer"),
        ("@first(5)", "not an integer"),
        ("@substring('abc', 4)", "from 4 to 3"),
    ],
)
def test_messages_name_values_as_the_language_writes_them(text: str, message: str) -> None:
    _, said = outcome(text, Scope())
    assert said is not None and message in said, said
    assert not PYTHON_NONE.search(said)
