"""Azure Data Factory run lineage for Microsoft Purview.

The package is a pure core (run record -> lineage -> Atlas entities) with thin adapters at its edges.
"""

__version__ = "0.1.0"  # pyproject.toml says the same (tests/test_layout.py checks)
