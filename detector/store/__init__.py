"""The results store: the only module that speaks SQL.

SQLAlchemy 2 Core over any database URL: a SQLite file by default, PostgreSQL for a team.
It holds runs, agent-day aggregates, model inputs, scores, alerts with reasons, the evidence
of flagged agent-days and rejected rows; never the raw logs (those stay in their files,
referenced by digest in the run manifest).

Every value from a log reaches SQL as a bound parameter. A day's results are written in one
transaction that first removes that day's previous results, so a failed run leaves nothing
half-written and a rerun replaces the day instead of duplicating it.

The package, by concern: tables.py (the schema), migrations.py (bringing a store to it),
base.py (opening a store), runs.py, locks.py, results.py (writing a day), reading.py,
triage.py, console.py (the console's users, sessions and access record); :class:`Store` is
all of them together.
"""

from __future__ import annotations

from detector.store.base import StoreBase
from detector.store.console import ConsoleRecords
from detector.store.errors import StoreError
from detector.store.locks import LOCK_STALE_HOURS, DayLocks, StoreBusy
from detector.store.migrations import REVISIONS, alembic_config, migrate, schema_is_current
from detector.store.reading import ResultReader
from detector.store.results import DayResults, DayWriter
from detector.store.runs import RunRecords
from detector.store.tables import SCHEMA_VERSION, STORED_COUNTS, metadata
from detector.store.triage import Triage

__all__ = [
    "LOCK_STALE_HOURS",
    "REVISIONS",
    "SCHEMA_VERSION",
    "STORED_COUNTS",
    "DayResults",
    "Store",
    "StoreBase",
    "StoreBusy",
    "StoreError",
    "alembic_config",
    "metadata",
    "migrate",
    "schema_is_current",
]


class Store(RunRecords, DayLocks, DayWriter, ResultReader, Triage, ConsoleRecords):
    """A results store at a SQLAlchemy URL (tables created on first use)."""
