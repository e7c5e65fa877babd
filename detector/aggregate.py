"""Events to agent-days: one row per agent per UTC day of counts.

The only stage whose cost grows with the number of events, so every count here is one that a
SQL engine computes with GROUP BY, COUNT(DISTINCT ...) and a window function (the ticket's
primary customer, consecutive customer ids): when logs outgrow one machine this stage runs
where the logs live and only agent-days come back. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector import schema as s

DAY = "day"

#: the count columns of an agent-day, in order, with what each counts
COUNTS: dict[str, str] = {
    "events": "accesses of any kind",
    "views": "views of a customer record",
    "customers": "distinct customers touched",
    "tickets": "distinct tickets worked under",
    "ticketless_views": "views made under no ticket",
    "ticketless_customers": "distinct customers viewed under no ticket",
    "off_primary_views": "views under a ticket of a customer who is not that ticket's main customer",
    "id_document_views": "views of identity documents",
    "address_views": "views of addresses",
    "financial_views": "views of balances and transactions",
    "high_value_views": "views of high-value customers",
    "searches": "customer searches",
    "edits": "notes and updates",
    "exports": "exports and list downloads",
    "sequential_customers": "customers in runs of 3 or more consecutive ids touched that day",
    "outside_shift_events": "accesses outside the busiest 9-hour block of the day (local hours)",
}
HOURS = [f"h{h:02d}" for h in range(24)]
#: shortest run of consecutive customer ids counted as enumeration
SEQUENTIAL_RUN = 3
#: hours in the busiest block of a working day; accesses outside it are outside the shift
SHIFT_BLOCK_HOURS = 9
AGENT_DAY_COLUMNS = [DAY, s.AGENT_ID, *COUNTS, "first_seen", "last_seen", *HOURS]


_NS_PER_DAY = 86_400_000_000_000
_NS_PER_QUARTER = 900_000_000_000


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and the distinct values, in order of appearance."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), pd.Index(uniques)


def _mask(values: pd.Series, *accepted: str) -> np.ndarray:
    return values.isin(list(accepted)).fillna(False).to_numpy(bool)


def aggregate(events: pd.DataFrame, *, timezones: dict[str, str] | None = None) -> pd.DataFrame:
    """Count one or more complete days of canonical events per agent and UTC day.

    Parameters
    ----------
    events : DataFrame
        Canonical, validated, de-duplicated events (schema.EVENT_COLUMNS). Every day present
        must be complete: distinct counts are exact only over a whole day.
    timezones : dict, optional
        agent_id -> IANA zone for the hour-of-day buckets; agents not in it use UTC.

    Returns
    -------
    DataFrame
        :data:`AGENT_DAY_COLUMNS`: ``day`` (YYYY-MM-DD), ``agent_id``, the :data:`COUNTS`,
        ``first_seen``/``last_seen`` (minutes after UTC midnight) and ``h00``..``h23`` (events
        per local hour). One row per agent and day with at least one event, sorted by day
        and agent.

    Notes
    -----
    The same counts as feeding each day to a :class:`DayAggregator` batch by batch (which
    is what the pipelines do, so that a day's memory does not grow with its events).
    """
    return aggregate_days(events, timezones=timezones)[0]


def aggregate_days(events: pd.DataFrame, *, timezones: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[Touched]]:
    """:func:`aggregate` and :func:`touched` of whole days in memory, in one pass."""
    if events.empty:
        return empty_agent_days(), []
    days = events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    frames: list[pd.DataFrame] = []
    sets: list[Touched] = []
    for day, rows in events.groupby(days, sort=True):
        agg = DayAggregator(str(day), timezones=timezones)
        agg.add(rows)
        agent_days, day_touched = agg.finish()
        frames.append(agent_days)
        assert day_touched is not None  # a day with rows has touched sets
        sets.append(day_touched)
    return pd.concat(frames, ignore_index=True), sets


def empty_agent_days() -> pd.DataFrame:
    """No agent-days, with the columns and dtypes of :func:`aggregate`."""
    return pd.DataFrame({c: pd.Series(dtype="int32") for c in AGENT_DAY_COLUMNS}).astype({DAY: s.STRING_DTYPE, s.AGENT_ID: s.STRING_DTYPE})


#: the action of a view of a customer record
VIEW = "view"
#: views of a kind: count -> (column, the values that make a view of that kind)
VIEW_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "id_document_views": (s.RESOURCE, ("id_document",)),
    "address_views": (s.RESOURCE, ("address",)),
    "financial_views": (s.RESOURCE, ("balance", "transactions")),
    "high_value_views": (s.CUSTOMER_TIER, (s.HIGH_VALUE_TIER,)),
}
#: accesses of a kind: count -> the actions that count
ACTION_KINDS: dict[str, tuple[str, ...]] = {
    "searches": ("search",),
    "edits": ("note", "update"),
    "exports": ("export", "list", "download", "print"),
}
#: the pattern of a customer id's trailing number (at most 15 digits: exact as a float64)
#: and the text before it; the same in RE2 (Arrow, DuckDB) and Java (Spark)
CUSTOMER_NUMBER = r"^(?P<prefix>.*?)(?P<digits>\d{1,15})$"

#: the additive per-event flags counted per agent-day (the rest are distinct counts)
_FLAG_COUNTS = ("events", "views", "ticketless_views", "id_document_views", "address_views", "financial_views", "high_value_views", "searches", "edits", "exports")
#: odd 64-bit multiplier that spreads small agent codes over the hash space in combined keys
_MIX = np.uint64(0x9E3779B97F4A7C15)
#: key of the 64-bit hashes that stand for ticket ids and id prefixes inside one aggregation
_TICKET_HASH_KEY = "insiderwatch-t01"


class _HashSet:
    """A set of 64-bit hashes (8 bytes each), in sorted runs merged as they grow, kept apart
    in 16 partitions by the hash's top bits so that a merge never copies more than a
    sixteenth of them."""

    def __init__(self) -> None:
        self._runs: list[list[np.ndarray]] = [[] for _ in range(_PARTS)]  # per partition, longest first

    def _probe(self, keys: np.ndarray, insert: bool) -> np.ndarray:
        """Mask of ``keys`` (distinct) not held; with ``insert``, those are added."""
        fresh = np.ones(len(keys), bool)
        if not len(keys):
            return fresh
        order = np.argsort(keys, kind="stable")  # sorted probes: cache-friendly searches, and
        sorted_keys = keys[order]  # each partition is one contiguous range of them
        bounds = np.r_[np.searchsorted(sorted_keys, np.arange(_PARTS, dtype=np.uint64) << _PART_SHIFT), len(keys)]
        for p in range(_PARTS):
            lo, hi = bounds[p], bounds[p + 1]
            if lo == hi:
                continue
            k = sorted_keys[lo:hi]
            ok = np.ones(len(k), bool)
            for run in self._runs[p]:
                pos = np.minimum(np.searchsorted(run, k), len(run) - 1)
                ok &= run[pos] != k
            fresh[order[lo:hi]] = ok
            new = k[ok]  # already sorted
            if insert and len(new):
                runs = self._runs[p]
                runs.append(new)
                while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
                    last = runs.pop()
                    runs[-1] = np.sort(np.concatenate([runs[-1], last]))
        return fresh

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Add distinct ``keys``; mask of those that were not held before."""
        return self._probe(keys, insert=True)

    def missing(self, keys: np.ndarray) -> np.ndarray:
        """Mask of distinct ``keys`` not held."""
        return self._probe(keys, insert=False)

    def __len__(self) -> int:
        return sum(len(r) for runs in self._runs for r in runs)


class Deduplicator:
    """Exact duplicate events of one day counted once, batch by batch: the same
    ``event_id`` and the same content (every other column) where there is an event id,
    else the same values in every column; the first occurrence is kept.

    Rows that share an ``event_id`` but differ in any other column are all kept (an event
    id that comes from the client must not let one row hide others) and counted as
    conflicting: ``conflicting_ids`` distinct ids, carried by ``conflicting_rows`` kept rows
    (every distinct content of such an id), with the agents of those rows in
    ``conflict_agents`` (rows of one batch; an id's first row in an earlier batch is not
    named).

    Holds one 64-bit keyed hash per distinct event seen (the id key of :func:`event_keys`
    combined with a hash of the row's content, 8 bytes an event) and one per distinct event
    id (8 bytes), never the events themselves; see :class:`_HashSet`.
    """

    def __init__(self) -> None:
        self._events = _HashSet()  # distinct events: (id key, content) combined, or the row key
        self._ids = _HashSet()  # distinct event ids (their keys)
        self._conflicting = _HashSet()  # the event ids seen with different contents
        self.dropped = 0
        self.conflicting_ids = 0
        self.conflicting_rows = 0
        self.conflict_agents: Counter[str] = Counter()

    def keep(self, events: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``events`` not seen before (in this or an earlier batch)."""
        if events.empty:
            return np.zeros(0, bool)
        keys = event_keys(events)
        has = events[s.EVENT_ID].notna().to_numpy(bool)
        event = keys.copy()
        if has.any():
            event[has] = _combine(keys[has], content_keys(events.loc[has]))
        keep = ~pd.Series(event).duplicated().to_numpy()
        first = np.flatnonzero(keep)
        keep[first] = self._events.add(event[first])
        self.dropped += int(len(keys) - keep.sum())
        kept_ids = np.flatnonzero(keep & has)
        if len(kept_ids):
            self._conflicts(events, keys, kept_ids)
        return keep

    def _conflicts(self, events: pd.DataFrame, keys: np.ndarray, rows: np.ndarray) -> None:
        """Count the event ids of the kept ``rows`` (distinct contents) held with another content."""
        ids = keys[rows]
        repeated = pd.Series(ids).duplicated(keep=False).to_numpy()  # several contents in this batch
        distinct = pd.unique(ids)
        seen_before = ~self._ids.add(distinct)
        if not (repeated.any() or seen_before.any()):
            return
        earlier = pd.Series(distinct[seen_before])
        conflicting = pd.unique(np.concatenate([ids[repeated], earlier.to_numpy(np.uint64)]))
        new = self._conflicting.add(conflicting)
        # rows carrying an id that conflicts for the first time: all its contents so far
        # (one row held from an earlier batch when it was seen before, else this batch's)
        newly = conflicting[new]
        in_batch = pd.Series(ids).isin(newly).to_numpy()
        self.conflicting_ids += len(newly)
        self.conflicting_rows += int(in_batch.sum()) + int(pd.Series(newly).isin(earlier).sum())
        # rows carrying an id already known to conflict: one more content each
        known = ~pd.Series(ids).isin(newly).to_numpy() & ~self._conflicting.missing(ids)
        self.conflicting_rows += int(known.sum())
        carrying = in_batch | known
        self.conflict_agents.update(events[s.AGENT_ID].iloc[rows[carrying]].astype(str).value_counts().to_dict())

    @property
    def held(self) -> int:
        """Event hashes held (one per distinct event)."""
        return len(self._events)


#: partitions of the de-duplication hashes and of the partial aggregates, by a key's top bits
_PARTS = 16
#: rows a partition of partial aggregates lets wait before merging them in (at least)
MERGE_MIN_ROWS = 32_768
_PART_SHIFT = np.uint64(60)


def _partitions(keys: np.ndarray):
    """(partition, row indices) for every partition that holds rows, rows in order."""
    part = (keys >> _PART_SHIFT).astype(np.intp)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(_PARTS + 1))
    for p in range(_PARTS):
        if bounds[p] < bounds[p + 1]:
            yield p, order[bounds[p] : bounds[p + 1]]


#: key of the 64-bit hashes that identify events for de-duplication
_EVENT_HASH_KEY = "insiderwatch-e01"


def event_keys(events: pd.DataFrame) -> np.ndarray:
    """A 64-bit key per event: a keyed hash of its ``event_id`` when it has one, else of
    every column's value (rows equal in every column get the same key)."""
    keys = np.empty(len(events), np.uint64)
    ids = events[s.EVENT_ID]
    has = ids.notna().to_numpy(bool)
    if has.any():
        keys[has] = pd.util.hash_array(ids[has].to_numpy(object), hash_key=_EVENT_HASH_KEY, categorize=False)
    if (~has).any():
        rows = events.loc[~has, list(s.EVENT_COLUMNS)]
        keys[~has] = pd.util.hash_pandas_object(rows, index=False, hash_key=_EVENT_HASH_KEY).to_numpy(np.uint64) ^ np.uint64(0xA5A5A5A5A5A5A5A5)
    return keys


def content_keys(events: pd.DataFrame) -> np.ndarray:
    """A 64-bit keyed hash per event of every canonical column but ``event_id``: rows with
    the same event id are exact duplicates only when these are equal too."""
    columns = [c for c in s.EVENT_COLUMNS if c != s.EVENT_ID]
    return pd.util.hash_pandas_object(events[columns], index=False, hash_key=_EVENT_HASH_KEY).to_numpy(np.uint64) ^ np.uint64(0x5A5A5A5A5A5A5A5A)


class _Partials:
    """Rows keyed by a 64-bit key, merged by key now and then: the distinct (agent,
    customer) pairs, customers or (agent, ticket, customer) triples of a day so far.

    Columns are numpy arrays. Rows are kept in 16 partitions by the key's top bits; a
    partition's new rows (already distinct within their batch) wait in a list until they
    reach half its merged rows, then are folded in. Memory stays within about one and a
    half times the distinct keys, however many events repeat them, and a merge copies one
    partition at a time.
    """

    def __init__(self, reduce: dict[str, str]) -> None:
        self.reduce = reduce  # column -> "first", "min", "max" or "sum" (besides "key")
        self.merged: list[dict | None] = [None] * _PARTS
        self.pending: list[list[dict]] = [[] for _ in range(_PARTS)]
        self.pending_rows = [0] * _PARTS

    @property
    def rows(self) -> int:
        return sum(len(m["key"]) for m in self.merged if m is not None) + sum(self.pending_rows)

    def add(self, columns: dict[str, np.ndarray]) -> None:
        for p, idx in _partitions(columns["key"]):
            self.pending[p].append({c: v[idx] for c, v in columns.items()})
            self.pending_rows[p] += len(idx)
            merged = self.merged[p]
            held = len(merged["key"]) if merged is not None else 0
            if self.pending_rows[p] >= max(held // 2, MERGE_MIN_ROWS):
                self._merge(p)

    def _merge(self, p: int) -> None:
        merged = self.merged[p]
        parts = ([merged] if merged is not None else []) + self.pending[p]
        self.pending[p], self.pending_rows[p] = [], 0
        if not parts:
            return
        cols = {c: np.concatenate([x[c] for x in parts]) if len(parts) > 1 else parts[0][c] for c in parts[0]}
        inverse, keys = pd.factorize(cols["key"])
        if len(keys) == len(inverse):
            self.merged[p] = cols
            return
        out = {"key": keys.astype(np.uint64)}
        first = _first_of_inverse(inverse, len(keys))
        for col, how in self.reduce.items():
            values = cols[col]
            if how == "first":
                out[col] = values[first]
            elif how == "sum":
                out[col] = np.bincount(inverse, weights=values, minlength=len(keys)).astype(values.dtype)
            else:
                acc = values[first].copy()
                (np.minimum if how == "min" else np.maximum).at(acc, inverse, values)
                out[col] = acc
        self.merged[p] = out

    def result(self, dtypes: dict[str, str]) -> dict[str, np.ndarray]:
        """Every row, merged: column -> array (empty arrays of ``dtypes`` when none)."""
        for p in range(_PARTS):
            self._merge(p)
        merged = [m for m in self.merged if m is not None]
        self.merged = [None] * _PARTS  # handed over: the caller's arrays are the only copy
        if not merged:
            return {"key": np.zeros(0, np.uint64), **{c: np.zeros(0, d) for c, d in dtypes.items()}}
        out = {}
        for c in list(merged[0]):  # a column at a time, dropping the parts as they are joined
            out[c] = np.concatenate([m.pop(c) for m in merged])
        return out


class DayAggregator:
    """The counts of :func:`aggregate` for one UTC day, fed the day's events batch by batch.

    Additive counts (events, views, ... and the 24 local-hour buckets) are summed per agent
    as batches arrive; the distinct counts keep, instead of events, the day's distinct
    (agent, customer) pairs and (agent, ticket, customer) triples with a few numbers each,
    merged as they grow. Memory is bounded by the day's distinct pairs and triples, not by
    its events. Customer and ticket ids are held as 64-bit keyed hashes.

    Parameters
    ----------
    day : str
        The UTC day (YYYY-MM-DD) every event fed belongs to.
    timezones : dict, optional
        agent_id -> IANA zone for the hour buckets; agents not in it use UTC.

    Notes
    -----
    Feed de-duplicated events (see :class:`Deduplicator`). The result depends neither on
    their order nor on how they are cut into batches: a ticket's main customer is the one
    with the most accesses under it that day, ties to the customer first accessed that day
    (in time, to the microsecond; customers tied on both are all main).
    """

    def __init__(self, day: str, *, timezones: dict[str, str] | None = None) -> None:
        self.day = day
        self.timezones = timezones or {}
        self._start = int(pd.Timestamp(day, tz="UTC").value)
        self._agents: dict[str, int] = {}
        self._counts = np.zeros((0, len(_FLAG_COUNTS)), np.int64)
        # int32: an agent's day holds fewer than 2**31 events (checked as they add up)
        self._hours = np.zeros((0, 24), np.int32)
        self._first = np.zeros(0, np.int64)
        self._last = np.zeros(0, np.int64)
        self._pairs = _Partials({"agent": "first", "customer": "first", "ticketless": "max"})
        self._customers = _Partials({"first": "min", "number": "first", "prefix": "first"})
        self._triples = _Partials({"agent": "first", "ticket": "first", "customer": "first", "accesses": "sum", "views": "sum"})
        self.events = 0

    @property
    def held_rows(self) -> int:
        """Rows of partial aggregates held now (pairs and triples, merged and waiting): what
        the day's memory grows with, instead of its events (with the de-duplication
        hashes: 8 bytes an event)."""
        return self._pairs.rows + self._customers.rows + self._triples.rows

    def _agent_codes(self, ids: pd.Index) -> np.ndarray:
        codes = np.empty(len(ids), np.int64)
        for i, a in enumerate(ids):
            code = self._agents.get(a)
            if code is None:
                code = self._agents[a] = len(self._agents)
            codes[i] = code
        n = len(self._agents)
        if n > len(self._first):
            grow = max(n, 2 * len(self._first)) - len(self._first)
            self._counts = np.vstack([self._counts, np.zeros((grow, len(_FLAG_COUNTS)), np.int64)])
            self._hours = np.vstack([self._hours, np.zeros((grow, 24), np.int32)])
            self._first = np.r_[self._first, np.full(grow, np.iinfo(np.int64).max)]
            self._last = np.r_[self._last, np.full(grow, -1)]
        return codes

    def add(self, events: pd.DataFrame) -> None:
        """Count a batch of the day's canonical, de-duplicated events."""
        n = len(events)
        if n == 0:
            return
        ns = events[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        offset = ns - self._start
        if offset.min() < 0 or offset.max() >= _NS_PER_DAY:
            raise ValueError(f"events outside {self.day} fed to its aggregation")
        agent, agent_ids = _codes(events[s.AGENT_ID])
        code = self._agent_codes(agent_ids)
        A = len(agent_ids)
        customer, customer_ids = _codes(events[s.CUSTOMER_ID])
        ticket, ticket_ids = _codes(events[s.TICKET_ID])
        action = events[s.ACTION]
        view = _mask(action, VIEW)
        has_ticket = ticket >= 0
        flags = {
            "events": np.ones(n, bool),
            "views": view,
            "ticketless_views": view & ~has_ticket,
            **{name: view & _mask(events[column], *values) for name, (column, values) in VIEW_KINDS.items()},
            **{name: _mask(action, *values) for name, values in ACTION_KINDS.items()},
        }
        self._counts[code] += np.stack([np.bincount(agent, weights=flags[f], minlength=A) for f in _FLAG_COUNTS], axis=1).astype(np.int64)
        if self._counts[code, 0].max() > np.iinfo(np.int32).max:  # "events": the hours' int32 would wrap
            raise ValueError(f"an agent with more than {np.iinfo(np.int32).max:,} events on {self.day}: not counted")
        hour = _local_hours(ns, agent, agent_ids, self.timezones)
        self._hours[code] += np.bincount(agent * 24 + hour, minlength=A * 24).reshape(A, 24)
        minute = offset // 60_000_000_000
        order = np.argsort(agent, kind="stable")
        starts = np.searchsorted(agent[order], np.arange(A))
        self._first[code] = np.minimum(self._first[code], np.minimum.reduceat(minute[order], starts))
        self._last[code] = np.maximum(self._last[code], np.maximum.reduceat(minute[order], starts))

        # the batch's customers: each one's first access (whole microseconds), id number and prefix
        C = max(len(customer_ids), 1)
        c_hash = customer_hashes(customer_ids)
        number, prefix = customer_numbers(customer_ids)
        self._customers.add(
            {
                "key": c_hash,
                "first": _first_access(ns // 1000, customer, len(customer_ids)),
                "number": number.to_numpy(float),
                "prefix": _hash(prefix.to_numpy(object)),
            }
        )
        # distinct (agent, customer) pairs: any view under no ticket
        pair_inv, pair_keys = pd.factorize(agent * C + customer)
        tl = np.zeros(len(pair_keys), bool)
        tl[pair_inv[flags["ticketless_views"]]] = True
        pa_agent, pa_customer = code[pair_keys // C].astype(np.int32), c_hash[pair_keys % C]
        self._pairs.add({"key": _combine(pa_agent, pa_customer), "agent": pa_agent, "customer": pa_customer, "ticketless": tl})
        # distinct (agent, ticket, customer) triples: accesses and views under the ticket
        if has_ticket.any():
            T = len(ticket_ids)
            t_hash = _hash(np.asarray(ticket_ids, dtype=object))
            at_inv, at_keys = pd.factorize(agent[has_ticket] * T + ticket[has_ticket])  # keys < n * n
            tri_inv, tri_keys = pd.factorize(at_inv.astype(np.int64) * C + customer[has_ticket])
            at = at_keys[tri_keys // C]
            tr_agent = code[at // T].astype(np.int32)
            tr_ticket = t_hash[at % T]
            tr_customer = c_hash[tri_keys % C]
            self._triples.add(
                {
                    "key": _combine(tr_agent, _combine(tr_ticket, tr_customer)),
                    "agent": tr_agent,
                    "ticket": tr_ticket,
                    "customer": tr_customer,
                    "accesses": np.bincount(tri_inv, minlength=len(tri_keys)).astype(np.int64),
                    "views": np.bincount(tri_inv, weights=view[has_ticket], minlength=len(tri_keys)).astype(np.int64),
                }
            )
        self.events += n

    def finish(self) -> tuple[pd.DataFrame, Touched | None]:
        """The day's agent-days (as :func:`aggregate`) and touched sets (as :func:`touched`)."""
        G = len(self._agents)
        if G == 0:
            return empty_agent_days(), None
        ids = np.array(list(self._agents), dtype=object)
        cols: dict[str, np.ndarray] = {f: self._counts[:G, i] for i, f in enumerate(_FLAG_COUNTS)}
        pairs = self._pairs.result({"agent": "int32", "customer": "uint64", "ticketless": "bool"})
        p_agent = pairs["agent"].astype(np.int64)
        p_customer = pairs["customer"]
        customers = self._customers.result({"first": "int64", "number": "float64", "prefix": "uint64"})
        by_key = np.argsort(customers["key"], kind="stable")
        sorted_keys = customers["key"][by_key]

        def customer_row(hashes: np.ndarray) -> np.ndarray:
            return by_key[np.searchsorted(sorted_keys, hashes)]

        cols["customers"] = np.bincount(p_agent, minlength=G)
        cols["ticketless_customers"] = np.bincount(p_agent, weights=pairs["ticketless"], minlength=G).astype(np.int64)
        c_row = customer_row(p_customer)
        cols["sequential_customers"] = _sequential(p_agent, customers["prefix"][c_row], customers["number"][c_row], G)
        del c_row
        triples = self._triples.result({"agent": "int32", "ticket": "uint64", "customer": "uint64", "accesses": "int64", "views": "int64"})
        cols["tickets"] = np.zeros(G, np.int64)
        cols["off_primary_views"] = np.zeros(G, np.int64)
        if len(triples["key"]):
            t_agent = triples["agent"].astype(np.int64)
            t_ticket = triples["ticket"]
            t_customer = triples["customer"]
            cols["tickets"] = np.bincount(t_agent[_first_of(_combine(t_agent, t_ticket))], minlength=G)
            # a ticket's main customer: the most accesses under it across the desk, ties to
            # the customer first accessed that day (by time, not by the order rows were
            # read in); customers tied on both are all main
            tc_inv, tc_keys = pd.factorize(_combine(t_ticket, t_customer))
            tc_n = np.bincount(tc_inv, weights=triples["accesses"], minlength=len(tc_keys))
            rep = _first_of_inverse(tc_inv, len(tc_keys))
            tc_ticket = t_ticket[rep]
            tc_first = customers["first"][customer_row(t_customer[rep])]
            tk_inv, tk_keys = pd.factorize(tc_ticket)
            top = np.zeros(len(tk_keys))
            np.maximum.at(top, tk_inv, tc_n)
            most = tc_n == top[tk_inv]
            earliest = np.full(len(tk_keys), np.iinfo(np.int64).max)
            np.minimum.at(earliest, tk_inv[most], tc_first[most])
            off = ~(most & (tc_first == earliest[tk_inv]))[tc_inv]
            cols["off_primary_views"] = np.bincount(t_agent, weights=triples["views"] * off, minlength=G).astype(np.int64)
        cols["first_seen"] = self._first[:G]
        cols["last_seen"] = self._last[:G]
        return agent_day_frame(self.day, ids, cols, self._hours[:G], p_agent, p_customer)


def _first_access(us: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """The earliest of ``us`` for each of ``n`` codes (every code present)."""
    out = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(out, codes, us)
    return out


def agent_day_frame(day: str, ids: np.ndarray, cols: dict[str, np.ndarray], hours: np.ndarray, p_agent: np.ndarray, p_customer: np.ndarray) -> tuple[pd.DataFrame, Touched]:
    """The day's agent-days and touched sets from per-agent counts, whatever counted them.

    ``ids``: the agents' ids (object array, distinct); ``cols``: every count of
    :data:`AGENT_DAY_COLUMNS` but the hours and ``outside_shift_events``, one array each
    aligned with ``ids`` (emptied); ``hours``: agents x 24 local-hour counts; ``p_agent``,
    ``p_customer``: the day's distinct (agent, customer) pairs as an index into ``ids`` and
    the customer's keyed hash (:func:`customer_hashes`). Rows come out in agent id order
    (code points), the counts as int32, touched sets sorted by hash within each agent.
    """
    out, rank = agent_day_rows(day, ids, cols, hours)
    # touched sets: each agent's customers in one sorted run, agents by id
    order = np.lexsort((p_customer, rank[p_agent]))
    present, counts = np.unique(rank[p_agent][order], return_counts=True)
    by_rank = ids[np.argsort(rank)]
    day_touched = Touched(day, by_rank[present], counts.astype(np.int64), p_customer[order].astype(np.uint64))
    return out, day_touched


def agent_day_rows(day: str, ids: np.ndarray, cols: dict[str, np.ndarray], hours: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The agent-days of :func:`agent_day_frame`, and each agent's rank in their order."""
    G = len(ids)
    cols["outside_shift_events"] = _outside_shift(hours)
    # rows by agent id (the ids are distinct: sorted by code point, as a string column
    # sorts), the counts moved one at a time into one int32 block (no count of an
    # agent-day exceeds its events, checked below 2**31 as they add up; first and last
    # seen are minutes of the day) and the hours into another: a day of a million
    # agents is held once, not once per step
    by_id = np.argsort(ids.astype(str), kind="stable")
    counted = [c for c in AGENT_DAY_COLUMNS[2:] if c not in HOURS]
    block = np.empty((len(counted), G), np.int32)
    for j, col in enumerate(counted):
        block[j] = cols.pop(col)[by_id]
    out = pd.DataFrame({DAY: pd.array([day] * G, dtype=s.STRING_DTYPE), s.AGENT_ID: pd.array(ids[by_id], dtype=s.STRING_DTYPE)})
    out = pd.concat([out, pd.DataFrame(block.T, columns=counted, copy=False), pd.DataFrame(hours[by_id], columns=HOURS, copy=False)], axis=1)
    rank = np.empty(G, np.int64)
    rank[by_id] = np.arange(G)
    return out, rank


def touched_in_groups(day: str, ids: np.ndarray, rank: np.ndarray, g_agent: np.ndarray, lengths: np.ndarray, hashes: np.ndarray) -> Touched:
    """The touched sets of :func:`agent_day_frame` from pairs that come grouped by agent:
    group ``i`` is agent ``ids[g_agent[i]]`` (each agent in one group at most) with the
    keyed hashes of its ``lengths[i]`` distinct customers, the groups' hashes one after the
    other in ``hashes``. Each group is sorted on its own (no sort of every pair at once: a
    day of tens of millions of pairs stays within a few times their 8 bytes)."""
    order = np.argsort(rank[g_agent], kind="stable")
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    out = np.empty(len(hashes), np.uint64)
    at = 0
    for g in order:
        n = int(lengths[g])
        out[at : at + n] = np.sort(hashes[starts[g] : starts[g] + n])
        at += n
    keep = order[lengths[order] > 0]
    return Touched(day, ids[g_agent[keep]], lengths[keep].astype(np.int64), out)


def _hash(values: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(np.asarray(values, dtype=object), hash_key=_TICKET_HASH_KEY, categorize=False)


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One 64-bit key for a pair of codes or hashes (collisions: about 1 in 2**64 per pair)."""
    with np.errstate(over="ignore"):
        return (a.astype(np.uint64) * _MIX + np.uint64(0x632BE59BD9B4E019)) ^ b.astype(np.uint64)


def _first_of(keys: np.ndarray) -> np.ndarray:
    """Index of the first row of each distinct key."""
    inverse, uniques = pd.factorize(keys)
    return _first_of_inverse(inverse, len(uniques))


def _first_of_inverse(inverse: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, len(inverse), np.int64)
    np.minimum.at(first, inverse, np.arange(len(inverse)))
    return first


def _sequential(agent: np.ndarray, prefix: np.ndarray, number: np.ndarray, G: int) -> np.ndarray:
    """Per agent, distinct customers in runs of SEQUENTIAL_RUN or more consecutive id
    numbers (same prefix): enumeration through ids. Pairs happen by chance on a busy day;
    runs of three almost never do. In SQL: gaps-and-islands over the sorted numbers."""
    ok = ~np.isnan(number)
    g, pre, num = agent[ok], prefix[ok], number[ok]
    if len(g) == 0:
        return np.zeros(G, np.int64)
    order = np.lexsort((num, pre, g))
    g, pre, num = g[order], pre[order], num[order]
    continues = np.r_[False, (g[1:] == g[:-1]) & (pre[1:] == pre[:-1]) & (num[1:] - num[:-1] == 1)]
    run = np.cumsum(~continues)
    length = np.bincount(run)[run]
    return np.bincount(g, weights=length >= SEQUENTIAL_RUN, minlength=G).astype(np.int64)


def outside_shift_events(agent_days: pd.DataFrame, block: int = SHIFT_BLOCK_HOURS) -> pd.Series:
    """Accesses outside the busiest ``block``-hour span (circular, local hours) of each
    agent-day: after-hours work shows here, a shift change does not."""
    return pd.Series(_outside_shift(agent_days[HOURS].to_numpy(dtype=np.int64), block), index=agent_days.index, dtype="int64")


def _outside_shift(hours: np.ndarray, block: int = SHIFT_BLOCK_HOURS, rows: int = 65_536) -> np.ndarray:
    """:func:`outside_shift_events` of an agents x 24 array of hour counts (``rows`` agents
    at a time: the running sums take three times the hours' own memory)."""
    out = np.empty(len(hours), np.int64)
    for i in range(0, len(hours), rows):
        part = hours[i : i + rows]
        doubled = np.concatenate([part, part[:, : block - 1]], axis=1)
        cs = np.concatenate([np.zeros((len(part), 1), np.int64), np.cumsum(doubled, axis=1)], axis=1)
        windows = cs[:, block : block + 24] - cs[:, :24]
        out[i : i + rows] = part.sum(axis=1) - windows.max(axis=1)
    return out


def customer_numbers(customers) -> tuple[pd.Series, pd.Series]:
    """The trailing number of each customer id (``C1000123`` -> 1000123; NaN when none) and
    the text before it."""
    arr = pa.array(pd.Series(customers, dtype=object).to_numpy(), type=pa.string(), from_pandas=True)
    parts = pc.extract_regex(arr, CUSTOMER_NUMBER)
    digits = pc.struct_field(parts, "digits").to_pandas()
    prefix = pc.struct_field(parts, "prefix").to_pandas()
    return pd.to_numeric(digits, errors="coerce"), prefix.fillna("")


def _local_hours(ns: np.ndarray, agent: np.ndarray, agent_ids: pd.Index, timezones: dict[str, str]) -> np.ndarray:
    """Local hour of each event. Time zones are resolved per quarter hour (every UTC offset
    in use is a multiple of 15 minutes), so each zone converts a few hundred instants, not
    every event."""
    hours = ((ns // 3_600_000_000_000) % 24).astype(np.int64)
    if not timezones:
        return hours
    zone_of_agent = pd.Series(np.asarray(agent_ids)).map(timezones).to_numpy()
    quarter = ns // _NS_PER_QUARTER
    for tz in pd.unique(zone_of_agent[pd.notna(zone_of_agent)]):
        mask = zone_of_agent[agent] == tz
        if not mask.any():
            continue
        q, inv = np.unique(quarter[mask], return_inverse=True)
        local = pd.DatetimeIndex(pd.to_datetime(q * _NS_PER_QUARTER, utc=True)).tz_convert(str(tz)).hour.to_numpy()
        hours[mask] = local[inv]
    return hours


#: key of the 64-bit hash that stands for a customer id in the store's touched sets (16 bytes).
#: Public and fixed, so the same customer hashes alike in every run and on every machine: it
#: keeps customer ids out of the touched sets, it is not a secret (customer id spaces are
#: small enough to enumerate).
CUSTOMER_HASH_KEY = "insiderwatch-c01"


@dataclass(frozen=True)
class Touched:
    """The distinct customers each agent touched on one day, as 64-bit hashes.

    ``hashes`` holds each agent's customers in one sorted run, agents in the order of
    ``agents``; ``counts[i]`` is the length of agent i's run.
    """

    day: str
    agents: np.ndarray  # agent ids (object)
    counts: np.ndarray  # int64, one per agent
    hashes: np.ndarray  # uint64

    def agent_codes(self) -> np.ndarray:
        """Index into ``agents`` of every hash."""
        return np.repeat(np.arange(len(self.agents)), self.counts)


def customer_hashes(values) -> np.ndarray:
    """Keyed 64-bit hash (SipHash) of each customer id."""
    return pd.util.hash_array(np.asarray(values, dtype=object), hash_key=CUSTOMER_HASH_KEY, categorize=False)


def touched(events: pd.DataFrame) -> list[Touched]:
    """Per UTC day in ``events``, the distinct customers each agent touched (any action).

    The SQL equivalent is ``SELECT DISTINCT day, agent_id, hash(customer_id)``; with the
    counts of :func:`aggregate` it is all the later stages need from raw events.
    """
    return [t for t in aggregate_days(events)[1] if t is not None]
