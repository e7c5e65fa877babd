"""Ids and roster names as wide as the longest value ingest accepts (1,024 characters,
detector.schema.MAX_FIELD_LENGTH), so every accepted value can be stored: they were
VARCHAR(256), which PostgreSQL enforces (SQLite does not, but its tables say so too).

Batch mode: SQLite cannot alter a column's type, so its tables are copied with their data
and indexes; PostgreSQL alters them in place.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD = sa.String(256)
#: detector.schema.MAX_FIELD_LENGTH when this revision was written (a migration is fixed)
NEW = sa.String(1024)

#: table -> its id columns and whether each is nullable
WIDENED = {
    "agent_days": {"agent_id": False},
    "touched": {"agent_id": False},
    "model_inputs": {"agent_id": False},
    "scores": {"agent_id": False, "team": True, "role": True, "site": True, "vendor": True},
    "alerts": {"subject_id": False},
    "scores_archive": {"agent_id": False, "team": True, "role": True, "site": True, "vendor": True},
    "alerts_archive": {"subject_id": False},
    "decisions": {"author": False},
    "suppressions": {"agent_id": False, "ticket": False, "owner": False},
}


def _retype(old: sa.String, new: sa.String) -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns.items():
                batch.alter_column(column, type_=new, existing_type=old, existing_nullable=nullable)


def upgrade() -> None:
    _retype(OLD, NEW)


def downgrade() -> None:
    _retype(NEW, OLD)
