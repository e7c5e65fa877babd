"""Reading stored results for people: the alerts of some days or of one run (also those a
later run has since replaced), and what an id that is not an agent stands for.

Reads the store only; never writes it, never prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from detector.config import Config
from detector.days import DayRange, shift_day
from detector.errors import UsageError
from detector.store import Store


@dataclass(frozen=True)
class AlertListing:
    """Alerts to show, for ``scope`` (a day, a range, or ``run N``).

    ``shown``: the raised alerts; ``suppressed``: how many more are stored but covered by a
    suppression; ``replaced``: how many of ``shown`` come from the archive because a later
    run scored their day again (their first reason says so); ``ongoing``: the days kept on
    open cases (stood out again, not raised)."""

    scope: str
    shown: pd.DataFrame
    suppressed: int
    replaced: int
    ongoing: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def require_run(store: Store, run_id: int) -> dict:
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in the store (see: insiderwatch runs)")
    return run


def list_alerts(store: Store, days: DayRange, run_id: int | None = None) -> AlertListing:
    """The alerts of ``days`` (default: the latest scored day), or those run ``run_id``
    wrote within ``days``, the replaced ones read back from the archive and marked."""
    if run_id is not None:
        require_run(store, run_id)
        frame, replaced = _run_alerts(store, run_id, days)
        scope = f"run {run_id}"
    else:
        if days.empty:
            latest = store.latest_day()
            if latest is None:
                raise UsageError("the store holds no scored days yet: run `insiderwatch nightly` or `insiderwatch replay` first")
            days = DayRange(latest, latest)
        frame, replaced = store.alerts(days.first, days.last), 0
        scope = str(days.first) if days.first == days.last else f"{days.first or 'the start'} to {days.last or 'the end'}"
    if not len(frame):
        return AlertListing(scope, frame, 0, replaced)
    covered = frame["suppressed_by"].notna()
    kept = frame["ongoing"].astype(bool)
    return AlertListing(scope, frame[~covered & ~kept], int(covered.sum()), replaced, frame[kept & ~covered])


def _run_alerts(store: Store, run_id: int, days: DayRange) -> tuple[pd.DataFrame, int]:
    frame = store.run_results(run_id)[1]
    frame = frame[[days.contains(d) for d in frame["day"]]] if len(frame) else frame
    if not len(frame):
        return frame, 0
    gone = frame["superseded_by"].notna()
    marked: list = [([f"[replaced since by run {int(by)}, which scored the day again]"] if g else []) + list(reasons) for reasons, g, by in zip(frame["reasons"], gone, frame["superseded_by"])]
    return frame.assign(reasons=marked), int(gone.sum())


def explain_subject(store: Store, cfg: Config, subject_id: str, day: str | None):
    """:func:`pipelines.explain.explain` of an agent on ``day`` (default: the latest scored
    day). An id that was never scored as an agent but is a team, site, role or vendor of the
    roster, or the subject of group alerts, is refused with what it is and how to see it."""
    from pipelines.explain import explain

    day = day or store.latest_day()
    if day is None:
        raise UsageError("the store holds no scored days yet")
    try:
        return explain(store, cfg, subject_id, day)
    except UsageError:
        note = None if store.knows_agent(subject_id) else group_note(store, subject_id, day)
        if note is None:
            raise
        raise UsageError(note) from None


GROUP_COLUMNS = ("team", "site", "role", "vendor")


def group_note(store: Store, subject_id: str, day: str) -> str | None:
    """What ``subject_id`` is, if it names a group (a roster team, site, role or vendor of
    the agents scored in the week to ``day``, or the subject of group alerts), with the commands that show it; else None."""
    alerts = store.alerts()
    alerts = alerts[(alerts["subject_type"] != "agent") & (alerts["subject_id"] == subject_id)] if len(alerts) else alerts
    week = shift_day(day, -6)
    scores = store.scores(week, day)
    kinds = [c for c in GROUP_COLUMNS if c in scores.columns and (scores[c] == subject_id).any()]
    if not len(alerts) and not kinds:
        return None
    what, example, on = [], None, day
    if kinds:
        members = scores[scores[kinds[0]] == subject_id].drop_duplicates("agent_id", keep="last")
        what.append(f"a {' and '.join(kinds)} of the roster ({len(members)} agent(s) scored from {week} to {day})")
        example, on = members["agent_id"].iloc[-1], members["day"].iloc[-1]
    see = "its agents are scored one by one"
    if len(alerts):
        last = alerts.iloc[-1]
        days = sorted(set(alerts["day"]))
        span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        what.append(f"the subject of {len(alerts)} {last['subject_type']} alert(s), {span}")
        if len(last["members"]):
            example, on = last["members"][0], last["day"]
        see = f"`insiderwatch alerts --date {last['day']}` lists its alerts with their members"
    member = f"; explain a member, e.g. `insiderwatch explain {example} --date {on}`" if example is not None else ""
    return f"{subject_id!r} is not an agent: it is {' and '.join(what)}. A group has no features of its own: {see}{member}"


# --- exports ---------------------------------------------------------------------------------
SCORE_COLUMNS = ["day", "agent_id", "score", "rank", "flagged", "run_id", "raw_score", "history_days", "peer_mode", "team", "role", "site", "vendor"]
ALERT_COLUMNS = [
    "alert_key",
    "day",
    "subject_type",
    "subject_id",
    "score",
    "rank",
    "reasons",
    "members",
    "run_id",
    "detector_version",
    "created_at",
    "suppressed_by",
    "ongoing",
    "case",
    "case_status",
    "status",
]
RUN_COLUMNS = [
    "run_id",
    "kind",
    "status",
    "started_at",
    "finished_at",
    "day_from",
    "day_to",
    "detector_version",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "seconds",
    "superseded_by",
    "message",
]
REJECT_COLUMNS = ["source", "line", "reason", "raw"]


def export_table(store: Store, what: str, fmt: str, days: DayRange, cfg: Config | None = None) -> tuple[list[dict], list[str]]:
    """Rows and columns of ``export scores|alerts`` as flat ``csv`` or ``jsonl``: alert
    reasons joined with `` | `` and members with spaces in CSV, lists in JSON Lines; each
    alert with its case, the case's status and its triage status
    (:func:`pipelines.cases.with_case_status`)."""
    from pipelines.cases import with_case_status

    if what == "scores":
        return store.scores(days.first, days.last).to_dict("records"), SCORE_COLUMNS
    frame = with_case_status(store, cfg or Config(), store.alerts(days.first, days.last))
    frame["rank"] = frame["rank"].astype("Int64")
    if fmt == "csv":
        frame["reasons"] = frame["reasons"].map(lambda r: " | ".join(r))
        frame["members"] = frame["members"].map(lambda m: " ".join(m) if m else "")
    else:
        frame["members"] = frame["members"].map(lambda m: list(m) if m else [])
    return frame.to_dict("records"), ALERT_COLUMNS


def alert_documents(store: Store, cfg: Config, fmt: str, days: DayRange):
    """The stored alerts of ``days`` as OCSF Detection Findings (``ocsf``) or ECS alert
    documents (``ecs``), one dict each, lazily."""
    from pipelines.alert_formats import alert_facts, ecs_alert, ocsf_finding

    build = ocsf_finding if fmt == "ocsf" else ecs_alert
    return (build(f) for f in alert_facts(store, cfg, days.first, days.last, features=fmt == "ocsf"))


def run_rows(store: Store, fmt: str = "csv") -> list[dict]:
    """Every run, oldest first, with the row counts and seconds of its manifest beside it,
    and the later runs that scored some of its days again (``superseded_by``: space-separated
    in CSV, a list in JSON Lines)."""
    import json

    superseded = store.superseding_runs()
    rows = []
    for r in store.runs().to_dict("records"):
        manifest = json.loads(r["manifest"]) if isinstance(r.get("manifest"), str) and r["manifest"] else {}
        counts = manifest.get("rows", {})
        later = superseded.get(int(r["run_id"]), [])
        rows.append(
            {
                **r,
                "rows_read": counts.get("read"),
                "rows_accepted": counts.get("accepted"),
                "rows_rejected": counts.get("rejected"),
                "seconds": manifest.get("seconds"),
                "superseded_by": " ".join(map(str, later)) if fmt == "csv" else later,
            }
        )
    return rows


def reject_rows(store: Store, run_id: int) -> list[dict]:
    """The rows run ``run_id`` could not use: file, line, reason and the raw row."""
    require_run(store, run_id)
    return store.rejects(run_id).to_dict("records")
