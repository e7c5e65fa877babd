"""Reading a store's results back: agent-day history, touched sets and model inputs for the
next night's scoring; scores, alerts and evidence by day range or by run for reports, exports
and verify. Only reads; results.py writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, Table, func, select
from sqlalchemy.engine import Connection, Row

from detector import schema as s
from detector.aggregate import DAY, Touched
from detector.store.base import StoreBase
from detector.store.rows import decoded_alerts, typed_agent_days
from detector.store.tables import STORED_COUNTS, agent_days, alerts, alerts_archive, days, evidence, model_inputs, scores, scores_archive, touched

#: how many alert keys one query binds: well under any driver's limit
KEYS_PER_QUERY = 500


def _between(q: Select[*tuple[Any, ...]], table: Table, first: str | None, last: str | None, run_id: int | None) -> Select[*tuple[Any, ...]]:
    """``q`` limited to ``first <= day <= last`` and to one run's rows (each when given)."""
    if first:
        q = q.where(table.c.day >= first)
    if last:
        q = q.where(table.c.day <= last)
    if run_id is not None:
        q = q.where(table.c.run_id == run_id)
    return q


def _touched_by_day(rows: Sequence[Row[*tuple[Any, ...]]]) -> list[Touched]:
    """(day, agent_id, customers, hashes) rows in day order as one Touched per day."""
    out: list[Touched] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            part = rows[start:i]
            hashes = np.frombuffer(b"".join(r[3] for r in part), dtype="<u8").astype(np.uint64)
            agents = np.array([r[1] for r in part], dtype=object)
            counts = np.array([r[2] for r in part], dtype=np.int64)
            out.append(Touched(part[0][0], agents, counts, hashes))
            start = i
    return out


def _live_and_archived(conn: Connection, live: Table, archive: Table, run_id: int, chunksize: int | None) -> Iterator[pd.DataFrame]:
    """One run's rows of a result table: those its days still hold (``superseded_by`` None)
    then those later runs superseded, from the archive. Whole (``chunksize`` None: two
    frames) or ``chunksize`` rows at a time."""

    def read(table: Table) -> Iterator[pd.DataFrame]:
        q = select(table).where(table.c.run_id == run_id)
        if chunksize is None:
            yield pd.read_sql(q, conn)
            return
        none = True
        for frame in pd.read_sql(q, conn, chunksize=chunksize):
            none = False
            yield frame
        if none:  # no rows: the columns still
            yield pd.read_sql(q.limit(0), conn)

    for frame in read(live):
        yield frame.assign(superseded_by=None)
    for frame in read(archive):
        if len(frame):
            yield frame.drop(columns=["id", "superseded_at"])


def _concat(frames: Iterator[pd.DataFrame]) -> pd.DataFrame:
    parts = list(frames)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _evidence_chunk(conn: Connection, chunk: list[str], per_agent: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evidence rows (at most ``per_agent`` per alert and agent) and summary of some alerts."""
    ranked = select(evidence, func.row_number().over(partition_by=[evidence.c.alert_key, evidence.c.agent_id], order_by=evidence.c.id).label("_n")).where(evidence.c.alert_key.in_(chunk)).subquery()
    q = select(*[ranked.c[c.name] for c in evidence.columns])
    if per_agent is not None:
        q = q.where(ranked.c._n <= int(per_agent))
    rows = pd.read_sql(q.order_by(ranked.c.id), conn)
    summary = pd.read_sql(
        select(
            evidence.c.alert_key,
            func.count().label("accesses"),
            func.count(evidence.c.customer_id.distinct()).label("customers"),
            func.min(evidence.c.timestamp).label("first_seen"),
            func.max(evidence.c.timestamp).label("last_seen"),
        )
        .where(evidence.c.alert_key.in_(chunk))
        .group_by(evidence.c.alert_key),
        conn,
    )
    return rows, summary


class ResultReader(StoreBase):
    """Reads the per-day tables and the archives."""

    def day_runs(self, first: str, before: str) -> list[tuple[str, int]]:
        """(day, run_id) of the scored days with ``first <= day < before``: which run's
        results each day holds now."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(days.c.day, days.c.run_id).where(days.c.day >= first, days.c.day < before).order_by(days.c.day))
            return [(r[0], int(r[1])) for r in rows]

    def scored_days(self) -> list[str]:
        """Every scored day, in order."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(days.c.day).order_by(days.c.day))]

    def latest_day(self) -> str | None:
        """The last scored day, None for an empty store."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(days.c.day))).scalar()

    def superseding_runs(self) -> dict[int, list[int]]:
        """run id -> the later runs that scored some of its days again (from the archive of
        superseded scores and alerts), for the runs that have any."""
        out: dict[int, set[int]] = {}
        with self.engine.connect() as conn:
            for archive in (scores_archive, alerts_archive):
                for run_id, by in conn.execute(select(archive.c.run_id, archive.c.superseded_by).distinct()):
                    out.setdefault(int(run_id), set()).add(int(by))
        return {k: sorted(v) for k, v in out.items()}

    def day_events(self, day_list: list[str]) -> dict[str, int]:
        """Events each of these stored days was scored with (after de-duplication)."""
        if not day_list:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(agent_days.c.day, func.sum(agent_days.c.events)).where(agent_days.c.day.in_(sorted(set(day_list)))).group_by(agent_days.c.day))
            return {d: int(n or 0) for d, n in rows}

    def knows_agent(self, agent_id: str) -> bool:
        """Whether the agent has been scored on any stored day."""
        with self.engine.connect() as conn:
            return conn.execute(select(agent_days.c.agent_id).where(agent_days.c.agent_id == agent_id).limit(1)).first() is not None

    def _agent_day_rows(self, table: Table, columns: list[str], first: str, before: str) -> Sequence[Row[*tuple[Any, ...]]]:
        """(day, agent_id, *columns) of ``table`` with ``first <= day < before``, by day and agent."""
        with self.engine.connect() as conn:
            return conn.execute(select(table.c.day, table.c.agent_id, *[table.c[c] for c in columns]).where(table.c.day >= first, table.c.day < before).order_by(table.c.day, table.c.agent_id)).all()

    def agent_days(self, first: str, before: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Agent-days with ``first <= day < before`` (``columns``: day, agent_id and these
        counts only, which is much faster over a long history)."""
        wanted = [DAY, s.AGENT_ID, *STORED_COUNTS] if columns is None else [DAY, s.AGENT_ID, *[c for c in columns if c not in (DAY, s.AGENT_ID)]]
        with self.engine.connect() as conn:
            frame = pd.read_sql(
                select(*[agent_days.c[c] for c in wanted]).where(agent_days.c.day >= first, agent_days.c.day < before),
                conn,
            )
        return typed_agent_days(frame)

    def touched(self, first: str, before: str) -> list[Touched]:
        """Touched sets of the days with ``first <= day < before``, one per day, in order."""
        return _touched_by_day(self._agent_day_rows(touched, ["customers", "hashes"], first, before))

    def model_inputs(self, first: str, before: str) -> tuple[list[str], pd.DataFrame]:
        """Stored model inputs with ``first <= day < before``: (names, frame of day,
        agent_id and one column per input). Rows stored under other input names (an older
        detector version) are left out."""
        rows = self._agent_day_rows(model_inputs, ["vector", "names"], first, before)
        if not rows:
            return [], pd.DataFrame()
        names_json = rows[-1][3]
        names = json.loads(names_json)
        kept = [r for r in rows if r[3] == names_json]
        # one parse of all vectors together: far faster than one json.loads per row
        matrix = np.array(json.loads("[" + ",".join(r[2] for r in kept) + "]"), dtype=float).reshape(len(kept), len(names))
        frame = pd.DataFrame(matrix, columns=names)
        frame.insert(0, s.AGENT_ID, [r[1] for r in kept])
        frame.insert(0, DAY, [r[0] for r in kept])
        return names, frame

    def scores(self, first: str | None = None, last: str | None = None, run_id: int | None = None) -> pd.DataFrame:
        """Scores with ``first <= day <= last`` (of one run), by day and rank."""
        q = _between(select(scores), scores, first, last, run_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q.order_by(scores.c.day, scores.c.rank), conn)

    def alerts(self, first: str | None = None, last: str | None = None, run_id: int | None = None) -> pd.DataFrame:
        """Alerts with ``first <= day <= last`` (of one run), reasons and members decoded."""
        q = _between(select(alerts), alerts, first, last, run_id)
        with self.engine.connect() as conn:
            return decoded_alerts(pd.read_sql(q.order_by(alerts.c.day, alerts.c.subject_type, alerts.c.rank, alerts.c.subject_id), conn))

    def run_results(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every score and alert a run wrote, whether its days still hold them or later runs
        superseded them (then from the archives, with ``superseded_by``)."""
        with self.engine.connect() as conn:
            sc = _concat(_live_and_archived(conn, scores, scores_archive, run_id, None))
        return sc.sort_values([DAY, "rank"], kind="stable").reset_index(drop=True), self.run_alerts(run_id)

    def run_alerts(self, run_id: int) -> pd.DataFrame:
        """Every alert a run wrote, held or superseded (:meth:`run_results`)."""
        with self.engine.connect() as conn:
            al = decoded_alerts(_concat(_live_and_archived(conn, alerts, alerts_archive, run_id, None)))
        return al.sort_values([DAY, "subject_type", "rank"], kind="stable").reset_index(drop=True)

    def run_score_chunks(self, run_id: int, chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
        """The scores a run wrote (as :meth:`run_results`, in no particular order), at most
        ``chunksize`` rows at a time, streamed from the database: a night of a million agents
        is never held whole. The first chunk may be empty; every chunk has the columns."""
        with self.engine.connect().execution_options(stream_results=True) as conn:
            yield from _live_and_archived(conn, scores, scores_archive, run_id, chunksize)

    def day_sizes(self) -> dict[str, int]:
        """Agents scored on each stored day (the night's size, which sets its bar)."""
        with self.engine.connect() as conn:
            return {d: int(n) for d, n in conn.execute(select(scores.c.day, func.count()).group_by(scores.c.day))}

    def scores_of(self, agents: list[str], first: str | None = None) -> pd.DataFrame:
        """The stored scores of these agents (from ``first``), by day: day, agent_id, score,
        rank, flagged, timezone, team, vendor."""
        cols = [scores.c.day, scores.c.agent_id, scores.c.score, scores.c.rank, scores.c.flagged, scores.c.timezone, scores.c.team, scores.c.vendor]
        parts = []
        with self.engine.connect() as conn:
            for i in range(0, len(agents), 500):
                q = select(*cols).where(scores.c.agent_id.in_(agents[i : i + 500]))
                if first:
                    q = q.where(scores.c.day >= first)
                parts.append(pd.read_sql(q, conn))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[c.name for c in cols])
        return out.sort_values([DAY, s.AGENT_ID], kind="stable").reset_index(drop=True)

    def agent_days_of(self, pairs: list[tuple[str, str]]) -> tuple[pd.DataFrame, np.ndarray]:
        """The stored agent-days of these (day, agent_id) pairs, and the distinct customers
        they touched together (keyed hashes: how many people a case exposed)."""
        days_wanted = sorted({d for d, _ in pairs})
        agents_wanted = sorted({a for _, a in pairs})
        if not pairs:
            return typed_agent_days(pd.DataFrame(columns=[c.name for c in agent_days.columns])), np.zeros(0, np.uint64)
        with self.engine.connect() as conn:
            frame = pd.read_sql(select(agent_days).where(agent_days.c.day.in_(days_wanted), agent_days.c.agent_id.in_(agents_wanted)), conn)
            rows = conn.execute(select(touched.c.day, touched.c.agent_id, touched.c.hashes).where(touched.c.day.in_(days_wanted), touched.c.agent_id.in_(agents_wanted))).all()
        wanted = set(pairs)
        frame = typed_agent_days(frame[[(d, a) in wanted for d, a in zip(frame[DAY], frame[s.AGENT_ID])]].reset_index(drop=True))
        kept = [np.frombuffer(r[2], dtype="<u8") for r in rows if (r[0], r[1]) in wanted]
        hashes = np.unique(np.concatenate(kept)).astype(np.uint64) if kept else np.zeros(0, np.uint64)
        return frame, hashes

    def evidence(self, alert_key: str) -> pd.DataFrame:
        """The stored evidence rows of one alert, in stored (time) order."""
        with self.engine.connect() as conn:
            return pd.read_sql(select(evidence).where(evidence.c.alert_key == alert_key).order_by(evidence.c.id), conn)

    def evidence_of(self, alert_keys: list[str], *, per_agent: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The evidence of many alerts in a few queries: (rows, summary).

        rows: the stored evidence rows of those alerts, in stored (time) order, at most
        ``per_agent`` per alert and agent (all when None). summary: one row per alert_key
        with every stored row counted: ``accesses``, ``customers`` (distinct), ``first_seen``
        and ``last_seen`` (the earliest and latest stored timestamp)."""
        keys = sorted({str(k) for k in alert_keys})
        row_parts, summary_parts = [], []
        with self.engine.connect() as conn:
            for i in range(0, len(keys), KEYS_PER_QUERY):
                rows, summary = _evidence_chunk(conn, keys[i : i + KEYS_PER_QUERY], per_agent)
                row_parts.append(rows)
                summary_parts.append(summary)
        empty_rows = pd.DataFrame(columns=[c.name for c in evidence.columns])
        empty_summary = pd.DataFrame(columns=["alert_key", "accesses", "customers", "first_seen", "last_seen"])
        return (
            pd.concat(row_parts, ignore_index=True) if row_parts else empty_rows,
            pd.concat(summary_parts, ignore_index=True) if summary_parts else empty_summary,
        )
