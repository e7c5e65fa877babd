"""A digest of every row a run wrote, so that a stored result changed after the run is named.

A run's manifest holds, per table, a SHA-256 per key over the rows as the store gives them
back: scores per day (with raw scores, ranks, flags and contributions), alerts per alert key
(with reasons, members and suppression marks), evidence per alert key, rejects per input
file. ``verify`` recomputes them first and names the table and key of any change, before
recomputing the run itself. Digests are taken from the store's own read-back, so the same
store always gives the same digest for the same rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from detector.store import Store

#: columns that say where or when a row was stored, not what it says
_BOOKKEEPING = {"id", "run_id", "created_at", "superseded_by", "superseded_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


#: rows turned into Python values at a time while a digest is taken
_DIGEST_CHUNK = 10_000


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _rows(frame: pd.DataFrame, columns: list[str], order: list[int] | None = None) -> Iterator[list[Any]]:
    """Each row (in ``order``, default as they are) as its list of plain values,
    ``_DIGEST_CHUNK`` rows made at a time."""
    for start in range(0, len(frame), _DIGEST_CHUNK):
        at = order[start : start + _DIGEST_CHUNK] if order is not None else slice(start, start + _DIGEST_CHUNK)
        for r in frame.iloc[at][columns].to_dict("records"):
            yield [_plain(r[c]) for c in columns]


def _digest(frame: pd.DataFrame) -> str:
    """SHA-256 of ``[columns, rows]`` as compact JSON, the rows sorted by their JSON text.

    Taken a row at a time: when the first column holds a distinct string in every row (an
    agent id in a day's scores), the rows' JSON texts sort as those strings' JSON texts do
    (a JSON string is prefix-free), so only they are held, not every row's values."""
    columns = sorted(c for c in frame.columns if c not in _BOOKKEEPING)
    h = hashlib.sha256(("[" + _compact(columns) + ",[").encode("utf-8"))
    firsts = [json.dumps(r[0], default=str) for r in _rows(frame, columns[:1])] if columns else []
    if len(firsts) and all(f.startswith('"') for f in firsts) and len(set(firsts)) == len(firsts):
        order = sorted(range(len(firsts)), key=firsts.__getitem__)
        del firsts
        rows = _rows(frame, columns, order)
    else:
        every = list(_rows(frame, columns))
        every.sort(key=lambda r: json.dumps(r, default=str))
        rows = iter(every)
    for i, row in enumerate(rows):
        h.update((("," if i else "") + _compact(row)).encode("utf-8"))
    h.update(b"]]")
    return h.hexdigest()


def _per(frame: pd.DataFrame, key: str) -> dict[str, str]:
    return {str(k): _digest(group) for k, group in frame.groupby(key, sort=True)} if len(frame) else {}


def run_digests(store: Store, run_id: int) -> dict[str, dict[str, str]]:
    """``{table: {key: sha256}}`` over every row ``run_id`` wrote, archived ones included
    (evidence only of the alerts whose day the run still holds: a later run of the day
    replaces it)."""
    scores, alerts = store.run_results(run_id)
    held = sorted(alerts.loc[alerts["superseded_by"].isna(), "alert_key"]) if len(alerts) else []
    evidence = store.evidence_of(held)[0] if held else pd.DataFrame(columns=["alert_key"])
    by_key = dict(tuple(evidence.groupby("alert_key"))) if len(evidence) else {}
    empty = evidence.iloc[0:0]
    return {
        "scores": _per(scores, "day"),
        "alerts": _per(alerts, "alert_key"),
        # every held alert, with or without rows: rows deleted later are a change
        "evidence": {str(k): _digest(by_key.get(k, empty)) for k in held},
        "rejects": _per(store.rejects(run_id), "source"),
    }


def changed_rows(recorded: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> list[str]:
    """One line per table and key whose rows differ from what the run recorded (evidence:
    of the alerts whose day the run still holds, on both sides)."""
    out = []
    for table, before in recorded.items():
        after = now.get(table, {})
        keys = set(before) & set(after) if table == "evidence" else set(before) | set(after)
        for key in sorted(keys):
            if before.get(key) != after.get(key):
                what = "missing" if key not in after else "added" if key not in before else "changed"
                out.append(f"stored {table} of {key}: {what} since the run wrote them")
    return out
