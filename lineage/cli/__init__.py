"""Operator commands (``python -m lineage``): explain, poison, push, backfill, wrap, doctor.

The top layer: it may import every other package except ``lineage.local``; the local stack passes its credential in.
"""
