"""The store's tables: the one description of its schema, which the Alembic migrations in
detector/migrations build (tests/test_store.py checks that they agree).

Definitions only: no engine, no queries. SCHEMA_VERSION is the layout these tables describe;
a change to them is a new migration and a new version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

from detector import schema as s
from detector.aggregate import AGENT_DAY_COLUMNS, DAY
from detector.novelty import NOVELTY_COUNTS

SCHEMA_VERSION = 8
#: the stored counts of an agent-day: the aggregate's, then the first-time-seen counts
#: (computed when the day is scored; NULL when they were not)
STORED_COUNTS = [*AGENT_DAY_COLUMNS[2:], *NOVELTY_COUNTS]
#: ids, and the roster's names, as wide as the longest value ingest accepts
#: (detector.schema.MAX_FIELD_LENGTH, characters), so every accepted value can be stored
ID = String(s.MAX_FIELD_LENGTH)

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
    Column(s.TIMEZONE, String(64)),  # the agent's IANA time zone from that night's roster
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
    # a day of an open case that stood out again, kept on the case, not raised (NULL: raised)
    Column("ongoing", Boolean),
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
    cols: list[Column[Any]] = [Column("id", Integer, primary_key=True, autoincrement=True)]
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

# --- the investigators' console (pipelines/console) -------------------------------------------
# its users: argon2 password hashes, never passwords; disabled, never deleted (the access
# record names them)
users = Table(
    "users",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(128), nullable=False),
)

# signed-in sessions: the SHA-256 of the cookie's token (never the token), its CSRF token,
# when it expires and when it was ended by signing out
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_name", String(128), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("ended_at", String(40)),
)

# the access record: append-only. Who signed in (or failed to), who revealed which customer
# (as its pseudonym: never the clear id) on which case and why, every triage made in the
# console, every forbidden request
access_record = Table(
    "access_record",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False, index=True),
    Column("user_name", String(128), nullable=False),
    Column("role", String(16)),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),  # ok | refused | forbidden
    Column("address", String(64)),
    Column("case_key", String(64)),
    Column("subject", Text),  # a customer's pseudonym, an agent, a page
    Column("reason", Text),
)
