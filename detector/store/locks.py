"""Day locks: one run at a time scores a day. A run takes its days before scoring them and
releases them when it ends (runs.py ``finish_run``); a lock left by a run that no longer runs
is taken over.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from detector.aggregate import DAY
from detector.store.base import StoreBase
from detector.store.errors import StoreError
from detector.store.rows import insert_rows, now
from detector.store.tables import day_locks, runs

log = logging.getLogger("insiderwatch.store")

#: a lock older than this is taken over even when its holder cannot be checked (another host)
LOCK_STALE_HOURS = 12


class StoreBusy(StoreError):
    """Another run is scoring the same day(s)."""


class DayLocks(StoreBase):
    """The ``day_locks`` table."""

    def lock_days(self, run_id: int, day_list: list[str]) -> None:
        """Take the days for ``run_id``, or raise StoreBusy naming the run that holds one.

        A lock whose run is no longer running (finished, failed, or killed: its process is
        gone from this host, or it is older than LOCK_STALE_HOURS) is taken over, with a
        warning. Released by :meth:`finish_run`."""
        with self._writing(f"lock the days of run {run_id}"):
            self._lock_days(run_id, day_list)

    def _lock_days(self, run_id: int, day_list: list[str]) -> None:
        host, pid = socket.gethostname()[:256], os.getpid()
        rows = [{DAY: d, "run_id": run_id, "host": host, "pid": pid, "acquired_at": now()} for d in day_list]
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    insert_rows(conn, day_locks, rows)
                return
            except IntegrityError:
                if attempt:
                    raise
            held = self._lock_holders(day_list)
            live = [h for h in held if not self._stale(h, host)]
            if live:
                h = live[0]
                raise StoreBusy(
                    f"{h[DAY]} is being scored by run {h['run_id']} (pid {h['pid']} on {h['host']}, since {h['acquired_at']}): wait for it to finish, then run again (a rerun replaces the day)",
                    day=h[DAY],
                )
            stale_runs = sorted({h["run_id"] for h in held})
            log.warning("taking over day locks left by run(s) %s, which no longer run", ", ".join(map(str, stale_runs)))
            with self.engine.begin() as conn:
                conn.execute(delete(day_locks).where(day_locks.c.run_id.in_(stale_runs)))
                conn.execute(update(runs).where(runs.c.run_id.in_(stale_runs), runs.c.status == "running").values(status="abandoned", finished_at=now()))

    def _lock_holders(self, day_list: list[str]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = select(day_locks, runs.c.status).join(runs, runs.c.run_id == day_locks.c.run_id, isouter=True).where(day_locks.c.day.in_(day_list))
            return [dict(r) for r in conn.execute(q).mappings()]

    @staticmethod
    def _stale(holder: dict[str, Any], host: str) -> bool:
        if holder.get("status") not in (None, "running"):
            return True
        age = datetime.now(UTC) - datetime.fromisoformat(holder["acquired_at"])
        if age.total_seconds() > LOCK_STALE_HOURS * 3600:
            return True
        if holder["host"] == host:
            try:
                os.kill(int(holder["pid"]), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False
