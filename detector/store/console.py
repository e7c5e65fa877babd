"""What the investigators' console keeps: its users, their signed-in sessions and the
append-only access record. No passwords (argon2 hashes, made by the caller), no session
tokens (their SHA-256), no clear customer ids (pseudonyms).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update

from detector.store.base import StoreBase
from detector.store.rows import now
from detector.store.tables import access_record, console_sessions, days, decisions, runs, suppressions, users


class ConsoleRecords(StoreBase):
    """The ``users``, ``console_sessions`` and ``access_record`` tables."""

    def state(self) -> tuple[Any, ...]:
        """What changes whenever the cases could: the last run, the last day completed, the
        last decision and the last suppression (one cheap query; a page built from an equal
        state is still true)."""
        q = select(
            select(func.max(runs.c.run_id)).scalar_subquery(),
            select(func.max(days.c.completed_at)).scalar_subquery(),
            select(func.max(decisions.c.id)).scalar_subquery(),
            select(func.max(suppressions.c.id)).scalar_subquery(),
        )
        with self.engine.connect() as conn:
            return tuple(conn.execute(q).one())

    # --- users -------------------------------------------------------------------------
    def add_user(self, name: str, *, role: str, password_hash: str, created_by: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(users).values(name=name, role=role, password_hash=password_hash, disabled=False, created_at=now(), created_by=created_by))

    def user(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        return dict(row) if row else None

    def users(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(users.c.name, users.c.role, users.c.disabled, users.c.created_at, users.c.created_by).order_by(users.c.name), conn)

    def set_user(self, name: str, **values: Any) -> bool:
        """Change a user's ``role``, ``password_hash`` or ``disabled``; False when there is no such user."""
        with self.engine.begin() as conn:
            return bool(conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount)

    # --- sessions ----------------------------------------------------------------------
    def add_session(self, token_sha256: str, *, user: str, csrf: str, expires_at: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(console_sessions).values(token_sha256=token_sha256, user_name=user, csrf=csrf, created_at=now(), expires_at=expires_at, ended_at=None))

    def session(self, token_sha256: str) -> dict[str, Any] | None:
        """The session with this token digest, with its user's role and state, if it is
        neither ended nor expired."""
        q = (
            select(console_sessions, users.c.role, users.c.disabled)
            .join(users, users.c.name == console_sessions.c.user_name)
            .where(console_sessions.c.token_sha256 == token_sha256, console_sessions.c.ended_at.is_(None), console_sessions.c.expires_at > now())
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def end_session(self, token_sha256: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.token_sha256 == token_sha256, console_sessions.c.ended_at.is_(None)).values(ended_at=now()))

    def end_sessions_of(self, user: str) -> None:
        """End every session of ``user`` (disabled, or a new password)."""
        with self.engine.begin() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.user_name == user, console_sessions.c.ended_at.is_(None)).values(ended_at=now()))

    # --- the access record -------------------------------------------------------------
    def record_access(
        self,
        *,
        user: str,
        action: str,
        outcome: str = "ok",
        role: str | None = None,
        address: str | None = None,
        case_key: str | None = None,
        subject: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Append one line to the access record (never updated, never deleted)."""
        with self.engine.begin() as conn:
            conn.execute(insert(access_record).values(at=now(), user_name=user, role=role, action=action, outcome=outcome, address=address, case_key=case_key, subject=subject, reason=reason))

    def access_record(self, first: str | None = None, last: str | None = None) -> pd.DataFrame:
        """The access record (``first <= day <= last`` of ``at``, UTC), oldest first."""
        q = select(access_record).order_by(access_record.c.id)
        if first:
            q = q.where(access_record.c.at >= first)
        if last:
            q = q.where(access_record.c.at < last + "~")
        with self.engine.connect() as conn:
            return pd.read_sql(q, conn)

    def failed_sign_ins(self, since: str, *, user: str | None = None, address: str | None = None) -> int:
        """Failed (or refused) sign-ins since ``since`` by this user name or from this address."""
        q = select(func.count()).select_from(access_record).where(access_record.c.action == "sign-in", access_record.c.outcome != "ok", access_record.c.at >= since)
        q = q.where(access_record.c.user_name == user) if user is not None else q.where(access_record.c.address == address)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)
