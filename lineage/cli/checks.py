"""One finding of ``doctor``: what was checked, whether it holds, and if not, what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """Only a true failure is ``ok=False``: what could not be known from here is ok, and its detail says why."""

    area: str
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        text = f"[{'ok' if self.ok else 'FIX'}] {self.area}: {self.name}" + (f" - {self.detail}" if self.detail else "")
        return text + (f"\n      fix: {self.fix}" if self.fix and not self.ok else "")

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}
