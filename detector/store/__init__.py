"""The results store: the only module that speaks SQL.

SQLAlchemy 2 Core over any database URL: a SQLite file by default, PostgreSQL for a team.
It holds runs, agent-day aggregates, model inputs, scores, alerts with reasons, the evidence
of flagged agent-days and rejected rows; never the raw logs (those stay in their files,
referenced by digest in the run manifest).

Every value from a log reaches SQL as a bound parameter. A day's results are written in one
transaction that first removes that day's previous results, so a failed run leaves nothing
half-written and a rerun replaces the day instead of duplicating it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError

from detector import schema as s
from detector.aggregate import AGENT_DAY_COLUMNS, DAY, Touched
from detector.errors import InsiderwatchError, UsageError
from detector.novelty import NOVELTY_COUNTS

SCHEMA_VERSION = 5
#: the stored counts of an agent-day: the aggregate's, then the first-time-seen counts
#: (computed when the day is scored; NULL when they were not)
STORED_COUNTS = [*AGENT_DAY_COLUMNS[2:], *NOVELTY_COUNTS]
ID = String(256)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("day_from", String(10)),
    Column("day_to", String(10)),
    Column("detector_version", String(64), nullable=False),
    Column("config", Text, nullable=False),
    Column("manifest", Text),
    Column("message", Text),
)

agent_days = Table(
    "agent_days",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column(s.AGENT_ID, ID, primary_key=True),
    Column("run_id", Integer, nullable=False),
    *[Column(c, Integer, nullable=False) for c in AGENT_DAY_COLUMNS[2:]],
    *[Column(c, Integer) for c in NOVELTY_COUNTS],
)

# the distinct customers each agent touched that day, as sorted little-endian uint64 keyed
# hashes (aggregate.customer_hashes): what first-time-seen counts of later days look up
touched = Table(
    "touched",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column(s.AGENT_ID, ID, primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
)

model_inputs = Table(
    "model_inputs",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column(s.AGENT_ID, ID, primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("vector", Text, nullable=False),  # JSON list, in the order of `names`
    Column("names", Text, nullable=False),
)

scores = Table(
    "scores",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column(s.AGENT_ID, ID, primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("raw_score", Float, nullable=False),
    Column("rank_score", Float, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("history_days", Integer, nullable=False),
    Column("peer_mode", Boolean, nullable=False),
    # the peer groups the agent was compared with that night (from the roster then)
    Column(s.TEAM, ID),
    Column(s.ROLE, ID),
    Column(s.SITE, ID),
    Column(s.VENDOR, ID),
    Column("contributions", Text),  # JSON {input: contribution} for the night's top agents
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_key", String(64), primary_key=True),
    Column(DAY, String(10), nullable=False, index=True),
    Column("run_id", Integer, nullable=False),
    Column("subject_type", String(16), nullable=False),  # agent, team or site
    Column("subject_id", ID, nullable=False),
    Column("score", Float, nullable=False),
    Column("rank", Integer),
    Column("reasons", Text, nullable=False),  # JSON list of sentences
    Column("members", Text),  # JSON list of agent ids for group alerts
    Column("detector_version", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("suppressed_by", Integer),  # the suppression that covered it: stored, not raised
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", String(64), nullable=False, index=True),
    Column(DAY, String(10), nullable=False, index=True),
    Column(s.TIMESTAMP, String(40), nullable=False),
    *[Column(c, Text) for c in s.EVENT_COLUMNS[1:]],
)

rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("source", Text, nullable=False),
    Column("line", Integer),
    Column("reason", Text, nullable=False),
    Column("raw", Text),
)

days = Table(
    "days",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("agents", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("peer_mode", Boolean, nullable=False),
    Column("completed_at", String(40), nullable=False),
)

def _archive_of(table: Table, name: str) -> Table:
    """The archive of ``table``: its columns (no keys), an id, and who superseded the row."""
    cols = [Column("id", Integer, primary_key=True, autoincrement=True)]
    for c in table.columns:
        if c.name == "id":
            continue
        cols.append(Column(c.name, c.type, nullable=c.nullable if not c.primary_key else False, index=c.name == "run_id"))
    cols += [Column("superseded_by", Integer, nullable=False), Column("superseded_at", String(40), nullable=False)]
    return Table(name, metadata, *cols)


# results are append-only: a rescored day's previous scores and alerts are kept here
scores_archive = _archive_of(scores, "scores_archive")
alerts_archive = _archive_of(alerts, "alerts_archive")

# investigators' decisions on alerts: never overwritten, a new decision supersedes the last
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("author", ID, nullable=False),
    Column("decided_at", String(40), nullable=False),
    Column("supersedes", Integer),
)

# scoped suppressions: the agent is still scored and alerts are stored, marked, not raised
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(s.AGENT_ID, ID, nullable=False, index=True),
    Column("until", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ticket", ID, nullable=False),
    Column("owner", ID, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("from_alert", String(64)),
    # a feature family (features.FAMILIES): only alerts driven mostly by it are suppressed
    Column("pattern", String(64)),
)

# one run at a time scores a day: a row per day being scored, removed when the run ends
day_locks = Table(
    "day_locks",
    metadata,
    Column(DAY, String(10), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", String(40), nullable=False),
)

meta = Table("store_meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))

Index("ix_agent_days_agent", agent_days.c.agent_id, agent_days.c.day)


#: schema_version in store_meta -> the Alembic revision with that layout (stores made before
#: the migrations existed carry only the former)
REVISIONS = {"1": "0001", "2": "0002", "3": "0003", "4": "0004", "5": "0005"}


def _quiet_alembic() -> None:
    """Alembic logs at INFO when it is imported and for each command: not a line per store
    opened on stderr (unless the application set the alembic logger's level itself)."""
    import logging

    logger = logging.getLogger("alembic")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def alembic_config(conn):
    """Alembic settings that run the project's migrations on ``conn``."""
    _quiet_alembic()
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def schema_is_current(conn) -> bool:
    """True when the store on ``conn`` is at the code's schema revision (nothing to migrate)."""
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
    if MigrationContext.configure(conn).get_current_revision() != head:
        return False
    return conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == str(SCHEMA_VERSION)


def migrate(conn) -> None:
    """Bring the store on ``conn`` to the current schema with the Alembic migrations in
    detector/migrations: an empty database is created, an older store upgraded in place
    with its data, a newer one refused."""
    _quiet_alembic()
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    cfg = alembic_config(conn)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    tables = set(inspect(conn).get_table_names())
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and "store_meta" in tables:
        have = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        if have not in REVISIONS:
            raise UsageError(f"the store holds schema version {have}, which this insiderwatch does not know (it writes version {SCHEMA_VERSION})")
        command.stamp(cfg, REVISIONS[have])
        current = REVISIONS[have]
    if current is not None and current not in {REVISIONS[v] for v in REVISIONS}:
        raise UsageError(f"the store is at schema revision {current}, newer than this insiderwatch knows ({head}): upgrade insiderwatch")
    if current != head:
        command.upgrade(cfg, "head")
    have = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if have is None:
        conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif have != str(SCHEMA_VERSION):
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StoreError(InsiderwatchError):
    """The store cannot be opened, read or written."""

    exit_code = 1


class StoreBusy(StoreError):
    """Another run is scoring the same day(s)."""


#: a lock older than this is taken over even when its holder cannot be checked (another host)
LOCK_STALE_HOURS = 12


@dataclass
class DayResults:
    """Everything one scored day writes, in one transaction."""

    day: str
    agent_days: pd.DataFrame
    inputs: pd.DataFrame  # agent_id + model input columns
    scores: pd.DataFrame  # agent_id, score, raw_score, rank_score, rank, flagged, history_days, contributions
    alerts: list[dict]
    evidence: pd.DataFrame  # alert_key + canonical event columns
    events: int
    peer_mode: bool
    touched: Touched | None = None  # the day's touched sets, kept for later days' novelty


class Store:
    """A results store at a SQLAlchemy URL (tables created on first use)."""

    def __init__(self, url: str, *, connect_attempts: int = 1, connect_wait: float = 2.0, lazy: bool = False) -> None:
        """Open (and create or upgrade) the store.

        A database server that cannot be reached (``OperationalError``: refused, timed
        out, restarting) is tried ``connect_attempts`` times in all, waiting
        ``connect_wait`` seconds after the first failure and twice as long after each next
        one: opening writes nothing a retry could duplicate. A SQLite file is tried once.

        ``lazy``: check the URL now but connect (and create a new store) only when the
        store is first used, so a run refused for its inputs leaves no store behind."""
        self.url = url
        try:
            self._engine: Engine = create_engine(url, future=True)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise UsageError(f"--db is not a usable database URL: {_first_line(exc)}", store=_safe_url(url)) from exc
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"--db needs the database driver {exc.name!r}, which is not installed"
                + (": pip install 'insiderwatch[postgres]'" if url.startswith("postgres") else ""),
                store=_safe_url(url),
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

    def _open(self) -> None:
        import logging
        import time

        url, connect_attempts, wait = self.url, self._attempts, self._wait
        for attempt in range(1, max(1, connect_attempts) + 1):
            try:
                self._migrate()
                self._opened = True
                return
            except OperationalError as exc:
                if attempt >= connect_attempts:
                    raise StoreError(
                        f"cannot open the store: {exc.__class__.__name__}: {_first_line(exc)}{_disk_hint(url)}"
                        + (f" (tried {attempt} times)" if attempt > 1 else ""),
                        store=_safe_url(url),
                    ) from exc
                logging.getLogger("insiderwatch").warning(
                    "cannot reach the store (%s); trying again in %.0f s (attempt %d of %d)", _first_line(exc), wait, attempt + 1, connect_attempts
                )
                self._engine.dispose()
                time.sleep(wait)
                wait *= 2
            except (ArgumentError, NoSuchModuleError) as exc:
                raise UsageError(f"--db is not a usable database URL: {_first_line(exc)}", store=_safe_url(url)) from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot open the store: {exc.__class__.__name__}: {_first_line(exc)}{_disk_hint(url)}", store=_safe_url(url)) from exc

    def _migrate(self) -> None:
        """Create or upgrade the schema, all or nothing: a run killed while a store is being
        created or upgraded leaves it as it was. (pysqlite commits DDL statements one by
        one by itself, so on SQLite the migration runs in one explicit BEGIN IMMEDIATE
        transaction, which also keeps two first runs from creating the tables twice.)"""
        if self._engine.dialect.name != "sqlite":
            with self._engine.begin() as conn:
                migrate(conn)
            return
        with self._engine.connect() as conn:
            if schema_is_current(conn):
                return
        with self._engine.connect() as conn:
            dbapi = conn.connection.driver_connection
            saved = dbapi.isolation_level
            dbapi.isolation_level = None  # no implicit BEGIN or COMMIT: the transaction is ours
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                migrate(conn)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                dbapi.isolation_level = saved

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _writing(self, what: str, **context):
        """A database error while recording runs (a full disk, a lost connection) as a
        one-line StoreError instead of an internal error."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {_first_line(exc)}{_disk_hint(self.url)}", store=_safe_url(self.url), **context) from exc

    # --- runs ----------------------------------------------------------------------------
    def start_run(self, kind: str, *, config: dict, detector_version: str, day_from: str | None, day_to: str | None) -> int:
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
            return int(result.inserted_primary_key[0])

    def lock_days(self, run_id: int, day_list: list[str]) -> None:
        """Take the days for ``run_id``, or raise StoreBusy naming the run that holds one.

        A lock whose run is no longer running (finished, failed, or killed: its process is
        gone from this host, or it is older than LOCK_STALE_HOURS) is taken over, with a
        warning. Released by :meth:`finish_run`."""
        with self._writing(f"lock the days of run {run_id}"):
            self._lock_days(run_id, day_list)

    def _lock_days(self, run_id: int, day_list: list[str]) -> None:
        import logging
        import os
        import socket

        host, pid = socket.gethostname()[:256], os.getpid()
        rows = [{DAY: d, "run_id": run_id, "host": host, "pid": pid, "acquired_at": now()} for d in day_list]
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    _insert(conn, day_locks, rows)
                return
            except IntegrityError:
                if attempt:
                    raise
            held = self._lock_holders(day_list)
            live = [h for h in held if not self._stale(h, host)]
            if live:
                h = live[0]
                raise StoreBusy(
                    f"{h[DAY]} is being scored by run {h['run_id']} (pid {h['pid']} on {h['host']}, since {h['acquired_at']}): "
                    "wait for it to finish, then run again (a rerun replaces the day)",
                    day=h[DAY],
                )
            stale_runs = sorted({h["run_id"] for h in held})
            logging.getLogger("insiderwatch").warning("taking over day locks left by run(s) %s, which no longer run", ", ".join(map(str, stale_runs)))
            with self.engine.begin() as conn:
                conn.execute(delete(day_locks).where(day_locks.c.run_id.in_(stale_runs)))
                conn.execute(update(runs).where(runs.c.run_id.in_(stale_runs), runs.c.status == "running").values(status="abandoned", finished_at=now()))

    def _lock_holders(self, day_list: list[str]) -> list[dict]:
        with self.engine.connect() as conn:
            q = select(day_locks, runs.c.status).join(runs, runs.c.run_id == day_locks.c.run_id, isouter=True).where(day_locks.c.day.in_(day_list))
            return [dict(r) for r in conn.execute(q).mappings()]

    @staticmethod
    def _stale(holder: dict, host: str) -> bool:
        if holder.get("status") not in (None, "running"):
            return True
        age = datetime.now(timezone.utc) - datetime.fromisoformat(holder["acquired_at"])
        if age.total_seconds() > LOCK_STALE_HOURS * 3600:
            return True
        if holder["host"] == host:
            import os

            try:
                os.kill(int(holder["pid"]), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def finish_run(self, run_id: int, *, status: str, manifest: dict, message: str | None = None) -> None:
        """Record how a run ended and release its day locks. Recording a failure is best
        effort: when the store cannot take it (a full disk), a warning is logged and the
        caller's own error goes on; the run then shows as running until the next run takes
        its locks over and marks it abandoned."""
        try:
            with self._writing(f"record the end of run {run_id}"), self.engine.begin() as conn:
                conn.execute(delete(day_locks).where(day_locks.c.run_id == run_id))
                conn.execute(
                    update(runs)
                    .where(runs.c.run_id == run_id)
                    .values(status=status, finished_at=now(), manifest=json.dumps(manifest, sort_keys=True, default=str), message=message)
                )
        except StoreError as exc:
            if status == "complete":
                raise
            import logging

            logging.getLogger("insiderwatch").warning("%s (run %s stays marked running)", exc, run_id)

    def run(self, run_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def runs(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(runs).order_by(runs.c.run_id), conn)

    def add_rejects(self, run_id: int, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        rows = [
            {"run_id": run_id, "source": r["source"], "line": _int(r["line"]), "reason": r["reason"], "raw": r["raw"]}
            for r in frame.to_dict("records")
        ]
        with self._writing(f"record the rejected rows of run {run_id}"), self.engine.begin() as conn:
            conn.execute(insert(rejects), rows)

    def rejects(self, run_id: int) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(rejects).where(rejects.c.run_id == run_id).order_by(rejects.c.id), conn)

    # --- one day ---------------------------------------------------------------------------
    def write_day(self, run_id: int, results: DayResults) -> None:
        """Replace everything stored for ``results.day`` in one transaction."""
        try:
            self._write_day(run_id, results)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write the results of {results.day}; the day is left as it was: {_first_line(exc)}{_disk_hint(self.url)}", day=results.day) from exc

    def _write_day(self, run_id: int, results: DayResults) -> None:
        day = results.day
        with self.engine.begin() as conn:
            stamp = now()
            for live, archive in ((scores, scores_archive), (alerts, alerts_archive)):
                names = [c.name for c in live.columns]
                conn.execute(
                    insert(archive).from_select(
                        [*names, "superseded_by", "superseded_at"],
                        select(*live.columns, literal(run_id).label("superseded_by"), literal(stamp).label("superseded_at")).where(live.c.day == day),
                    )
                )
            for table in (agent_days, touched, model_inputs, scores, alerts, evidence, days):
                conn.execute(delete(table).where(table.c.day == day))
            ad = results.agent_days.assign(run_id=run_id)
            for c in NOVELTY_COUNTS:
                if c not in ad:
                    ad[c] = None
            _insert(conn, agent_days, _records(ad[[DAY, s.AGENT_ID, "run_id", *STORED_COUNTS]]))
            t = results.touched
            if t is not None and len(t.agents):
                ends = np.cumsum(t.counts)
                raw = t.hashes.astype("<u8")
                _insert(
                    conn,
                    touched,
                    [
                        {DAY: day, s.AGENT_ID: str(a), "run_id": run_id, "customers": int(n), "hashes": raw[e - n : e].tobytes()}
                        for a, n, e in zip(t.agents, t.counts, ends)
                    ],
                )
            names = [c for c in results.inputs.columns if c != s.AGENT_ID]
            names_json = json.dumps(names)
            vectors = results.inputs[names].to_numpy(float)
            _insert(
                conn,
                model_inputs,
                [
                    {DAY: day, s.AGENT_ID: a, "run_id": run_id, "vector": json.dumps([round(float(v), 6) for v in vec]), "names": names_json}
                    for a, vec in zip(results.inputs[s.AGENT_ID], vectors)
                ],
            )
            sc = results.scores
            _insert(
                conn,
                scores,
                [
                    {
                        DAY: day,
                        s.AGENT_ID: r[s.AGENT_ID],
                        "run_id": run_id,
                        "score": float(r["score"]),
                        "raw_score": float(r["raw_score"]),
                        "rank_score": float(r["rank_score"]),
                        "rank": int(r["rank"]),
                        "flagged": bool(r["flagged"]),
                        "history_days": int(r["history_days"]),
                        "peer_mode": bool(results.peer_mode),
                        s.TEAM: r.get(s.TEAM),
                        s.ROLE: r.get(s.ROLE),
                        s.SITE: r.get(s.SITE),
                        s.VENDOR: r.get(s.VENDOR),
                        "contributions": r.get("contributions"),
                    }
                    for r in sc.to_dict("records")
                ],
            )
            if results.alerts:
                conn.execute(
                    insert(alerts),
                    [
                        {
                            **a,
                            DAY: day,
                            "run_id": run_id,
                            "reasons": json.dumps(a["reasons"]),
                            "members": json.dumps(a.get("members")) if a.get("members") is not None else None,
                            "created_at": now(),
                        }
                        for a in results.alerts
                    ],
                )
            if len(results.evidence):
                ev = results.evidence.copy()
                ev[s.TIMESTAMP] = ev[s.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                ev[DAY] = day
                _insert(conn, evidence, _records(ev[["alert_key", DAY, *s.EVENT_COLUMNS]]))
            conn.execute(
                insert(days).values(
                    day=day,
                    run_id=run_id,
                    agents=len(results.agent_days),
                    events=int(results.events),
                    alerts=len(results.alerts),
                    peer_mode=bool(results.peer_mode),
                    completed_at=now(),
                )
            )

    # --- reading ---------------------------------------------------------------------------
    def day_runs(self, first: str, before: str) -> list[tuple[str, int]]:
        """(day, run_id) of the scored days with ``first <= day < before``: which run's
        results each day holds now."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(days.c.day, days.c.run_id).where(days.c.day >= first, days.c.day < before).order_by(days.c.day))
            return [(r[0], int(r[1])) for r in rows]

    def copy_days(self, other: Store, day_list: list[str]) -> None:
        """Copy everything stored for ``day_list`` (agent-days, touched sets, model inputs,
        scores, alerts, evidence, day records) into ``other``: the history a rerun needs."""
        if not day_list:
            return
        with self.engine.connect() as src, other.engine.begin() as dst:
            ids = [r[0] for r in src.execute(select(days.c.run_id).where(days.c.day.in_(day_list)).distinct())]
            # the runs that wrote them too, so the other store's next run ids come after theirs
            _insert(dst, runs, [dict(r) for r in src.execute(select(runs).where(runs.c.run_id.in_(ids))).mappings()])
            for table in (agent_days, touched, model_inputs, scores, alerts, evidence, days):
                rows = [dict(r) for r in src.execute(select(table).where(table.c.day.in_(day_list))).mappings()]
                if table is evidence:
                    for r in rows:
                        r.pop("id", None)
                _insert(dst, table, rows)

    def scored_days(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(days.c.day).order_by(days.c.day))]

    def agent_days(self, first: str, before: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Agent-days with ``first <= day < before`` (``columns``: day, agent_id and these
        counts only, which is much faster over a long history)."""
        wanted = [DAY, s.AGENT_ID, *STORED_COUNTS] if columns is None else [DAY, s.AGENT_ID, *[c for c in columns if c not in (DAY, s.AGENT_ID)]]
        with self.engine.connect() as conn:
            frame = pd.read_sql(
                select(*[agent_days.c[c] for c in wanted]).where(agent_days.c.day >= first, agent_days.c.day < before),
                conn,
            )
        return _typed_agent_days(frame)

    def touched(self, first: str, before: str) -> list[Touched]:
        """Touched sets of the days with ``first <= day < before``, one per day, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(touched.c.day, touched.c.agent_id, touched.c.customers, touched.c.hashes)
                .where(touched.c.day >= first, touched.c.day < before)
                .order_by(touched.c.day, touched.c.agent_id)
            ).all()
        out: list[Touched] = []
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i][0] != rows[start][0]:
                part = rows[start:i]
                hashes = np.frombuffer(b"".join(r[3] for r in part), dtype="<u8").astype(np.uint64)
                agents = np.array([r[1] for r in part], dtype=object)
                counts = np.array([r[2] for r in part], dtype=np.int64)
                out.append(Touched(part[0][0], agents, counts, hashes))
                start = i
        return out

    def model_inputs(self, first: str, before: str) -> tuple[list[str], pd.DataFrame]:
        """Stored model inputs with ``first <= day < before``: (names, frame of day,
        agent_id and one column per input). Rows stored under other input names (an older
        detector version) are left out."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_inputs.c.day, model_inputs.c.agent_id, model_inputs.c.vector, model_inputs.c.names)
                .where(model_inputs.c.day >= first, model_inputs.c.day < before)
                .order_by(model_inputs.c.day, model_inputs.c.agent_id)
            ).all()
        if not rows:
            return [], pd.DataFrame()
        names_json = rows[-1][3]
        names = json.loads(names_json)
        kept = [r for r in rows if r[3] == names_json]
        # one parse of all vectors together: far faster than one json.loads per row
        matrix = np.array(json.loads("[" + ",".join(r[2] for r in kept) + "]"), dtype=float).reshape(len(kept), len(names))
        frame = pd.DataFrame(matrix, columns=names)
        frame.insert(0, s.AGENT_ID, [r[1] for r in kept])
        frame.insert(0, DAY, [r[0] for r in kept])
        return names, frame

    def scores(self, first: str | None = None, last: str | None = None, run_id: int | None = None) -> pd.DataFrame:
        q = select(scores)
        if first:
            q = q.where(scores.c.day >= first)
        if last:
            q = q.where(scores.c.day <= last)
        if run_id is not None:
            q = q.where(scores.c.run_id == run_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q.order_by(scores.c.day, scores.c.rank), conn)

    def run_results(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every score and alert a run wrote, whether its days still hold them or later runs
        superseded them (then from the archives, with ``superseded_by``)."""
        def live_and_archived(live: Table, archive: Table, conn) -> pd.DataFrame:
            now_held = pd.read_sql(select(live).where(live.c.run_id == run_id), conn).assign(superseded_by=None)
            old = pd.read_sql(select(archive).where(archive.c.run_id == run_id), conn).drop(columns=["id", "superseded_at"])
            return pd.concat([now_held, old], ignore_index=True) if len(old) else now_held

        with self.engine.connect() as conn:
            sc = live_and_archived(scores, scores_archive, conn)
            al = _decoded_alerts(live_and_archived(alerts, alerts_archive, conn))
        return sc.sort_values([DAY, "rank"], kind="stable").reset_index(drop=True), al.sort_values([DAY, "subject_type", "rank"], kind="stable").reset_index(drop=True)

    # --- triage ------------------------------------------------------------------------------
    def find_alert(self, key_or_prefix: str) -> dict:
        """The alert whose key is or starts with ``key_or_prefix`` (unique)."""
        prefix = key_or_prefix.strip().lower()
        if len(prefix) < 6:
            raise UsageError("give at least 6 characters of the alert key (see: insiderwatch alerts, or export alerts)")
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.alert_key.startswith(prefix, autoescape=True)).limit(2)).mappings().all()
        if not rows:
            raise UsageError(f"no current alert with key {key_or_prefix!r}")
        if len(rows) > 1:
            raise UsageError(f"alert key {key_or_prefix!r} is ambiguous: give more characters")
        return dict(rows[0])

    def add_decision(self, alert_key: str, *, status: str, note: str, author: str) -> dict:
        """Record a decision; the alert's previous decision, if any, is superseded, not changed."""
        with self.engine.begin() as conn:
            last = conn.execute(select(func.max(decisions.c.id)).where(decisions.c.alert_key == alert_key)).scalar()
            row = {"alert_key": alert_key, "status": status, "note": note, "author": author, "decided_at": now(), "supersedes": last}
            row["id"] = int(conn.execute(insert(decisions).values(**row)).inserted_primary_key[0])
        return row

    def decisions(self, alert_key: str | None = None) -> pd.DataFrame:
        q = select(decisions).order_by(decisions.c.id)
        if alert_key:
            q = q.where(decisions.c.alert_key == alert_key)
        with self.engine.connect() as conn:
            return pd.read_sql(q, conn)

    def add_suppression(
        self, agent_id: str, *, until: str, reason: str, ticket: str, owner: str, from_alert: str | None = None, pattern: str | None = None
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(suppressions).values(
                    agent_id=agent_id, until=until, reason=reason, ticket=ticket, owner=owner, created_at=now(), from_alert=from_alert, pattern=pattern
                )
            )
            return int(result.inserted_primary_key[0])

    def suppressions(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(suppressions).order_by(suppressions.c.id), conn)

    def alerts(self, first: str | None = None, last: str | None = None, run_id: int | None = None) -> pd.DataFrame:
        q = select(alerts)
        if first:
            q = q.where(alerts.c.day >= first)
        if last:
            q = q.where(alerts.c.day <= last)
        if run_id is not None:
            q = q.where(alerts.c.run_id == run_id)
        with self.engine.connect() as conn:
            return _decoded_alerts(pd.read_sql(q.order_by(alerts.c.day, alerts.c.subject_type, alerts.c.rank, alerts.c.subject_id), conn))

    def evidence(self, alert_key: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(evidence).where(evidence.c.alert_key == alert_key).order_by(evidence.c.id), conn)

    def evidence_of(self, alert_keys: list[str], *, per_agent: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The evidence of many alerts in a few queries: (rows, summary).

        rows: the stored evidence rows of those alerts, in stored (time) order, at most
        ``per_agent`` per alert and agent (all when None). summary: one row per alert_key
        with every stored row counted: ``accesses``, ``customers`` (distinct), ``first_seen``
        and ``last_seen`` (the earliest and latest stored timestamp)."""
        keys = sorted({str(k) for k in alert_keys})
        row_parts, summary_parts = [], []
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):  # bound parameters stay well under any driver limit
                chunk = keys[i : i + 500]
                ranked = select(
                    evidence,
                    func.row_number().over(partition_by=[evidence.c.alert_key, evidence.c.agent_id], order_by=evidence.c.id).label("_n"),
                ).where(evidence.c.alert_key.in_(chunk)).subquery()
                q = select(*[ranked.c[c.name] for c in evidence.columns])
                if per_agent is not None:
                    q = q.where(ranked.c._n <= int(per_agent))
                row_parts.append(pd.read_sql(q.order_by(ranked.c.id), conn))
                summary_parts.append(
                    pd.read_sql(
                        select(
                            evidence.c.alert_key,
                            func.count().label("accesses"),
                            func.count(evidence.c.customer_id.distinct()).label("customers"),
                            func.min(evidence.c.timestamp).label("first_seen"),
                            func.max(evidence.c.timestamp).label("last_seen"),
                        )
                        .where(evidence.c.alert_key.in_(chunk))
                        .group_by(evidence.c.alert_key),
                        conn,
                    )
                )
        empty_rows = pd.DataFrame(columns=[c.name for c in evidence.columns])
        empty_summary = pd.DataFrame(columns=["alert_key", "accesses", "customers", "first_seen", "last_seen"])
        rows = pd.concat(row_parts, ignore_index=True) if row_parts else empty_rows
        summary = pd.concat(summary_parts, ignore_index=True) if summary_parts else empty_summary
        return rows, summary

    def day_events(self, day_list: list[str]) -> dict[str, int]:
        """Events each of these stored days was scored with (after de-duplication)."""
        if not day_list:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(agent_days.c.day, func.sum(agent_days.c.events)).where(agent_days.c.day.in_(sorted(set(day_list)))).group_by(agent_days.c.day))
            return {d: int(n or 0) for d, n in rows}

    def knows_agent(self, agent_id: str) -> bool:
        """Whether the agent has been scored on any stored day."""
        with self.engine.connect() as conn:
            return conn.execute(select(agent_days.c.agent_id).where(agent_days.c.agent_id == agent_id).limit(1)).first() is not None

    def latest_day(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(days.c.day))).scalar()


def _insert(conn, table: Table, rows: list[dict]) -> None:
    """Insert many rows; nothing for none (an empty executemany would insert one empty row)."""
    if rows:
        conn.execute(insert(table), rows)


def _decoded_alerts(frame: pd.DataFrame) -> pd.DataFrame:
    """Alert rows as read: reasons and members from JSON, the covering suppression as an integer."""
    frame["reasons"] = frame["reasons"].map(json.loads)
    frame["members"] = frame["members"].map(lambda v: json.loads(v) if isinstance(v, str) else None)
    frame["suppressed_by"] = frame["suppressed_by"].astype("Int64")
    return frame


def _typed_agent_days(frame: pd.DataFrame) -> pd.DataFrame:
    frame[DAY] = frame[DAY].astype(s.STRING_DTYPE)
    frame[s.AGENT_ID] = frame[s.AGENT_ID].astype(s.STRING_DTYPE)
    for c in frame.columns[2:]:
        # first-time-seen counts are NULL for days scored without them
        frame[c] = frame[c].astype("float64" if frame[c].isna().any() else "int64")
    return frame


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values (no numpy scalars, NA as None) for bound parameters."""
    out = frame.astype(object).where(frame.notna(), None)
    records = out.to_dict("records")
    for r in records:
        for k, v in r.items():
            if isinstance(v, np.generic):
                r[k] = v.item()
    return records


def _int(v):
    try:
        return None if pd.isna(v) else int(v)
    except (TypeError, ValueError):
        return None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""


def _disk_hint(url: str) -> str:
    """For a SQLite file on a (nearly) full disk, say so: SQLite itself may only report a
    "disk I/O error" when it cannot create its journal. Empty otherwise."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return ""
        import shutil

        free = shutil.disk_usage(Path(parsed.database).resolve().parent).free
    except Exception:  # no hint is better than a wrong one
        return ""
    return f"; only {free:,} bytes are free on the disk holding {parsed.database}" if free < (1 << 20) else ""


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as it was given
        return url
