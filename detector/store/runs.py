"""Run records: a run started, how it ended (with its manifest), and the rows it rejected.

Ending a run also releases its day locks (locks.py takes them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select, update

from detector import schema
from detector.store.base import StoreBase
from detector.store.errors import StoreError
from detector.store.rows import inserted_id, now, optional_int
from detector.store.tables import day_locks, rejects, runs

log = logging.getLogger("insiderwatch.store")


class RunRecords(StoreBase):
    """The ``runs`` and ``rejects`` tables."""

    def start_run(self, kind: str, *, config: dict[str, Any], detector_version: str, day_from: str | None, day_to: str | None) -> int:
        """Record a run as running; its id."""
        with self._writing("record a new run in the store"), self.engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    kind=kind,
                    status="running",
                    started_at=now(),
                    day_from=day_from,
                    day_to=day_to,
                    detector_version=detector_version,
                    config=json.dumps(config, sort_keys=True, default=str),
                )
            )
            return inserted_id(result)

    def finish_run(self, run_id: int, *, status: str, manifest: dict[str, Any], message: str | None = None) -> None:
        """Record how a run ended and release its day locks. Recording a failure is best
        effort: when the store cannot take it (a full disk), a warning is logged and the
        caller's own error goes on; the run then shows as running until the next run takes
        its locks over and marks it abandoned."""
        try:
            with self._writing(f"record the end of run {run_id}"), self.engine.begin() as conn:
                conn.execute(delete(day_locks).where(day_locks.c.run_id == run_id))
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(status=status, finished_at=now(), manifest=json.dumps(manifest, sort_keys=True, default=str), message=message))
        except StoreError as exc:
            if status == "complete":
                raise
            log.warning("%s (run %s stays marked running)", exc, run_id)

    def run(self, run_id: int) -> dict[str, Any] | None:
        """The run's record, None when there is no such run."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def runs(self) -> pd.DataFrame:
        """Every run's record, in the order they started."""
        with self.engine.connect() as conn:
            return pd.read_sql(select(runs).order_by(runs.c.run_id), conn)

    def add_rejects(self, run_id: int, frame: pd.DataFrame) -> None:
        """Record the rows a run rejected (source, line, reason, raw)."""
        if frame.empty:
            return
        # the text a reject keeps is escaped where it is made (schema.raw_text); escaping again
        # here changes nothing then, and keeps any text from failing the night's record
        rows = [{"run_id": run_id, "source": _storable(r["source"]), "line": optional_int(r["line"]), "reason": _storable(r["reason"]), "raw": _storable(r["raw"])} for r in frame.to_dict("records")]
        with self._writing(f"record the rejected rows of run {run_id}"), self.engine.begin() as conn:
            conn.execute(insert(rejects), rows)

    def rejects(self, run_id: int) -> pd.DataFrame:
        """The rows the run rejected, in the order it recorded them."""
        with self.engine.connect() as conn:
            return pd.read_sql(select(rejects).where(rejects.c.run_id == run_id).order_by(rejects.c.id), conn)


def _storable(value: Any) -> Any:
    """Text with the characters no store keeps escaped (:func:`detector.schema.escape_invalid`)."""
    return schema.escape_invalid(value) if isinstance(value, str) else value
