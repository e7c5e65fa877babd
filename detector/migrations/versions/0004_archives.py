"""Results are append-only: a rescored day's previous scores and alerts move to archives,
marked with the run that superseded them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(256)


def upgrade() -> None:
    op.create_table(
        "scores_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False, index=True),
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
        sa.Column("superseded_by", sa.Integer, nullable=False),
        sa.Column("superseded_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "alerts_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False, index=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("rank", sa.Integer),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("members", sa.Text),
        sa.Column("detector_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("superseded_by", sa.Integer, nullable=False),
        sa.Column("superseded_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alerts_archive")
    op.drop_table("scores_archive")
