"""The store as insiderwatch 0.1 created it (schema version 1).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(256)
AGENT_DAY_COUNTS = [
    "events",
    "views",
    "customers",
    "tickets",
    "ticketless_views",
    "ticketless_customers",
    "off_primary_views",
    "id_document_views",
    "address_views",
    "financial_views",
    "high_value_views",
    "searches",
    "edits",
    "exports",
    "sequential_customers",
    "outside_shift_events",
    "first_seen",
    "last_seen",
    *[f"h{h:02d}" for h in range(24)],
]
EVENT_TEXT = ["agent_id", "customer_id", "action", "ticket_id", "resource", "customer_tier", "session_id", "source_ip", "event_id"]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("day_from", sa.String(10)),
        sa.Column("day_to", sa.String(10)),
        sa.Column("detector_version", sa.String(64), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("manifest", sa.Text),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "agent_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("agent_id", ID, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        *[sa.Column(c, sa.Integer, nullable=False) for c in AGENT_DAY_COUNTS],
    )
    op.create_index("ix_agent_days_agent", "agent_days", ["agent_id", "day"])
    op.create_table(
        "model_inputs",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("agent_id", ID, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("vector", sa.Text, nullable=False),
        sa.Column("names", sa.Text, nullable=False),
    )
    op.create_table(
        "scores",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("agent_id", ID, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("raw_score", sa.Float, nullable=False),
        sa.Column("rank_score", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("history_days", sa.Integer, nullable=False),
        sa.Column("peer_mode", sa.Boolean, nullable=False),
        sa.Column("team", ID),
        sa.Column("role", ID),
        sa.Column("site", ID),
        sa.Column("vendor", ID),
        sa.Column("contributions", sa.Text),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_key", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False, index=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("members", sa.Text),
        sa.Column("detector_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(64), nullable=False, index=True),
        sa.Column("day", sa.String(10), nullable=False, index=True),
        sa.Column("timestamp", sa.String(40), nullable=False),
        *[sa.Column(c, sa.Text) for c in EVENT_TEXT],
    )
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False, index=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("line", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text),
    )
    op.create_table(
        "days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("agents", sa.Integer, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("peer_mode", sa.Boolean, nullable=False),
        sa.Column("completed_at", sa.String(40), nullable=False),
    )
    op.create_table("store_meta", sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text))


def downgrade() -> None:
    for table in ("store_meta", "days", "rejects", "evidence", "alerts", "scores", "model_inputs", "agent_days", "runs"):
        op.drop_table(table)
