"""First-time-seen counts on agent-days, and the touched sets they are computed from.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on days scored before: the features treat a missing count as no excess
    op.add_column("agent_days", sa.Column("new_customers", sa.Integer))
    op.add_column("agent_days", sa.Column("team_new_customers", sa.Integer))
    op.create_table(
        "touched",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("agent_id", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("touched")
    with op.batch_alter_table("agent_days") as batch:
        batch.drop_column("team_new_customers")
        batch.drop_column("new_customers")
