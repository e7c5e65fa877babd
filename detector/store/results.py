"""Writing a scored day's results: in one transaction that archives the day's previous scores
and alerts and replaces everything else; and copying days to another store, as the history a
rerun needs. Reading them back is reading.py.

Every value reaches SQL as a bound parameter; a day is never left half-written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from detector import schema as s
from detector.aggregate import DAY, Touched
from detector.alerts import Alert
from detector.novelty import NOVELTY_COUNTS
from detector.store.base import StoreBase
from detector.store.errors import StoreError, disk_hint, first_line
from detector.store.rows import INSERT_CHUNK, chunked_records, insert_rows, now, records
from detector.store.tables import (
    STORED_COUNTS,
    agent_days,
    alerts,
    alerts_archive,
    days,
    decisions,
    evidence,
    model_inputs,
    runs,
    scores,
    scores_archive,
    suppressions,
    touched,
)

#: the tables that hold a day's results, each keyed by day: a rescore replaces them all
DAY_TABLES = (agent_days, touched, model_inputs, scores, alerts, evidence, days)


@dataclass
class DayResults:
    """Everything one scored day writes, in one transaction."""

    day: str
    agent_days: pd.DataFrame
    inputs: pd.DataFrame  # agent_id + model input columns
    scores: pd.DataFrame  # agent_id, score, raw_score, rank_score, rank, flagged, history_days, contributions
    alerts: list[Alert]
    evidence: pd.DataFrame  # alert_key + canonical event columns
    events: int
    peer_mode: bool
    touched: Touched | None = None  # the day's touched sets, kept for later days' novelty


def plain(value: Any) -> float:
    """A float as every store keeps it: -0.0 as 0.0 (SQLite drops the sign and PostgreSQL
    keeps it, so the same replay would export "0.0" from one and "-0.0" from the other)."""
    return float(value) + 0.0


def _score_row(r: dict[str, Any], day: str, run_id: int, peer_mode: bool) -> dict[str, Any]:
    return {
        DAY: day,
        s.AGENT_ID: r[s.AGENT_ID],
        "run_id": run_id,
        "score": plain(r["score"]),
        "raw_score": plain(r["raw_score"]),
        "rank_score": plain(r["rank_score"]),
        "rank": int(r["rank"]),
        "flagged": bool(r["flagged"]),
        "history_days": int(r["history_days"]),
        "peer_mode": bool(peer_mode),
        s.TEAM: r.get(s.TEAM),
        s.ROLE: r.get(s.ROLE),
        s.SITE: r.get(s.SITE),
        s.VENDOR: r.get(s.VENDOR),
        "contributions": r.get("contributions"),
        s.TIMEZONE: r.get(s.TIMEZONE),
    }


def _alert_row(a: Alert, day: str, run_id: int) -> dict[str, Any]:
    record = a.as_record()
    if record.get("score") is not None:
        record["score"] = plain(record["score"])
    return {
        **record,
        DAY: day,
        "run_id": run_id,
        "reasons": json.dumps(a.reasons),
        "members": json.dumps(a.members) if a.members is not None else None,
        "created_at": now(),
    }


def _touched_rows(t: Touched | None, day: str, run_id: int) -> Iterator[dict[str, Any]]:
    """One row per agent: the agent's slice of the day's hashes, as little-endian bytes
    (made as they are written)."""
    if t is None or not len(t.agents):
        return
    ends = np.cumsum(t.counts)
    raw = t.hashes.astype("<u8")
    for a, n, e in zip(t.agents, t.counts, ends):
        yield {DAY: day, s.AGENT_ID: str(a), "run_id": run_id, "customers": int(n), "hashes": raw[e - n : e].tobytes()}


#: decimals a model input is stored with
INPUT_DECIMALS = 6


def as_stored(inputs: pd.DataFrame) -> pd.DataFrame:
    """``inputs`` (agent_id and model inputs) with every value as the store keeps it
    (:data:`INPUT_DECIMALS`, Python's correctly rounded ``round``): a replay that keeps the
    days it scored in memory trains on exactly what a nightly run reads back."""
    names = [c for c in inputs.columns if c != s.AGENT_ID]
    values = inputs[names].to_numpy(float)
    rounded = np.array([[plain(round(float(v), INPUT_DECIMALS)) for v in row] for row in values], dtype=float).reshape(values.shape)
    out = inputs.copy()
    out[names] = rounded
    return out


def _input_rows(inputs: pd.DataFrame, day: str, run_id: int) -> Iterator[dict[str, Any]]:
    """One row per agent: the model inputs as a JSON vector beside their names (made as
    they are written)."""
    names = [c for c in inputs.columns if c != s.AGENT_ID]
    names_json = json.dumps(names)
    vectors = inputs[names].to_numpy(float)
    for a, vec in zip(inputs[s.AGENT_ID], vectors):
        yield {DAY: day, s.AGENT_ID: a, "run_id": run_id, "vector": json.dumps([plain(round(float(v), INPUT_DECIMALS)) for v in vec]), "names": names_json}


def _score_rows(frame: pd.DataFrame, day: str, run_id: int, peer_mode: bool) -> Iterator[dict[str, Any]]:
    """One row per agent, made ``INSERT_CHUNK`` at a time as they are written."""
    for start in range(0, len(frame), INSERT_CHUNK):
        for r in frame.iloc[start : start + INSERT_CHUNK].to_dict("records"):
            yield _score_row(r, day, run_id, peer_mode)


def _archive_day(conn: Connection, day: str, run_id: int) -> None:
    """Keep the day's current scores and alerts in their archives, superseded by ``run_id``."""
    stamp = now()
    for live, archive in ((scores, scores_archive), (alerts, alerts_archive)):
        names = [c.name for c in live.columns]
        conn.execute(
            insert(archive).from_select(
                [*names, "superseded_by", "superseded_at"],
                select(*live.columns, literal(run_id).label("superseded_by"), literal(stamp).label("superseded_at")).where(live.c.day == day),
            )
        )


class DayWriter(StoreBase):
    """Writes the per-day tables (agent-days, touched sets, model inputs, scores, alerts,
    evidence, day records) and the archives of superseded scores and alerts."""

    def write_day(self, run_id: int, results: DayResults) -> None:
        """Replace everything stored for ``results.day`` in one transaction."""
        try:
            self._write_day(run_id, results)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write the results of {results.day}; the day is left as it was: {first_line(exc)}{disk_hint(self.url)}", day=results.day) from exc

    def _write_day(self, run_id: int, results: DayResults) -> None:
        day = results.day
        with self.engine.begin() as conn:
            _archive_day(conn, day, run_id)
            for table in DAY_TABLES:
                conn.execute(delete(table).where(table.c.day == day))
            ad = results.agent_days.assign(run_id=run_id)  # copy-on-write: the day's counts are not copied
            for c in NOVELTY_COUNTS:
                if c not in ad:
                    ad[c] = None
            insert_rows(conn, agent_days, chunked_records(ad, columns=[DAY, s.AGENT_ID, "run_id", *STORED_COUNTS]))
            insert_rows(conn, touched, _touched_rows(results.touched, day, run_id))
            insert_rows(conn, model_inputs, _input_rows(results.inputs, day, run_id))
            insert_rows(conn, scores, _score_rows(results.scores, day, run_id, results.peer_mode))
            insert_rows(conn, alerts, [_alert_row(a, day, run_id) for a in results.alerts])
            if len(results.evidence):
                ev = results.evidence.copy()
                ev[s.TIMESTAMP] = ev[s.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                ev[DAY] = day
                insert_rows(conn, evidence, records(ev[["alert_key", DAY, *s.EVENT_COLUMNS]]))
            conn.execute(
                insert(days).values(
                    day=day,
                    run_id=run_id,
                    agents=len(results.agent_days),
                    events=int(results.events),
                    alerts=sum(not a.ongoing for a in results.alerts),
                    peer_mode=bool(results.peer_mode),
                    completed_at=now(),
                )
            )

    def copy_days(self, other: StoreBase, day_list: list[str]) -> None:
        """Copy everything stored for ``day_list`` (agent-days, touched sets, model inputs,
        scores, alerts, evidence, day records, and the runs that wrote them) into ``other``:
        the history a rerun needs. Every suppression goes too, even with no days, as it is
        (its id, which alerts record as ``suppressed_by``; its created_at and until, which
        decide the days it covers): suppressions are not per day."""
        with self.engine.connect() as src, other.engine.begin() as dst:
            insert_rows(dst, suppressions, [dict(r) for r in src.execute(select(suppressions).order_by(suppressions.c.id)).mappings()])
            if not day_list:
                return
            ids = [r[0] for r in src.execute(select(days.c.run_id).where(days.c.day.in_(day_list)).distinct())]
            # the runs that wrote them too, so the other store's next run ids come after theirs
            insert_rows(dst, runs, [dict(r) for r in src.execute(select(runs).where(runs.c.run_id.in_(ids))).mappings()])
            for table in DAY_TABLES:
                rows = [dict(r) for r in src.execute(select(table).where(table.c.day.in_(day_list))).mappings()]
                if table is evidence:
                    for r in rows:
                        r.pop("id", None)
                insert_rows(dst, table, rows)

    def copy_cases(self, other: StoreBase, before: str, copied: list[str]) -> None:
        """Copy the alerts of the days before ``before`` not in ``copied`` (days already
        copied with :meth:`copy_days`) and every decision into ``other``: which agents' cases
        were open, that a rerun keeps their days on them as the run did."""
        with self.engine.connect() as src, other.engine.begin() as dst:
            q = select(alerts).where(alerts.c.day < before)
            if copied:
                q = q.where(alerts.c.day.not_in(copied))
            insert_rows(dst, alerts, [dict(r) for r in src.execute(q).mappings()])
            insert_rows(dst, decisions, [dict(r) for r in src.execute(select(decisions).order_by(decisions.c.id)).mappings()])
