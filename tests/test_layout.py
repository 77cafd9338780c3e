"""The folders show the architecture: the pure core imports no network or Azure library and nothing above it.

Each package may import only the packages below it (``extract`` < ``azure`` < ``service`` < ``cli``; ``local`` stands
beside them and may use all but ``cli``). Walking every module's imports keeps that true as the code grows.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lineage"

# What the pure core may import beyond the standard library: parsers that do no I/O.
CORE_THIRD_PARTY = {"defusedxml", "regex", "sqlglot"}
# The layers, each allowed to import the ones listed.
ALLOWED = {
    "extract": {"extract"},
    "azure": {"extract", "azure"},
    "service": {"extract", "azure", "service"},
    "cli": {"extract", "azure", "service", "cli"},
    "local": {"extract", "azure", "service", "local"},
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the project imports absolutely)"
            if node.module == "lineage" or (node.module or "").startswith("lineage."):
                # "from lineage.extract import stores" names a submodule: count the package path.
                found.add(node.module or "")
            elif node.module:
                found.add(node.module)
    return found


def layer_of(module_or_path: str) -> str | None:
    parts = module_or_path.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "lineage" else None


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_the_package_top_level_holds_little_but_the_entry_points() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")} == set(ALLOWED)


@pytest.mark.parametrize("path", modules_of("extract"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_only_the_standard_library_its_parsers_and_itself(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top == "lineage":
            assert layer_of(module) == "extract", f"{path.name} imports {module}: the core imports only the core"
        else:
            assert top in sys.stdlib_module_names or top in CORE_THIRD_PARTY, (
                f"{path.name} imports {module}: the core needs no network, Azure SDK or HTTP client")
            assert module not in {"urllib.request", "http.client", "socket", "ssl"}, f"{path.name} imports {module}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(layer: str) -> None:
    for path in modules_of(layer):
        for module in imported_modules(path):
            other = layer_of(module)
            if module.startswith("lineage") and other is not None:
                assert other in ALLOWED[layer], f"{path.relative_to(PACKAGE)} imports {module}"


def test_the_layer_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The walk itself can fail: a function-level import of the writer in a core-shaped file is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from lineage.azure.purview import PurviewWriter\n    import requests\n")
    modules = imported_modules(bad)
    assert "lineage.azure.purview" in modules
    assert "requests" in modules
    assert layer_of("lineage.azure.purview") not in ALLOWED["extract"]


def test_the_version_the_command_line_prints_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    from lineage import __version__
    from lineage.cli.main import main

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert __version__ == declared
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"python -m lineage {declared}"
