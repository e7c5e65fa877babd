"""Engines that count a day's events into agent-days.

Every engine gives the day's agent-days and touched sets of the reference,
:class:`detector.aggregate.DayAggregator`, column for column:

- ``python``: the reference, numpy and pandas in this process, fed the events this
  process reads (``add``/``finish``, in :data:`ENGINES`).
- ``duckdb`` (the default), ``spark`` and ``sql``: the Ibis expressions of
  :mod:`detector.engines.relational` and :mod:`detector.engines.expression`, run where the
  events are (:mod:`detector.engines.query`: DuckDB over local files, Spark over a lake's
  files, a warehouse table); only the counts come back, and :func:`assemble` makes them
  agent-days here. :data:`ENGINES` also holds a ``duckdb`` counter fed this process's
  events batch by batch (:class:`DuckDBDayAggregator`), which the equality tests and the
  benchmark compare with the reference.

tests/test_engines.py and tests/test_query_engines.py hold them to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector import schema as s
from detector.aggregate import (
    _FLAG_COUNTS,
    _NS_PER_DAY,
    AGENT_DAY_COLUMNS,
    HOURS,
    DayAggregator,
    Touched,
    agent_day_rows,
    customer_hashes,
    empty_agent_days,
    touched_in_groups,
)
from detector.engines.expression import QUARTERS, day_counts
from detector.errors import UsageError
from detector.registry import Registry

if TYPE_CHECKING:
    from detector.config import EngineSettings

__all__ = ["ENGINES", "ENGINE_NAMES", "DayCounter", "DuckDBDayAggregator", "count_table", "day_aggregator", "engine_version", "event_table"]


class DayCounter(Protocol):
    """What the run path needs of an engine: the events fed and the counts at the end."""

    events: int

    def add(self, events: pd.DataFrame) -> None: ...

    def finish(self) -> tuple[pd.DataFrame, Touched | None]: ...


#: name -> factory(day, timezones, settings) of a :class:`DayCounter`
ENGINES: Registry[Callable[..., DayCounter]] = Registry("engine")


@ENGINES.register("python")
def _python(day: str, timezones: dict[str, str] | None, settings: EngineSettings) -> DayCounter:
    return DayAggregator(day, timezones=timezones)


@ENGINES.register("duckdb")
def _duckdb(day: str, timezones: dict[str, str] | None, settings: EngineSettings) -> DayCounter:
    return DuckDBDayAggregator(day, timezones=timezones, memory_limit=settings.memory_limit, threads=settings.threads or None)


#: every engine's name: those that count what this process read, and the query engines,
#: which read the sources themselves (:mod:`detector.engines.query`)
ENGINE_NAMES: list[str] = sorted([*ENGINES, "spark", "sql"])


def day_aggregator(settings: EngineSettings, day: str, timezones: dict[str, str] | None = None) -> DayCounter:
    """A fresh counter of ``day`` by the configured engine (a UsageError naming the known ones)."""
    return ENGINES.lookup(settings.name)(day, timezones, settings)


def engine_version(engine: str) -> str:
    """What the run manifest records of the engine: its name and library version."""
    if engine == "duckdb":
        import duckdb
        import ibis

        return f"duckdb {duckdb.__version__}, ibis {ibis.__version__}"
    if engine == "python":
        return f"python (pandas {pd.__version__}, numpy {np.__version__})"
    if engine == "spark":
        import ibis
        import pyspark

        return f"spark {pyspark.__version__}, ibis {ibis.__version__}"
    if engine == "sql":
        import ibis
        import sqlglot

        return f"sql (ibis {ibis.__version__}, sqlglot {sqlglot.__version__})"
    raise UsageError(f"unknown engine {engine!r}")


class DuckDBDayAggregator:
    """:class:`~detector.aggregate.DayAggregator`'s counts by DuckDB in this process.

    Batches are appended to a DuckDB table (the day's events never held by Python whole:
    DuckDB keeps them within ``memory_limit``, spilling to its temporary directory); the
    counts are the Ibis expression of :func:`detector.engines.expression.day_counts`,
    compiled for DuckDB. Only per-agent rows and each agent's distinct customers come back,
    and those are hashed here, in chunks, by the same keyed hash as the reference.
    """

    def __init__(self, day: str, *, timezones: dict[str, str] | None = None, memory_limit: str = "768MB", threads: int | None = None) -> None:
        import ibis

        self.day = day
        self.timezones = timezones or {}
        self._start_ns = int(pd.Timestamp(day, tz="UTC").value)
        config: dict[str, Any] = {"memory_limit": memory_limit}
        if threads:
            config["threads"] = threads
        self._con = ibis.duckdb.connect(**config)
        self._table: Any = None
        self.events = 0

    def add(self, events: pd.DataFrame) -> None:
        """Append a batch of the day's canonical, de-duplicated events."""
        n = len(events)
        if n == 0:
            return
        ns = events[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64) - self._start_ns
        if ns.min() < 0 or ns.max() >= _NS_PER_DAY:
            raise ValueError(f"events outside {self.day} fed to its aggregation")
        table = event_table(events)
        if self._table is None:
            self._table = self._con.create_table("events", table)
        else:
            self._con.insert("events", table)
        self.events += n

    def finish(self) -> tuple[pd.DataFrame, Touched | None]:
        """The day's agent-days and touched sets, as the reference gives them."""
        if self._table is None:
            return empty_agent_days(), None
        try:
            return count_table(self._table, self.day, self.timezones)
        finally:
            self._con.drop_table("events")
            self._con.disconnect()


def event_table(events: pd.DataFrame) -> pa.Table:
    """Canonical events as an engine's table holds them: the text columns and ``us``, whole
    microseconds since the epoch, cut down (minutes and quarter hours stay those of the
    nanoseconds, since both are whole numbers of microseconds)."""
    columns: dict[str, Any] = {c: events[c] for c in s.STRING_COLUMNS}
    columns["us"] = events[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1000
    return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)


def count_table(table: Any, day: str, timezones: dict[str, str] | None = None) -> tuple[pd.DataFrame, Touched | None]:
    """The agent-days and touched sets of one day's events held in ``table``, an Ibis table
    of any backend (DuckDB here; PostgreSQL in the tests) with the text columns and ``us``
    (:func:`event_table`): the expression runs there, only its per-agent results come back."""
    start = int(pd.Timestamp(day, tz="UTC").value // 1000)
    return assemble(day, fetch(day_counts(table, start)), timezones or {})


def fetch(counts: dict[str, Any]) -> dict[str, Any]:
    """The :func:`detector.engines.expression.day_counts` tables as Arrow; the touched lists
    as a stream of batches (read, and hashed, by :func:`assemble` while the engine holds the
    day's rows)."""
    return {name: stream(expr) if name == "touched" else expr.to_pyarrow() for name, expr in counts.items()}


def stream(expr: Any) -> pa.RecordBatchReader:
    """``expr``'s rows as a stream of Arrow batches (DuckDB's through its own connection:
    Ibis's cursor for them does not work with DuckDB 2)."""
    backend = expr._find_backend()
    if backend.name == "duckdb":
        return backend.con.sql(str(backend.compile(expr.as_table()))).to_arrow_reader(HASH_CHUNK)
    return expr.to_pyarrow_batches(chunk_size=HASH_CHUNK)


def assemble(day: str, parts: dict[str, Any], timezones: dict[str, str]) -> tuple[pd.DataFrame, Touched | None]:
    """The agent-days and touched sets of an engine's fetched :func:`day_counts` tables
    (:func:`fetch`), which it takes out of ``parts`` as it is done with each (a day of a
    million agents holds a few hundred MB in them)."""
    agents = parts.pop("agents")
    G = agents.num_rows
    if G == 0:
        return empty_agent_days(), None
    keys = agents.column(s.AGENT_ID).combine_chunks()
    ids = keys.to_numpy(zero_copy_only=False)

    def aligned(table: pa.Table, column: str) -> np.ndarray:
        out = np.zeros(G, np.int64)
        if table.num_rows:
            at = _positions(table.column(s.AGENT_ID), keys)
            out[at] = table.column(column).to_numpy(zero_copy_only=False)
        return out

    cols = {c: agents.column(c).to_numpy(zero_copy_only=False).astype(np.int64) for c in (*_FLAG_COUNTS, "customers", "ticketless_customers", "tickets", "first_seen", "last_seen")}
    cols["sequential_customers"] = aligned(parts["sequential"], "sequential_customers")
    cols["off_primary_views"] = aligned(parts["off_primary"], "off_primary_views")
    missing = [c for c in AGENT_DAY_COLUMNS[2:] if c not in HOURS and c != "outside_shift_events" and c not in cols]
    if missing:  # pragma: no cover - the expression and the columns are defined together
        raise AssertionError(f"engine counts lack {missing}")
    del agents  # its columns are copied into cols
    hours = _local_hours(day, ids, parts.pop("quarters"), keys, timezones)
    out, rank = agent_day_rows(day, ids, cols, hours)
    del cols, hours  # in the frame
    g_agent, lengths, hashes = _touched_hashes(parts.pop("touched"), keys)
    return out, touched_in_groups(day, ids, rank, g_agent, lengths, hashes)


#: customer ids hashed at a time (their text is held as Python strings only so many at once)
HASH_CHUNK = 1 << 20


def _positions(agent_ids: pa.Array | pa.ChunkedArray, keys: pa.Array) -> np.ndarray:
    """Where each of ``agent_ids`` stands in ``keys`` (the day's agents), found by Arrow: no
    agent id becomes a Python string (a day of a million agent ids holds several such
    columns, and each would cost a few hundred MB as Python strings)."""
    found = pc.index_in(agent_ids.cast(keys.type), value_set=keys)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _touched_hashes(touched: pa.Table | pa.RecordBatchReader, keys: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each agent's group of the engine's ``touched`` lists (agent id, list of customer ids),
    batch by batch: the agent's position in ``keys``, the list's length, and every customer's
    keyed hash (:func:`customer_hashes`), hashed :data:`HASH_CHUNK` at a time."""
    agents: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    batches = touched.to_batches() if isinstance(touched, pa.Table) else touched
    for batch in batches:
        if not batch.num_rows:
            continue
        agents.append(_positions(batch.column(s.AGENT_ID), keys))
        lists = batch.column("customers")
        lengths.append(pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64))
        values = pc.list_flatten(lists)
        for k in range(0, len(values), HASH_CHUNK):
            hashes.append(customer_hashes(values.slice(k, HASH_CHUNK).to_numpy(zero_copy_only=False)))
    if not agents:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(agents), np.concatenate(lengths), np.concatenate(hashes).astype(np.uint64, copy=False) if hashes else np.zeros(0, np.uint64)


def _local_hours(day: str, ids: np.ndarray, quarters: pa.Table, keys: pa.Array, timezones: dict[str, str]) -> np.ndarray:
    """Agents x 24 local-hour counts from events per UTC quarter hour of ``day``."""
    hours = np.zeros((len(ids), 24), np.int32)
    if not quarters.num_rows:
        return hours
    agent = _positions(quarters.column(s.AGENT_ID), keys)
    quarter = quarters.column("quarter").to_numpy(zero_copy_only=False).astype(np.int64)
    n = quarters.column("n").to_numpy(zero_copy_only=False).astype(np.int64)
    local = (np.arange(QUARTERS) // 4)[None, :]  # the local hour of each quarter, per zone: row 0 UTC
    zone_row = np.zeros(len(ids), np.int64)
    if timezones:
        zones = pd.Series(ids).map(timezones).to_numpy()
        named = list(pd.unique(zones[pd.notna(zones)]))
        instants = pd.to_datetime(pd.Timestamp(day, tz="UTC").value + np.arange(QUARTERS) * 900_000_000_000, utc=True)
        local = np.vstack([local, *[pd.DatetimeIndex(instants).tz_convert(str(z)).hour.to_numpy() for z in named]])
        for k, z in enumerate(named, start=1):
            zone_row[zones == z] = k
    np.add.at(hours, (agent, local[zone_row[agent], quarter]), n)
    return hours
