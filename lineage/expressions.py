"""Data Factory's expression language, evaluated offline against what a run record knows.

No pure-Python evaluator of production quality exists (field notes §3), so this is a small tokenizer, a
recursive-descent parser into immutable nodes, and an evaluator. Each distinct text is parsed once (the cache), and
every node carries its canonical text so run-time values supplied by ``userProperties`` can replace the
sub-expression they stand for (``item().name`` inside a ForEach) in a dictionary look-up.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

EMPTY: Mapping[str, Any] = MappingProxyType({})
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


class Scope(NamedTuple):
    """Where names in an expression get their values.

    Immutable like a frozen dataclass, and made in a quarter of the time: one is made per activity run and per
    dataset resolved, which in a large ForEach adds up.
    """

    pipeline_parameters: Mapping[str, Any] = EMPTY
    global_parameters: Mapping[str, Any] = EMPTY
    system: Mapping[str, Any] = EMPTY
    dataset: Mapping[str, Any] | None = None
    linked_service: Mapping[str, Any] | None = None
    activity_outputs: Mapping[str, Any] = EMPTY
    overrides: Mapping[str, Any] = EMPTY


# ---------------------------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class Node:
    key: str = field(compare=False)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any = None


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str = ""
    args: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class Access(Node):
    target: Node | None = None
    member: Node | None = None  # a Literal for .x, any node for [expr]
    safe: bool = False


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed text: a literal string, one whole expression, or literal and interpolated parts."""

    parts: tuple[str | Node, ...]
    whole: bool  # "@expr": the value is the expression's own value, not a string


# ------------------------------------------------------------------------------------------------------- tokenizer

_PUNCT = {"(", ")", "[", "]", ",", "."}


def _tokens(text: str, offset: int) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "'":
            j, out = i + 1, []
            while True:
                if j >= n:
                    raise ExpressionError(f"unterminated string at position {offset + i}")
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        out.append("'")
                        j += 2
                        continue
                    break
                out.append(text[j])
                j += 1
            tokens.append(("str", "".join(out), offset + i))
            i = j + 1
        elif c == "?" and i + 1 < n and text[i + 1] in ".[":
            tokens.append(("?", "?", offset + i))
            i += 1
        elif c in _PUNCT:
            tokens.append((c, c, offset + i))
            i += 1
        elif c.isdigit() or (c == "-" and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            raw = text[i:j]
            try:
                tokens.append(("num", float(raw) if "." in raw else int(raw), offset + i))
            except ValueError as exc:
                raise ExpressionError(f"bad number {raw!r} at position {offset + i}") from exc
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            tokens.append(("id", text[i:j], offset + i))
            i = j
        else:
            raise ExpressionError(f"unexpected character {c!r} at position {offset + i}")
    tokens.append(("end", None, offset + n))
    return tokens


# ---------------------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, offset: int = 0) -> None:
        self.tokens = _tokens(text, offset)
        self.pos = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self.expression()
        kind, value, at = self.tokens[self.pos]
        if kind != "end":
            raise ExpressionError(f"unexpected {value!r} at position {at}")
        return node

    def take(self, kind: str) -> tuple[str, Any, int]:
        token = self.tokens[self.pos]
        if token[0] != kind:
            found = "end of expression" if token[0] == "end" else repr(token[1])
            raise ExpressionError(f"expected {kind!r} but found {found} at position {token[2]}")
        self.pos += 1
        return token

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
        node = self.primary()
        accesses = 0
        while True:
            kind = self.tokens[self.pos][0]
            if kind in ("?", ".", "["):  # each access is one more level to evaluate
                accesses += 1
                if self.depth + accesses > MAX_DEPTH:
                    raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
            safe = False
            if kind == "?":
                self.pos += 1
                safe = True
                kind = self.tokens[self.pos][0]
            if kind == ".":
                self.pos += 1
                name = self.take("id")[1]
                node = Access(f"{node.key}{'?' if safe else ''}.{name}", node, Literal(repr(name), name), safe)
            elif kind == "[":
                self.pos += 1
                member = self.expression()
                self.take("]")
                node = Access(f"{node.key}{'?' if safe else ''}[{member.key}]", node, member, safe)
            elif safe:
                raise ExpressionError(f"'?' must be followed by '.' or '[' at position {self.tokens[self.pos][2]}")
            else:
                break
        self.depth -= 1
        return node

    def primary(self) -> Node:
        kind, value, at = self.tokens[self.pos]
        if kind == "str":
            self.pos += 1
            return Literal("'" + value.replace("'", "''") + "'", value)
        if kind == "num":
            self.pos += 1
            return Literal(repr(value), value)
        if kind == "id":
            self.pos += 1
            lowered = value.lower()
            if self.tokens[self.pos][0] != "(":
                if lowered in ("true", "false"):
                    return Literal(lowered, lowered == "true")
                if lowered == "null":
                    return Literal("null", None)
                raise ExpressionError(f"unknown name {value!r} at position {at} (functions need parentheses)")
            self.take("(")
            args: list[Node] = []
            if self.tokens[self.pos][0] != ")":
                args.append(self.expression())
                while self.tokens[self.pos][0] == ",":
                    self.pos += 1
                    args.append(self.expression())
            self.take(")")
            if lowered not in FUNCTIONS:
                raise ExpressionError(f"unknown function {value!r} at position {at}")
            arity = FUNCTIONS[lowered][1]
            if not arity[0] <= len(args) <= arity[1]:
                raise ExpressionError(f"{value}() takes {_arity(arity)} argument(s), got {len(args)}")
            return Call(f"{lowered}({','.join(a.key for a in args)})", lowered, tuple(args))
        found = "end of expression" if kind == "end" else repr(value)
        raise ExpressionError(f"unexpected {found} at position {at}")


def _arity(arity: tuple[int, int]) -> str:
    low, high = arity
    return str(low) if low == high else f"{low} or more" if high >= 99 else f"{low} to {high}"


@lru_cache(maxsize=8192)
def parse(text: str) -> Expression:
    """Parse a value as Data Factory reads it: ``@expr``, ``@@literal``, ``...@{expr}...`` or a plain string."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    if text.startswith("@@"):
        return Expression((text[1:],), whole=False)
    if text.startswith("@") and not text.startswith("@{"):
        return Expression((_Parser(text[1:], 1).parse(),), whole=True)
    parts: list[str | Node] = []
    i, literal = 0, list[str]()
    while i < len(text):
        if text.startswith("@{", i):
            end = _closing_brace(text, i + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_Parser(text[i + 2:end], i + 2).parse())
            i = end + 1
        elif text.startswith("@@", i):
            literal.append("@")
            i += 2
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return Expression(tuple(parts), whole=False)


def _closing_brace(text: str, start: int) -> int:
    i, quoted = start, False
    while i < len(text):
        c = text[i]
        if c == "'":
            quoted = not quoted
        elif c == "}" and not quoted:
            return i
        i += 1
    raise ExpressionError(f"unterminated '@{{' at position {start - 2}")


def canonical(text: str) -> str:
    """The canonical text of an expression (``@item().name``, ``@{item().name}`` and spaced forms agree)."""
    expression = parse(text)
    nodes = [p for p in expression.parts if isinstance(p, Node)]
    if len(nodes) == 1 and (expression.whole or len(expression.parts) == 1):
        return nodes[0].key
    return "".join(p.key if isinstance(p, Node) else "'" + p + "'" for p in expression.parts)


def is_expression(value: Any) -> bool:
    """A wrapper ``{"type": "Expression"}`` or a string that is or contains an expression."""
    if isinstance(value, Mapping):
        return value.get("type") == "Expression"
    return isinstance(value, str) and (value.startswith("@") or "@{" in value)


# ------------------------------------------------------------------------------------------------------- evaluator


def evaluate(text: str, scope: Scope) -> Any:
    """The value of a string as Data Factory would compute it."""
    if "@" not in text:
        return text
    expression = parse(text)
    try:
        if expression.whole:
            return _eval(expression.parts[0], scope)  # type: ignore[arg-type]
        return "".join(p if isinstance(p, str) else _interpolated(_eval(p, scope)) for p in expression.parts)
    except RecursionError as exc:  # a value nested too deeply to serialize
        raise ExpressionError("a value in the expression is nested too deeply") from exc


def resolve(value: Any, scope: Scope, _depth: int = 0) -> Any:
    """Resolve a JSON value: Expression wrappers, expression strings, and lists and objects holding them."""
    if _depth > MAX_DEPTH:
        raise ExpressionError(f"value nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return evaluate(value, scope) if "@" in value else value
    if type(value) is dict or isinstance(value, Mapping):  # the exact type first: an ABC check costs more
        if len(value) == 2 and value.get("type") == "Expression" and "value" in value:
            inner = value["value"]
            if not isinstance(inner, str):
                raise ExpressionError("an Expression's value must be a string")
            if inner.startswith("@") or "@{" in inner:  # a whole expression, or text with interpolations
                return evaluate(inner, scope)
            return evaluate("@" + inner, scope) if inner else ""
        return {k: resolve(v, scope, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope, _depth + 1) for v in value]
    return value


def prepared(value: Any) -> Callable[[Scope], Any]:
    """``resolve`` for a value resolved again and again (a dataset's typeProperties, once per ForEach iteration).

    The parts that hold no expression are resolved once, here, and shared by every result (which nothing changes);
    the function returned resolves the rest, with the same result and the same errors as ``resolve(value, scope)``.
    """
    constant, prepared_value = _prepare(value, 0)
    return (lambda _: prepared_value) if constant else prepared_value


def _prepare(value: Any, depth: int) -> tuple[bool, Any]:
    """(True, the resolved value) for a part without expressions, else (False, the function that resolves it)."""
    if depth > MAX_DEPTH:
        return False, _raising(ExpressionError(f"value nested deeper than {MAX_DEPTH} levels"))
    if isinstance(value, str):
        if "@" in value:
            return False, lambda scope: evaluate(value, scope)
        return True, value
    if type(value) is dict or isinstance(value, Mapping):
        if len(value) == 2 and value.get("type") == "Expression" and "value" in value:
            inner = value["value"]
            if not isinstance(inner, str):
                return False, _raising(ExpressionError("an Expression's value must be a string"))
            if not inner:
                return True, ""
            text = inner if inner.startswith("@") or "@{" in inner else "@" + inner
            return False, lambda scope: evaluate(text, scope)
        items = [(k, *_prepare(v, depth + 1)) for k, v in value.items()]
        if all(constant for _, constant, _ in items):
            return True, {k: v for k, _, v in items}
        return False, lambda scope: {k: v if constant else v(scope) for k, constant, v in items}
    if isinstance(value, list):
        parts = [_prepare(v, depth + 1) for v in value]
        if all(constant for constant, _ in parts):
            return True, [v for _, v in parts]
        return False, lambda scope: [v if constant else v(scope) for constant, v in parts]
    return True, value


def _raising(error: ExpressionError) -> Callable[[Scope], Any]:
    def fail(scope: Scope) -> Any:
        raise error.with_traceback(None)
    return fail


def _interpolated(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _eval(node: Node, scope: Scope) -> Any:
    overrides = scope.overrides
    if overrides and node.key in overrides:
        return overrides[node.key]
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Access):
        if node.target is None or node.member is None:
            raise ExpressionError(f"incomplete access {node.key}")
        return _access(_eval(node.target, scope), _eval(node.member, scope), node, scope)
    if isinstance(node, Call):
        function = FUNCTIONS[node.name][0]
        if node.name in _SCOPED:
            return function(scope, node, *node.args)
        args = [_eval(a, scope) for a in node.args]
        try:
            result = function(*args)
        except (Unresolvable, ExpressionError):
            raise
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, AttributeError,
                binascii.Error, UnicodeDecodeError, RecursionError) as exc:
            raise ExpressionError(f"{node.name}() cannot take these arguments: {exc}") from exc
        _check_size(node.name, result)
        return result
    raise ExpressionError(f"cannot evaluate {node.key}")


_ROOT = object()  # what pipeline() evaluates to: a marker, resolved by the access that follows


def _access(target: Any, member: Any, node: Access, scope: Scope) -> Any:
    if target is None and node.safe:
        return None
    if isinstance(target, _Namespace):
        return target.get(member, node)
    if isinstance(target, str) and target[:1] in "[{":
        with contextlib.suppress(json.JSONDecodeError, RecursionError):
            target = json.loads(target)  # array/object pipeline parameters arrive JSON-encoded
    if isinstance(target, Mapping):
        if member in target:
            return target[member]
        lowered = {str(k).lower(): v for k, v in target.items()}
        if isinstance(member, str) and member.lower() in lowered:
            return lowered[member.lower()]
        if node.safe:
            return None
        raise ExpressionError(f"property {member!r} not found in {node.target.key if node.target else ''}")
    if isinstance(target, list | str) and isinstance(member, int) and not isinstance(member, bool):
        try:
            return target[member]
        except IndexError:
            if node.safe:
                return None
            raise ExpressionError(f"index {member} out of range in {node.key}") from None
    raise ExpressionError(f"cannot read {member!r} of a {type(target).__name__} in {node.key}")


class _Namespace:
    """``pipeline()``, ``pipeline().parameters`` and friends: look-ups that know what is missing and why."""

    def __init__(self, values: Mapping[str, Any], what: str, case_insensitive: bool = False) -> None:
        self.values = values
        self.what = what
        self.case_insensitive = case_insensitive

    def get(self, member: Any, node: Access) -> Any:
        if self.what == "pipeline()":
            return _pipeline_member(self.values, str(member), node)
        try:  # one look-up, not a membership test and then a look-up
            return self.values[member]
        except KeyError:
            pass
        if self.case_insensitive:
            for key, value in self.values.items():
                if str(key).lower() == str(member).lower():
                    return value
        raise Unresolvable(f"{self.what}.{member} is not in the run record", node.key)


def _pipeline_member(scope_values: Mapping[str, Any], member: str, node: Access) -> Any:
    scope: Scope = scope_values["scope"]
    lowered = member.lower()
    if lowered == "parameters":
        return _Namespace(scope.pipeline_parameters, "pipeline().parameters")
    if lowered == "globalparameters":
        return _Namespace(scope.global_parameters, "pipeline().globalParameters")
    for key, value in scope.system.items():
        if key.lower() == lowered:
            return value
    raise Unresolvable(f"pipeline().{member} is not in the run record", node.key)


def _fn_pipeline(scope: Scope, node: Call) -> Any:
    return _Namespace({"scope": scope}, "pipeline()")


def _fn_dataset(scope: Scope, node: Call) -> Any:
    if scope.dataset is None:
        raise Unresolvable("dataset() is only known inside a dataset", node.key)
    return _Namespace(scope.dataset, "dataset()")


def _fn_linked_service(scope: Scope, node: Call) -> Any:
    if scope.linked_service is None:
        raise Unresolvable("linkedService() is only known inside a linked service", node.key)
    return _Namespace(scope.linked_service, "linkedService()")


def _fn_activity(scope: Scope, node: Call, name: Node) -> Any:
    activity = _eval(name, scope)
    if activity in scope.activity_outputs:
        return {"output": scope.activity_outputs[activity]}
    raise Unresolvable(f"the output of activity {activity!r} is not known here", node.key)


def _runtime(reason: str) -> Callable[..., Any]:
    def raise_unresolvable(scope: Scope, node: Call, *_: Node) -> Any:
        raise Unresolvable(reason, node.key)
    return raise_unresolvable


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
    return _interpolated(value) if not isinstance(value, str) else value


def _check_size(name: str, value: Any) -> None:
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
    return "".join([x if isinstance(x, str) else _interpolated(x) for x in values])


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


_MANY = 99
FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[int, int]]] = {
    "pipeline": (_fn_pipeline, (0, 0)),
    "dataset": (_fn_dataset, (0, 0)),
    "linkedservice": (_fn_linked_service, (0, 0)),
    "activity": (_fn_activity, (1, 1)),
    "item": (_runtime("item() is only known inside the ForEach iteration"), (0, 0)),
    "variables": (_runtime("variables() are set at run time and not in the run record"), (1, 1)),
    "utcnow": (_runtime("utcnow() is the clock at run time"), (0, 1)),
    "guid": (_runtime("guid() is random at run time"), (0, 1)),
    "rand": (_runtime("rand() is random at run time"), (2, 2)),
    "trigger": (_runtime("trigger() outputs are not in the run record"), (0, 0)),
    "concat": (_concat, (1, _MANY)),
    "replace": (_replace, (3, 3)),
    "tolower": (lambda s: str(s).lower(), (1, 1)),
    "toupper": (lambda s: str(s).upper(), (1, 1)),
    "trim": (lambda s: str(s).strip(), (1, 1)),
    "substring": (_substring, (2, 3)),
    "indexof": (_index_of, (2, 2)),
    "lastindexof": (_last_index_of, (2, 2)),
    "startswith": (lambda s, p: str(s).lower().startswith(str(p).lower()), (2, 2)),
    "endswith": (lambda s, p: str(s).lower().endswith(str(p).lower()), (2, 2)),
    "contains": (_contains, (2, 2)),
    "split": (lambda s, sep: str(s).split(str(sep)), (2, 2)),
    "join": (_join, (2, 2)),
    "length": (len, (1, 1)),
    "first": (_first, (1, 1)),
    "last": (_last, (1, 1)),
    "take": (_take, (2, 2)),
    "skip": (_skip, (2, 2)),
    "coalesce": (_coalesce, (1, _MANY)),
    "if": (_if, (3, 3)),
    "equals": (_equals, (2, 2)),
    "not": (lambda v: not _bool(v), (1, 1)),
    "and": (lambda *v: all(_bool(x) for x in v), (2, _MANY)),
    "or": (lambda *v: any(_bool(x) for x in v), (2, _MANY)),
    "greater": (_compare(lambda a, b: a > b), (2, 2)),
    "greaterorequals": (_compare(lambda a, b: a >= b), (2, 2)),
    "less": (_compare(lambda a, b: a < b), (2, 2)),
    "lessorequals": (_compare(lambda a, b: a <= b), (2, 2)),
    "add": (lambda a, b: _num(a) + _num(b), (2, 2)),
    "sub": (lambda a, b: _num(a) - _num(b), (2, 2)),
    "mul": (lambda a, b: _num(a) * _num(b), (2, 2)),
    "div": (_div, (2, 2)),
    "mod": (lambda a, b: math.fmod(_num(a), _num(b)) if isinstance(_num(a), float) else _int(a) % _int(b), (2, 2)),
    "string": (_string, (1, 1)),
    "int": (_int, (1, 1)),
    "float": (lambda v: float(_num(v)), (1, 1)),
    "bool": (_bool, (1, 1)),
    "json": (_json_fn, (1, 1)),
    "createarray": (lambda *v: list(v), (0, _MANY)),
    "empty": (_empty, (1, 1)),
    "union": (_union, (2, _MANY)),
    "intersection": (_intersection, (2, _MANY)),
    "range": (_range, (2, 2)),
    "base64": (lambda s: base64.b64encode(str(s).encode()).decode(), (1, 1)),
    "base64tostring": (lambda s: base64.b64decode(str(s), validate=True).decode(), (1, 1)),
    "uricomponent": (lambda s: urllib.parse.quote(str(s), safe=""), (1, 1)),
    "uricomponenttostring": (lambda s: urllib.parse.unquote(str(s)), (1, 1)),
    "formatdatetime": (_format, (1, 2)),
    "adddays": (_add("days"), (2, 3)),
    "addhours": (_add("hours"), (2, 3)),
    "addminutes": (_add("minutes"), (2, 3)),
    "addseconds": (_add("seconds"), (2, 3)),
    "startofday": (lambda v, f="o": _format(_dt(v).replace(hour=0, minute=0, second=0, microsecond=0), f), (1, 2)),
    "startofmonth": (lambda v, f="o": _format(_dt(v).replace(day=1, hour=0, minute=0, second=0, microsecond=0), f),
                     (1, 2)),
    "dayofmonth": (lambda v: _dt(v).day, (1, 1)),
    "dayofweek": (lambda v: (_dt(v).weekday() + 1) % 7, (1, 1)),
    "dayofyear": (lambda v: _dt(v).timetuple().tm_yday, (1, 1)),
    "ticks": (_ticks, (1, 1)),
}
_SCOPED = frozenset({"pipeline", "dataset", "linkedservice", "activity", "item", "variables", "utcnow", "guid",
                     "rand", "trigger"})
