"""The agent-day aggregation as one relational expression (Ibis), for any engine Ibis
compiles to: DuckDB here, Spark or a SQL warehouse where the logs live.

Input: one UTC day's canonical, validated, de-duplicated events as an Ibis table with the
text columns of :data:`detector.schema.STRING_COLUMNS` and ``us``, the timestamp as whole
microseconds since the Unix epoch (UTC; an integer, so that every engine reads instants
alike); no count depends on the order of the rows. Output: a few small tables, every one grouped by agent (or by agent
and quarter hour), never the events: :func:`detector.engines.assemble` turns them into
the same agent-days and touched sets as :class:`detector.aggregate.DayAggregator`.

Each count is defined once, here, in the terms of :mod:`detector.aggregate` (which holds
the rules both use: :data:`~detector.aggregate.VIEW_KINDS`,
:data:`~detector.aggregate.ACTION_KINDS`, :data:`~detector.aggregate.CUSTOMER_NUMBER`,
:data:`~detector.aggregate.SEQUENTIAL_RUN`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detector import schema as s
from detector.aggregate import ACTION_KINDS, CUSTOMER_NUMBER, SEQUENTIAL_RUN, VIEW, VIEW_KINDS

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: the quarter hours of a day: every UTC offset in use is a multiple of 15 minutes, so the
#: local hour of an event follows from its UTC quarter hour and the agent's zone
QUARTERS = 96
#: the same pattern without Python's group names (RE2 and Java read both; not every SQL does)
_NUMBER = CUSTOMER_NUMBER.replace("?P<prefix>", "").replace("?P<digits>", "")


def day_counts(ev: ir.Table, day_start_us: int) -> dict[str, ir.Table]:
    """The expressions of one day's counts.

    ``day_start_us``: the day's first instant (microseconds since the epoch, UTC). Returns tables keyed
    ``agents`` (the additive and distinct counts, first and last minute), ``quarters``
    (events per agent and UTC quarter hour of the day), ``sequential`` (customers in runs
    of consecutive ids), ``off_primary`` (views under a ticket of another customer than the
    ticket's main one) and ``touched`` (each agent's distinct customers, as one list per
    agent: for the touched sets, hashed by this process in chunks).
    """
    import ibis

    def flag(condition: ir.BooleanValue) -> ir.IntegerValue:
        # a CASE, not a cast: PostgreSQL casts no boolean to an integer
        return ibis.ifelse(condition.fill_null(False), 1, 0).cast("int64").sum()

    view = ev[s.ACTION] == VIEW
    ticketless = view & ev[s.TICKET_ID].isnull()
    second = (ev.us - day_start_us) // 1_000_000
    minute = (second // 60).cast("int64")
    agents = ev.group_by(s.AGENT_ID).aggregate(
        events=ev.count(),
        views=flag(view),
        ticketless_views=flag(ticketless),
        **{name: flag(view & ev[column].isin(values)) for name, (column, values) in VIEW_KINDS.items()},
        **{name: flag(ev[s.ACTION].isin(values)) for name, values in ACTION_KINDS.items()},
        customers=ev[s.CUSTOMER_ID].nunique(),
        ticketless_customers=ev[s.CUSTOMER_ID].nunique(where=ticketless.fill_null(False)),
        tickets=ev[s.TICKET_ID].nunique(),
        first_seen=minute.min(),
        last_seen=minute.max(),
    )
    quarter = (second // 900).cast("int64")
    quarters = ev.mutate(quarter=quarter).group_by([s.AGENT_ID, "quarter"]).aggregate(n=ibis._.count())

    # customers in runs of consecutive id numbers (same prefix): each agent's distinct
    # customers sorted by number; a run goes on while the next number is one more (two ids
    # of the same number, C1 and C0001, end a run: the reference's rule), so a run starts
    # where it does not, and the running count of starts names the run
    pairs = ev.select(s.AGENT_ID, s.CUSTOMER_ID).distinct()
    numbered = pairs.mutate(
        number=ibis.ifelse(pairs[s.CUSTOMER_ID].re_search(_NUMBER), pairs[s.CUSTOMER_ID].re_extract(_NUMBER, 2).cast("int64"), ibis.null("int64")),
        prefix=pairs[s.CUSTOMER_ID].re_extract(_NUMBER, 1),
    )
    numbered = numbered.filter(numbered.number.notnull())
    in_order = {"group_by": [ibis._[s.AGENT_ID], ibis._.prefix], "order_by": [ibis._.number, ibis._[s.CUSTOMER_ID]]}
    starts = numbered.mutate(start=ibis.ifelse(ibis._.number - ibis._.number.lag().over(ibis.window(**in_order)) == 1, 0, 1))
    islands = starts.mutate(island=ibis._.start.sum().over(ibis.window(**in_order, rows=(None, 0))))
    runs = islands.group_by([s.AGENT_ID, "prefix", "island"]).aggregate(length=ibis._.count())
    runs = runs.filter(runs.length >= SEQUENTIAL_RUN)
    sequential = runs.group_by(s.AGENT_ID).aggregate(sequential_customers=runs.length.sum())

    # a ticket's main customer: the most accesses under it across the desk, ties to the
    # customer first accessed that day (customers tied on both are all main)
    under = ev.filter(ev[s.TICKET_ID].notnull())
    per_customer = under.group_by([s.TICKET_ID, s.CUSTOMER_ID]).aggregate(n=ibis._.count())
    first_access = ev.group_by(s.CUSTOMER_ID).aggregate(first=ev.us.min())
    ranked = per_customer.join(first_access, s.CUSTOMER_ID)
    ranked = ranked.mutate(top=ranked.n.max().over(ibis.window(group_by=[ranked[s.TICKET_ID]])))
    ranked = ranked.mutate(earliest=ibis.ifelse(ranked.n == ranked.top, ranked.first, ibis.null("int64")).min().over(ibis.window(group_by=[ranked[s.TICKET_ID]])))
    minor = ranked.filter((ranked.n < ranked.top) | (ranked.first > ranked.earliest)).select(s.TICKET_ID, s.CUSTOMER_ID)
    viewed = under.filter(under[s.ACTION] == VIEW).select(s.AGENT_ID, s.TICKET_ID, s.CUSTOMER_ID)
    off = viewed.join(minor, [s.TICKET_ID, s.CUSTOMER_ID])
    off_primary = off.group_by(s.AGENT_ID).aggregate(off_primary_views=ibis._.count())
    touched = pairs.group_by(s.AGENT_ID).aggregate(customers=pairs[s.CUSTOMER_ID].collect())
    return {"agents": agents, "quarters": quarters, "sequential": sequential, "off_primary": off_primary, "touched": touched}
