"""Shared fixtures: where the public contracts live, and how a test that needs them skips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from lineage.local.tls import make_local_tls

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


@pytest.fixture(scope="session")
def azurite() -> Iterator[Any]:
    """One Azurite for the whole test session (it takes seconds to start); tests use their own queues."""
    from lineage.local.azurite import Azurite

    with Azurite() as running:
        yield running


def load_adf_example(shared: Path, name: str) -> Any:
    """The 200 response body of one Data Factory REST example, e.g. ``Pipelines_Get``."""
    data = json.loads((shared / "contracts" / "adf" / "examples" / f"{name}.json").read_text())
    return data["responses"]["200"]["body"]


def use_local_stack_settings(stack: Any, monkeypatch: pytest.MonkeyPatch, factories: list[str]) -> None:
    """The app settings ``python -m lineage`` reads, pointing at a local stack (its own ``cli_settings``), and
    none of an identity-based storage account the environment may hold."""
    for key, value in stack.cli_settings(factories).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local CA and server certificate for a module's own local servers, trusted by every client it makes
    (REQUESTS_CA_BUNDLE) for as long as the module runs."""
    made = make_local_tls(Path(tmp_path_factory.mktemp("tls")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(made.ca_bundle))
        yield made
