"""Purview's resource-set rules and qualifiedName normalization rules, applied the way its scanners apply them.

Why this exists: scanners group the many files of one logical data set (Spark output, daily folders, numbered
extracts) into a single *resource set* asset, named with raw tokens in place of what varies, e.g.
``https://{acct}.dfs.core.windows.net/bing/data/{N}/QueriesByState_{Year}-{Month}-{Day}_{N}-{N}-{N}.tsv``. Native
Copy lineage points at that resource set, not at the file. Lineage that names the file, or a resource set one token
off, lands on an asset nobody looks at: a near miss is a duplicate asset (field notes §4-5).

The rules are an account setting (``GET https://{account}.purview.azure.com/account/resourceSetRuleConfigs/
defaultResourceSetRuleConfig``); :meth:`ResourceSetRules.from_config` reads that response and
:meth:`ResourceSetRules.default` is the 2022 default as this module's own table, so grouping works with no network
and no copy of the document. ``doctor`` compares the two with :meth:`ResourceSetRules.differences`.

What Microsoft's "Understanding resource sets" page documents, and this module follows: patterns match a path's
segments, "as a name in a directory or as part of a file name" (``machinesets/23/foo.parquet`` ->
``machinesets/{N}/foo.parquet``, ``weblogs/en_au/23.json`` -> ``weblogs/{LOC}/{N}.json``, ``data7.csv`` ->
``data{N}.csv``, ``{Year}-{Month}-{Day}/{N}-{N}-{N}-{N}/{GUID}``); Word, Excel and PDF files are never grouped
(CSV is); the complex pattern ``SparkPath`` names Spark output ``.../name-of-spark-output/{SparkPartitions}`` and
``Date(yyyy/mm/dd)InPath`` names year/month/day folders ``{Year}/{Month}/{Day}``. The rest is read from the
configuration's regexes and flags; each such reading is marked "(unverified)" below, and each can be changed by the
configuration (edit or disable the replacer) or by ``dataclasses.replace`` on the rules object.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

import regex  # type: ignore[import-untyped, unused-ignore]  # .NET-style look-behind (`(?<=[-.]|^)`) and timeouts

from lineage.extract.stores import naming
from lineage.extract.stores.naming import Asset

__all__ = [
    "REGEX_TIMEOUT_SECONDS",
    "ComplexReplacer",
    "FastRegex",
    "NormalizationRule",
    "PathFilter",
    "RegexReplacer",
    "ResourceSetConfigError",
    "ResourceSetRules",
    "ScopedRuleSet",
]

MAX_PATH_CHARS = 2_048  # container and path together (a blob name is at most 1,024): longer is not grouped
MAX_SEGMENTS = 256  # a blob name has at most 254 segments
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # the default document is 26 KB
MAX_REGEX_CHARS = 8_192
MAX_ITEMS = 1_000  # replacers, rules, filters, entity types of one rule
REGEX_TIMEOUT_SECONDS = 0.25  # one regex operation on one segment or name; a configured regex that takes longer is bad
_CACHE_LIMIT = 16_384  # distinct paths, and (segment, is file) results, kept per rules object

SPARK_PARTITIONS = "{SparkPartitions}"
SPARK_PATH_TYPE = "Microsoft.DataMap.PathPattern.SparkPathReplacer"
DATE_PATH_TYPE = "Microsoft.DataMap.PathPattern.DatePatternPathReplacer"
APPLY_TO_FILE_NAME = "ApplyToFileName"

# Scanners "intentionally don't classify most document file types like Word, Excel, or PDF as resource sets; the
# exception is CSV" (Microsoft). Which extensions count as Word, Excel and PowerPoint: (unverified) the Office
# families below. Overridable: dataclasses.replace(rules, never_grouped=...); the config's rejectedPatterns add more.
NEVER_GROUPED_EXTENSIONS = frozenset({
    "pdf",
    "doc", "docx", "docm", "dot", "dotx", "dotm", "rtf",
    "xls", "xlsx", "xlsm", "xlsb", "xlt", "xltx", "xltm",
    "ppt", "pptx", "pptm", "pps", "ppsx", "ppsm", "pot", "potx", "potm",
})

# What a replacer must never match inside: a token an earlier replacer inserted (literal braces of a name arrive
# encoded, so every brace in a segment is a token's) and the %7B/%7D encoding of a literal brace.
_PROTECTED = regex.compile(r"\{[^{}]*\}|%7[BbDd]")

# SparkPath (unverified beyond Microsoft's example `.../name-of-spark-output/{SparkPartitions}`): a Spark or Hadoop
# part file (`part-00000-<guid>-c000.snappy.parquet`, `part-r-00000`, Databricks' `part-00000-tid-...`) and the
# Hive-style `key=value` partition folders directly above it become one `{SparkPartitions}` segment.
_SPARK_PART_FILE = regex.compile(r"^part-(?:[rm]-)?\d{4,}(?:[-._].*)?$")
_HIVE_PARTITION = regex.compile(r"^[^=]+=[^=]*$")
# Date(yyyy/mm/dd)InPath (unverified beyond Microsoft's "year/month/day pattern spanning multiple folders"): three
# consecutive folders, a year 19xx/20xx (the regex replacers' dates start at 2010: a folder year may be older), a
# two-digit month and day. No hour folder: Microsoft's page names only {Year}/{Month}/{Day}, so an hour folder below
# them is left to the Number replacer ({N}).
_YEAR = regex.compile(r"^(?:19|20)\d\d$")
_MONTH = regex.compile(r"^(?:0[1-9]|1[0-2])$")
_DAY = regex.compile(r"^(?:0[1-9]|[12]\d|3[01])$")


class ResourceSetConfigError(ValueError):
    """A resource-set rule configuration of the wrong shape, or one this module cannot apply; the message names the
    field (``pathPatternConfig.regexReplacers[3].regex.regexStr``)."""


class _Pattern(Protocol):
    """The part of a compiled ``regex`` pattern this module uses."""

    groups: int
    groupindex: Mapping[str, int]

    def sub(self, repl: Callable[[Any], str], string: str, *, timeout: float = ...) -> str: ...

    def finditer(self, string: str, *, timeout: float = ...) -> Iterable[Any]: ...

    def search(self, string: str, *, timeout: float = ...) -> Any: ...


# ------------------------------------------------------------------------------------------------ .NET regexes

# System.Text.RegularExpressions.RegexOptions bits the configuration may carry, and their `regex` flags. Compiled (8),
# CultureInvariant (512) and NonBacktracking (1024) change speed or culture only. ExplicitCapture (4) and
# RightToLeft (64) change what matches and have no equivalent: a config using them is refused.
_OPTION_FLAGS = {1: regex.IGNORECASE, 2: regex.MULTILINE, 8: 0, 16: regex.DOTALL, 32: regex.VERBOSE,
                 256: regex.ASCII, 512: 0, 1024: 0}
# The cheap checks a FastRegex carries beside its regex (field, what it counts, whether it is a minimum).
_LIMITS = {
    "minDigits": ("digits", True), "maxDigits": ("digits", False),
    "minLetters": ("letters", True), "maxLetters": ("letters", False),
    "minHex": ("hex", True), "minDashes": ("dashes", True), "minDots": ("dots", True),
    "minUnderscores": ("underscores", True), "minDigitsOrLetters": ("alnum", True),
}
_HEX = frozenset("0123456789abcdefABCDEF")


@lru_cache(maxsize=8_192)  # the same folder names are counted for every replacer and every file under them
def _counts(text: str) -> Mapping[str, int]:
    digits = sum(map(str.isdecimal, text))
    letters = sum(map(str.isalpha, text))
    return {"digits": digits, "letters": letters, "hex": sum(map(_HEX.__contains__, text)),
            "dashes": text.count("-"), "dots": text.count("."), "underscores": text.count("_"),
            "alnum": digits + letters}


# `(?<=X|^)` with a one-character X: the same test as `(?:(?<=X)|^)`, which Python's engine accepts.
_FIXED_LOOKBEHIND = re.compile(r"\(\?<=(\[[^\]]*\])\|\^\)")
_RE_FLAGS = {1: re.IGNORECASE, 2: re.MULTILINE, 16: re.DOTALL, 32: re.VERBOSE, 256: re.ASCII}


def _re_flags(options: int) -> int:
    flags = 0
    for bit, flag in _RE_FLAGS.items():
        if options & bit:
            flags |= flag
    return flags


def _flags(options: int) -> int:
    flags = regex.VERSION0
    for bit in range(options.bit_length()):
        value = 1 << bit
        if options & value:
            if value not in _OPTION_FLAGS:
                raise ResourceSetConfigError(f"regex option {value} (of options {options}) is not supported")
            flags |= _OPTION_FLAGS[value]
    return cast(int, flags)


@dataclass(frozen=True, slots=True)
class FastRegex:
    """A regex of the configuration with its cheap pre-checks.

    Reading of ``minDigits``/``minLetters``/``minHex``/``maxLetters``... (unverified: no public page describes them):
    pre-filters on the text the regex is about to run on, the literal part of a segment (tokens already inserted
    left out) or the whole qualifiedName; the regex is tried only when every count is within its limit. Every limit
    of the 2022 default is a count its regex needs to match (a GUID has 32 hex digits, yyyy-mm-dd 8 digits, the T of
    yyyy-mm-ddThh a letter) except Localization's ``maxLetters: 4``, which keeps {LOC} to segments whose only letters
    are the locale's (``en_au`` but not ``site_en-us``). Options are .NET RegexOptions (1 IgnoreCase, 8 Compiled...).
    """

    pattern: str
    options: int = 0
    limits: tuple[tuple[str, int], ...] = ()
    # The built-in table's regexes are known to be fast: they run on Python's own engine, with no time limit (three
    # to five times quicker per call, and a ForEach of 50,000 files makes a few calls per distinct file name). A
    # configuration's regexes run on `regex` with REGEX_TIMEOUT_SECONDS per call.
    trusted: bool = field(default=False, compare=False)
    compiled: _Pattern = field(init=False, repr=False, compare=False, hash=False)
    checks: tuple[tuple[str, bool, int], ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.pattern) > MAX_REGEX_CHARS:
            raise ResourceSetConfigError(f"regex of {len(self.pattern)} characters (at most {MAX_REGEX_CHARS})")
        for name, _ in self.limits:
            if name not in _LIMITS:
                raise ResourceSetConfigError(f"{name} is not a known regex limit ({sorted(_LIMITS)})")
        object.__setattr__(self, "checks", tuple((*_LIMITS[name], limit) for name, limit in self.limits))
        compiled: Any = None
        if self.trusted:
            with contextlib.suppress(re.error):  # a .NET construct Python's engine lacks: `regex` takes it
                compiled = re.compile(_FIXED_LOOKBEHIND.sub(r"(?:(?<=\1)|^)", self.pattern), _re_flags(self.options))
        if compiled is None:
            try:
                compiled = regex.compile(self.pattern, _flags(self.options))
            except regex.error as exc:
                raise ResourceSetConfigError(f"regex {self.pattern!r} does not compile: {exc}") from exc
            object.__setattr__(self, "trusted", False)
        object.__setattr__(self, "compiled", compiled)

    def sub(self, repl: Callable[[Any], str], text: str) -> str:
        if self.trusted:
            return self.compiled.sub(repl, text)
        return self.compiled.sub(repl, text, timeout=REGEX_TIMEOUT_SECONDS)

    def finditer(self, text: str) -> Iterable[Any]:
        if self.trusted:
            return self.compiled.finditer(text)
        return self.compiled.finditer(text, timeout=REGEX_TIMEOUT_SECONDS)

    def search(self, text: str) -> Any:
        if self.trusted:
            return self.compiled.search(text)
        return self.compiled.search(text, timeout=REGEX_TIMEOUT_SECONDS)

    def admits(self, text: str) -> bool:
        """Whether the pre-filters let the regex run on ``text``."""
        return not self.checks or self.admits_counts(_counts(text))

    def admits_counts(self, counts: Mapping[str, int]) -> bool:
        """``admits`` for a text whose counts are known (one text meets many replacers)."""
        for what, is_minimum, limit in self.checks:
            if (counts[what] < limit) if is_minimum else (counts[what] > limit):
                return False
        return True

    def document(self) -> dict[str, Any]:
        """The configuration's form of this regex."""
        return {**dict(self.limits), "options": self.options, "regexStr": self.pattern}


@dataclass(frozen=True, slots=True)
class _Template:
    """A .NET replacement string: ``$1``, ``${name}`` are groups, ``$$`` a dollar, ``$&`` the match, ``$``` and
    ``$'`` the text before and after it, ``$+`` the last group, ``$_`` the whole input; a ``$n`` naming no group
    stays literal (as .NET does)."""

    parts: tuple[str | int, ...]  # literal text, or a `regex` group number (>= 0), or a special (< 0)

    @classmethod
    def parse(cls, text: str, pattern: _Pattern) -> _Template:
        numbers = _dotnet_group_numbers(pattern)
        parts: list[str | int] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            ref, width = _reference(text, i, numbers, pattern)
            if ref is None:
                literal.append(text[i])
                i += 1
                continue
            if isinstance(ref, str):
                literal.append(ref)
            else:
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(ref)
            i += width
        if literal:
            parts.append("".join(literal))
        return cls(tuple(parts))

    def expand(self, match: Any) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part >= 0:
                out.append(match.group(part) or "")
            elif part == _BEFORE:
                out.append(match.string[: match.start()])
            elif part == _AFTER:
                out.append(match.string[match.end():])
            elif part == _INPUT:
                out.append(match.string)
            else:  # _LAST_GROUP
                out.append((match.group(match.re.groups) or "") if match.re.groups else "")
        return "".join(out)


_BEFORE, _AFTER, _INPUT, _LAST_GROUP = -1, -2, -3, -4
_SPECIALS = {"`": _BEFORE, "'": _AFTER, "_": _INPUT, "+": _LAST_GROUP, "&": 0}


def _dotnet_group_numbers(pattern: _Pattern) -> dict[int, int]:
    """.NET group number -> `regex` group number. .NET numbers unnamed groups first, then named ones; `regex` numbers
    all groups by position. They agree unless a regex mixes the two."""
    named = sorted(set(pattern.groupindex.values()))
    unnamed = [n for n in range(1, pattern.groups + 1) if n not in set(named)]
    return {0: 0} | dict(enumerate(unnamed + named, start=1))


def _reference(text: str, i: int, numbers: Mapping[int, int], pattern: _Pattern) -> tuple[str | int | None, int]:
    """The substitution starting at ``text[i]`` and its width, or (None, 0) where ``text[i]`` is literal."""
    if text[i] != "$" or i + 1 >= len(text):
        return None, 0
    nxt = text[i + 1]
    if nxt == "$":
        return "$", 2
    if nxt in _SPECIALS:
        return _SPECIALS[nxt], 2
    if nxt.isdigit():
        end = i + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        number = int(text[i + 1:end])
        return (numbers[number], end - i) if number in numbers else (None, 0)
    if nxt == "{":
        close = text.find("}", i + 2)
        name = text[i + 2:close] if close > 0 else ""
        if name.isdigit() and int(name) in numbers:
            return numbers[int(name)], close - i + 1
        if name in pattern.groupindex:
            return pattern.groupindex[name], close - i + 1
    return None, 0


def _overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    if start == end:  # an empty match: only a position strictly inside a span is inside it
        return any(s < start < e for s, e in spans)
    return any(start < e and s < end for s, e in spans)


# ------------------------------------------------------------------------------------------------ the rules


@dataclass(frozen=True, slots=True)
class RegexReplacer:
    """One ``regexReplacers`` entry, applied to one path segment at a time.

    - ``file_name_only`` (``condition: "ApplyToFileName"``): only the file name, never a folder.
    - ``final`` (``disableRecursiveReplacerApplication: true``): once it has replaced something in a segment, no
      later replacer runs on that segment. (unverified: the reading of the flag's name; only Number sets it among
      the default regex replacers, and Number replaces a whole segment.)
    - ``do_not_replace`` (``doNotReplaceRegex``): a match overlapping one of its matches is kept as it is, e.g. the
      numbers of ``v1.2.3`` and the 2 of ``b2b`` (unverified: overlapping, rather than equal, spans).
    """

    name: str
    regex: FastRegex
    replace_with: str
    do_not_replace: FastRegex | None = None
    file_name_only: bool = False
    final: bool = False
    disabled: bool = False
    template: _Template = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", _Template.parse(self.replace_with, self.regex.compiled))

    def apply(self, text: str) -> tuple[str, bool]:
        """``text`` with this replacer applied, and whether it replaced anything. Raises TimeoutError."""
        return self.apply_to(_Text.of(text))

    def apply_to(self, text: _Text) -> tuple[str, bool]:
        """``apply`` for a text already read (its protected spans and counts)."""
        if self.regex.checks and not self.regex.admits_counts(text.counts):
            return text.value, False
        if self.regex.search(text.value) is None:  # what most replacers find: no guard to run, no match to expand
            return text.value, False
        return self._replace(text.value, text.literal, text.protected)

    def _replace(self, text: str, literal: str, protected: list[tuple[int, int]]) -> tuple[str, bool]:
        kept = protected
        guard = self.do_not_replace
        if guard is not None and guard.admits(literal):
            kept = protected + [m.span() for m in guard.finditer(text)]
        hits = 0

        def swap(match: Any) -> str:
            nonlocal hits
            start, end = match.span()
            if _overlaps(start, end, kept):
                return cast(str, match.group(0))
            hits += 1
            return self.template.expand(match)

        result = self.regex.sub(swap, text)
        return result, hits > 0


class _Text(NamedTuple):
    """A segment as the regex replacers see it: tokens already inserted and encoded braces are never matched again
    (``literal`` leaves them out, ``protected`` are their spans; most segments hold neither), and the counts the
    replacers' pre-filters read. Read once per distinct text, not once per replacer."""

    value: str
    literal: str
    protected: list[tuple[int, int]]
    counts: Mapping[str, int]

    @classmethod
    def of(cls, text: str) -> _Text:
        protected = [m.span() for m in _PROTECTED.finditer(text)] if "{" in text or "%7" in text else []
        literal = _PROTECTED.sub("", text) if protected else text
        return cls(text, literal, protected, _counts(literal))


@dataclass(frozen=True, slots=True)
class ComplexReplacer:
    """One ``complexReplacers`` entry: ``SparkPath`` or ``Date(yyyy/mm/dd)InPath``, which see several segments at
    once. They run before the regex replacers, in config order (unverified: after them Date(yyyy/mm/dd)InPath could
    never apply, Number having made the 2021 of ``2021/01/12`` {N} already); with ``final``
    (``disableRecursiveReplacerApplication``) the segments they wrote get no regex replacer."""

    name: str
    type_name: str
    final: bool = True
    disabled: bool = False

    def __post_init__(self) -> None:
        if self.type_name not in (SPARK_PATH_TYPE, DATE_PATH_TYPE):
            raise ResourceSetConfigError(f"complex replacer {self.name!r} is of type {self.type_name!r}, which this "
                                         f"module cannot apply (known: {SPARK_PATH_TYPE}, {DATE_PATH_TYPE})")

    def apply(self, segments: list[str], done: list[bool]) -> None:
        """Rewrite ``segments`` in place (``done`` marks the ones no later replacer may touch; index 0, the
        container, always is)."""
        if self.type_name == SPARK_PATH_TYPE:
            last = len(segments) - 1
            if last < 1 or done[last] or not _SPARK_PART_FILE.match(segments[last]):
                return
            start = last
            while start > 1 and not done[start - 1] and _HIVE_PARTITION.match(segments[start - 1]):
                start -= 1
            segments[start:] = [SPARK_PARTITIONS]
            done[start:] = [self.final]
            return
        i = 1
        while i + 2 < len(segments) - 1:  # folders only: the file name is never a day
            window = segments[i:i + 3]
            if (not any(done[i:i + 3]) and _YEAR.match(window[0]) and _MONTH.match(window[1])
                    and _DAY.match(window[2])):
                segments[i:i + 3] = ["{Year}", "{Month}", "{Day}"]
                done[i:i + 3] = [self.final] * 3
                i += 3
            else:
                i += 1


_DYNAMIC = ("TrimSpaces", "RemoveHostnameSpaces", "RemoveBracketsAndEncodeSpaces", "ToLowerCase")


def _dynamic(kind: str, text: str) -> str:
    if kind in ("TrimSpaces", "RemoveHostnameSpaces"):  # the match without its white space
        return "".join(text.split())
    if kind == "RemoveBracketsAndEncodeSpaces":  # "[My Table]" -> "My%20Table"
        return text[1:-1].replace(" ", "%20") if text.startswith("[") and text.endswith("]") else text
    return text.lower()  # ToLowerCase


@dataclass(frozen=True, slots=True)
class NormalizationRule:
    """One ``normalizationRules`` entry: applied to a whole qualifiedName of one of ``entity_types``. ``dynamic``
    rules rewrite each match by kind (``TrimSpaces``, ``RemoveHostnameSpaces``, ``RemoveBracketsAndEncodeSpaces``,
    ``ToLowerCase``); the others replace it with ``replace_with`` (a .NET replacement string)."""

    name: str
    regex: FastRegex
    replace_with: str
    dynamic: bool
    entity_types: frozenset[str]
    disabled: bool = False
    description: str = field(default="", compare=False)
    template: _Template = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.dynamic and self.replace_with not in _DYNAMIC:
            raise ResourceSetConfigError(f"normalization rule {self.name!r}: dynamic replacement "
                                         f"{self.replace_with!r} is not one of {list(_DYNAMIC)}")
        object.__setattr__(self, "template", _Template.parse(self.replace_with, self.regex.compiled))

    def apply(self, qualified_name: str) -> str:
        if not self.regex.admits(qualified_name):
            return qualified_name
        if self.dynamic:
            return self.regex.sub(lambda m: _dynamic(self.replace_with, m.group(0)), qualified_name)
        return self.regex.sub(self.template.expand, qualified_name)


@dataclass(frozen=True, slots=True)
class PathFilter:
    """An ``acceptedPatterns``/``rejectedPatterns`` entry. (unverified) ``Pattern`` is a glob (``*`` any text,
    ``?`` one character) over the whole container-first path, ``Regex`` a regex searched in it; when
    ``acceptedPatterns`` is not empty only the paths it matches are grouped."""

    name: str
    path: str
    kind: str = "Pattern"
    compiled: _Pattern = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in ("Pattern", "Regex"):
            raise ResourceSetConfigError(f"filter {self.name!r}: filterType {self.kind!r} is not Pattern or Regex")
        source = fnmatch.translate(self.path) if self.kind == "Pattern" else self.path
        object.__setattr__(self, "compiled", FastRegex(source).compiled)

    def matches(self, path: str) -> bool:
        return self.compiled.search(path, timeout=REGEX_TIMEOUT_SECONDS) is not None


@dataclass(frozen=True, slots=True)
class ScopedRuleSet:
    """A ``scopedRules`` entry (Advanced resource sets' pattern rules for one storage scope). Kept for ``summary``
    and ``differences`` only: they are bound to an account URL and :meth:`ResourceSetRules.group` sees no host, so
    they are not applied; an account that has them names some resource sets otherwise."""

    binding_url: str
    store_type: str
    rules: tuple[str, ...]  # their qualifiedName patterns


# ------------------------------------------------------------------------------------------------ the 2022 default
# The project's own table of the default configuration, built from the shared parts of its regexes
# (tests/test_resource_sets.py holds it equal to the 2022 document Purview returned, replacer by replacer).

_DATE = r"(20)[1-9][0-9]([-\._@]?)(0[1-9]|1[012])([-\._@]?)(0[1-9]|[12][0-9]|3[01])"
_HOUR = r"(2[0-3]|[01]?[0-9])"
_VERSION = r"[v](\d+)[\.](\d+)[\.]?(\d+)?"
_BETWEEN = r"(?<=[-\.=_@]|^)", r"(?=[-\.=_@]|$)"
_BETWEEN_NO_EQ = r"(?<=[-\._@]|^)", r"(?=[-\._@]|$)"
_LOCALES = ("ar-eg ar-sa cy-gb da-dk de-at de-ch de-de en-au en-ca en-gb en-ie en-in en-my en-nz en-ph en-sg en-us "
            "en-ww en-xa en-za es-ar es-cl es-es es-mx es-us es-xl fi-fi fr-be fr-ca fr-ch fr-fr gu-in hi-in id-id "
            "it-it ja-jp nb-no nl-nl nl-be pt-br pt-pt pl-pl ru-ru sv-se ta-in te-in zh-cn zh-hk zh-tw ko-kr tr-tr")
_LOCALE = "|".join(code.replace("-", "[-_]") for code in _LOCALES.split(" "))


def _fr(pattern: str, options: int, **limits: int) -> FastRegex:
    return FastRegex(pattern, options, tuple(sorted(limits.items())), trusted=True)


def _default_regex_replacers() -> tuple[RegexReplacer, ...]:
    dates = r"{Year}$2{Month}$4{Day}$6"
    return (
        RegexReplacer("Guid", _fr(r"([0-9A-F]{32}|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})", 9,
                                  minHex=32), "{GUID}"),
        RegexReplacer("Number", _fr(r"^\d+$", 8, minDigits=1), "{N}", final=True),
        RegexReplacer("yyyy-mm-ddThh-MM-ss",
                      _fr(_DATE + r"([T])" + _HOUR + r"([-\._@]?)([0-5][0-9])([-\._@]?)([0-5][0-9])(Z)?", 8,
                          minDigits=14, minLetters=1), dates + "{Hour}$8{Minute}$10{Second}$12"),
        RegexReplacer("yyyy-mm-ddThh", _fr(_DATE + r"([T])" + _HOUR + r"(Z)?", 8, minDigits=10, minLetters=1),
                      dates + "{Hour}$8"),
        RegexReplacer("yyyy-mm-ddZ", _fr(_DATE + r"(Z)", 8, minDigits=8, minLetters=1), dates),
        RegexReplacer("yyyy-mm-dd-hhZ", _fr(_DATE + r"([-\._@]?)" + _HOUR + r"(Z)", 8, minDigits=10, minLetters=1),
                      dates + "{Hour}$8"),
        RegexReplacer("yyyy-mm-dd", _fr(r"([-\.=_@]|^)(20)[1-9][0-9]([-\._@])(0[1-9]|1[012])([-\._@])"
                                        r"(0[1-9]|[12][0-9]|3[01])([-\.=_@]|$)", 8, minDigits=8),
                      "$1{Year}$3{Month}$5{Day}$7"),
        RegexReplacer("NumberBetweenDelimiter", _fr(_BETWEEN[0] + r"([\d]+)" + _BETWEEN[1], 8, minDigits=1), "{N}",
                      do_not_replace=_fr(_BETWEEN[0] + _VERSION + _BETWEEN[1], 9, minDigits=1, minLetters=1)),
        RegexReplacer("4ByteHex", _fr(_BETWEEN_NO_EQ[0] + r"([0-9A-F]{8,16})" + _BETWEEN_NO_EQ[1], 9, minHex=8),
                      "{HEX}", do_not_replace=_fr(r"([-\._@]|^)" + _VERSION + r"([-\._@]|$)", 9, minLetters=3)),
        RegexReplacer("NumberInFile", _fr(r"(\d+)", 8, minDigits=1), "{N}", file_name_only=True,
                      do_not_replace=_fr(r"(" + _BETWEEN_NO_EQ[0] + _VERSION + _BETWEEN_NO_EQ[1]
                                         + r"|((?<=[Bb])2(?=[Bb])))", 9, minDigits=1, minLetters=1)),
        RegexReplacer("Localization", _fr(_BETWEEN_NO_EQ[0] + "(" + _LOCALE + ")" + _BETWEEN_NO_EQ[1], 9,
                                          maxLetters=4, minLetters=4), "{LOC}"),
    )


# Entity types of the default normalization rules, by family.
_BLOB = ("azure_storage_account", "azure_blob_service", "azure_blob_container", "azure_blob_path")
_SQL = ("azure_sql_server", "azure_sql_db", "azure_sql_schema", "azure_sql_table", "azure_sql_column")
_GEN1 = ("azure_datalake_gen1_account", "azure_datalake_gen1_path")
_GEN2 = ("azure_datalake_gen2_service", "azure_datalake_gen2_filesystem", "azure_datalake_gen2_path")
_ADF = ("azure_data_factory", "adf_pipeline", "adf_activity_operation",
        *(f"adf_{kind}_{level}" for kind in ("dataflow", "copy", "executeSsisPackage")
          for level in ("activity", "activity_run", "operation")))
_COSMOS = ("azure_cosmosdb_account", "azure_cosmosdb_database", "azure_cosmosdb_sqlapi_collection")
_FILES = ("azure_file_service", "azure_file_share", "azure_file_directory", "azure_file")
_SQL_DW = ("azure_sql_dw", "azure_sql_dw_schema", "azure_sql_dw_table", "azure_sql_dw_column")
_SQL_MI = ("azure_sql_mi", "azure_sql_mi_db", "azure_sql_mi_schema", "azure_sql_mi_table", "azure_sql_mi_column")
_OTHER = ("azure_cognitive_search_service", "azure_cognitive_search_index", "azure_data_explorer_cluster",
          "azure_data_explorer_database", "azure_data_explorer_table", "azure_data_explorer_column")
_SHARE = ("ads_account", "ads_share", "ads_share_subscription", "ads_org_dataset", "ads_sent_snapshot")
_S3 = ("aws_s3_v2_bucket", "aws_s3_v2_directory", "aws_s3_v2_object")
_HOSTED = frozenset(_BLOB + _SQL + _GEN1 + _GEN2 + _COSMOS + _FILES + _SQL_DW + _SQL_MI + _OTHER + _S3)


def _default_normalization_rules() -> tuple[NormalizationRule, ...]:
    every = _HOSTED | set(_ADF) | set(_SHARE)
    files = frozenset({"azure_blob_path", "azure_datalake_gen1_path", "azure_datalake_gen2_path", "azure_file",
                       "aws_s3_v2_object"})
    host = r"(://|urn:)"
    rows: list[tuple[str, str, str, int, str, bool, frozenset[str]]] = [
        ("Trim Section Spaces", "trim the spaces around every part of the name",
         r"(^\s+)|(\s+[/:.]\s+)|([/:.]\s+)|(\s+[/:.])|(\s+$)", 1, "TrimSpaces", True, frozenset(every)),
        ("Remove Hostname Spaces", "remove the spaces of the host name", host + r".*?\s*.*?(:|/)", 1,
         "RemoveHostnameSpaces", True, _HOSTED | set(_SHARE)),
        ("Remove Square Brackets", "[a b] becomes a%20b", r"\[[^/]*?\]", 3, "RemoveBracketsAndEncodeSpaces", True,
         frozenset(_SQL[1:] + _SQL_DW + _SQL_MI)),
        ("Lowercase File Extension", "a final extension of 2-5 characters in lower case", r"\.[^\.]{2,5}$", 3,
         "ToLowerCase", True, files),
        ("Lowercase hostname", "the host name in lower case", host + r".*?(:|/)", 3, "ToLowerCase", True, _HOSTED),
        ("Lowercase scheme", "the scheme in lower case", r"^[^:]+:", 2, "ToLowerCase", True, _HOSTED),
        ("Remove double slash", "// not after a colon becomes /", r"(?<=[^:])/{2,}", 1, "/", False, frozenset(every)),
        ("Lower case ADF Data", "subscription, resource group, provider, factory, pipeline and activity in lower case",
         "|".join(f"((?<=/{part}/)[^/]+)" for part in ("subscriptions", "resourceGroups", "providers", "factories",
                                                        "pipelines", "activities")), 1, "ToLowerCase", True,
         frozenset(_ADF)),
        ("Convert ADLSGen1 to adl scheme", "http(s):// of ADLS Gen1 becomes adl://", r"http(s)*://", 4, "adl://", False,
         frozenset(_GEN1)),
    ]
    return tuple(NormalizationRule(name, _fr(pattern, 8, minLetters=letters), replace, dynamic, types,
                                   description=description)
                 for name, description, pattern, letters, replace, dynamic, types in rows)


def _default_complex_replacers() -> tuple[ComplexReplacer, ...]:
    return (ComplexReplacer("SparkPath", SPARK_PATH_TYPE), ComplexReplacer("Date(yyyy/mm/dd)InPath", DATE_PATH_TYPE))


# ------------------------------------------------------------------------------------------------ ResourceSetRules


@dataclass(frozen=True)
class ResourceSetRules:
    """An account's resource-set rules (``pathPatternConfig``): how it groups files, and how it normalizes names.

    Regexes are compiled once per object; :meth:`group` keeps the result of each distinct segment (the folders of a
    run's files repeat), so a run's thousands of files cost one pass over their distinct names.
    """

    regex_replacers: tuple[RegexReplacer, ...]
    complex_replacers: tuple[ComplexReplacer, ...] = ()
    normalization_rules: tuple[NormalizationRule, ...] = ()
    enabled: bool = True
    accepted_patterns: tuple[PathFilter, ...] = ()
    rejected_patterns: tuple[PathFilter, ...] = ()
    scoped_rules: tuple[ScopedRuleSet, ...] = ()
    never_grouped: frozenset[str] = NEVER_GROUPED_EXTENSIONS
    # Results already worked out: a run's files are named again by every retry, replay and reconcile pass of it, and
    # a pipeline that reads fixed files by every run; a ForEach's folders repeat in every iteration.
    _paths: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    _segments: dict[tuple[str, bool], str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _assets: dict[tuple[str, str], Asset] = field(default_factory=dict, init=False, repr=False, compare=False)
    # The replacers that may run on a file name, and on a folder name: sorted out once, not per segment.
    _for_files: tuple[RegexReplacer, ...] = field(default=(), init=False, repr=False, compare=False)
    _for_folders: tuple[RegexReplacer, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        active = tuple(r for r in self.regex_replacers if not r.disabled)
        object.__setattr__(self, "_for_files", active)
        object.__setattr__(self, "_for_folders", tuple(r for r in active if not r.file_name_only))

    @classmethod
    def default(cls) -> ResourceSetRules:
        """The built-in rules: equal to Purview's 2022 default configuration."""
        return _DEFAULT

    @classmethod
    def from_config(cls, doc: Mapping[str, Any]) -> ResourceSetRules:
        """Read the ``resourceSetRuleConfigs`` API response (``{"name", "pathPatternConfig": {...}}``).

        Metadata (createdBy, timestamps...) is ignored; anything that changes what the rules do must be of the
        right shape and something this module can apply, else ResourceSetConfigError names the field."""
        return _parse(doc)

    @classmethod
    def load(cls, path: Path) -> ResourceSetRules:
        """Read a JSON file holding that response."""
        try:
            if path.stat().st_size > MAX_CONFIG_BYTES:
                raise ResourceSetConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResourceSetConfigError(f"{path}: cannot read a resource-set rule config ({exc})") from exc
        try:
            return cls.from_config(doc)
        except ResourceSetConfigError as exc:
            raise ResourceSetConfigError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------------------------------ grouping

    def group(self, path: str) -> str | None:
        """The resource-set path of a file, or None where the file is not part of a resource set.

        ``path`` is what follows the account host in the file's qualifiedName, container first (braces of literal
        names already encoded %7B/%7D; raw ones are encoded here). The result holds raw tokens:
        ``bing/data/2/QueriesByState_2021-01-12_10-30-00.tsv`` ->
        ``bing/data/{N}/QueriesByState_{Year}-{Month}-{Day}_{N}-{N}-{N}.tsv``. None: no replacer applies, the file
        is of a type scanners never group (Office, PDF) or matches a rejected pattern, the config turns grouping
        off, or the path is longer than any store allows. The container (the first segment) is never rewritten.
        """
        if not self.enabled or len(path) > MAX_PATH_CHARS:
            return None
        try:
            return self._paths[path]  # not `in` then `[]`: another thread may clear the cache in between
        except KeyError:
            pass
        grouped = self._group(path)
        if len(self._paths) >= _CACHE_LIMIT:
            self._paths.clear()
        self._paths[path] = grouped
        return grouped

    def resource_set(self, file: Asset) -> Asset:
        """The resource set a file belongs to under these rules, else the file (``naming.resource_set``),
        remembered per file like the paths."""
        key = (file.type_name, file.qualified_name)  # what names a file (text hashes are kept: no __hash__ call)
        try:
            return self._assets[key]
        except KeyError:
            pass
        found = naming.resource_set(file, self.group)
        if len(self._assets) >= _CACHE_LIMIT:
            self._assets.clear()
        self._assets[key] = found
        return found

    def _group(self, path: str) -> str | None:
        segments = [s for s in path.split("/") if s]
        if "{" in path or "}" in path:
            segments = [s.replace("{", "%7B").replace("}", "%7D") for s in segments]
        if not 2 <= len(segments) <= MAX_SEGMENTS or _extension(segments[-1]) in self.never_grouped:
            return None
        joined = "/".join(segments)
        try:
            if (self.rejected_patterns and any(f.matches(joined) for f in self.rejected_patterns)) or (
                    self.accepted_patterns and not any(f.matches(joined) for f in self.accepted_patterns)):
                return None
            grouped = "/".join(self._grouped(segments))
        except TimeoutError:  # a configured regex too slow for this name: do not guess
            return None
        return None if grouped == joined else grouped

    def _grouped(self, segments: list[str]) -> list[str]:
        done = [False] * len(segments)
        done[0] = True  # the container
        for replacer in self.complex_replacers:
            if not replacer.disabled:
                replacer.apply(segments, done)
        last = len(segments) - 1
        return [seg if done[i] else self._segment(seg, i == last) for i, seg in enumerate(segments)]

    def _segment(self, text: str, is_file: bool) -> str:
        key = (text, is_file)
        cached = self._segments.get(key)
        if cached is not None:
            return cached
        result = _Text.of(text)
        for replacer in self._for_files if is_file else self._for_folders:
            replaced_text, replaced = replacer.apply_to(result)
            if replaced:
                if replacer.final:
                    result = result._replace(value=replaced_text)
                    break
                result = _Text.of(replaced_text)
        value = result.value
        if len(self._segments) >= _CACHE_LIMIT:
            self._segments.clear()
        self._segments[key] = value
        return value

    # ------------------------------------------------------------------------------------------ normalization

    def normalize(self, type_name: str, qualified_name: str) -> str:
        """``qualified_name`` after the normalization rules whose entity types include ``type_name``, in order.

        What Purview matches names by. Stored names can differ: the real lineage responses keep the ARM case of
        ``adf_*`` qualifiedNames (``.../providers/Microsoft.DataFactory/factories/...``) although "Lower case ADF
        Data" lower-cases them, so for those types this is a key to compare by, not a name to write. A rule whose
        regex takes longer than REGEX_TIMEOUT_SECONDS raises ResourceSetConfigError (the config's regex is at
        fault, not the name)."""
        text = qualified_name
        for rule in self.normalization_rules:
            if rule.disabled or type_name not in rule.entity_types:
                continue
            try:
                text = rule.apply(text)
            except TimeoutError as exc:
                raise ResourceSetConfigError(f"normalization rule {rule.name!r} took longer than "
                                             f"{REGEX_TIMEOUT_SECONDS}s on a name of {len(text)} characters") from exc
        return text

    # ------------------------------------------------------------------------------------------ comparing

    def summary(self) -> dict[str, Any]:
        """A small digest to compare two configurations by: names and regexes, and a fingerprint of everything."""
        def label(name: str, disabled: bool) -> str:
            return f"{name} (disabled)" if disabled else name

        return {
            "enabled": self.enabled,
            "regexReplacers": [[label(r.name, r.disabled), r.regex.pattern] for r in self.regex_replacers],
            "complexReplacers": [label(c.name, c.disabled) for c in self.complex_replacers],
            "normalizationRules": [label(n.name, n.disabled) for n in self.normalization_rules],
            "acceptedPatterns": [f.path for f in self.accepted_patterns],
            "rejectedPatterns": [f.path for f in self.rejected_patterns],
            "scopedRules": sum(len(s.rules) for s in self.scoped_rules),
            "fingerprint": hashlib.sha256(json.dumps(self._canonical(), sort_keys=True).encode()).hexdigest()[:16],
        }

    def differences(self, other: ResourceSetRules) -> list[str]:
        """What ``other`` (e.g. the live config) does otherwise than these rules, one line each; [] when nothing."""
        lines: list[str] = []
        if self.enabled != other.enabled:
            lines.append(f"resource sets are {_on(self.enabled)} here and {_on(other.enabled)} in the other")
        ours, theirs = self._canonical(), other._canonical()
        for key, kind in (("regexReplacers", "regex replacer"), ("complexReplacers", "complex replacer"),
                          ("normalizationRules", "normalization rule")):
            lines += _compare_named(kind, ours[key], theirs[key])
        for key in ("acceptedPatterns", "rejectedPatterns", "scopedRules", "neverGrouped"):
            if ours[key] != theirs[key]:
                lines.append(f"{key}: {ours[key]} here, {theirs[key]} in the other")
        return lines

    def _canonical(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "regexReplacers": [(r.name, {
                "regex": r.regex.document(), "replaceWith": r.replace_with,
                "doNotReplaceRegex": r.do_not_replace.document() if r.do_not_replace else None,
                "condition": APPLY_TO_FILE_NAME if r.file_name_only else None,
                "disableRecursiveReplacerApplication": r.final, "disabled": r.disabled}) for r in self.regex_replacers],
            "complexReplacers": [(c.name, {"typeName": c.type_name, "disableRecursiveReplacerApplication": c.final,
                                           "disabled": c.disabled}) for c in self.complex_replacers],
            "normalizationRules": [(n.name, {
                "regex": n.regex.document(), "replaceWith": n.replace_with, "dynamicReplacement": n.dynamic,
                "entityTypes": sorted(n.entity_types), "disabled": n.disabled}) for n in self.normalization_rules],
            "acceptedPatterns": sorted((f.kind, f.path) for f in self.accepted_patterns),
            "rejectedPatterns": sorted((f.kind, f.path) for f in self.rejected_patterns),
            "scopedRules": sorted((s.binding_url, s.store_type, list(s.rules)) for s in self.scoped_rules),
            "neverGrouped": sorted(self.never_grouped),
        }


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _unique(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Items by name, a repeated name numbered (``Number #2``) so that no entry hides another."""
    seen: dict[str, int] = {}
    named: list[tuple[str, dict[str, Any]]] = []
    for name, fields in items:
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name} #{seen[name]}", fields))
    return named


def _compare_named(kind: str, ours: list[tuple[str, dict[str, Any]]],
                   theirs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines: list[str] = []
    ours, theirs = _unique(ours), _unique(theirs)
    mine, other = dict(ours), dict(theirs)
    lines += [f"{kind} {name!r} only here" for name in mine if name not in other]
    lines += [f"{kind} {name!r} only in the other" for name in other if name not in mine]
    common_here = [name for name, _ in ours if name in other]
    common_there = [name for name, _ in theirs if name in mine]
    if common_here != common_there:
        lines.append(f"{kind}s run in another order: {common_here} here, {common_there} in the other")
    for name in common_here:
        for key in mine[name]:
            a, b = mine[name][key], other[name].get(key)
            if a == b:
                continue
            if key == "entityTypes" and isinstance(a, list) and isinstance(b, list):
                added, removed = sorted(set(b) - set(a)), sorted(set(a) - set(b))
                lines.append(f"{kind} {name!r}: the other adds entity types {added} and drops {removed}")
            else:
                lines.append(f"{kind} {name!r}: {key} {a!r} here, {b!r} in the other")
    return lines


def _extension(file_name: str) -> str:
    stem, dot, ext = file_name.rpartition(".")
    return ext.lower() if dot and stem else ""


# ------------------------------------------------------------------------------------------------ reading a config


def _parse(doc: Mapping[str, Any]) -> ResourceSetRules:
    if not isinstance(doc, Mapping):
        raise ResourceSetConfigError("a resource-set rule config is a JSON object")
    config = doc.get("pathPatternConfig")
    where = "pathPatternConfig"
    if not isinstance(config, Mapping):
        raise ResourceSetConfigError(f"{where} is missing or not an object")
    return ResourceSetRules(
        regex_replacers=tuple(_regex_replacer(item, at) for item, at in _items(config, "regexReplacers", where)),
        complex_replacers=tuple(_complex_replacer(item, at) for item, at in _items(config, "complexReplacers", where)),
        normalization_rules=tuple(_normalization_rule(item, at)
                                  for item, at in _items(config, "normalizationRules", where)),
        enabled=_bool(config, "enableDefaultPatterns", where, default=True),
        accepted_patterns=tuple(_filter(item, at) for item, at in _items(config, "acceptedPatterns", where)),
        rejected_patterns=tuple(_filter(item, at) for item, at in _items(config, "rejectedPatterns", where)),
        scoped_rules=tuple(_scoped(item, at) for item, at in _items(config, "scopedRules", where)),
    )


def _items(obj: Mapping[str, Any], key: str, where: str) -> list[tuple[Mapping[str, Any], str]]:
    value = obj.get(key, [])
    if value is None:
        value = []
    if not isinstance(value, list):
        raise ResourceSetConfigError(f"{where}.{key} must be a list")
    if len(value) > MAX_ITEMS:
        raise ResourceSetConfigError(f"{where}.{key} has {len(value)} entries (at most {MAX_ITEMS})")
    found: list[tuple[Mapping[str, Any], str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ResourceSetConfigError(f"{where}.{key}[{i}] must be an object")
        found.append((item, f"{where}.{key}[{i}]"))
    return found


def _str(obj: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ResourceSetConfigError(f"{where}.{key} must be a string")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ResourceSetConfigError(f"{where}.{key} must be true or false")
    return value


def _fast_regex(obj: Mapping[str, Any], key: str, where: str) -> FastRegex:
    value = obj.get(key)
    at = f"{where}.{key}"
    if not isinstance(value, Mapping):
        raise ResourceSetConfigError(f"{at} must be an object with regexStr")
    limits: list[tuple[str, int]] = []
    for name, limit in value.items():
        if name in ("regexStr", "options"):
            continue
        if name not in _LIMITS:
            raise ResourceSetConfigError(f"{at}.{name} is not a regex limit this module knows ({sorted(_LIMITS)})")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ResourceSetConfigError(f"{at}.{name} must be a whole number >= 0")
        limits.append((name, limit))
    options = value.get("options", 0)
    if not isinstance(options, int) or isinstance(options, bool) or options < 0:
        raise ResourceSetConfigError(f"{at}.options must be a whole number >= 0")
    try:
        return FastRegex(_str(value, "regexStr", at), options, tuple(sorted(limits)))
    except ResourceSetConfigError as exc:
        raise ResourceSetConfigError(f"{at}: {exc}") from exc


def _regex_replacer(item: Mapping[str, Any], where: str) -> RegexReplacer:
    condition = item.get("condition")
    if condition not in (None, "", APPLY_TO_FILE_NAME):
        raise ResourceSetConfigError(f"{where}.condition {condition!r} is not one this module knows "
                                     f"({APPLY_TO_FILE_NAME})")
    guard = _fast_regex(item, "doNotReplaceRegex", where) if item.get("doNotReplaceRegex") is not None else None
    return RegexReplacer(
        name=_str(item, "name", where), regex=_fast_regex(item, "regex", where),
        replace_with=_str(item, "replaceWith", where), do_not_replace=guard,
        file_name_only=condition == APPLY_TO_FILE_NAME,
        final=_bool(item, "disableRecursiveReplacerApplication", where, default=False),
        disabled=_bool(item, "disabled", where, default=False))


def _complex_replacer(item: Mapping[str, Any], where: str) -> ComplexReplacer:
    type_name = _str(item, "typeName", where)
    if type_name not in (SPARK_PATH_TYPE, DATE_PATH_TYPE):
        raise ResourceSetConfigError(f"{where}.typeName {type_name!r} is a complex replacer this module cannot "
                                     f"apply (known: {SPARK_PATH_TYPE}, {DATE_PATH_TYPE})")
    return ComplexReplacer(
        name=_str(item, "name", where), type_name=type_name,
        final=_bool(item, "disableRecursiveReplacerApplication", where, default=False),
        disabled=_bool(item, "disabled", where, default=False))


def _normalization_rule(item: Mapping[str, Any], where: str) -> NormalizationRule:
    types = item.get("entityTypes", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or len(types) > MAX_ITEMS:
        raise ResourceSetConfigError(f"{where}.entityTypes must be a list of type names")
    dynamic = _bool(item, "dynamicReplacement", where, default=False)
    replace_with = _str(item, "replaceWith", where)
    if dynamic and replace_with not in _DYNAMIC:
        raise ResourceSetConfigError(f"{where}.replaceWith {replace_with!r} is not a dynamic replacement this "
                                     f"module knows ({list(_DYNAMIC)})")
    return NormalizationRule(
        name=_str(item, "name", where), regex=_fast_regex(item, "regex", where), replace_with=replace_with,
        dynamic=dynamic, entity_types=frozenset(types), disabled=_bool(item, "disabled", where, default=False),
        description=_str(item, "description", where, default=""))


def _filter(item: Mapping[str, Any], where: str) -> PathFilter:
    kind = _str(item, "filterType", where, default="Pattern")
    if kind not in ("Pattern", "Regex"):
        raise ResourceSetConfigError(f"{where}.filterType {kind!r} is not Pattern or Regex")
    try:
        return PathFilter(name=_str(item, "name", where, default=""), path=_str(item, "path", where), kind=kind)
    except ResourceSetConfigError as exc:
        raise ResourceSetConfigError(f"{where}.path: {exc}") from exc


def _scoped(item: Mapping[str, Any], where: str) -> ScopedRuleSet:
    rules = [_str(rule, "qualifiedName", at) for rule, at in _items(item, "rules", where)]
    return ScopedRuleSet(_str(item, "bindingUrl", where), _str(item, "storeType", where), tuple(rules))


_DEFAULT = ResourceSetRules(_default_regex_replacers(), _default_complex_replacers(), _default_normalization_rules())
