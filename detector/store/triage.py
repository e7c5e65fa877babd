"""What investigators record about alerts: decisions (append-only: a new decision supersedes
the last, never changes it) and scoped suppressions (the agent is still scored; its alerts are
stored, marked with the suppression's id, not raised). Also finding an alert by a key prefix.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select

from detector.errors import UsageError
from detector.store.base import StoreBase
from detector.store.rows import inserted_id, now
from detector.store.tables import alerts, decisions, suppressions

#: the shortest alert key prefix accepted
MIN_KEY_PREFIX = 6


class Triage(StoreBase):
    """The ``decisions`` and ``suppressions`` tables."""

    def find_alert(self, key_or_prefix: str) -> dict[str, Any]:
        """The alert whose key is or starts with ``key_or_prefix`` (unique)."""
        prefix = key_or_prefix.strip().lower()
        if len(prefix) < MIN_KEY_PREFIX:
            raise UsageError("give at least 6 characters of the alert key (see: insiderwatch alerts, or export alerts)")
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.alert_key.startswith(prefix, autoescape=True)).limit(2)).mappings().all()
        if not rows:
            raise UsageError(f"no current alert with key {key_or_prefix!r}")
        if len(rows) > 1:
            raise UsageError(f"alert key {key_or_prefix!r} is ambiguous: give more characters")
        return dict(rows[0])

    def add_decision(self, alert_key: str, *, status: str, note: str, author: str) -> dict[str, Any]:
        """Record a decision; the alert's previous decision, if any, is superseded, not changed."""
        with self.engine.begin() as conn:
            last = conn.execute(select(func.max(decisions.c.id)).where(decisions.c.alert_key == alert_key)).scalar()
            row = {"alert_key": alert_key, "status": status, "note": note, "author": author, "decided_at": now(), "supersedes": last}
            row["id"] = inserted_id(conn.execute(insert(decisions).values(**row)))
        return row

    def decisions(self, alert_key: str | None = None) -> pd.DataFrame:
        """Every decision (on one alert), oldest first."""
        q = select(decisions).order_by(decisions.c.id)
        if alert_key:
            q = q.where(decisions.c.alert_key == alert_key)
        with self.engine.connect() as conn:
            out = pd.read_sql(q, conn)
        # the decision superseded, an id: not 1.0 (a column with a missing value reads as floats)
        out["supersedes"] = pd.array([None if pd.isna(v) else int(v) for v in out["supersedes"]], dtype=object)
        return out

    def add_suppression(self, agent_id: str, *, until: str, reason: str, ticket: str, owner: str, from_alert: str | None = None, pattern: str | None = None) -> int:
        """Record a suppression of the agent's alerts until ``until`` (only those driven
        mostly by the feature family ``pattern``, when given); its id."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(suppressions).values(agent_id=agent_id, until=until, reason=reason, ticket=ticket, owner=owner, created_at=now(), from_alert=from_alert, pattern=pattern))
            return inserted_id(result)

    def suppressions(self) -> pd.DataFrame:
        """Every suppression, in the order they were made."""
        with self.engine.connect() as conn:
            return pd.read_sql(select(suppressions).order_by(suppressions.c.id), conn)
