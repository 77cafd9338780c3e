"""Data Factory's expression language, evaluated offline against what a run record knows.

No pure-Python evaluator of production quality exists (field notes §3), so this is a small tokenizer, a
recursive-descent parser into immutable nodes, and an evaluator. Each distinct text is parsed once (the cache), and
every node carries its canonical text so run-time values supplied by ``userProperties`` can replace the
sub-expression they stand for (``item().name`` inside a ForEach) in a dictionary look-up. The pure function library
is ``functions``; the functions that read the run (``pipeline()``, ``activity()``...) are here, beside the scope.
"""

from __future__ import annotations

import binascii
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from lineage.extract.functions import (
    LIBRARY,
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    Function,
    Unresolvable,
    check_size,
    interpolated,
    shown,
    type_name,
)

__all__ = [
    "EMPTY", "FUNCTIONS", "MAX_DEPTH", "NO_ITEM", "Expression", "ExpressionError", "Scope", "Unresolvable", "canonical",
    "evaluate", "is_expression", "parse", "prepared", "resolve",
]

EMPTY: Mapping[str, Any] = MappingProxyType({})


class _NoItem:
    """The marker of "no ForEach item here": compared by identity, never a value an expression could yield."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_ITEM"


NO_ITEM: Any = _NoItem()



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
    variables: Mapping[str, Any] = EMPTY
    item: Any = NO_ITEM  # the ForEach item of this iteration, where the run tells it


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
        elif c in _PUNCT and not (c == "." and i + 1 < n and text[i + 1].isdigit() and tokens
                                  and tokens[-1][0] in ("(", ",", "[")):
            tokens.append((c, c, offset + i))
            i += 1
        elif c.isdigit() or (c in "-." and i + 1 < n and text[i + 1].isdigit()):  # '.3' is a number after '(' ','
            if c == "." and i + 1 < n and text[i + 1] == ".":
                raise ExpressionError(f"bad number at position {offset + i}")
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
            arity = FUNCTIONS[lowered].arity
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
    """Parse a value as Data Factory reads it: ``@expr``, ``@@literal``, ``...@{expr}...`` or a plain string.

    ``@@`` escapes only at the start of the value and before ``{`` (``@@{`` is the text ``@{``): elsewhere Data
    Factory leaves the text as written, so ``a @@ b`` stays ``a @@ b``.
    """
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
        elif text.startswith("@@{", i):  # an escaped interpolation; any other '@' stays as written
            literal.append("@{")
            i += 3
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
        return "".join(p if isinstance(p, str) else interpolated(_eval(p, scope)) for p in expression.parts)
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
        function = FUNCTIONS[node.name]
        if function.scoped:
            return function.impl(scope, node, *node.args)
        args = [_eval(a, scope) for a in node.args]
        try:
            result = function.impl(*args)
        except (Unresolvable, ExpressionError):
            raise
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, AttributeError,
                binascii.Error, UnicodeDecodeError, RecursionError) as exc:
            raise ExpressionError(f"{node.name}() cannot take these arguments: {exc}") from exc
        check_size(node.name, result)
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
        found = _lookup(target, member)
        if found is not _MISSING:
            return found
        if node.safe:
            return None
        raise ExpressionError(f"property {shown(member)} not found in {node.target.key if node.target else ''}")
    if isinstance(target, list | str) and isinstance(member, int) and not isinstance(member, bool):
        if 0 <= member < len(target):  # a negative index is out of range, not counted from the end
            return target[member]
        if node.safe:
            return None
        raise ExpressionError(f"index {member} out of range in {node.key}")
    raise ExpressionError(f"cannot read {shown(member)} of {type_name(target)} in {node.key}")


_MISSING = object()


def _lookup(values: Mapping[Any, Any], name: Any) -> Any:
    """``values[name]``, else the value of the key that equals it ignoring case (names resolve that way in Data
    Factory), else ``_MISSING``. The exact key is tried first: one look-up on the path nearly every name takes."""
    try:
        return values[name]
    except (KeyError, TypeError):
        pass
    if isinstance(name, str):
        lowered = name.lower()
        for key, value in values.items():
            if isinstance(key, str) and key.lower() == lowered:
                return value
    return _MISSING


class _Namespace:
    """``pipeline()``, ``pipeline().parameters`` and friends: look-ups that know what is missing and why."""

    def __init__(self, values: Mapping[str, Any], what: str) -> None:
        self.values = values
        self.what = what

    def get(self, member: Any, node: Access) -> Any:
        if self.what == "pipeline()":
            return _pipeline_member(self.values, str(member), node)
        found = _lookup(self.values, member)
        if found is _MISSING:
            raise Unresolvable(f"{self.what}.{member} is not in the run record", node.key)
        return found


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


def _fn_item(scope: Scope, node: Call) -> Any:
    if scope.item is NO_ITEM:
        raise Unresolvable("item() is only known inside the ForEach iteration", node.key)
    return scope.item


def _fn_variables(scope: Scope, node: Call, name: Node) -> Any:
    variable = _eval(name, scope)
    found = _lookup(scope.variables, variable) if isinstance(variable, str) else _MISSING
    if found is _MISSING:
        raise Unresolvable(f"variables({shown(variable)}) is not known from the run record here", node.key)
    return found


def _fn_activity(scope: Scope, node: Call, name: Node) -> Any:
    activity = _eval(name, scope)
    found = _lookup(scope.activity_outputs, activity) if isinstance(activity, str) else _MISSING
    if found is _MISSING:
        raise Unresolvable(f"the output of activity {shown(activity)} is not known here", node.key)
    return {"output": found}


def _runtime(reason: str) -> Callable[..., Any]:
    def raise_unresolvable(scope: Scope, node: Call, *_: Node) -> Any:
        raise Unresolvable(reason, node.key)
    return raise_unresolvable


FUNCTIONS: dict[str, Function] = {
    "pipeline": Function(_fn_pipeline, (0, 0), scoped=True),
    "dataset": Function(_fn_dataset, (0, 0), scoped=True),
    "linkedservice": Function(_fn_linked_service, (0, 0), scoped=True),
    "activity": Function(_fn_activity, (1, 1), scoped=True),
    "item": Function(_fn_item, (0, 0), scoped=True),
    "variables": Function(_fn_variables, (1, 1), scoped=True),
    "utcnow": Function(_runtime("utcnow() is the clock at run time"), (0, 1), scoped=True),
    "guid": Function(_runtime("guid() is random at run time"), (0, 1), scoped=True),
    "rand": Function(_runtime("rand() is random at run time"), (2, 2), scoped=True),
    "getfuturetime": Function(_runtime("getFutureTime() is the clock at run time"), (2, 3), scoped=True),
    "getpasttime": Function(_runtime("getPastTime() is the clock at run time"), (2, 3), scoped=True),
    "trigger": Function(_runtime("trigger() outputs are not in the run record"), (0, 0), scoped=True),
    **LIBRARY,
}
