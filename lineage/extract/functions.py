"""The expression language's function library: one registry record per function, pure values in and out.

The evaluator (``expressions``) looks every call up here; functions that need the run (``pipeline()``,
``activity()``...) are registered there, beside the scope they read. The errors and size limits live here because
both sides raise them: a function that would build a huge value stops with an ``ExpressionError``, not a memory error.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
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

def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_DOTNET = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"), ("dddd", "%A"), ("ddd", "%a"),
    ("dd", "%d"), ("HH", "%H"), ("hh", "%I"), ("mm", "%M"), ("ss", "%S"), ("tt", "%p"),
]


def _format(value: Any, fmt: Any = "o") -> str:
    moment = _dt(value)
    fmt = str(fmt)
    if fmt in ("o", "O"):
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"
    if fmt == "s":
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "'":
            end = fmt.find("'", i + 1)
            end = len(fmt) if end < 0 else end
            out.append(fmt[i + 1:end])
            i = end + 1
            continue
        for token, directive in _DOTNET:
            if fmt.startswith(token, i):
                out.append(moment.strftime(directive))
                i += len(token)
                break
        else:
            if fmt.startswith("fff", i):
                out.append(f"{moment.microsecond // 1000:03d}")
                i += 3
            elif fmt[i] in "MdHhms" and fmt[i + 1:i + 2] != fmt[i]:
                single = {"M": moment.month, "d": moment.day, "H": moment.hour, "h": (moment.hour % 12) or 12,
                          "m": moment.minute, "s": moment.second}[fmt[i]]
                out.append(str(single))
                i += 1
            else:
                out.append(fmt[i])
                i += 1
    return "".join(out)


def _add(unit: str) -> Callable[..., str]:
    def add(value: Any, amount: Any, fmt: Any = "o") -> str:
        return _format(_dt(value) + timedelta(**{unit: float(amount)}), fmt)
    return add


def _num(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ExpressionError("a boolean is not a number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    return float(text) if any(c in text for c in ".eE") else int(text)


def _int(value: Any) -> int:
    number = _num(value)
    if isinstance(number, float) and not number.is_integer():
        raise ExpressionError(f"{value!r} is not an integer")
    return int(number)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int | float):
        return value != 0
    raise ExpressionError(f"{value!r} is not a boolean")


def _substring(value: Any, start_at: Any, length: Any = None) -> str:
    text, start = str(value), _int(start_at)
    end = len(text) if length is None else start + _int(length)
    if start < 0 or end > len(text) or end < start:
        raise ExpressionError(f"substring({start}, {length}) is out of range for a string of length {len(text)}")
    return text[start:end]


def _union(*values: Any) -> Any:
    _sized("union", sum(len(v) if hasattr(v, "__len__") else 0 for v in values), MAX_SET_ITEMS)
    if all(isinstance(v, Mapping) for v in values):
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
    _sized("intersection", sum(len(v) if hasattr(v, "__len__") else 0 for v in values), MAX_SET_ITEMS)
    if all(isinstance(v, Mapping) for v in values):
        first = dict(values[0])
        return {k: v for k, v in first.items() if all(k in o and o[k] == v for o in values[1:])}
    return [x for x in values[0] if all(x in o for o in values[1:])]


def _equals(a: Any, b: Any) -> bool:
    return bool(a == b)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        return op(_num(a), _num(b))
    return compare


def _div(a: Any, b: Any) -> int | float:
    x, y = _num(a), _num(b)
    if isinstance(x, int) and isinstance(y, int):
        return int(x / y) if y else _zero()
    return x / y


def _zero() -> int:
    raise ExpressionError("division by zero")


def _json_fn(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _string(value: Any) -> str:
    return interpolated(value) if not isinstance(value, str) else value


def check_size(name: str, value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ExpressionError(f"{name}() makes a text longer than {MAX_VALUE_CHARS:,} characters")
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise ExpressionError(f"{name}() makes an array of more than {MAX_ITEMS:,} items")


def _sized(name: str, size: int, limit: int = MAX_VALUE_CHARS) -> None:
    """Refuse before computing a value that would be too large to hold."""
    if size > limit:
        raise ExpressionError(f"{name}() would make a value of {size:,} characters or items (at most {limit:,})")


def _replace(text: Any, old: Any, new: Any) -> str:
    s, o, n = str(text), str(old), str(new)
    _sized("replace", len(s) + (s.count(o) if o else len(s) + 1) * max(len(n) - len(o), 0))
    return s.replace(o, n)


def _join(items: Any, separator: Any) -> str:
    parts, sep = [_string(x) for x in items], str(separator)
    _sized("join", sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0))
    return sep.join(parts)


def _range(start: Any, count: Any) -> list[int]:
    first, number = _int(start), _int(count)
    _sized("range", number, MAX_ITEMS)
    return list(range(first, first + number))


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
    return str(text).lower().find(str(search).lower())


def _last_index_of(text: Any, search: Any) -> int:
    return str(text).lower().rfind(str(search).lower())


def _ticks(value: Any) -> int:
    delta = _dt(value) - datetime(1, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _take(value: Any, count: Any) -> Any:
    return value[: _int(count)]


def _skip(value: Any, count: Any) -> Any:
    return value[_int(count):]


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return str(item).lower() in container.lower()
    return item in container


def _empty(value: Any) -> bool:
    return value is None or (hasattr(value, "__len__") and len(value) == 0)


def _first(value: Any) -> Any:
    return value[0] if value else None


def _last(value: Any) -> Any:
    return value[-1] if value else None


def _if(condition: Any, a: Any, b: Any) -> Any:
    return a if _bool(condition) else b


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)



def _mod(a: Any, b: Any) -> int | float:
    return math.fmod(_num(a), _num(b)) if isinstance(_num(a), float) else _int(a) % _int(b)


def _start_of_day(value: Any, fmt: Any = "o") -> str:
    return _format(_dt(value).replace(hour=0, minute=0, second=0, microsecond=0), fmt)


def _start_of_month(value: Any, fmt: Any = "o") -> str:
    return _format(_dt(value).replace(day=1, hour=0, minute=0, second=0, microsecond=0), fmt)


LIBRARY: dict[str, Function] = {
    "concat": Function(_concat, (1, MANY)),
    "replace": Function(_replace, (3, 3)),
    "tolower": Function(lambda s: str(s).lower(), (1, 1)),
    "toupper": Function(lambda s: str(s).upper(), (1, 1)),
    "trim": Function(lambda s: str(s).strip(), (1, 1)),
    "substring": Function(_substring, (2, 3)),
    "indexof": Function(_index_of, (2, 2)),
    "lastindexof": Function(_last_index_of, (2, 2)),
    "startswith": Function(lambda s, p: str(s).lower().startswith(str(p).lower()), (2, 2)),
    "endswith": Function(lambda s, p: str(s).lower().endswith(str(p).lower()), (2, 2)),
    "contains": Function(_contains, (2, 2)),
    "split": Function(lambda s, sep: str(s).split(str(sep)), (2, 2)),
    "join": Function(_join, (2, 2)),
    "length": Function(len, (1, 1)),
    "first": Function(_first, (1, 1)),
    "last": Function(_last, (1, 1)),
    "take": Function(_take, (2, 2)),
    "skip": Function(_skip, (2, 2)),
    "coalesce": Function(_coalesce, (1, MANY)),
    "if": Function(_if, (3, 3)),
    "equals": Function(_equals, (2, 2)),
    "not": Function(lambda v: not _bool(v), (1, 1)),
    "and": Function(lambda *v: all(_bool(x) for x in v), (2, MANY)),
    "or": Function(lambda *v: any(_bool(x) for x in v), (2, MANY)),
    "greater": Function(_compare(lambda a, b: a > b), (2, 2)),
    "greaterorequals": Function(_compare(lambda a, b: a >= b), (2, 2)),
    "less": Function(_compare(lambda a, b: a < b), (2, 2)),
    "lessorequals": Function(_compare(lambda a, b: a <= b), (2, 2)),
    "add": Function(lambda a, b: _num(a) + _num(b), (2, 2)),
    "sub": Function(lambda a, b: _num(a) - _num(b), (2, 2)),
    "mul": Function(lambda a, b: _num(a) * _num(b), (2, 2)),
    "div": Function(_div, (2, 2)),
    "mod": Function(_mod, (2, 2)),
    "string": Function(_string, (1, 1)),
    "int": Function(_int, (1, 1)),
    "float": Function(lambda v: float(_num(v)), (1, 1)),
    "bool": Function(_bool, (1, 1)),
    "json": Function(_json_fn, (1, 1)),
    "createarray": Function(lambda *v: list(v), (0, MANY)),
    "empty": Function(_empty, (1, 1)),
    "union": Function(_union, (2, MANY)),
    "intersection": Function(_intersection, (2, MANY)),
    "range": Function(_range, (2, 2)),
    "base64": Function(lambda s: base64.b64encode(str(s).encode()).decode(), (1, 1)),
    "base64tostring": Function(lambda s: base64.b64decode(str(s), validate=True).decode(), (1, 1)),
    "uricomponent": Function(lambda s: urllib.parse.quote(str(s), safe=""), (1, 1)),
    "uricomponenttostring": Function(lambda s: urllib.parse.unquote(str(s)), (1, 1)),
    "formatdatetime": Function(_format, (1, 2)),
    "adddays": Function(_add("days"), (2, 3)),
    "addhours": Function(_add("hours"), (2, 3)),
    "addminutes": Function(_add("minutes"), (2, 3)),
    "addseconds": Function(_add("seconds"), (2, 3)),
    "startofday": Function(_start_of_day, (1, 2)),
    "startofmonth": Function(_start_of_month, (1, 2)),
    "dayofmonth": Function(lambda v: _dt(v).day, (1, 1)),
    "dayofweek": Function(lambda v: (_dt(v).weekday() + 1) % 7, (1, 1)),
    "dayofyear": Function(lambda v: _dt(v).timetuple().tm_yday, (1, 1)),
    "ticks": Function(_ticks, (1, 1)),
}
