"""Synthetic program history for benchmarks (`flask generate-data`): deterministic, bulk-written.

See casemgr/datagen/history.py for what is written, bulk.py for how (COPY on PostgreSQL,
executemany on SQLite) and trail.py for the hash-chained audit trail.
"""

from casemgr.datagen.history import AUDIT_DAYS, SHOWCASE_MRN, SHOWCASE_SESSIONS, Counts, generate

__all__ = ["AUDIT_DAYS", "SHOWCASE_MRN", "SHOWCASE_SESSIONS", "Counts", "generate"]
