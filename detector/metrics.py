"""The per-agent-day measures, described once: what each is called in a feature table, in a
reason sentence and in the report's record mix, what it is a part of, its feature family,
and whether only harvesting drives it up.

Every dictionary of metric names elsewhere (``features.METRICS``, ``alerts.PHRASES``, the
report's mix) is derived from :data:`METRIC_TABLE`; none is written by hand. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One measure of an agent-day.

    name : the agent-day column
    meaning : what it counts, as explain and the report's feature table say it
    phrase : how it reads in a reason sentence ("97 identity document views: ...")
    part_of : for a composition measure, the volume it is a share of (None: a volume)
    family : the feature family (ablation, pattern-scoped suppressions)
    harvest : ordinary busy work does not drive it up, only harvesting
    mix : its label in the report's "what they opened" chart (None: not shown there)
    """

    name: str
    meaning: str
    phrase: str
    part_of: str | None
    family: str
    harvest: bool = False
    mix: str | None = None


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("views", "customer record views", "customer record views", None, "volume"),
    Metric("customers", "distinct customers", "distinct customers", None, "volume"),
    Metric("ticketless_views", "views without a ticket", "views without a ticket", "views", "tickets", True, "without a ticket"),
    Metric(
        "off_primary_views",
        "views of customers unrelated to the ticket they were made under",
        "views of customers unrelated to the ticket used",
        "views",
        "tickets",
        True,
        "unrelated to the ticket",
    ),
    Metric("id_document_views", "identity document views", "identity document views", "views", "record_kinds", True, "identity documents"),
    Metric("address_views", "address views", "address views", "views", "record_kinds", True, "addresses"),
    Metric("financial_views", "balance and transaction views", "balance and transaction views", "views", "record_kinds", False, "balances and transactions"),
    Metric("high_value_views", "high-value customer views", "views of high-value customers", "views", "record_kinds", True, "high-value customers"),
    Metric("sequential_customers", "customers in runs of 3 or more consecutive ids", "customers in runs of consecutive ids", "customers", "enumeration", True),
    Metric("outside_shift_events", "accesses outside the day's working block", "accesses outside the working block of the day", "events", "hours", True),
    Metric("exports", "exports", "exports", "events", "exports", True),
    Metric("new_customers", "customers the agent had not touched in the previous weeks", "customers they had not touched in the previous weeks", "customers", "first_seen"),
    Metric(
        "team_new_customers",
        "customers nobody in the agent's team had touched in the previous weeks",
        "customers nobody in their team had touched in the previous weeks",
        "customers",
        "first_seen",
    ),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRIC_TABLE}
