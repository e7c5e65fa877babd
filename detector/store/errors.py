"""The store's errors: what a caller catches when the store cannot be opened, read or written.

Every SQLAlchemy error that leaves the store is wrapped once in one of these (``raise ... from
exc``), with the store's URL (password hidden) or the day in its context.
"""

from __future__ import annotations

from pathlib import Path

from detector.errors import InsiderwatchError


class StoreError(InsiderwatchError):
    """The store cannot be opened, read or written."""

    exit_code = 1


def first_line(exc: Exception) -> str:
    """The first line of an error from a driver, cut to 300 characters, for a one-line message."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""


def disk_hint(url: str) -> str:
    """For a SQLite file on a (nearly) full disk, say so: SQLite itself may only report a
    "disk I/O error" when it cannot create its journal. Empty otherwise."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return ""
        import shutil

        free = shutil.disk_usage(Path(parsed.database).resolve().parent).free
    except Exception:  # noqa: BLE001 -- no hint is better than a wrong one
        return ""
    return f"; only {free:,} bytes are free on the disk holding {parsed.database}" if free < (1 << 20) else ""


def safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- an unparseable URL is shown as it was given
        return url
