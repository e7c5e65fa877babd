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

import pandas as pd

from detector.store import Store

#: columns that say where or when a row was stored, not what it says
_BOOKKEEPING = {"id", "run_id", "created_at", "superseded_by", "superseded_at"}


def _lines(frame: pd.DataFrame, columns: list[str]) -> list[bytes]:
    """Each row as one line of JSON (pandas' writer, 15 significant digits; force_ascii
    escapes every non-ASCII character and JSON every control one: one row a line)."""
    text = frame[columns].to_json(orient="records", lines=True, double_precision=15, force_ascii=True) if len(frame) else ""
    return [line.encode("ascii") for line in text.split("\n") if line]


def _hash(columns: list[str], lines: list[bytes]) -> str:
    """SHA-256 of the column names, then the lines sorted, so the digest does not depend on
    the order rows come back in."""
    lines.sort()
    h = hashlib.sha256(json.dumps(columns).encode("utf-8"))
    for line in lines:
        h.update(b"\n" + line)
    return h.hexdigest()


def _columns(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c not in _BOOKKEEPING)


def _digest(frame: pd.DataFrame) -> str:
    columns = _columns(frame)
    return _hash(columns, _lines(frame, columns))


def _per(frame: pd.DataFrame, key: str) -> dict[str, str]:
    return {str(k): _digest(group) for k, group in frame.groupby(key, sort=True)} if len(frame) else {}


def _scores_per_day(store: Store, run_id: int) -> dict[str, str]:
    """:func:`_per` of the run's scores by day, read a chunk at a time: only each row's line
    is kept until its day is hashed (a night of a million agents: about 300 MB, not the rows
    and their text twice over)."""
    lines: dict[str, list[bytes]] = {}
    columns: list[str] = []
    for chunk in store.run_score_chunks(run_id):
        columns = _columns(chunk)
        for day, group in chunk.groupby("day", sort=False):
            lines.setdefault(str(day), []).extend(_lines(group, columns))
    return {day: _hash(columns, lines.pop(day)) for day in sorted(lines)}


def run_digests(store: Store, run_id: int) -> dict[str, dict[str, str]]:
    """``{table: {key: sha256}}`` over every row ``run_id`` wrote, archived ones included
    (evidence only of the alerts whose day the run still holds: a later run of the day
    replaces it)."""
    alerts = store.run_alerts(run_id)
    held = sorted(alerts.loc[alerts["superseded_by"].isna(), "alert_key"]) if len(alerts) else []
    evidence = store.evidence_of(held)[0] if held else pd.DataFrame(columns=["alert_key"])
    by_key = dict(tuple(evidence.groupby("alert_key"))) if len(evidence) else {}
    empty = evidence.iloc[0:0]
    return {
        "scores": _scores_per_day(store, run_id),
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
