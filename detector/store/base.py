"""Opening a store: the engine at a URL, the schema created or upgraded on first use, a server
that cannot be reached tried again, and database errors turned into StoreError.

The rest of the store (runs, locks, results, triage) builds on :class:`StoreBase`: its
``engine`` and its ``_writing`` context. Nothing here reads or writes results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from detector.errors import UsageError
from detector.store import migrations
from detector.store.errors import StoreError, disk_hint, first_line, safe_url

log = logging.getLogger("insiderwatch.store")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _not_a_url(url: str, exc: Exception) -> UsageError:
    return UsageError(f"--db is not a usable database URL: {first_line(exc)}", store=safe_url(url))


class StoreBase:
    """A store's engine at a SQLAlchemy URL (tables created on first use)."""

    def __init__(self, url: str, *, connect_attempts: int = 1, connect_wait: float = 2.0, lazy: bool = False, existing: bool = False) -> None:
        """Open (and create or upgrade) the store.

        A database server that cannot be reached (``OperationalError``: refused, timed
        out, restarting) is tried ``connect_attempts`` times in all, waiting
        ``connect_wait`` seconds after the first failure and twice as long after each next
        one: opening writes nothing a retry could duplicate. A SQLite file is tried once.

        ``lazy``: check the URL now but connect (and create a new store) only when the
        store is first used, so a run refused for its inputs leaves no store behind.

        ``existing``: the store must exist already (a read-only command, triage): a SQLite
        file that is not there, or a database without insiderwatch's tables, is a usage
        error and nothing is created (a mistyped --db must not read as an empty store)."""
        self.url = url
        self._existing = existing
        try:
            self._engine: Engine = create_engine(url, future=True)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise _not_a_url(url, exc) from exc
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"--db needs the database driver {exc.name!r}, which is not installed" + (": pip install 'insiderwatch[postgres]'" if url.startswith("postgres") else ""),
                store=safe_url(url),
            ) from exc
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
            connect_attempts = 1
        self._attempts, self._wait, self._opened = connect_attempts, connect_wait, False
        if not lazy:
            self._open()

    @property
    def engine(self) -> Engine:
        """The engine, the schema created or upgraded on first use."""
        if not self._opened:
            self._open()
        return self._engine

    def _missing_file(self) -> str | None:
        """The path of a SQLite store file that does not exist yet (None: not SQLite, in
        memory, or there)."""
        if self._engine.dialect.name != "sqlite":
            return None
        path = self._engine.url.database
        return path if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists() else None

    def exists(self) -> bool:
        """Whether the store has been created, found without creating it."""
        if self._opened:
            return True
        if self._missing_file():
            return False
        try:
            return inspect(self._engine).has_table("runs")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store: {exc.__class__.__name__}: {first_line(exc)}{disk_hint(self.url)}", store=safe_url(self.url)) from exc

    def _open(self) -> None:
        url, connect_attempts, wait = self.url, self._attempts, self._wait
        missing = self._missing_file() if self._existing else None
        if missing:
            raise UsageError(f"there is no store at {missing} (check --db; nightly, replay and rescore create one)", store=safe_url(url))
        for attempt in range(1, max(1, connect_attempts) + 1):
            try:
                if self._existing and not inspect(self._engine).has_table("runs"):
                    raise UsageError("the database holds no insiderwatch store (check --db; nightly, replay and rescore create one)", store=safe_url(url))
                self._migrate()
                self._opened = True
                return
            except OperationalError as exc:
                if attempt >= connect_attempts:
                    raise StoreError(
                        f"cannot open the store: {exc.__class__.__name__}: {first_line(exc)}{disk_hint(url)}" + (f" (tried {attempt} times)" if attempt > 1 else ""),
                        store=safe_url(url),
                    ) from exc
                log.warning("cannot reach the store (%s); trying again in %.0f s (attempt %d of %d)", first_line(exc), wait, attempt + 1, connect_attempts)
                self._engine.dispose()
                time.sleep(wait)
                wait *= 2
            except (ArgumentError, NoSuchModuleError) as exc:
                raise _not_a_url(url, exc) from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot open the store: {exc.__class__.__name__}: {first_line(exc)}{disk_hint(url)}", store=safe_url(url)) from exc

    def _migrate(self) -> None:
        """Create or upgrade the schema, all or nothing: a run killed while a store is being
        created or upgraded leaves it as it was. (pysqlite commits DDL statements one by
        one by itself, so on SQLite the migration runs in one explicit BEGIN IMMEDIATE
        transaction, which also keeps two first runs from creating the tables twice.)"""
        if self._engine.dialect.name != "sqlite":
            with self._engine.begin() as conn:
                migrations.migrate(conn)
            return
        with self._engine.connect() as conn:
            if migrations.schema_is_current(conn):
                return
        with self._engine.connect() as conn:
            dbapi = conn.connection.driver_connection
            assert dbapi is not None  # an open connection
            saved = dbapi.isolation_level
            dbapi.isolation_level = None  # no implicit BEGIN or COMMIT: the transaction is ours
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                migrations.migrate(conn)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                dbapi.isolation_level = saved

    def close(self) -> None:
        """Release the engine's connections."""
        self._engine.dispose()

    @contextmanager
    def _writing(self, what: str, **context: Any) -> Iterator[None]:
        """A database error while recording runs (a full disk, a lost connection) as a
        one-line StoreError instead of an internal error."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {first_line(exc)}{disk_hint(self.url)}", store=safe_url(self.url), **context) from exc
