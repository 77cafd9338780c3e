"""What the core finds in a run: per activity run, the data it moved (flows) or why it found none.

These plain values sit between extraction (which knows Data Factory) and entity building (which knows Purview), so
each side can change without the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lineage.extract.stores import Asset

MAX_SOURCE_SINK_PAIRS = 10_000  # (source, sink) pairs one activity's lineage may hold: a data flow's, a package's
LONG_LIMIT = 2**63  # Purview's long attributes (rowCount, dataSize, lastRunTime) hold values below this


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Column pairs from one input (its qualifiedName, or ``*`` for several) into one output."""

    source: str
    sink: str
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Flow:
    """Data that one activity run moved into one sink asset, and where it came from."""

    sink: Asset
    sources: tuple[Asset, ...]
    column_maps: tuple[ColumnMap, ...] = ()


@dataclass(slots=True)
class ActivityResult:
    """One activity run's lineage, or the reason it has none. ``notes`` explain partial results too."""

    run: Mapping[str, Any]
    purview_kind: str | None = None  # copy / dataflow / executeSsisPackage, or None for other activity types
    flows: list[Flow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False
    rows: int | None = None
    bytes: int | None = None

    def skip(self, reason: str) -> ActivityResult:
        self.skipped = True
        self.flows.clear()
        self.notes.append(reason)
        return self


class Skip(Exception):  # noqa: N818 - a control-flow signal, not an error condition
    """Raised inside an activity handler: the activity run yields no lineage, for this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
