"""Shared fixtures: where the public contracts live, and how a test that needs them skips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "samples"

# This machine stalls now and then; a per-example deadline would turn a stall into a false failure.
settings.register_profile("project", deadline=None)
settings.load_profile("project")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The public API contracts (Purview spec, Atlas base types, Data Factory examples), kept outside the project."""
    if not (SHARED / "contracts").is_dir():
        pytest.skip(f"public contracts not found at {SHARED}/contracts (CI provides them beside the project)")
    return SHARED


def load_adf_example(shared: Path, name: str) -> Any:
    """The 200 response body of one Data Factory REST example, e.g. ``Pipelines_Get``."""
    data = json.loads((shared / "contracts" / "adf" / "examples" / f"{name}.json").read_text())
    return data["responses"]["200"]["body"]
