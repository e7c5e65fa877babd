"""Rows in and out of SQL: frames to plain Python values for bound parameters, and rows read
back to typed frames. No queries of their own beyond a many-row insert."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, CursorResult

from detector import schema as s
from detector.aggregate import DAY


def now() -> str:
    """The time now, UTC, to the second, as the store records it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


#: rows per INSERT (one executemany): a day of a million agents is written a slice at a time,
#: so its rows are never all held as Python dicts at once
INSERT_CHUNK = 10_000


def insert_rows(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    """Insert many rows, in order, ``INSERT_CHUNK`` at a time (``rows`` may be a generator);
    nothing for none (an empty executemany would insert one empty row)."""
    it = iter(rows)
    while chunk := list(islice(it, INSERT_CHUNK)):
        conn.execute(insert(table), chunk)


def inserted_id(result: CursorResult[Any]) -> int:
    """The id the database gave the row an INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None  # a single-row insert into a table with an id
    return int(key[0])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (no numpy scalars, NA as None) for bound parameters."""
    out = frame.astype(object).where(frame.notna(), None)
    rows: list[dict[str, Any]] = out.to_dict("records")
    for r in rows:
        for k, v in r.items():
            if isinstance(v, np.generic):
                r[k] = v.item()
    return rows


def chunked_records(frame: pd.DataFrame, size: int = INSERT_CHUNK, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`records` of ``frame`` (of its ``columns``, in that order, when given), made
    ``size`` rows at a time as they are consumed: the columns are picked a slice at a time,
    not copied whole first."""
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        yield from records(part if columns is None else part[columns])


def optional_int(v: Any) -> int | None:
    """``v`` as an int, None when it is missing or not a number."""
    try:
        return None if pd.isna(v) else int(v)
    except (TypeError, ValueError):
        return None


def decoded_alerts(frame: pd.DataFrame) -> pd.DataFrame:
    """Alert rows as read: reasons and members from JSON, the covering suppression as an
    integer, ``ongoing`` as a boolean (NULL, from a version before cases: raised)."""
    frame["reasons"] = frame["reasons"].map(json.loads)
    frame["members"] = frame["members"].map(lambda v: json.loads(v) if isinstance(v, str) else None)
    frame["suppressed_by"] = frame["suppressed_by"].astype("Int64")
    frame["ongoing"] = frame["ongoing"].fillna(False).astype(bool) if "ongoing" in frame else False
    return frame


def typed_agent_days(frame: pd.DataFrame) -> pd.DataFrame:
    """Agent-day rows as read: day and agent_id as strings, counts as integers (floats where
    a first-time-seen count is NULL: days scored without them)."""
    frame[DAY] = frame[DAY].astype(s.STRING_DTYPE)
    frame[s.AGENT_ID] = frame[s.AGENT_ID].astype(s.STRING_DTYPE)
    for c in frame.columns[2:]:
        frame[c] = frame[c].astype("float64" if frame[c].isna().any() else "int64")
    return frame
