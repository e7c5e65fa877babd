"""Alerts marked as days of an open case, and each scored agent's time zone.

Alerts:  an agent whose case is open and who stood out
again on a night whose budget went to new subjects is stored with its reasons and evidence,
kept on the case, not raised (``ongoing``; NULL on the rows of earlier versions: raised).
Scores: the agent's time zone from the roster that night (``timezone``; NULL without one),
so that investigators read access times in the agent's local time.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("ongoing", sa.Boolean))
    op.add_column("alerts_archive", sa.Column("ongoing", sa.Boolean))
    op.add_column("scores", sa.Column("timezone", sa.String(64)))
    op.add_column("scores_archive", sa.Column("timezone", sa.String(64)))


def downgrade() -> None:
    for table in ("scores_archive", "scores"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("timezone")
    with op.batch_alter_table("alerts_archive") as batch:
        batch.drop_column("ongoing")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("ongoing")
