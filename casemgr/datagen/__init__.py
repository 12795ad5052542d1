"""Synthetic program history for benchmarks (`flask generate-data`): deterministic, bulk-written.

See casemgr/datagen/history.py for what is written, bulk.py for how (COPY on PostgreSQL,
executemany on SQLite) and trail.py for the hash-chained audit trail.
"""

from casemgr.datagen.history import Counts, generate

__all__ = ["Counts", "generate"]
