"""``python -m lineage prune``: remove the lineage a factory's current definitions no longer support.

A dry run unless ``--apply``: it prints each entity that would go and why. With ``--apply`` it soft-deletes them
(Purview keeps them as DELETED) and prints the counts; a deletion Purview refuses is printed with its reason and the
command exits 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from azure.core.credentials import TokenCredential

from lineage.azure.purview import PurviewWriter
from lineage.extract.runrecord import FactoryId
from lineage.service import wiring
from lineage.service.prune import PruneReport, prune_each


def run(credential: TokenCredential, env: Mapping[str, str], factories: Sequence[FactoryId], *,
        apply: bool, allow_empty: bool = False) -> tuple[list[PruneReport], dict[str, str]]:
    """One report per factory that could be pruned, in the order named, and why each other one could not: a
    factory that fails does not hide what was already removed from the ones before it."""
    reader = wiring.build_reader(credential, env)
    writer = PurviewWriter(credential, wiring.purview_endpoint(env))
    options = wiring.lineage_options(env)
    reports, failures = prune_each(reader, writer, factories, options, apply=apply, allow_empty=allow_empty)
    return reports, {factory.resource_id: why for factory, why in failures.items()}


def table(reports: Sequence[PruneReport]) -> str:
    """For people: per factory, each entity with what happened to it and why, then the counts."""
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.factory}:")
        failed = {s.guid: reason for s, reason in report.failed}
        for item in report.stale:
            outcome = ("FAILED" if item.guid in failed else "removed") if report.applied else "would remove"
            lines.append(f"  {outcome:12} {item.type_name:28} {item.qualified_name}")
            lines.append(f"  {'':12} because {item.reason}")
            if item.guid in failed:
                lines.append(f"  {'':12} not removed: {failed[item.guid]}")
        counts = ", ".join(f"{n} {t}" for t, n in sorted(report.counts().items())) or "nothing"
        if report.applied:
            lines.append(f"  removed: {counts}; failed: {len(report.failed)}")
        else:
            lines.append(f"  would remove: {counts} (dry run: nothing was removed; --apply removes them)")
    return "\n".join(lines) + "\n"
