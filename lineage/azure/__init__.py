"""The edges that talk to services: the Data Factory reader, the Purview writer, the storage queues, HTTP sessions.

They only translate between the services' wire formats and the core's types; they may import ``lineage.extract``,
never ``lineage.service``, ``lineage.cli`` or ``lineage.local``.
"""
