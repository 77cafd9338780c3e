"""One prune pass over one factory: read its definitions and what Purview holds under it, decide (pure core),
and remove, or only say what would go.

Every stale entity ends in one place: listed (a dry run), removed, or failed with Purview's reason. A deletion
Purview refuses (no Data Curator role on the entity's collection, say) does not stop the others; the report carries
it and the command exits non-zero. A failure to read either side stops the pass before anything is deleted: a
factory read wrongly must never look like a factory emptied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lineage.azure import catalog
from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.extract.config import LineageOptions
from lineage.extract.entities import PIPELINE_TYPE
from lineage.extract.prune import PRUNABLE_TYPES, Stale, current_definitions, stale_entities
from lineage.extract.runrecord import FactoryId, RunRecordError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PruneReport:
    """What one pass found and did for one factory."""

    factory: str
    applied: bool
    stale: list[Stale] = field(default_factory=list)
    removed: list[Stale] = field(default_factory=list)
    failed: list[tuple[Stale, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Removed (or, in a dry run, to remove) and failed, per type."""
        done = self.removed if self.applied else self.stale
        counts: dict[str, int] = {}
        for item in done:
            counts[item.type_name] = counts.get(item.type_name, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        failed = {s.guid: reason for s, reason in self.failed}
        removed = {s.guid for s in self.removed}
        return {
            "factory": self.factory, "applied": self.applied, "counts": self.counts(), "failed": len(self.failed),
            "entities": [{"guid": s.guid, "typeName": s.type_name, "qualifiedName": s.qualified_name,
                          "reason": s.reason,
                          "outcome": ("removed" if s.guid in removed else "failed" if s.guid in failed
                                      else "would be removed"),
                          **({"error": failed[s.guid]} if s.guid in failed else {})} for s in self.stale],
        }


class PruneError(RuntimeError):
    """Some factories could not be pruned, or some deletions were refused; the rest was done."""


def prune_factory(reader: DataFactoryReader, writer: PurviewWriter, factory: FactoryId, options: LineageOptions,
                  *, apply: bool, allow_empty: bool = False) -> PruneReport:
    """Compare, then (with ``apply``) soft-delete the stale entities, children before parents. A factory that lists
    no pipeline while Purview holds some of its lineage is not emptied without ``allow_empty``."""
    now = current_definitions(reader.factory_definitions(factory), options)
    held = catalog.held_under(writer, f"{now.factory.resource_id}/pipelines/", PRUNABLE_TYPES)
    report = PruneReport(now.factory.resource_id, apply, stale_entities(held, now))
    if apply and not allow_empty and not now.pipelines and any(h.type_name == PIPELINE_TYPE for h in held):
        # Data Factory answers a missing right with 403 and a missing factory with 404, never with an empty list;
        # all the same, a read that looks like a factory emptied removes nothing without a person's say.
        raise PruneError(f"{factory.factory_name}: Data Factory lists no pipeline, and Purview holds lineage of "
                         f"{sum(h.type_name == PIPELINE_TYPE for h in held)} pipeline(s) under it; check the "
                         "factory; if it really has no pipeline left, prune it with --allow-empty")
    if not apply:
        return report
    for item in report.stale:
        try:
            catalog.delete(writer, item.guid)
        except PurviewError as exc:
            report.failed.append((item, str(exc)))
            log.warning("prune %s: %s %s not removed: %s", factory.factory_name, item.type_name, item.qualified_name,
                        exc)
        else:
            report.removed.append(item)
    log.info("prune %s: %d removed, %d failed, of %d stale", factory.factory_name, len(report.removed),
             len(report.failed), len(report.stale))
    return report


def prune_each(reader: DataFactoryReader, writer: PurviewWriter, factories: Sequence[FactoryId],
               options: LineageOptions, *, apply: bool,
               allow_empty: bool = False) -> tuple[list[PruneReport], dict[FactoryId, str]]:
    """One report per factory that could be pruned, in order, and why each other one could not: a factory that
    fails does not stop the others, nor hide what was already removed from the ones before it."""
    reports: list[PruneReport] = []
    failures: dict[FactoryId, str] = {}
    for factory in factories:
        try:
            reports.append(prune_factory(reader, writer, factory, options, apply=apply, allow_empty=allow_empty))
        except (DataFactoryError, PurviewError, RunRecordError, PruneError) as exc:
            failures[factory] = str(exc)
    return reports, failures


def prune_factories(reader: DataFactoryReader, writer: PurviewWriter, factories: Sequence[FactoryId],
                    options: LineageOptions, *, apply: bool, shown: int = 20) -> list[PruneReport]:
    """The timer's pass: every factory, each logged; a factory that cannot be read or a refused deletion fails
    the pass at its end (the others are done), so it shows in the host's logs and alerts."""
    reports, failed = prune_each(reader, writer, factories, options, apply=apply)
    failures = {factory.factory_name: why for factory, why in failed.items()}
    for report in reports:
        factory = FactoryId.parse(report.factory)
        verb = "removed" if apply else "would remove"
        for item in report.stale[:shown]:
            log.info("prune %s: %s %s %s: %s", factory.factory_name, verb, item.type_name, item.qualified_name,
                     item.reason)
        if len(report.stale) > shown:
            log.info("prune %s: ... and %d more", factory.factory_name, len(report.stale) - shown)
        log.info("prune %s: %s", factory.factory_name, json.dumps({"applied": apply, "counts": report.counts(),
                                                                     "failed": len(report.failed)}))
        if report.failed:
            failures[factory.factory_name] = f"{len(report.failed)} deletions refused, e.g. {report.failed[0][1]}"
    if failures:
        raise PruneError("; ".join(f"{name}: {why}" for name, why in sorted(failures.items())))
    return reports
