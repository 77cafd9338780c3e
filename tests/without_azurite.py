"""A pytest plugin for the mutation runs (``scripts/mutation``): every test that needs Azurite is deselected, so each
mutant is judged by the fast tests alone (the local servers start in milliseconds, Azurite in seconds).

``pytest -p tests.without_azurite ...``; pyproject.toml's ``[tool.mutmut]`` passes it.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = [item for item in items if "azurite" in getattr(item, "fixturenames", ())]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "azurite" not in getattr(item, "fixturenames", ())]
