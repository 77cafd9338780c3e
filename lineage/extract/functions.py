"""The expression language's function library: one registry record per function, pure values in and out.

The evaluator (``expressions``) looks every call up here; functions that need the run (``pipeline()``,
``activity()``...) are registered there, beside the scope they read. The errors and size limits live here because
both sides raise them: a function that would build a huge value stops with an ``ExpressionError``, not a memory error.

Each function computes what Data Factory's engine computes (a .NET program): the same types accepted and refused,
timestamps as .NET DateTimes with .NET's formats, and null written as the language writes it, never as ``None``.
"""

from __future__ import annotations

import base64
import calendar
import json
import math
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

MAX_DEPTH = 64  # nesting of calls and member accesses together, and of the JSON values resolved
MAX_LENGTH = 100_000
MAX_VALUE_CHARS = 1_000_000  # a text an expression computes (replace, join, concat...)
MAX_ITEMS = 100_000  # an array an expression computes (range, concat...)
MAX_SET_ITEMS = 10_000  # union and intersection compare every pair
MAX_MESSAGE_CHARS = 300


class ExpressionError(ValueError):
    """Malformed expression text, or a function applied to values it cannot take."""

    def __init__(self, message: str) -> None:
        super().__init__(_capped(message))


class Unresolvable(Exception):  # noqa: N818 - a fact about the value, not a failure of the code
    """A value that exists only at run time and is not in the run record."""

    def __init__(self, reason: str, expression: str = "") -> None:
        reason = _capped(reason)
        super().__init__(reason)
        self.reason = reason
        self.expression = expression


def _capped(message: str) -> str:
    """Messages quote expression text and values: they stay short enough to read."""
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 3] + "..."


class Function(NamedTuple):
    """A registry record: the implementation, its (min, max) argument count, and whether it reads the scope."""

    impl: Callable[..., Any]
    arity: tuple[int, int]
    scoped: bool = False

def interpolated(value: Any) -> str:
    """A value as string interpolation (``@{...}``, ``concat``) writes it: Data Factory's spelling of booleans,
    nulls and JSON."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


MANY = 99  # "any number of arguments"


# ------------------------------------------------------------------------------------------------------- types
#
# The engine types every argument: a string function given a number or null, arithmetic given a numeric string, a
# condition given the text 'true' all fail there, so they fail here too. A TypeError or ValueError raised below
# reaches the user as "<function>() cannot take these arguments: ..." (the evaluator adds the function's name).


def type_name(value: Any) -> str:
    """A value's type as messages name it: the language's words (null, a boolean...), never Python's."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def shown(value: Any) -> str:
    """A value quoted in a message as the language writes it: null is ``null``, never Python's ``None``."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return repr(value)


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expects a string, not {type_name(value)}")


def _number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise TypeError(f"expects a number, not {type_name(value)}")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expects an integer, not {type_name(value)}")


def _boolean(value: Any) -> bool:
    """A condition (``if``, ``and``, ``or``, ``not``): only a boolean; ``bool()`` is the conversion."""
    if isinstance(value, bool):
        return value
    raise TypeError(f"expects a boolean, not {type_name(value)}")


def _count(value: Any) -> int:
    count = _integer(value)
    if count < 0:
        raise ValueError(f"the count {count} is negative")
    return count


def _sequence(value: Any) -> str | list[Any]:
    if isinstance(value, str | list):
        return value
    raise TypeError(f"expects a string or an array, not {type_name(value)}")


# ------------------------------------------------------------------------------------------------- conversions


def _int(value: Any) -> int:
    """``int()``: an integer from a number or its text; a fraction is refused rather than rounded."""
    if isinstance(value, str):
        text = value.strip()
        number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
    else:
        number = _number(value)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(f"{shown(value)} is not an integer")
    return int(number)


def _float(value: Any) -> float:
    return float(value.strip()) if isinstance(value, str) else float(_number(value))


def _bool(value: Any) -> bool:
    """``bool()``: a boolean from a boolean, a number (zero is false) or the text true/false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int | float):
        return value != 0
    raise ValueError(f"{shown(value)} is not a boolean")


def _json_fn(value: Any) -> Any:
    """``json()``: a string parsed; null gives an empty object, as documented; other values are already JSON."""
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else value


def _string(value: Any) -> str:
    return interpolated(value) if not isinstance(value, str) else value


def _array(value: Any) -> list[Any]:
    """``array()``: one value in an array (``createArray`` takes many)."""
    return [value]


# --------------------------------------------------------------------------------------------------- strings


def _fold(text: str) -> str:
    """The text compared ignoring case, index for index (a character whose case form is longer stays as it is)."""
    if text.isascii():
        return text.lower()
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _substring(value: Any, start_at: Any, length: Any = None) -> str:
    text, start = _str(value), _integer(start_at)
    end = len(text) if length is None else start + _integer(length)
    if start < 0 or end > len(text) or end < start:
        raise ExpressionError(f"substring from {start} to {end} is out of range for a string of length {len(text)}")
    return text[start:end]


def _replace(text: Any, old: Any, new: Any) -> str:
    s, o, n = _str(text), _str(old), _str(new)
    if not o:
        raise ValueError("the text to replace is empty")
    _sized("replace", len(s) + s.count(o) * max(len(n) - len(o), 0))
    return s.replace(o, n)


def _split(text: Any, separator: Any) -> list[str]:
    s, sep = _str(text), _str(separator)
    return s.split(sep) if sep else [s]


def _join(items: Any, separator: Any) -> str:
    if not isinstance(items, list):
        raise TypeError(f"expects an array, not {type_name(items)}")
    parts, sep = [_string(x) for x in items], _str(separator)
    _sized("join", sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0))
    return sep.join(parts)


def _concat(*values: Any) -> Any:
    size, arrays = 0, True  # one pass: concat() is in nearly every dynamic path or table name
    for x in values:
        if isinstance(x, str):
            size += len(x)
            arrays = False
        elif isinstance(x, list):
            size += len(x)
        else:
            arrays = False
    _sized("concat", size)
    if arrays:
        return [y for x in values for y in x]
    return "".join([x if isinstance(x, str) else interpolated(x) for x in values])


def _index_of(text: Any, search: Any) -> int:
    """Not case-sensitive, as documented."""
    return _fold(_str(text)).find(_fold(_str(search)))


def _last_index_of(text: Any, search: Any) -> int:
    """Not case-sensitive; the documented edge cases: an empty text gives -1 (0 when the search is empty too), an
    empty search the last index."""
    s, sought = _str(text), _str(search)
    if not s:
        return 0 if not sought else -1
    if not sought:
        return len(s) - 1
    return _fold(s).rfind(_fold(sought))


def _nth_index_of(text: Any, search: Any, occurrence: Any) -> int:
    """The workflow language's ``nthIndexOf``: the nth occurrence, counted from the end when negative."""
    s, sought, n = _fold(_str(text)), _fold(_str(search)), _integer(occurrence)
    if n == 0:
        raise ValueError("the occurrence must not be 0")
    index = -1 if n > 0 else len(s) + 1
    for _ in range(abs(n)):
        index = s.find(sought, index + 1) if n > 0 else s.rfind(sought, 0, index - 1 + len(sought))
        if index < 0:
            return -1
    return index


def _starts_with(text: Any, prefix: Any) -> bool:
    return _fold(_str(text)).startswith(_fold(_str(prefix)))


def _ends_with(text: Any, suffix: Any) -> bool:
    return _fold(_str(text)).endswith(_fold(_str(suffix)))


# ------------------------------------------------------------------------------------------------ collections


def check_size(name: str, value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ExpressionError(f"{name}() makes a text longer than {MAX_VALUE_CHARS:,} characters")
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise ExpressionError(f"{name}() makes an array of more than {MAX_ITEMS:,} items")


def _sized(name: str, size: int, limit: int = MAX_VALUE_CHARS) -> None:
    """Refuse before computing a value that would be too large to hold."""
    if size > limit:
        raise ExpressionError(f"{name}() would make a value of {size:,} characters or items (at most {limit:,})")


def _collections(values: tuple[Any, ...]) -> bool:
    """True for objects, False for arrays: ``union`` and ``intersection`` take one kind, not both."""
    if all(isinstance(v, Mapping) for v in values):
        return True
    if all(isinstance(v, list) for v in values):
        return False
    raise TypeError("expects arrays or objects, not a mix or other values")


def _union(*values: Any) -> Any:
    objects = _collections(values)
    _sized("union", sum(len(v) for v in values), MAX_SET_ITEMS)
    if objects:
        merged: dict[str, Any] = {}
        for v in values:
            merged.update(v)
        return merged
    out: list[Any] = []
    for v in values:
        for item in v:
            if item not in out:
                out.append(item)
    return out


def _intersection(*values: Any) -> Any:
    objects = _collections(values)
    _sized("intersection", sum(len(v) for v in values), MAX_SET_ITEMS)
    if objects:
        return {k: v for k, v in values[0].items() if all(k in o and o[k] == v for o in values[1:])}
    out: list[Any] = []
    for x in values[0]:
        if x not in out and all(x in o for o in values[1:]):
            out.append(x)
    return out


def _range(start: Any, count: Any) -> list[int]:
    first, number = _integer(start), _count(count)
    _sized("range", number, MAX_ITEMS)
    return list(range(first, first + number))


def _take(value: Any, count: Any) -> Any:
    return _sequence(value)[: _count(count)]


def _skip(value: Any, count: Any) -> Any:
    return _sequence(value)[_count(count):]


def _contains(container: Any, item: Any) -> bool:
    """Case-sensitive, as documented: a substring of a string, an item of an array, a key of an object."""
    if isinstance(container, str):
        return _str(item) in container
    if isinstance(container, list | Mapping):
        return item in container
    raise TypeError(f"expects a string, an array or an object, not {type_name(container)}")


def _empty(value: Any) -> bool:
    return value is None or (hasattr(value, "__len__") and len(value) == 0)


def _first(value: Any) -> Any:
    """The first item of a string or an array; null for an empty one or for null."""
    return _sequence(value)[0] if value else None


def _last(value: Any) -> Any:
    return _sequence(value)[-1] if value else None


def _length(value: Any) -> int:
    if isinstance(value, str | list | Mapping):
        return len(value)
    raise TypeError(f"expects a string, an array or an object, not {type_name(value)}")


def _extreme(pick: Callable[..., Any]) -> Callable[..., int | float]:
    """``max`` and ``min``: of numbers given one by one, or of one array of numbers."""
    def extreme(*values: Any) -> int | float:
        numbers = values[0] if len(values) == 1 and isinstance(values[0], list) else values
        if not numbers:
            raise ValueError("there are no numbers to compare")
        result: int | float = pick(_number(v) for v in numbers)
        return result
    return extreme


# ------------------------------------------------------------------------------------------------------ logic


def _equals(a: Any, b: Any) -> bool:
    return bool(a == b)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        return op(_number(a), _number(b))
    return compare


def _if(condition: Any, a: Any, b: Any) -> Any:
    return a if _boolean(condition) else b


def _and(*values: Any) -> bool:
    """Every argument must be a boolean, also after a false one (the engine checks them all)."""
    return all([_boolean(v) for v in values])  # noqa: C419 - a list, so that every argument is checked


def _or(*values: Any) -> bool:
    return any([_boolean(v) for v in values])  # noqa: C419 - a list, so that every argument is checked


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


# ------------------------------------------------------------------------------------------------------- math


def _add(a: Any, b: Any) -> int | float:
    return _number(a) + _number(b)


def _sub(a: Any, b: Any) -> int | float:
    return _number(a) - _number(b)


def _mul(a: Any, b: Any) -> int | float:
    return _number(a) * _number(b)


def _div(a: Any, b: Any) -> int | float:
    """Integers divide to an integer, truncated toward zero; a float on either side divides exactly."""
    x, y = _number(a), _number(b)
    if not y:
        raise ExpressionError("division by zero")
    if isinstance(x, int) and isinstance(y, int):
        quotient = abs(x) // abs(y)
        return quotient if (x < 0) == (y < 0) else -quotient
    return x / y


def _mod(a: Any, b: Any) -> int | float:
    """The remainder takes the sign of the dividend (as .NET's ``%``), for integers and floats."""
    x, y = _number(a), _number(b)
    if not y:
        raise ExpressionError("division by zero")
    if isinstance(x, int) and isinstance(y, int):
        remainder = abs(x) % abs(y)
        return -remainder if x < 0 else remainder
    return math.fmod(x, y)


# ------------------------------------------------------------------------------------------- encodings, URIs

_OCTETS = "application/octet-stream"


def _binary_value(data: bytes, content_type: str = _OCTETS) -> dict[str, str]:
    """A binary value as the engine carries one: its content type and its bytes in base64 under ``$content``."""
    return {"$content-type": content_type, "$content": base64.b64encode(data).decode("ascii")}


def _base64(value: Any) -> str:
    return base64.b64encode(_str(value).encode()).decode("ascii")


def _base64_bytes(value: Any) -> bytes:
    return base64.b64decode(_str(value), validate=True)


def _base64_to_string(value: Any) -> str:
    return _base64_bytes(value).decode()


def _base64_to_binary(value: Any) -> dict[str, str]:
    return _binary_value(_base64_bytes(value))


def _binary(value: Any) -> dict[str, str]:
    return _binary_value(_str(value).encode())


def _uri_component(value: Any) -> str:
    """Percent-encoding of everything but the unreserved characters, as .NET's ``Uri.EscapeDataString``."""
    return urllib.parse.quote(_str(value), safe="~")


def _uri_component_to_string(value: Any) -> str:
    return urllib.parse.unquote(_str(value))


def _uri_component_to_binary(value: Any) -> dict[str, str]:
    return _binary_value(urllib.parse.unquote_to_bytes(_str(value)))


def _data_uri(value: Any) -> str:
    return "data:text/plain;charset=utf-8;base64," + _base64(value)


def _data_uri_parts(value: Any) -> tuple[str, bytes]:
    """(media type with its parameters, the decoded bytes) of a ``data:`` URI."""
    text = _str(value)
    if not text[:5].lower() == "data:" or "," not in text:
        raise ValueError(f"{text[:40]!r} is not a data URI")
    header, _, payload = text[5:].partition(",")
    media, _, last = header.rpartition(";")
    if last.lower() == "base64":
        return media or "text/plain;charset=US-ASCII", base64.b64decode(payload, validate=True)
    return header or "text/plain;charset=US-ASCII", urllib.parse.unquote_to_bytes(payload)


def _data_uri_to_string(value: Any) -> str:
    media, data = _data_uri_parts(value)
    charset = next((p.split("=", 1)[1].strip() for p in media.split(";") if p.strip().lower().startswith("charset=")),
                   "utf-8")
    return data.decode(charset)


def _data_uri_to_binary(value: Any) -> dict[str, str]:
    media, data = _data_uri_parts(value)
    return _binary_value(data, media)


def _xml_unresolvable(*_: Any) -> Any:
    raise Unresolvable("XML values (xml(), xpath()) are not evaluated offline")


# ------------------------------------------------------------------------------------------------- timestamps
#
# A timestamp is a .NET DateTime: ticks of 100 ns since 0001-01-01 and a kind. Text with 'Z' or an offset is read
# as UTC (converted to it) and written back with 'Z' by the 'o' and 'K' formats; text without one is a wall time of
# no zone and written without. Ticks keep the 7th decimal of seconds that Python's datetime would drop.

TICKS_PER_SECOND = 10_000_000
_TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
_MAX_TICKS = (date(9999, 12, 31).toordinal()) * _TICKS_PER_DAY  # the first tick after 9999-12-31T23:59:59.9999999


class Moment(NamedTuple):
    """A timestamp as the engine holds one: .NET ticks, and whether it is UTC (else a wall time of no zone)."""

    ticks: int
    utc: bool


class _Parts(NamedTuple):
    """A moment's calendar fields, computed once per formatting."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    fraction: int  # ticks within the second, 0..9,999,999
    weekday: int  # Sunday is 0, as .NET's DayOfWeek
    utc: bool


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NUMBERS = {name[:3].lower(): number for number, name in enumerate(_MONTHS, 1)}
_MONTH_WORD = r"(?P<mon>(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?)"
_TIME = (r"(?:[T ]\s*(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d+))?)?\s*(?P<ampm>[AP]M)?)?"
         r"\s*(?P<tz>Z|GMT|UTC|[+-]\d{1,2}(?::?\d{2})?)?")
_TIMESTAMPS = tuple(re.compile(r"\s*" + pattern + _TIME + r"\s*", re.IGNORECASE | re.ASCII) for pattern in (
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",  # ISO 8601, the form Data Factory writes
    r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",  # the invariant culture's month/day/year ('03/15/2018 12:00:00')
    r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})",
    r"(?:[a-z]{3,9},?\s*)?(?P<d>\d{1,2})\s+" + _MONTH_WORD + r"\s+(?P<y>\d{4})",  # RFC 1123 ('r'), '15 March 2018'
    r"(?:[a-z]{3,9},?\s*)?" + _MONTH_WORD + r"\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})",  # 'March 15, 2018'
))


@lru_cache(maxsize=4096)
def _read_moment(text: str) -> Moment:
    """Text as .NET's ``DateTime.Parse`` reads it in the invariant culture, in the forms pipelines and the reference
    use; cached, because one trigger time is read again for every activity and iteration of a run."""
    for pattern in _TIMESTAMPS:
        match = pattern.fullmatch(text)
        if match:
            break
    else:
        raise ValueError(f"{text[:60]!r} is not a timestamp")
    g = match.groupdict()
    month = int(g["m"]) if g.get("m") else _MONTH_NUMBERS[g["mon"][:3].lower()]
    hour = int(g["h"] or 0)
    if g["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text[:60]!r} has an hour of {hour} with {g['ampm']}")
        hour = hour % 12 + (12 if g["ampm"].upper() == "PM" else 0)
    moment = datetime(int(g["y"]), month, int(g["d"]), hour, int(g["mi"] or 0), int(g["s"] or 0))
    digits = (g["f"] or "").ljust(7, "0")
    fraction = int(digits[:7]) + int(digits[7:8] >= "5")  # beyond 100 ns rounds, as .NET reads it
    ticks = ((moment.toordinal() - 1) * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second) \
        * TICKS_PER_SECOND + fraction
    zone = (g["tz"] or "").upper()
    if zone and zone not in ("Z", "GMT", "UTC"):
        body = zone[1:].replace(":", "")
        hours, minutes = (int(body), 0) if len(body) <= 2 else (int(body[:-2]), int(body[-2:]))
        ticks -= (-1 if zone[0] == "-" else 1) * (hours * 60 + minutes) * 60 * TICKS_PER_SECOND
    return _checked(Moment(ticks, bool(zone)))


def _checked(moment: Moment) -> Moment:
    if not 0 <= moment.ticks < _MAX_TICKS:
        raise OverflowError("the timestamp is outside years 1 to 9999")
    return moment


def _moment(value: Any) -> Moment:
    return _read_moment(_str(value))


def _parts(moment: Moment) -> _Parts:
    days, rest = divmod(moment.ticks, _TICKS_PER_DAY)
    seconds, fraction = divmod(rest, TICKS_PER_SECOND)
    day = date.fromordinal(days + 1)
    return _Parts(day.year, day.month, day.day, seconds // 3600, seconds // 60 % 60, seconds % 60, fraction,
                  (days + 1) % 7, moment.utc)


def _to_datetime(moment: Moment) -> datetime:
    """The moment to the microsecond, naive; the ticks below a microsecond are ``moment.ticks % 10``."""
    return datetime.min + timedelta(microseconds=moment.ticks // 10)


def _from_datetime(moment: datetime, sub_microsecond: int, utc: bool) -> Moment:
    delta = moment.replace(tzinfo=None) - datetime.min
    return _checked(Moment((delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10
                           + sub_microsecond, utc))


# .NET's standard date and time formats in the invariant culture (a one-character format is always one of them).
_STANDARD_FORMATS = {
    "d": "MM/dd/yyyy", "D": "dddd, dd MMMM yyyy", "f": "dddd, dd MMMM yyyy HH:mm", "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm", "G": "MM/dd/yyyy HH:mm:ss", "m": "MMMM dd", "M": "MMMM dd",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss", "t": "HH:mm", "T": "HH:mm:ss", "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "U": "dddd, dd MMMM yyyy HH:mm:ss", "y": "yyyy MMMM", "Y": "yyyy MMMM",
}

_Piece = Callable[[_Parts], "str | None"]  # None: an empty 'F' fraction, which also drops the '.' before it


def _digits(field: int, width: int) -> _Piece:
    return lambda p: f"{p[field]:0{width}d}"


def _hour12(width: int) -> _Piece:
    return lambda p: f"{(p.hour % 12) or 12:0{width}d}"


def _fraction(count: int, trim: bool) -> _Piece:
    scale = 10 ** (7 - count)
    if not trim:
        return lambda p: f"{p.fraction // scale:0{count}d}"

    def trimmed(p: _Parts) -> str | None:
        return f"{p.fraction // scale:0{count}d}".rstrip("0") or None
    return trimmed


def _year(count: int) -> _Piece:
    if count <= 2:
        return lambda p: f"{p.year % 100:0{count}d}"
    return lambda p: f"{p.year:0{count}d}"


def _pattern_piece(char: str, count: int) -> _Piece | str:
    """One run of a custom format specifier, e.g. ``dd`` or ``MMMM``, as .NET formats it."""
    if char == "d":
        if count >= 4:
            return lambda p: _DAYS[p.weekday]
        return (lambda p: _DAYS[p.weekday][:3]) if count == 3 else _digits(2, count)
    if char == "M":
        if count >= 4:
            return lambda p: _MONTHS[p.month - 1]
        return (lambda p: _MONTHS[p.month - 1][:3]) if count == 3 else _digits(1, count)
    if char in "fF":
        if count > 7:
            raise ValueError("at most 7 fraction digits ('fffffff') can be formatted")
        return _fraction(count, char == "F")
    if char == "y":
        return _year(count)
    if char == "h":
        return _hour12(min(count, 2))
    if char == "t":
        return (lambda p: "AM" if p.hour < 12 else "PM") if count > 1 else (lambda p: "A" if p.hour < 12 else "P")
    if char == "z":  # the offset of the engine's own zone, which is UTC
        return "+0" if count == 1 else "+00" if count == 2 else "+00:00"
    if char == "g":
        return "A.D."
    return _digits({"H": 3, "m": 4, "s": 5}[char], min(count, 2))


_PATTERN_CHARS = frozenset("dMfFyhHmstzg")


@lru_cache(maxsize=512)
def _compiled_format(fmt: str) -> tuple[_Piece | str, ...]:
    """A .NET date and time format (standard or custom) as literal texts and field formatters, compiled once."""
    if len(fmt) == 1:
        if fmt not in _STANDARD_FORMATS:
            raise ValueError(f"{fmt!r} is not a standard date and time format")
        fmt = _STANDARD_FORMATS[fmt]
    elif not fmt:
        fmt = _STANDARD_FORMATS["G"]
    pieces: list[_Piece | str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c in _PATTERN_CHARS:
            j = i + 1
            while j < n and fmt[j] == c:
                j += 1
            pieces.append(_pattern_piece(c, j - i))
            i = j
        elif c == "K":
            pieces.append(_zone_suffix)
            i += 1
        elif c in "'\"":
            end, literal = i + 1, []
            while end < n and fmt[end] != c:
                if fmt[end] == "\\" and end + 1 < n:
                    end += 1
                literal.append(fmt[end])
                end += 1
            if end >= n:
                raise ValueError(f"the format {fmt!r} has an unterminated quote")
            pieces.append("".join(literal))
            i = end + 1
        elif c == "%":
            if i + 1 >= n or fmt[i + 1] == "%":
                raise ValueError(f"'%' in the format {fmt!r} must be followed by a specifier")
            pieces.append(_single(fmt[i + 1]))
            i += 2
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError(f"the format {fmt!r} ends with an escape character")
            pieces.append(fmt[i + 1])
            i += 2
        else:
            pieces.append(c)
            i += 1
    return tuple(pieces)


def _single(char: str) -> _Piece | str:
    """``%d``: one character formatted as a custom specifier, never as a standard format."""
    if char in _PATTERN_CHARS:
        return _pattern_piece(char, 1)
    return _zone_suffix if char == "K" else char


def _zone_suffix(parts: _Parts) -> str:
    """'K': 'Z' for a UTC timestamp, nothing for one of no zone."""
    return "Z" if parts.utc else ""


def _render(moment: Moment, fmt: Any) -> str:
    pieces = _compiled_format(_str(fmt))
    parts = _parts(moment)
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        text = piece(parts)
        if text is not None:
            out.append(text)
        elif out and out[-1].endswith("."):
            out[-1] = out[-1][:-1]
    return "".join(out)


def _format(value: Any, fmt: Any = "o") -> str:
    return _render(_moment(value), fmt)


def _shift(moment: Moment, ticks: int) -> Moment:
    return _checked(Moment(moment.ticks + ticks, moment.utc))


def _scaled(amount: Any, unit_ticks: int) -> int:
    """An amount of days, hours... in ticks: whole amounts exactly, fractions rounded to the millisecond as .NET's
    ``AddDays(double)`` does."""
    number = _number(amount)
    if isinstance(number, int):
        return number * unit_ticks
    millis = number * unit_ticks / 10_000
    return int(millis + (0.5 if millis >= 0 else -0.5)) * 10_000


def _adder(unit_ticks: int) -> Callable[..., str]:
    def add(value: Any, amount: Any, fmt: Any = "o") -> str:
        return _render(_shift(_moment(value), _scaled(amount, unit_ticks)), fmt)
    return add


def _add_months(moment: Moment, months: int) -> Moment:
    """.NET's ``AddMonths``: the same day, or the month's last day where the month is shorter."""
    parts = _parts(moment)
    index = parts.year * 12 + parts.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("the timestamp is outside years 1 to 9999")
    day = min(parts.day, calendar.monthrange(year, month + 1)[1])
    start = date(year, month + 1, day).toordinal() - 1
    return Moment(start * _TICKS_PER_DAY + moment.ticks % _TICKS_PER_DAY, moment.utc)


_UNITS = {"second": TICKS_PER_SECOND, "minute": 60 * TICKS_PER_SECOND, "hour": 3600 * TICKS_PER_SECOND,
          "day": _TICKS_PER_DAY, "week": 7 * _TICKS_PER_DAY, "month": 0, "year": 0}


def _add_to_time(value: Any, interval: Any, unit: Any, fmt: Any = "o", sign: int = 1) -> str:
    moment, amount, name = _moment(value), sign * _integer(interval), _str(unit).lower()
    if name not in _UNITS:
        raise ValueError(f"{unit!r} is not a time unit (Second, Minute, Hour, Day, Week, Month or Year)")
    if name in ("month", "year"):
        moment = _add_months(moment, amount * (12 if name == "year" else 1))
    else:
        moment = _shift(moment, amount * _UNITS[name])
    return _render(moment, fmt)


def _subtract_from_time(value: Any, interval: Any, unit: Any, fmt: Any = "o") -> str:
    return _add_to_time(value, interval, unit, fmt, sign=-1)


def _start_of(unit_ticks: int) -> Callable[..., str]:
    def start(value: Any, fmt: Any = "o") -> str:
        moment = _moment(value)
        return _render(Moment(moment.ticks - moment.ticks % unit_ticks, moment.utc), fmt)
    return start


def _start_of_month(value: Any, fmt: Any = "o") -> str:
    moment = _moment(value)
    parts = _parts(moment)
    return _render(Moment((date(parts.year, parts.month, 1).toordinal() - 1) * _TICKS_PER_DAY, moment.utc), fmt)


def _ticks(value: Any) -> int:
    return _moment(value).ticks


def _day_of_week(value: Any) -> int:
    return (_moment(value).ticks // _TICKS_PER_DAY + 1) % 7


def _day_of_month(value: Any) -> int:
    return _parts(_moment(value)).day


def _day_of_year(value: Any) -> int:
    return _to_datetime(_moment(value)).timetuple().tm_yday


# -------------------------------------------------------------------------------------------------- time zones
#
# The engine names zones by Windows ids ('Pacific Standard Time'); the tz database Python reads names them by
# IANA ids. The table below maps the Windows ids of every inhabited zone (CLDR's mapping for the world, "001");
# an IANA id is also taken as it is. An id the table lacks is unresolvable here, not an error of the expression.

_WINDOWS_ZONES = {
    "Dateline Standard Time": "Etc/GMT+12", "UTC-11": "Etc/GMT+11", "Aleutian Standard Time": "America/Adak",
    "Hawaiian Standard Time": "Pacific/Honolulu", "Marquesas Standard Time": "Pacific/Marquesas",
    "Alaskan Standard Time": "America/Anchorage", "UTC-09": "Etc/GMT+9", "UTC-08": "Etc/GMT+8",
    "Pacific Standard Time (Mexico)": "America/Tijuana", "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time (Mexico)": "America/Mazatlan",
    "Mountain Standard Time": "America/Denver", "Yukon Standard Time": "America/Whitehorse",
    "Central America Standard Time": "America/Guatemala", "Central Standard Time": "America/Chicago",
    "Easter Island Standard Time": "Pacific/Easter", "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina", "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time (Mexico)": "America/Cancun", "Eastern Standard Time": "America/New_York",
    "Haiti Standard Time": "America/Port-au-Prince", "Cuba Standard Time": "America/Havana",
    "US Eastern Standard Time": "America/Indiana/Indianapolis", "Turks And Caicos Standard Time": "America/Grand_Turk",
    "Paraguay Standard Time": "America/Asuncion", "Atlantic Standard Time": "America/Halifax",
    "Venezuela Standard Time": "America/Caracas", "Central Brazilian Standard Time": "America/Cuiaba",
    "SA Western Standard Time": "America/La_Paz", "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns", "Tocantins Standard Time": "America/Araguaina",
    "E. South America Standard Time": "America/Sao_Paulo", "SA Eastern Standard Time": "America/Cayenne",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires", "Greenland Standard Time": "America/Nuuk",
    "Montevideo Standard Time": "America/Montevideo", "Magallanes Standard Time": "America/Punta_Arenas",
    "Saint Pierre Standard Time": "America/Miquelon", "Bahia Standard Time": "America/Bahia", "UTC-02": "Etc/GMT+2",
    "Mid-Atlantic Standard Time": "Etc/GMT+2", "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde", "UTC": "Etc/UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "Sao Tome Standard Time": "Africa/Sao_Tome",
    "Morocco Standard Time": "Africa/Casablanca", "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest", "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw", "W. Central Africa Standard Time": "Africa/Lagos",
    "Jordan Standard Time": "Asia/Amman", "GTB Standard Time": "Europe/Bucharest",
    "Middle East Standard Time": "Asia/Beirut", "Egypt Standard Time": "Africa/Cairo",
    "E. Europe Standard Time": "Europe/Chisinau", "Syria Standard Time": "Asia/Damascus",
    "West Bank Standard Time": "Asia/Hebron", "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kyiv", "Israel Standard Time": "Asia/Jerusalem",
    "South Sudan Standard Time": "Africa/Juba", "Kaliningrad Standard Time": "Europe/Kaliningrad",
    "Sudan Standard Time": "Africa/Khartoum", "Libya Standard Time": "Africa/Tripoli",
    "Namibia Standard Time": "Africa/Windhoek", "Arabic Standard Time": "Asia/Baghdad",
    "Turkey Standard Time": "Europe/Istanbul", "Arab Standard Time": "Asia/Riyadh",
    "Belarus Standard Time": "Europe/Minsk", "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi", "Volgograd Standard Time": "Europe/Volgograd",
    "Iran Standard Time": "Asia/Tehran", "Arabian Standard Time": "Asia/Dubai",
    "Astrakhan Standard Time": "Europe/Astrakhan", "Azerbaijan Standard Time": "Asia/Baku",
    "Russia Time Zone 3": "Europe/Samara", "Mauritius Standard Time": "Indian/Mauritius",
    "Saratov Standard Time": "Europe/Saratov", "Georgian Standard Time": "Asia/Tbilisi",
    "Caucasus Standard Time": "Asia/Yerevan", "Afghanistan Standard Time": "Asia/Kabul",
    "West Asia Standard Time": "Asia/Tashkent", "Ekaterinburg Standard Time": "Asia/Yekaterinburg",
    "Pakistan Standard Time": "Asia/Karachi", "Qyzylorda Standard Time": "Asia/Qyzylorda",
    "India Standard Time": "Asia/Kolkata", "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Kathmandu", "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka", "Omsk Standard Time": "Asia/Omsk",
    "Myanmar Standard Time": "Asia/Yangon", "SE Asia Standard Time": "Asia/Bangkok",
    "Altai Standard Time": "Asia/Barnaul", "W. Mongolia Standard Time": "Asia/Hovd",
    "North Asia Standard Time": "Asia/Krasnoyarsk", "N. Central Asia Standard Time": "Asia/Novosibirsk",
    "Tomsk Standard Time": "Asia/Tomsk", "China Standard Time": "Asia/Shanghai",
    "North Asia East Standard Time": "Asia/Irkutsk", "Singapore Standard Time": "Asia/Singapore",
    "W. Australia Standard Time": "Australia/Perth", "Taipei Standard Time": "Asia/Taipei",
    "Ulaanbaatar Standard Time": "Asia/Ulaanbaatar", "Aus Central W. Standard Time": "Australia/Eucla",
    "Transbaikal Standard Time": "Asia/Chita", "Tokyo Standard Time": "Asia/Tokyo",
    "North Korea Standard Time": "Asia/Pyongyang", "Korea Standard Time": "Asia/Seoul",
    "Yakutsk Standard Time": "Asia/Yakutsk", "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin", "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney", "West Pacific Standard Time": "Pacific/Port_Moresby",
    "Tasmania Standard Time": "Australia/Hobart", "Vladivostok Standard Time": "Asia/Vladivostok",
    "Lord Howe Standard Time": "Australia/Lord_Howe", "Bougainville Standard Time": "Pacific/Bougainville",
    "Russia Time Zone 10": "Asia/Srednekolymsk", "Magadan Standard Time": "Asia/Magadan",
    "Norfolk Standard Time": "Pacific/Norfolk", "Sakhalin Standard Time": "Asia/Sakhalin",
    "Central Pacific Standard Time": "Pacific/Guadalcanal", "Russia Time Zone 11": "Asia/Kamchatka",
    "Kamchatka Standard Time": "Asia/Kamchatka", "New Zealand Standard Time": "Pacific/Auckland",
    "UTC+12": "Etc/GMT-12", "Fiji Standard Time": "Pacific/Fiji", "Chatham Islands Standard Time": "Pacific/Chatham",
    "UTC+13": "Etc/GMT-13", "Tonga Standard Time": "Pacific/Tongatapu", "Samoa Standard Time": "Pacific/Apia",
    "Line Islands Standard Time": "Pacific/Kiritimati",
}
_ZONE_IDS = {name.lower(): iana for name, iana in _WINDOWS_ZONES.items()}
_UTC_NAMES = frozenset(("utc", "etc/utc", "coordinated universal time", "gmt", "etc/gmt"))


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone a name stands for; None for UTC itself."""
    lowered = name.strip().lower()
    if lowered in _UTC_NAMES:
        return None
    iana = _ZONE_IDS.get(lowered, name.strip())
    try:
        return zoneinfo.ZoneInfo(iana)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if lowered in _ZONE_IDS:
            raise Unresolvable(f"the time zone database has no {iana!r} ({name}) on this machine") from None
        raise Unresolvable(f"the time zone {name[:60]!r} is not one this service knows (a Windows or IANA id)") \
            from None


def _from_utc(moment: Moment, zone: zoneinfo.ZoneInfo | None) -> Moment:
    """A UTC moment as the wall time of a zone (unspecified kind, as .NET's ``ConvertTimeFromUtc`` returns it)."""
    if zone is None:
        return Moment(moment.ticks, True)
    instant = _to_datetime(moment).replace(tzinfo=UTC)
    return _from_datetime(instant.astimezone(zone), moment.ticks % 10, utc=False)


def _to_utc(moment: Moment, zone: zoneinfo.ZoneInfo | None, name: str) -> Moment:
    """A zone's wall time as UTC: an ambiguous time is read as standard time and a skipped one refused, as .NET
    does; a timestamp that already carries an offset can only come from UTC."""
    if zone is None:
        return Moment(moment.ticks, True)
    if moment.utc:
        raise ValueError(f"the timestamp is already UTC (it has 'Z' or an offset), not a time in {name!r}")
    wall = _to_datetime(moment)
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    chosen = later if earlier.utcoffset() != later.utcoffset() and later.dst() == timedelta(0) else earlier
    instant = chosen.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        raise ValueError(f"{wall.isoformat()} does not exist in {name!r} (the clocks skip it)")
    return _from_datetime(instant, moment.ticks % 10, utc=True)


def _convert_from_utc(value: Any, destination: Any, fmt: Any = "o") -> str:
    return _render(_from_utc(_moment(value), _zone(_str(destination))), fmt)


def _convert_to_utc(value: Any, source: Any, fmt: Any = "o") -> str:
    return _render(_to_utc(_moment(value), _zone(_str(source)), source), fmt)


def _convert_time_zone(value: Any, source: Any, destination: Any, fmt: Any = "o") -> str:
    utc = _to_utc(_moment(value), _zone(_str(source)), source)
    return _render(_from_utc(utc, _zone(_str(destination))), fmt)


LIBRARY: dict[str, Function] = {
    # strings
    "concat": Function(_concat, (1, MANY)),
    "replace": Function(_replace, (3, 3)),
    "tolower": Function(lambda s: _str(s).lower(), (1, 1)),
    "toupper": Function(lambda s: _str(s).upper(), (1, 1)),
    "trim": Function(lambda s: _str(s).strip(), (1, 1)),
    "substring": Function(_substring, (2, 3)),
    "indexof": Function(_index_of, (2, 2)),
    "lastindexof": Function(_last_index_of, (2, 2)),
    "nthindexof": Function(_nth_index_of, (3, 3)),
    "startswith": Function(_starts_with, (2, 2)),
    "endswith": Function(_ends_with, (2, 2)),
    "split": Function(_split, (2, 2)),
    # collections
    "contains": Function(_contains, (2, 2)),
    "empty": Function(_empty, (1, 1)),
    "first": Function(_first, (1, 1)),
    "last": Function(_last, (1, 1)),
    "join": Function(_join, (2, 2)),
    "length": Function(_length, (1, 1)),
    "take": Function(_take, (2, 2)),
    "skip": Function(_skip, (2, 2)),
    "union": Function(_union, (2, MANY)),
    "intersection": Function(_intersection, (2, MANY)),
    # logic
    "if": Function(_if, (3, 3)),
    "equals": Function(_equals, (2, 2)),
    "not": Function(lambda v: not _boolean(v), (1, 1)),
    "and": Function(_and, (2, MANY)),
    "or": Function(_or, (2, MANY)),
    "greater": Function(_compare(lambda a, b: a > b), (2, 2)),
    "greaterorequals": Function(_compare(lambda a, b: a >= b), (2, 2)),
    "less": Function(_compare(lambda a, b: a < b), (2, 2)),
    "lessorequals": Function(_compare(lambda a, b: a <= b), (2, 2)),
    "coalesce": Function(_coalesce, (1, MANY)),
    # conversions
    "array": Function(_array, (1, 1)),
    "createarray": Function(lambda *v: list(v), (0, MANY)),
    "string": Function(_string, (1, 1)),
    "int": Function(_int, (1, 1)),
    "float": Function(_float, (1, 1)),
    "bool": Function(_bool, (1, 1)),
    "json": Function(_json_fn, (1, 1)),
    "base64": Function(_base64, (1, 1)),
    "base64tostring": Function(_base64_to_string, (1, 1)),
    "decodebase64": Function(_base64_to_string, (1, 1)),
    "base64tobinary": Function(_base64_to_binary, (1, 1)),
    "binary": Function(_binary, (1, 1)),
    "datauri": Function(_data_uri, (1, 1)),
    "datauritostring": Function(_data_uri_to_string, (1, 1)),
    "datauritobinary": Function(_data_uri_to_binary, (1, 1)),
    "decodedatauri": Function(_data_uri_to_binary, (1, 1)),
    "uricomponent": Function(_uri_component, (1, 1)),
    "encodeuricomponent": Function(_uri_component, (1, 1)),
    "uricomponenttostring": Function(_uri_component_to_string, (1, 1)),
    "decodeuricomponent": Function(_uri_component_to_string, (1, 1)),
    "uricomponenttobinary": Function(_uri_component_to_binary, (1, 1)),
    "xml": Function(_xml_unresolvable, (1, 1)),
    "xpath": Function(_xml_unresolvable, (2, 2)),
    # math
    "add": Function(_add, (2, 2)),
    "sub": Function(_sub, (2, 2)),
    "mul": Function(_mul, (2, 2)),
    "div": Function(_div, (2, 2)),
    "mod": Function(_mod, (2, 2)),
    "max": Function(_extreme(max), (1, MANY)),
    "min": Function(_extreme(min), (1, MANY)),
    "range": Function(_range, (2, 2)),
    # dates and times
    "formatdatetime": Function(_format, (1, 2)),
    "adddays": Function(_adder(_TICKS_PER_DAY), (2, 3)),
    "addhours": Function(_adder(3600 * TICKS_PER_SECOND), (2, 3)),
    "addminutes": Function(_adder(60 * TICKS_PER_SECOND), (2, 3)),
    "addseconds": Function(_adder(TICKS_PER_SECOND), (2, 3)),
    "addtotime": Function(_add_to_time, (3, 4)),
    "subtractfromtime": Function(_subtract_from_time, (3, 4)),
    "startofday": Function(_start_of(_TICKS_PER_DAY), (1, 2)),
    "startofhour": Function(_start_of(3600 * TICKS_PER_SECOND), (1, 2)),
    "startofmonth": Function(_start_of_month, (1, 2)),
    "dayofmonth": Function(_day_of_month, (1, 1)),
    "dayofweek": Function(_day_of_week, (1, 1)),
    "dayofyear": Function(_day_of_year, (1, 1)),
    "ticks": Function(_ticks, (1, 1)),
    "convertfromutc": Function(_convert_from_utc, (2, 3)),
    "converttoutc": Function(_convert_to_utc, (2, 3)),
    "converttimezone": Function(_convert_time_zone, (3, 4)),
}
