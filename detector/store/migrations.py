"""Bringing a store's schema to the code's: the Alembic migrations in detector/migrations, run
on a connection the store hands over (never a URL from a file).

Knows the store's layout only through tables.py (``store_meta`` and SCHEMA_VERSION); an
empty database is created, an older store upgraded in place with its data, a newer one refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from detector.errors import UsageError
from detector.store.tables import SCHEMA_VERSION, meta

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

#: schema_version in store_meta -> the Alembic revision with that layout (stores made before
#: the migrations existed carry only the former)
REVISIONS = {"1": "0001", "2": "0002", "3": "0003", "4": "0004", "5": "0005", "6": "0006", "7": "0007", "8": "0008"}

#: detector/migrations, beside this package
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _quiet_alembic() -> None:
    """Alembic logs at INFO when it is imported and for each command: not a line per store
    opened on stderr (unless the application set the alembic logger's level itself)."""
    logger = logging.getLogger("alembic")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def alembic_config(conn: Connection) -> AlembicConfig:
    """Alembic settings that run the project's migrations on ``conn``."""
    _quiet_alembic()
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def _schema_version(conn: Connection) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()


def schema_is_current(conn: Connection) -> bool:
    """True when the store on ``conn`` is at the code's schema revision (nothing to migrate)."""
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
    if MigrationContext.configure(conn).get_current_revision() != head:
        return False
    return _schema_version(conn) == str(SCHEMA_VERSION)


def migrate(conn: Connection) -> None:
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
        have = _schema_version(conn)
        if have not in REVISIONS:
            raise UsageError(f"the store holds schema version {have}, which this insiderwatch does not know (it writes version {SCHEMA_VERSION})")
        command.stamp(cfg, REVISIONS[have])
        current = REVISIONS[have]
    if current is not None and current not in {REVISIONS[v] for v in REVISIONS}:
        raise UsageError(f"the store is at schema revision {current}, newer than this insiderwatch knows ({head}): upgrade insiderwatch")
    if current != head:
        command.upgrade(cfg, "head")
    have = _schema_version(conn)
    if have is None:
        conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif have != str(SCHEMA_VERSION):
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
