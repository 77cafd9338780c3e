"""Mapping data flow scripts: the ``source(...) ~> name`` and ``sink(...) ~> name`` statements and what links them.

An inline source or sink keeps its location only in the script's options (field notes §2), so the script is parsed:
statements end with ``~> name`` at nesting depth zero, a statement's upstream streams are the names before its
transformation, and option values are small data flow expressions evaluated against the flow's parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

MAX_SCRIPT_CHARS = 2_000_000
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


class DataFlowScriptError(ValueError):
    """A script or option that cannot be read; the message says where."""


@dataclass(frozen=True, slots=True)
class ScriptParameter:
    name: str
    type: str
    default: str | None


@dataclass(frozen=True, slots=True)
class ScriptEndpoint:
    """A ``source`` or ``sink`` statement: its stream name and raw option expressions."""

    kind: str
    name: str
    options: Mapping[str, str]
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DataFlowScript:
    parameters: tuple[ScriptParameter, ...]
    sources: tuple[ScriptEndpoint, ...]
    sinks: tuple[ScriptEndpoint, ...]
    upstream: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def sources_of(self, sink: str) -> tuple[str, ...]:
        """The source streams whose data can reach ``sink``, through any transformations."""
        source_names = {s.name for s in self.sources}
        seen: set[str] = set()
        stack = [sink]
        found: set[str] = set()
        while stack:
            stream = stack.pop()
            if stream in seen:
                continue
            seen.add(stream)
            if stream in source_names:
                found.add(stream)
            stack.extend(self.upstream.get(stream, ()))
        return tuple(sorted(found))

    def sources_by_sink(self, max_pairs: int | None = None) -> dict[str, tuple[str, ...]]:
        """The source streams that reach each sink, for all sinks at once.

        ``sources_of`` for every sink walks the streams above each sink again: sinks x streams steps, minutes for a
        flow of thousands of sources and sinks. Here each stream is visited once, carrying the set of sources above
        it as a bit mask (one bit per source), so the work is linear in the script's streams and inputs (each OR on
        masks of one bit per source). Only then, if the sinks and their sources make more than ``max_pairs`` pairs,
        ``ScriptTooWideError`` says how many, before any of them is spelled out.
        """
        names = list(dict.fromkeys(s.name for s in self.sources))
        reach = _reach({name: 1 << i for i, name in enumerate(names)}, self.upstream, [s.name for s in self.sinks])
        masks = {sink.name: reach.get(sink.name, 0) for sink in self.sinks}
        pairs = sum(mask.bit_count() for mask in masks.values())
        if max_pairs is not None and pairs > max_pairs:
            raise ScriptTooWideError(pairs, len(masks), max_pairs)
        spelled: dict[int, tuple[str, ...]] = {}  # sinks fed by the same sources share one tuple
        out: dict[str, tuple[str, ...]] = {}
        for sink, mask in masks.items():
            if mask not in spelled:
                found, rest = [], mask
                while rest:
                    lowest = rest & -rest
                    found.append(names[lowest.bit_length() - 1])
                    rest ^= lowest
                spelled[mask] = tuple(sorted(found))
            out[sink] = spelled[mask]
        return out


class ScriptTooWideError(DataFlowScriptError):
    """More source-sink pairs than one activity's lineage is allowed to hold."""

    def __init__(self, pairs: int, sinks: int, limit: int) -> None:
        super().__init__(f"its {sinks:,} sinks are fed by {pairs:,} source-sink pairs in all, more than the "
                         f"{limit:,} one activity's lineage may hold")
        self.pairs, self.sinks, self.limit = pairs, sinks, limit


def _reach(bits: Mapping[str, int], upstream: Mapping[str, tuple[str, ...]], roots: list[str]) -> dict[str, int]:
    """For every stream above ``roots``, the OR of ``bits`` over the streams it reads from, directly or not.

    Streams may form cycles in a broken script, so the walk finds strongly connected components (Tarjan's
    algorithm, iterative: a script may chain thousands of streams); a component's mask is its members' bits and the
    masks of the components it reads from, which Tarjan's order has finished before it.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    masks: list[int] = []
    for root in roots:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(upstream.get(root, ())))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(upstream.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        component[member] = len(masks)
                        if member == node:
                            break
                    mask = 0
                    for member in members:
                        mask |= bits.get(member, 0)
                        for child in upstream.get(member, ()):
                            if component[child] != len(masks):
                                mask |= masks[component[child]]
                    masks.append(mask)
    return {stream: masks[c] for stream, c in component.items()}


class NoScriptError(DataFlowScriptError):
    """A data flow definition with no script in any of its formats."""


def script_text(type_properties: Mapping[str, Any]) -> str:
    """The script of a data flow definition: ``script``, the newer ``scriptLines``, or, in the older
    per-transformation format (gallery templates), each source's, transformation's and sink's own ``script``
    fragment: the stream names in the fragments tie them together, so joined they are one script."""
    lines = type_properties.get("scriptLines")
    if isinstance(lines, list) and all(isinstance(line, str) for line in lines):
        return "\n".join(lines)
    script = type_properties.get("script")
    if isinstance(script, str):
        return script
    fragments = [part["script"] for key in ("sources", "transformations", "sinks")
                 for part in (type_properties.get(key) or []) if isinstance(part, Mapping)
                 and isinstance(part.get("script"), str) and part["script"].strip()]
    if fragments:
        return "\n".join(fragments)
    raise NoScriptError("the data flow has no script")


@lru_cache(maxsize=256)  # the runs of a pipeline day after day carry the same script: parsed once per process
def parse_script(text: str) -> DataFlowScript:
    """Parse a whole script; DataFlowScriptError for anything that is not one."""
    if len(text) > MAX_SCRIPT_CHARS:
        raise DataFlowScriptError(f"script longer than {MAX_SCRIPT_CHARS} characters")
    body = text.strip()
    parameters: tuple[ScriptParameter, ...] = ()
    if body.startswith("parameters"):
        open_at = body.find("{")
        if open_at < 0:
            raise DataFlowScriptError("parameters block without '{'")
        close_at = _matching(body, open_at)
        parameters = tuple(_parameter(p) for p in _split(body[open_at + 1:close_at], ",") if p.strip())
        body = body[close_at + 1:]
    sources: list[ScriptEndpoint] = []
    sinks: list[ScriptEndpoint] = []
    upstream: dict[str, tuple[str, ...]] = {}
    for statement, names in _statements(body):
        inputs, operation, args = _statement_parts(statement)
        for name in names:
            upstream[name] = inputs
        if operation in ("source", "sink"):
            endpoint = ScriptEndpoint(operation, names[0], _options(args), inputs)
            (sources if operation == "source" else sinks).append(endpoint)
    return DataFlowScript(parameters, tuple(sources), tuple(sinks), upstream)


def _statements(body: str) -> list[tuple[str, tuple[str, ...]]]:
    """(statement text, stream names it defines) for each ``... ~> name`` of the script."""
    out: list[tuple[str, tuple[str, ...]]] = []
    start = 0
    for i in _top_level(body):
        if i < start or not body.startswith("~>", i):
            continue
        statement = body[start:i].strip()
        names, start = _stream_names(body, i + 2)
        if not statement:
            raise DataFlowScriptError(f"empty statement before '~> {names[-1]}'")
        out.append((statement, names))
    if body[start:].strip():
        raise DataFlowScriptError(f"text after the last statement: {body[start:].strip()[:60]!r}")
    return out


def _stream_names(body: str, j: int) -> tuple[tuple[str, ...], int]:
    """The names after ``~>``: ``name``, or ``name@(a, b)`` / ``name@a`` for a split's outputs; and where they end."""
    while j < len(body) and body[j].isspace():
        j += 1
    match = _IDENT.match(body, j)
    if not match:
        raise DataFlowScriptError(f"expected a stream name after '~>' at {_where(body, j)}")
    name, j = match.group(), match.end()
    if not body.startswith("@", j):
        return (name,), j
    if body.startswith("@(", j):
        close = _matching(body, j + 1)
        outputs = [o.strip() for o in body[j + 2:close].split(",") if o.strip()]
        j = close + 1
    else:
        output = _IDENT.match(body, j + 1)
        if not output:
            raise DataFlowScriptError(f"bad stream output at {_where(body, j)}")
        outputs, j = [output.group()], output.end()
    return (*(f"{name}@{o}" for o in outputs), name), j


def _top_level(text: str) -> Iterator[int]:
    """Positions outside quoted strings and brackets (an opening bracket itself is yielded, then skipped over)."""
    i = 0
    while i < len(text):
        c = text[i]
        if c in "'\"":
            i = _skip_string(text, i)
            continue
        yield i
        i = _matching(text, i) + 1 if c in _CLOSING else i + 1


def _statement_parts(statement: str) -> tuple[tuple[str, ...], str, str]:
    """``A, B join(...)`` -> (("A", "B"), "join", "...")."""
    depth_zero_paren = _first_paren(statement)
    if depth_zero_paren < 0:
        raise DataFlowScriptError(f"statement without a transformation: {statement[:60]!r}")
    head = statement[:depth_zero_paren].rstrip()
    match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)$", head)
    if not match:
        raise DataFlowScriptError(f"no transformation name in {statement[:60]!r}")
    inputs = tuple(p.strip() for p in head[:match.start()].split(",") if p.strip())
    close = _matching(statement, depth_zero_paren)
    return inputs, match.group(1), statement[depth_zero_paren + 1:close]


def _first_paren(text: str) -> int:
    return next((i for i in _top_level(text) if text[i] == "("), -1)


def _options(args: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in _split(args, ","):
        key, sep, value = part.partition(":")
        key = key.strip()
        if sep and _IDENT.fullmatch(key):
            options[key] = value.strip()
    return options


def _parameter(text: str) -> ScriptParameter:
    match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+as\s+([A-Za-z_][A-Za-z0-9_\[\]]*)\s*(\((.*)\))?\s*$", text, re.S)
    if not match:
        raise DataFlowScriptError(f"cannot read parameter {text.strip()[:60]!r}")
    return ScriptParameter(match.group(1), match.group(2), match.group(4).strip() if match.group(4) else None)


def _split(text: str, sep: str) -> list[str]:
    cuts = [i for i in _top_level(text) if text[i] == sep]
    return [text[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]


def _skip_string(text: str, i: int) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    raise DataFlowScriptError(f"unterminated string at {_where(text, i)}")


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (strings skipped, nesting followed)."""
    stack = [_CLOSING[text[i]]]
    j = i + 1
    while j < len(text):
        c = text[j]
        if c in "'\"":
            j = _skip_string(text, j)
            continue
        if c in _CLOSING:
            stack.append(_CLOSING[c])
        elif c in ")]}":
            if c != stack.pop():
                raise DataFlowScriptError(f"mismatched {c!r} at {_where(text, j)}")
            if not stack:
                return j
        j += 1
    raise DataFlowScriptError(f"unclosed {text[i]!r} at {_where(text, i)}")


def _where(text: str, i: int) -> str:
    line = text.count("\n", 0, i) + 1
    return f"line {line}, column {i - (text.rfind(chr(10), 0, i) + 1) + 1}"


# ------------------------------------------------------------------------------------------- option values


def evaluate_option(expr: str, parameters: Mapping[str, str], _depth: int = 0) -> str:
    """The value of an option: literals, ``$param``, ``+``, parentheses and a few string functions."""
    if _depth > 16:
        raise DataFlowScriptError("parameters refer to each other too deeply")
    return _OptionParser(expr, parameters, _depth).parse()


class _OptionParser:
    _FUNCTIONS: ClassVar[dict[str, Any]] = {
                  "concat": lambda *a: "".join(a), "tolower": lambda s: s.lower(), "toupper": lambda s: s.upper(),
                  "trim": lambda s: s.strip(), "replace": lambda s, a, b: s.replace(a, b)}

    def __init__(self, text: str, parameters: Mapping[str, str], depth: int) -> None:
        self.text, self.i, self.parameters, self.depth = text, 0, parameters, depth

    def parse(self) -> str:
        value = self.concat()
        self.space()
        if self.i != len(self.text):
            raise DataFlowScriptError(f"cannot evaluate {self.text[:80]!r}")
        return value

    def space(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def concat(self) -> str:
        value = self.term()
        self.space()
        while self.text.startswith("+", self.i):
            self.i += 1
            value += self.term()
            self.space()
        return value

    def term(self) -> str:
        self.space()
        if self.i >= len(self.text):
            raise DataFlowScriptError(f"cannot evaluate {self.text[:80]!r}: it ends early")
        c = self.text[self.i]
        if c in "'\"":
            end = _skip_string(self.text, self.i)
            raw = self.text[self.i + 1:end - 1]
            self.i = end
            return re.sub(r"\\(.)", r"\1", raw)
        if c == "(":
            self.i += 1
            value = self.concat()
            self.space()
            if not self.text.startswith(")", self.i):
                raise DataFlowScriptError(f"cannot evaluate {self.text[:80]!r}: ')' expected")
            self.i += 1
            return value
        if c == "$":
            match = _IDENT.match(self.text, self.i + 1)
            if not match:
                raise DataFlowScriptError(f"cannot evaluate {self.text[:80]!r}: bad parameter")
            self.i = match.end()
            name = match.group()
            if name not in self.parameters:
                raise DataFlowScriptError(f"data flow parameter ${name} has no value")
            return evaluate_option(self.parameters[name], self.parameters, self.depth + 1)
        number = re.compile(r"-?\d+(\.\d+)?").match(self.text, self.i)
        if number:
            self.i = number.end()
            return number.group()
        match = _IDENT.match(self.text, self.i)
        if match and self.text.startswith("(", match.end()) and match.group().lower() in self._FUNCTIONS:
            self.i = match.end() + 1
            args = []
            self.space()
            while not self.text.startswith(")", self.i):
                args.append(self.concat())
                self.space()
                if self.text.startswith(",", self.i):
                    self.i += 1
            self.i += 1
            try:
                return str(self._FUNCTIONS[match.group().lower()](*args))
            except TypeError as exc:
                raise DataFlowScriptError(f"{match.group()}() got the wrong arguments") from exc
        raise DataFlowScriptError(f"cannot evaluate {self.text[:80]!r}")
