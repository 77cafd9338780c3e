"""Azure Data Factory run lineage for Microsoft Purview.

The package is a pure core (run record -> lineage -> Atlas entities) with thin adapters at its edges.
"""
