"""Events to agent-days: one row per agent per UTC day of counts.

The only stage whose cost grows with the number of events, so every count here is one that a
SQL engine computes with GROUP BY, COUNT(DISTINCT ...) and a window function (the ticket's
primary customer, consecutive customer ids): when logs outgrow one machine this stage runs
where the logs live and only agent-days come back. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

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
    Computed on integer codes with numpy (sorting and bincounts); the SQL equivalent is a
    GROUP BY day, agent with COUNT(DISTINCT ...), a window over (day, ticket) for the
    ticket's main customer and gaps-and-islands over sorted customer numbers.
    """
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in AGENT_DAY_COLUMNS}).astype(
            {DAY: s.STRING_DTYPE, s.AGENT_ID: s.STRING_DTYPE}
        )
    ns = events[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    day_num = ns // _NS_PER_DAY
    agent, agent_ids = _codes(events[s.AGENT_ID])
    customer, customer_ids = _codes(events[s.CUSTOMER_ID])
    ticket, _ = _codes(events[s.TICKET_ID])
    n_agents, n_customers = len(agent_ids), max(len(customer_ids), 1)

    # one group per (day, agent), numbered in sorted order
    first_day = int(day_num.min())
    day_idx = day_num - first_day
    group_key = day_idx * n_agents + agent
    group, keys = pd.factorize(group_key, sort=True)
    group = group.astype(np.int64)
    G = len(keys)

    action, resource = events[s.ACTION], events[s.RESOURCE]
    view = _mask(action, "view")
    has_ticket = ticket >= 0
    flags = {
        "events": np.ones(len(ns), bool),
        "views": view,
        "ticketless_views": view & ~has_ticket,
        "id_document_views": view & _mask(resource, "id_document"),
        "address_views": view & _mask(resource, "address"),
        "financial_views": view & _mask(resource, "balance", "transactions"),
        "high_value_views": view & _mask(events[s.CUSTOMER_TIER], s.HIGH_VALUE_TIER),
        "searches": _mask(action, "search"),
        "edits": _mask(action, "note", "update"),
        "exports": _mask(action, "export", "list", "download", "print"),
        "off_primary_views": view & has_ticket & ~_is_primary_customer(day_idx, ticket, customer, n_customers),
    }
    cols: dict[str, np.ndarray] = {name: np.bincount(group, weights=f, minlength=G).astype(np.int64) for name, f in flags.items()}
    cols["customers"] = _distinct_per_group(group, customer, n_customers, G)
    cols["tickets"] = _distinct_per_group(group[has_ticket], ticket[has_ticket], int(ticket.max()) + 1 if has_ticket.any() else 1, G)
    tl = flags["ticketless_views"]
    cols["ticketless_customers"] = _distinct_per_group(group[tl], customer[tl], n_customers, G)
    cols["sequential_customers"] = _sequential_runs(group, customer, customer_ids, G)
    minute = (ns - day_num * _NS_PER_DAY) // 60_000_000_000
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(G))
    cols["first_seen"] = np.minimum.reduceat(minute[order], starts).astype(np.int64)
    cols["last_seen"] = np.maximum.reduceat(minute[order], starts).astype(np.int64)
    hour = _local_hours(ns, agent, agent_ids, timezones or {})
    hours = np.bincount(group * 24 + hour, minlength=G * 24).reshape(G, 24)

    g_day = keys // n_agents + first_day
    g_agent = keys % n_agents
    day_text = pd.Series(pd.to_datetime(np.unique(g_day) * _NS_PER_DAY).strftime("%Y-%m-%d"), index=np.unique(g_day))
    out = pd.DataFrame({DAY: day_text.reindex(g_day).to_numpy(), s.AGENT_ID: np.asarray(agent_ids)[g_agent]})
    out = pd.concat([out, pd.DataFrame(cols), pd.DataFrame(hours, columns=HOURS)], axis=1)
    out["outside_shift_events"] = outside_shift_events(out)
    out[DAY] = out[DAY].astype(s.STRING_DTYPE)
    out[s.AGENT_ID] = out[s.AGENT_ID].astype(s.STRING_DTYPE)
    out = out.sort_values([DAY, s.AGENT_ID], kind="stable").reset_index(drop=True)
    for col in AGENT_DAY_COLUMNS[2:]:
        out[col] = out[col].astype("int64")
    return out[AGENT_DAY_COLUMNS]


def outside_shift_events(agent_days: pd.DataFrame, block: int = SHIFT_BLOCK_HOURS) -> pd.Series:
    """Accesses outside the busiest ``block``-hour span (circular, local hours) of each
    agent-day: after-hours work shows here, a shift change does not."""
    hours = agent_days[HOURS].to_numpy(dtype=np.int64)
    doubled = np.concatenate([hours, hours[:, : block - 1]], axis=1)
    cs = np.concatenate([np.zeros((len(hours), 1), np.int64), np.cumsum(doubled, axis=1)], axis=1)
    windows = cs[:, block : block + 24] - cs[:, :24]
    return pd.Series(hours.sum(axis=1) - windows.max(axis=1), index=agent_days.index, dtype="int64")


def _distinct_per_group(group: np.ndarray, value: np.ndarray, n_values: int, G: int) -> np.ndarray:
    """Number of distinct ``value`` per group (missing values, coded -1, are not counted)."""
    ok = value >= 0
    pairs = pd.unique(group[ok].astype(np.int64) * n_values + value[ok])  # hashing: no sort needed
    return np.bincount(pairs // n_values, minlength=G).astype(np.int64)


def _is_primary_customer(day_idx: np.ndarray, ticket: np.ndarray, customer: np.ndarray, n_customers: int) -> np.ndarray:
    """True where the event's customer is its ticket's main customer that day: the one with
    the most accesses under the ticket across the whole desk (ties: the first seen)."""
    out = np.ones(len(ticket), bool)
    has = ticket >= 0
    if not has.any():
        return out
    n_tickets = int(ticket.max()) + 1
    dt = day_idx[has] * n_tickets + ticket[has]  # (day, ticket)
    pair = dt * n_customers + customer[has]
    inverse, pairs = pd.factorize(pair)
    counts = np.bincount(inverse)
    pair_dt = pairs // n_customers
    pair_customer = pairs % n_customers
    # per (day, ticket): the customer with the highest count (ties: lowest code)
    order = np.lexsort((pair_customer, -counts, pair_dt))
    first = np.r_[True, pair_dt[order][1:] != pair_dt[order][:-1]]
    primary_of_dt = pd.Series(pair_customer[order][first], index=pair_dt[order][first])
    primary = primary_of_dt.reindex(pair_dt).to_numpy()
    out[has] = (primary == pair_customer)[inverse]
    return out


def customer_numbers(customers) -> tuple[pd.Series, pd.Series]:
    """The trailing number of each customer id (``C1000123`` -> 1000123; NaN when none) and
    the text before it."""
    arr = pa.array(pd.Series(customers, dtype=object).to_numpy(), type=pa.string(), from_pandas=True)
    parts = pc.extract_regex(arr, r"^(?P<prefix>.*?)(?P<digits>\d{1,15})$")
    digits = pc.struct_field(parts, "digits").to_pandas()
    prefix = pc.struct_field(parts, "prefix").to_pandas()
    return pd.to_numeric(digits, errors="coerce"), prefix.fillna("")


def _sequential_runs(group: np.ndarray, customer: np.ndarray, customer_ids: pd.Index, G: int) -> np.ndarray:
    """Per group, distinct customers in runs of SEQUENTIAL_RUN or more consecutive id
    numbers (same prefix): enumeration through ids. Pairs happen by chance on a busy day;
    runs of three almost never do. In SQL: gaps-and-islands over the sorted numbers."""
    number, prefix = customer_numbers(customer_ids)
    number = number.to_numpy(float)
    prefix_code, _ = pd.factorize(prefix)
    n_c = max(len(customer_ids), 1)
    pairs = pd.unique(group.astype(np.int64) * n_c + customer)
    g, c = pairs // n_c, pairs % n_c
    num = number[c]
    ok = ~np.isnan(num)
    g, c, num = g[ok], c[ok], num[ok]
    if len(g) == 0:
        return np.zeros(G, np.int64)
    pre = prefix_code[c]
    order = np.lexsort((num, pre, g))
    g, pre, num = g[order], pre[order], num[order]
    continues = np.r_[False, (g[1:] == g[:-1]) & (pre[1:] == pre[:-1]) & (num[1:] - num[:-1] == 1)]
    run = np.cumsum(~continues)
    length = np.bincount(run)[run]
    return np.bincount(g, weights=length >= SEQUENTIAL_RUN, minlength=G).astype(np.int64)


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
    if events.empty:
        return []
    ns = events[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    day_num = ns // _NS_PER_DAY
    agent, agent_ids = _codes(events[s.AGENT_ID])
    customer, customer_ids = _codes(events[s.CUSTOMER_ID])
    n_agents, n_customers = len(agent_ids), max(len(customer_ids), 1)
    first_day = int(day_num.min())
    group = (day_num - first_day) * n_agents + agent
    pairs = pd.unique(group * n_customers + customer)
    g, c = pairs // n_customers, pairs % n_customers
    h = customer_hashes(customer_ids)[c]
    order = np.lexsort((h, g))
    g, h = g[order], h[order]
    out = []
    for d in np.unique(g // n_agents):
        lo, hi = np.searchsorted(g, [d * n_agents, (d + 1) * n_agents])
        ag = g[lo:hi] % n_agents
        present, counts = np.unique(ag, return_counts=True)
        day = pd.Timestamp((int(d) + first_day) * _NS_PER_DAY).strftime("%Y-%m-%d")
        out.append(Touched(day, np.asarray(agent_ids, dtype=object)[present], counts.astype(np.int64), h[lo:hi].astype(np.uint64)))
    return out
