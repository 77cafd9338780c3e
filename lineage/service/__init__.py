"""What the Function App's three triggers call: event intake, the worker, poison envelopes, reconcile, the wiring.

``wiring`` is the one module that reads app settings and builds the objects below it; the rest may import
``lineage.extract`` and ``lineage.azure``, never ``lineage.cli`` or ``lineage.local``.
"""
