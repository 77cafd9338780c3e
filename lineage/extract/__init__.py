"""The pure core: a run record in, lineage and Purview entities out.

No network, no Azure SDK, no HTTP client, and nothing from ``lineage.azure``, ``lineage.service``, ``lineage.cli`` or
``lineage.local`` (``tests/test_layout.py`` walks the imports), so every rule that decides what reaches Purview runs
and is tested on real example data without a service.
"""
