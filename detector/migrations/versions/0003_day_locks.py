"""Day locks: one run at a time may score a day.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "day_locks",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("day_locks")
