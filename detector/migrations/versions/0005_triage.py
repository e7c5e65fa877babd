"""Triage decisions and suppressions; alerts marked with the suppression that covered them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("suppressed_by", sa.Integer))
    op.add_column("alerts_archive", sa.Column("suppressed_by", sa.Integer))
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.Column("supersedes", sa.Integer),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(256), nullable=False, index=True),
        sa.Column("until", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ticket", sa.String(256), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("from_alert", sa.String(64)),
        sa.Column("pattern", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("decisions")
    with op.batch_alter_table("alerts_archive") as batch:
        batch.drop_column("suppressed_by")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("suppressed_by")
