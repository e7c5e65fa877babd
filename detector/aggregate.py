"""Events to agent-days: one row per agent per UTC day of counts.

The only stage whose cost grows with the number of events, so every count here is one that a
SQL engine computes with GROUP BY, COUNT(DISTINCT ...) and a window function (the ticket's
primary customer, consecutive customer ids): when logs outgrow one machine this stage runs
where the logs live and only agent-days come back. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
}
HOURS = [f"h{h:02d}" for h in range(24)]
#: shortest run of consecutive customer ids counted as enumeration
SEQUENTIAL_RUN = 3
AGENT_DAY_COLUMNS = [DAY, s.AGENT_ID, *COUNTS, "first_seen", "last_seen", *HOURS]


def utc_day(timestamps: pd.Series) -> pd.Series:
    """The UTC calendar day of each timestamp, as ``datetime.date``-like day strings."""
    return timestamps.dt.strftime("%Y-%m-%d")


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
        per local hour). One row per agent and day with at least one event.
    """
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in AGENT_DAY_COLUMNS}).astype(
            {DAY: s.STRING_DTYPE, s.AGENT_ID: s.STRING_DTYPE}
        )
    ts = events[s.TIMESTAMP]
    ev = pd.DataFrame(
        {
            DAY: utc_day(ts),
            s.AGENT_ID: events[s.AGENT_ID],
            s.CUSTOMER_ID: events[s.CUSTOMER_ID],
            s.TICKET_ID: events[s.TICKET_ID],
        }
    )
    action = events[s.ACTION]
    resource = events[s.RESOURCE]
    view = (action == "view").fillna(False).to_numpy(bool)
    has_ticket = events[s.TICKET_ID].notna().to_numpy()
    ev["events"] = 1
    ev["views"] = view
    ev["ticketless_views"] = view & ~has_ticket
    ev["id_document_views"] = view & (resource == "id_document").fillna(False).to_numpy(bool)
    ev["address_views"] = view & (resource == "address").fillna(False).to_numpy(bool)
    ev["financial_views"] = view & resource.isin(["balance", "transactions"]).fillna(False).to_numpy(bool)
    ev["high_value_views"] = view & (events[s.CUSTOMER_TIER] == s.HIGH_VALUE_TIER).fillna(False).to_numpy(bool)
    ev["searches"] = (action == "search").fillna(False).to_numpy(bool)
    ev["edits"] = action.isin(["note", "update"]).fillna(False).to_numpy(bool)
    ev["exports"] = action.isin(["export", "list", "download", "print"]).fillna(False).to_numpy(bool)
    ev["off_primary_views"] = view & has_ticket & ~_is_primary_customer(ev)
    minutes = (ts.dt.hour * 60 + ts.dt.minute).to_numpy()
    ev["minute"] = minutes
    ev["local_hour"] = _local_hours(ts, events[s.AGENT_ID], timezones or {})

    keys = [DAY, s.AGENT_ID]
    grouped = ev.groupby(keys, sort=True, observed=True)
    sums = grouped[
        [
            "events",
            "views",
            "ticketless_views",
            "off_primary_views",
            "id_document_views",
            "address_views",
            "financial_views",
            "high_value_views",
            "searches",
            "edits",
            "exports",
        ]
    ].sum()
    out = sums
    out["customers"] = grouped[s.CUSTOMER_ID].nunique()
    out["tickets"] = grouped[s.TICKET_ID].nunique()
    out["ticketless_customers"] = (
        ev.loc[ev["ticketless_views"]].groupby(keys, observed=True)[s.CUSTOMER_ID].nunique().reindex(out.index, fill_value=0)
    )
    out["sequential_customers"] = _sequential_customers(ev[keys + [s.CUSTOMER_ID]]).reindex(out.index, fill_value=0)
    out["first_seen"] = grouped["minute"].min()
    out["last_seen"] = grouped["minute"].max()
    hours = pd.crosstab([ev[DAY], ev[s.AGENT_ID]], ev["local_hour"]).reindex(columns=range(24), fill_value=0)
    hours.columns = HOURS
    out = out.join(hours)
    out = out.reset_index()
    out[DAY] = out[DAY].astype(s.STRING_DTYPE)
    out[s.AGENT_ID] = out[s.AGENT_ID].astype(s.STRING_DTYPE)
    for col in AGENT_DAY_COLUMNS[2:]:
        out[col] = out[col].astype("int64")
    return out[AGENT_DAY_COLUMNS]


def _is_primary_customer(ev: pd.DataFrame) -> np.ndarray:
    """True where the event's customer is its ticket's main customer that day: the one with
    the most accesses under the ticket across the whole desk (ties: the smallest id)."""
    with_ticket = ev[[DAY, s.TICKET_ID, s.CUSTOMER_ID]].dropna(subset=[s.TICKET_ID])
    if with_ticket.empty:
        return np.ones(len(ev), bool)
    pairs = with_ticket.groupby([DAY, s.TICKET_ID, s.CUSTOMER_ID], observed=True).size().rename("n").reset_index()
    pairs = pairs.sort_values([DAY, s.TICKET_ID, "n", s.CUSTOMER_ID], ascending=[True, True, False, True], kind="stable")
    primary = pairs.drop_duplicates([DAY, s.TICKET_ID])[[DAY, s.TICKET_ID, s.CUSTOMER_ID]].rename(
        columns={s.CUSTOMER_ID: "primary"}
    )
    merged = ev[[DAY, s.TICKET_ID, s.CUSTOMER_ID]].merge(primary, on=[DAY, s.TICKET_ID], how="left")
    out = (merged["primary"] == merged[s.CUSTOMER_ID]).fillna(False).to_numpy(bool)
    return out | ev[s.TICKET_ID].isna().to_numpy()


def customer_numbers(customers: pd.Series) -> pd.Series:
    """The trailing number of each customer id (``C1000123`` -> 1000123), NaN when none."""
    digits = customers.astype(s.STRING_DTYPE).str.extract(r"(\d{1,15})$", expand=False)
    prefix = customers.astype(s.STRING_DTYPE).str.replace(r"\d{1,15}$", "", regex=True)
    number = pd.to_numeric(digits, errors="coerce")
    return number, prefix


def _sequential_customers(frame: pd.DataFrame) -> pd.Series:
    """Per agent-day, distinct customers in runs of 3 or more consecutive id numbers (same
    prefix): enumeration through ids. Pairs happen by chance on a busy day; runs of three
    almost never do. In SQL: gaps-and-islands over the sorted numbers."""
    keys = [DAY, s.AGENT_ID]
    distinct = frame.drop_duplicates()
    number, prefix = customer_numbers(distinct[s.CUSTOMER_ID])
    d = distinct.assign(number=number, prefix=prefix).dropna(subset=["number"])
    if d.empty:
        return pd.Series(dtype="int64")
    d = d.sort_values(keys + ["prefix", "number"], kind="stable")
    continues = (
        (d[DAY] == d[DAY].shift())
        & (d[s.AGENT_ID] == d[s.AGENT_ID].shift())
        & (d["prefix"] == d["prefix"].shift())
        & (d["number"] - d["number"].shift() == 1)
    ).fillna(False).to_numpy(bool)
    run = pd.Series(np.cumsum(~continues), index=d.index)
    length = run.map(run.value_counts())
    in_long_run = (length >= SEQUENTIAL_RUN).astype("int64")
    return in_long_run.groupby([d[DAY], d[s.AGENT_ID]]).sum()


def _local_hours(ts: pd.Series, agents: pd.Series, timezones: dict[str, str]) -> np.ndarray:
    hours = ts.dt.hour.to_numpy().copy()
    if not timezones:
        return hours
    zone = agents.map(timezones)
    for tz in zone.dropna().unique():
        mask = (zone == tz).fillna(False).to_numpy(bool)
        hours[mask] = ts[mask].dt.tz_convert(str(tz)).dt.hour.to_numpy()
    return hours
