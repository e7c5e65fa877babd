"""``insiderwatch report``: a static site of a period's alerts for investigators.

index.html ranks the alerts; one page per flagged agent shows why (record views against the
agent's own baseline band and the team's band, hours against their usual hours, the mix of
what they opened, every feature with its baseline, peer value and contribution, the reasons)
and what exactly was accessed (the evidence, customer ids pseudonymised by a keyed hash
unless revealed); run.html shows the manifest of the run(s) behind it.

The site opens from the file system with no network: plots are inline PNG images made with
matplotlib, the small sorting and filtering script is inline, and a Content-Security-Policy
forbids every fetch. Every value from the logs is escaped by Jinja2's autoescaping and read
by the script only through textContent and data attributes. Files are written under
temporary names and renamed into place, index.html last, so a failed build never leaves a
report that looks complete.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from detector import __version__
from detector import schema as s
from detector.aggregate import DAY, HOURS
from detector.cases import EXPOSURE_KINDS
from detector.config import Config
from detector.days import DayRange, shift_day
from detector.errors import UsageError
from detector.evidence import with_derived
from detector.features import FeatureSettings
from detector.history import baseline_window, frozen_for, has_baseline, personal_baseline
from detector.metrics import METRIC_TABLE
from detector.store import Store
from pipelines.cases import case_evidence, case_exposure, cases_by_alert, load_cases
from pipelines.explain import explain, scored_night
from pipelines.output import DEFAULT_FILE_MODE, write_new_file
from pipelines.report_plots import accumulation_plot, hours_plot, mix_plot, sparkline, views_plot

log = logging.getLogger("insiderwatch")

PSEUDONYM_ENV = "INSIDERWATCH_PSEUDONYM_KEY"
#: a report with no days and no run: the open cases and this many nights to the last scored one
DEFAULT_NIGHTS = 7
#: what an investigator compares between the flagged day and the agent's usual day
MIX = {m.name: m.mix for m in METRIC_TABLE if m.mix}
HISTORY_COLUMNS = ["views", "customers", "events", *MIX, *HOURS]
#: in every report directory: the names of the files the report wrote, one a line
REPORT_MANIFEST = ".insiderwatch-report"
#: what a report writes, for a report directory without a manifest (an earlier version's),
#: with the staging directories such a version could leave behind
_REPORT_NAME = re.compile(r"index\.html|run\.html|(agent|case)-[0-9a-f]{16}\.html|\.insiderwatch-report-.+")


@dataclass
class ReportSummary:
    out: Path
    first: str
    last: str
    agents: int
    alerts: int
    pages: list[Path] = field(default_factory=list)
    revealed: bool = False
    cases: int = 0


class Pseudonymiser:
    """Customer ids to stable pseudonyms: HMAC-SHA256 under a secret key, 12 hex digits."""

    def __init__(self, key: str | None) -> None:
        self.random_key = not key
        self._key = (key or secrets.token_hex(32)).encode("utf-8")

    def __call__(self, value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            return ""
        return "cust-" + hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def agent_page_name(agent_id: str) -> str:
    """A file name for an agent's page that no agent id can steer (ids are attacker-controlled)."""
    return "agent-" + hashlib.sha256(agent_id.encode("utf-8")).hexdigest()[:16] + ".html"


def case_page_name(case_key: str) -> str:
    """A case page's file name: the case key is a hex digest the store made."""
    return "case-" + hashlib.sha256(case_key.encode("utf-8")).hexdigest()[:16] + ".html"


def resolve_period(store: Store, *, run_id: int | None, days: DayRange) -> tuple[str, str, list[dict]]:
    """The reported days and the runs behind them: a run's days, or ``days`` (one end
    given: that end to the other or to the last scored day; none: the last
    :data:`DEFAULT_NIGHTS` nights, to the last scored day)."""
    if run_id is not None:
        run = store.run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id} in the store (see: insiderwatch runs)")
        if not run.get("day_from"):
            raise UsageError(f"run {run_id} scored no days")
        return run["day_from"], run["day_to"], [run]
    scored = store.scored_days()
    if not scored:
        raise UsageError("the store holds no scored days: run `insiderwatch replay` or `nightly` first")
    last = days.last or scored[-1]
    first = days.first or days.last or max(scored[0], shift_day(last, 1 - DEFAULT_NIGHTS))
    if first > last:
        raise UsageError(f"--from {first} is after the last scored day, {last}")
    runs = store.runs()
    involved = runs[(runs["day_from"] <= last) & (runs["day_to"] >= first)] if len(runs) else runs
    return first, last, involved.to_dict("records")


def build_report(
    store: Store,
    cfg: Config,
    out: Path,
    *,
    run_id: int | None = None,
    days: DayRange | None = None,
    reveal_customers: bool = False,
) -> ReportSummary:
    """Write the report of the alerts of a run or of ``days`` into ``out``."""
    first, last, runs = resolve_period(store, run_id=run_id, days=days or DayRange())
    if run_id is not None:
        held = store.day_runs(first, last + "~")
        moved = sorted(d for d, r in held if r != run_id)
        if moved:
            log.warning(
                "%d of run %d's days were scored again by later runs (%s): the report shows run %d's alerts of the %d day(s) "
                "it still holds; `insiderwatch alerts --run %d` lists all it wrote, `report --from/--to` the current ones",
                len(moved),
                run_id,
                moved[0] if len(moved) == 1 else f"{moved[0]} to {moved[-1]}",
                run_id,
                len(held) - len(moved),
                run_id,
            )
    alerts = store.alerts(first, last, run_id=run_id)
    suppressed = int(alerts["suppressed_by"].notna().sum()) if len(alerts) else 0
    alerts = alerts[alerts["suppressed_by"].isna()] if len(alerts) else alerts
    key = cfg.report.pseudonym_key or os.environ.get(PSEUDONYM_ENV, "")
    pseudo = Pseudonymiser(key)
    if pseudo.random_key and not reveal_customers:
        log.info("no pseudonym key ([report] pseudonym_key or $%s): customer pseudonyms are random for this report", PSEUDONYM_ENV)
    # at least the first reported day's baseline window, so its band is the model's baseline
    history_first = min(shift_day(first, -cfg.report.history_days), baseline_window(first, cfg.features)[0])
    history = store.agent_days(history_first, shift_day(last, 1), columns=HISTORY_COLUMNS)
    scores = store.scores(history_first, last)
    # the stored model inputs that say which days were kept out of a baseline (a sustained excess)
    _, inputs = store.model_inputs(shift_day(history_first, -cfg.model.train_days), shift_day(last, 1))
    inputs = inputs[[DAY, s.AGENT_ID, "accum__max"]] if "accum__max" in inputs else inputs.iloc[:, :0]

    agent_alerts = alerts[alerts["subject_type"] == "agent"].copy()
    group_alerts = alerts[alerts["subject_type"] != "agent"].copy()
    all_cases = load_cases(store, cfg)
    case_of = cases_by_alert(all_cases)
    pages = []
    rows = []
    nights: dict = {}  # day -> explain.ScoredNight, shared by the agents alerted that day
    for agent_id, mine in agent_alerts.groupby("subject_id", sort=False):
        page = _agent_page(store, cfg, str(agent_id), mine.assign(member_of=None), history, scores, inputs, pseudo, reveal_customers, nights, case_of)
        pages.append(page)
        if page["index_row"] is not None:  # an agent with raised alerts (not only days kept on a case)
            rows.append(page["index_row"])
    # the members of group alerts: a page each, also those without an alert of their own
    for agent_id, mine in _member_rows(group_alerts, scores).items():
        known = next((p for p in pages if p["agent_id"] == agent_id), None)
        if known is None:
            pages.append(_agent_page(store, cfg, agent_id, mine, history, scores, inputs, pseudo, reveal_customers, nights, case_of))
        else:
            extra = _agent_page(store, cfg, agent_id, mine, history, scores, inputs, pseudo, reveal_customers, nights, case_of)
            known["days"] = sorted(known["days"] + extra["days"], key=lambda d: (d["day"], d["kind"]))
            known["group_cases"] = sorted({*known["group_cases"], *extra["group_cases"]})
    rows.sort(key=lambda r: (-r["score"], r["agent_id"]))
    paged = {p["agent_id"]: p["file"] for p in pages}
    # the cases with a day in the period; with no days asked for, every open case too
    open_too = run_id is None and (days is None or days.empty)
    cases = [c for c in all_cases if any(first <= str(d) <= last for d in c.days[DAY]) or (open_too and c.status == "open")]
    case_pages = [_case_page(store, cfg, c, paged, pseudo, reveal_customers) for c in cases]
    for p in pages:
        p["cases"] = [{"key": c["key"], "file": c["file"], "subject": c["subject"]} for c in case_pages if p["agent_id"] in c["agents"]]
    groups = [
        {
            "day": g[DAY],
            "alert_key": g["alert_key"],
            "decision": _latest_decision(store, g["alert_key"]),
            "kind": g["subject_type"],
            "subject": g["subject_id"],
            "score": float(g["score"]),
            "members": list(g["members"] or []),
            "reason": (list(g["reasons"]) or [""])[0],
        }
        for g in group_alerts.to_dict("records")
    ]
    classification = _classification(reveal_customers)
    context = {
        "version": __version__,
        "first": first,
        "last": last,
        "classification": classification,
        "revealed": reveal_customers,
        "generated": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        "suppressed": suppressed,
        "baseline": _baseline_words(cfg.features),
        "z_words": Z_WORDS,
    }
    env = _environment()
    files = {
        "index.html": env.get_template("index.html").render(
            **context,
            rows=rows,
            groups=groups,
            cases=[c["index_row"] for c in case_pages],
            vendors=_distinct(rows, "vendor"),
            teams=_distinct(rows, "team"),
            days=sorted({d for r in rows for d in r["days"]}),
        )
    }
    for page in pages:
        files[page["file"]] = env.get_template("agent.html").render(**context, **page)
    for page in case_pages:
        files[page["file"]] = env.get_template("case.html").render(**context, **page)
    files["run.html"] = env.get_template("run.html").render(**context, runs=[_run_view(r) for r in runs])
    _write_atomically(out, files, mode=cfg.report.file_mode_bits)
    raised = alerts[~alerts["ongoing"]] if len(alerts) else alerts
    return ReportSummary(out, first, last, len(rows), len(raised), [out / p["file"] for p in pages], reveal_customers, len(case_pages))


#: what the pages' z columns are, so that "472 views against a median of 124, own z 0.0" reads right
Z_WORDS = (
    "Own z and peer z are adjusted robust z-scores, on a log scale: how far the day's count stands from the agent's own "
    "baseline median (own z) or from today's median of their peer group (peer z), in units of the usual spread "
    "(1.4826 x the median absolute deviation, never less than counting noise). Own z then has taken out what the "
    "agent's whole team shows together today, and a rise of a few records is damped. So a count far above its own "
    "median can read z 0.0: the agent's days usually vary that much, or the team rose together that day (a backlog, "
    "an outage). A share of the day's work (identity documents, say) is compared as a share."
)


def _baseline_words(settings: FeatureSettings) -> str:
    """What the personal baseline is under these settings, for the pages' captions."""
    words = f"the agent's active days among the {settings.window} days ending {settings.lag} days before, at least {settings.min_history} of them"
    if settings.baseline_skip_above > 0:
        words += f", less days that scored {settings.baseline_skip_above:g} or more"
    return words


def _classification(revealed: bool) -> str:
    if revealed:
        return "RESTRICTED: CONTAINS PERSONAL DATA. Customer identifiers are shown in clear; handle under your data protection rules."
    return "RESTRICTED: security investigation material. Customer identifiers are pseudonymised (keyed hash); agent identities and access times are shown."


def _distinct(rows: list[dict], key: str) -> list[str]:
    return sorted({str(r[key]) for r in rows if r[key] is not None})


def single_agent_page(store: Store, cfg: Config, agent_id: str, pseudo, reveal: bool = False) -> dict | None:
    """One agent's page, as the report makes it, over every stored day that names them: their
    alerts (raised or kept on their case) and the group alerts they are a member of; None
    when none does (the console's agent page)."""
    alerts = store.alerts()
    if alerts.empty:
        return None
    alerts = alerts[alerts["suppressed_by"].isna()]
    mine = alerts[(alerts["subject_type"] == "agent") & (alerts["subject_id"] == agent_id)].assign(member_of=None)
    groups = alerts[(alerts["subject_type"] != "agent") & alerts["members"].map(lambda m: agent_id in (m or []))]
    if mine.empty and groups.empty:
        return None
    days = sorted({*mine[DAY], *groups[DAY]})
    first, last = days[0], days[-1]
    history_first = min(shift_day(first, -cfg.report.history_days), baseline_window(first, cfg.features)[0])
    history = store.agent_days(history_first, shift_day(last, 1), columns=HISTORY_COLUMNS)
    scores = store.scores(history_first, last)
    _, inputs = store.model_inputs(shift_day(history_first, -cfg.model.train_days), shift_day(last, 1))
    inputs = inputs[[DAY, s.AGENT_ID, "accum__max"]] if "accum__max" in inputs else inputs.iloc[:, :0]
    case_of = cases_by_alert(load_cases(store, cfg))
    rows = pd.concat([mine, _member_rows(groups, scores).get(agent_id, pd.DataFrame())], ignore_index=True)
    return _agent_page(store, cfg, agent_id, rows, history, scores, inputs, pseudo, reveal, {}, case_of)


def _member_rows(group_alerts: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per member of the group alerts: a row for each group alert that names them, with the
    member's own score and rank that night and the group's alert key (its evidence holds
    their accesses) and reason."""
    own = scores.set_index([DAY, s.AGENT_ID]) if len(scores) else None
    out: dict[str, list[dict]] = {}
    for g in group_alerts.to_dict("records"):
        for m in g["members"] or []:
            sc = own.loc[(g[DAY], m)] if own is not None and (g[DAY], m) in own.index else None
            out.setdefault(str(m), []).append(
                {
                    DAY: g[DAY],
                    "alert_key": g["alert_key"],
                    "subject_type": "agent",
                    "subject_id": str(m),
                    "score": float(sc["score"]) if sc is not None else np.nan,
                    "rank": int(sc["rank"]) if sc is not None else None,
                    "reasons": [f"a member of the {g['subject_type']} {g['subject_id']} group alert: {(list(g['reasons']) or [''])[0]}"],
                    "ongoing": False,
                    "member_of": f"{g['subject_type']} {g['subject_id']}",
                }
            )
    return {a: pd.DataFrame(r) for a, r in out.items()}


def local_time(timestamp, zone: str | None) -> str:
    """An access time (UTC, as stored) in the agent's local time with its UTC offset,
    "2026-01-26 22:06:12 +08:00"; in UTC ("... +00:00 UTC") without a known zone."""
    t = pd.Timestamp(str(timestamp))
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if zone:
        try:
            here = t.tz_convert(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            here = None
        if here is not None:
            off = here.strftime("%z")
            return here.strftime("%Y-%m-%d %H:%M:%S ") + off[:3] + ":" + off[3:]
    return t.strftime("%Y-%m-%d %H:%M:%S +00:00 UTC")


def _evidence_view(rows: pd.DataFrame, zone: str | None, pseudo, reveal: bool) -> list[dict]:
    return [
        {
            "time": local_time(r[s.TIMESTAMP], zone)[11:],
            "utc": str(r[s.TIMESTAMP])[11:19],
            "agent": _text(r[s.AGENT_ID]),
            "customer": _text(r[s.CUSTOMER_ID]) if reveal else pseudo(_text(r[s.CUSTOMER_ID])),
            "action": _text(r[s.ACTION]),
            "resource": _text(r[s.RESOURCE]),
            "ticket": _text(r[s.TICKET_ID]) or s.UNKNOWN,
            "tier": _text(r[s.CUSTOMER_TIER]),
        }
        for r in rows.to_dict("records")
    ]


def _zone(scores: pd.DataFrame, agent_id: str, day: str | None = None) -> str | None:
    """The agent's time zone from the stored scores (of ``day``, else their latest)."""
    if s.TIMEZONE not in scores or not len(scores):
        return None
    mine = scores[(scores[s.AGENT_ID] == agent_id) & scores[s.TIMEZONE].notna()]
    if day is not None and (mine[DAY] == day).any():
        mine = mine[mine[DAY] == day]
    return str(mine[s.TIMEZONE].iloc[-1]) if len(mine) else None


def _agent_page(store, cfg, agent_id, mine, history, scores, inputs, pseudo, reveal, nights: dict, case_of: dict) -> dict:
    """An agent's page: a section per day of ``mine`` (their alerts, raised or kept on their
    case, and the group alerts that name them as a member: ``member_of``)."""
    mine = mine.sort_values(DAY)
    own = history[history[s.AGENT_ID] == agent_id].sort_values(DAY)
    own_scores = scores[scores[s.AGENT_ID] == agent_id].sort_values(DAY)
    own_inputs = inputs[inputs[s.AGENT_ID] == agent_id] if len(inputs) else None
    last_row = own_scores.iloc[-1] if len(own_scores) else None

    def group(name):
        return None if last_row is None or pd.isna(last_row[name]) else str(last_row[name])

    team = group(s.TEAM)
    raised = mine[~mine["ongoing"].astype(bool) & mine["member_of"].isna()]
    flagged_days = sorted(set(raised[DAY]) | set(own_scores.loc[own_scores["flagged"].astype(bool), DAY]))
    marked_days = sorted(set(mine[DAY]) | set(flagged_days))
    band = _views_bands(own, history, scores, team, cfg, own_inputs)
    days = []
    for a in mine.to_dict("records"):
        d = a[DAY]
        if d not in nights:
            nights[d] = scored_night(store, cfg, d)
        e = explain(store, cfg, agent_id, d, nights[d])
        feats = e.features
        stored = store.evidence(a["alert_key"])
        if a.get("member_of"):
            stored = stored[stored[s.AGENT_ID] == agent_id]
        case = case_of.get(a["alert_key"])
        decision = case.last_decision if case is not None else None
        evidence = stored.head(cfg.report.evidence_rows)
        zone = _zone(scores, agent_id, d)
        kind = "member" if a.get("member_of") else "kept" if a.get("ongoing") else "alerted"
        today = own[own[DAY] == d]
        before = personal_baseline(own, own_scores, d, cfg.features, frozen_for(own_inputs, own_scores, d, cfg))  # the days the model compared it with
        days.append(
            {
                "day": d,
                "kind": kind,
                "member_of": a.get("member_of"),
                "alert_key": a["alert_key"],
                "case_key": case.key if case is not None else None,
                "case_file": case_page_name(case.key) if case is not None else None,
                "decision": None
                if decision is None
                else {"status": _text(decision["status"]), "author": _text(decision["author"]), "at": _text(decision["decided_at"])[:16], "note": _text(decision.get("note"))},
                "score": float(a["score"]) if not pd.isna(a["score"]) else float(e.score["score"]),
                "rank": None if a["rank"] is None or pd.isna(a["rank"]) else int(a["rank"]),
                "reasons": list(a["reasons"]) if kind != "member" else list(a["reasons"]) + list(e.reasons),
                "features": [_feature_view(r) for r in feats.to_dict("records")],
                "contributions_source": e.contributions_source,
                "evidence": _evidence_view(evidence, zone, pseudo, reveal),
                "evidence_total": len(stored),
                "evidence_shown": len(evidence),
                "zone": zone or "UTC (no time zone in the roster)",
                "accumulated": e.accumulated,
                "accumulated_png": accumulation_plot(with_derived(own), e.accumulated, d, cfg.features.reference_days) if e.accumulated else None,
                "hours_png": hours_plot(today, before),
                "mix_png": mix_plot(today, before, MIX),
            }
        )
    spark = own.set_index(DAY)["views"] if len(own) else pd.Series(dtype=float)
    index_row = None
    if len(raised):
        top = raised.sort_values("score", ascending=False).iloc[0]
        index_row = {
            "agent_id": agent_id,
            "file": agent_page_name(agent_id),
            "vendor": group(s.VENDOR),
            "team": team,
            "role": group(s.ROLE),
            "site": group(s.SITE),
            "score": float(top["score"]),
            "top_day": top[DAY],
            "days": sorted(raised[DAY]),
            "days_flagged": int(len(raised)),
            "days_kept": int(mine["ongoing"].astype(bool).sum()),
            "reason": (list(top["reasons"]) or [""])[0],
            "sparkline": sparkline(spark.to_numpy(float), [i for i, d in enumerate(spark.index) if d in set(raised[DAY])]),
        }
    return {
        "file": agent_page_name(agent_id),
        "agent_id": agent_id,
        "team": team,
        "role": group(s.ROLE),
        "site": group(s.SITE),
        "vendor": group(s.VENDOR),
        "flagged_days": flagged_days,
        "group_cases": sorted({str(m) for m in mine["member_of"] if isinstance(m, str)}),
        "views_png": views_plot(band, marked_days),
        "days": days,
        "index_row": index_row,
    }


def _case_page(store, cfg, case, paged: dict[str, str], pseudo, reveal: bool) -> dict:
    """A case's page: its days (score, views, the reason that drove it, the stored
    accesses), what it exposed, its members with their pages, the customers members share,
    its decisions with their notes and the suppressions of its agents."""
    exposed = case_exposure(store, case)
    counts = case_evidence(store, case)
    agents = [case.subject_id] if case.subject_type == "agent" else list(case.members)
    day_views = store.agent_days_of(case.agent_days())[0]
    views = day_views.groupby(DAY)["views"].sum().to_dict() if len(day_views) else {}
    scores = store.scores_of(agents, first=case.opened)
    evidence, _ = store.evidence_of(case.alert_keys, per_agent=cfg.report.evidence_rows)
    if case.subject_type != "agent" and len(evidence):
        evidence = evidence[evidence[s.AGENT_ID].isin(agents)]
    timeline, by_day = [], []
    for r in case.days.to_dict("records"):
        key = r["alert_key"] if isinstance(r["alert_key"], str) else None
        got = counts.get(key) if key else None
        kind = "alerted" if r["alerted"] else "kept" if key else "stood out"
        timeline.append(
            {
                "day": str(r[DAY]),
                "kind": kind,
                "score": None if pd.isna(r["score"]) else float(r["score"]),
                "rank": None if r["rank"] is None or pd.isna(r["rank"]) else int(r["rank"]),
                "views": int(views.get(str(r[DAY]), 0)),
                "accesses": got["accesses"] if got else None,
                "customers": got["customers"] if got else None,
                "reason": (list(r["reasons"]) or ["stood out again (score above the night's bar); stored before cases kept their days' reasons"])[0],
                "alert_key": key,
            }
        )
        mine = evidence[evidence["alert_key"] == key] if key and len(evidence) else evidence.iloc[:0]
        rows = []
        for agent, part in mine.groupby(s.AGENT_ID, sort=False) if len(mine) else []:
            rows += _evidence_view(part, _zone(scores, str(agent), str(r[DAY])), pseudo, reveal)
        by_day.append({"day": str(r[DAY]), "kind": kind, "rows": rows, "total": got["accesses"] if got else 0})
    shared = _shared_customers(store, case, pseudo, reveal) if case.subject_type != "agent" else []
    suppressions = store.suppressions()
    suppressions = suppressions[suppressions[s.AGENT_ID].isin(agents)] if len(suppressions) else suppressions
    last = case.last_decision
    row = {
        "key": case.key,
        "file": case_page_name(case.key),
        "subject": case.subject_id if case.subject_type == "agent" else f"{case.subject_type} {case.subject_id}",
        "subject_file": paged.get(case.subject_id) if case.subject_type == "agent" else None,
        "status": case.status,
        "triage": _text(last["status"]) if last else "untriaged",
        "opened": case.opened,
        "last_day": case.last_day,
        "days": len(case.days),
        "alerted_days": int(case.days["alerted"].sum()) if len(case.days) else 0,
        "customers": exposed["customers"],
        "records": exposed["records"].get("views", 0),
        "top_score": float(case.days["score"].max()) if len(case.days) else 0.0,
    }
    return {
        "file": row["file"],
        "key": case.key,
        "subject": row["subject"],
        "agents": agents,
        "index_row": row,
        "case": row,
        "closed_on": case.closed_on,
        "exposure": exposed,
        "exposure_kinds": EXPOSURE_KINDS,
        "timeline": timeline,
        "by_day": by_day,
        "members": [{"agent_id": m, "file": paged.get(m)} for m in agents] if case.subject_type != "agent" else [],
        "shared": shared,
        "decisions": [{k: _text(d.get(k)) for k in ("id", "decided_at", "status", "author", "note", "supersedes")} for d in case.decisions.to_dict("records")],
        "suppressions": [{k: _text(x.get(k)) for k in ("id", s.AGENT_ID, "until", "reason", "ticket", "owner", "created_at", "pattern")} for x in suppressions.to_dict("records")],
    }


#: customers listed as shared between a group case's members
SHARED_ROWS = 50


def _shared_customers(store, case, pseudo, reveal: bool) -> list[dict]:
    """The customers whose records two or more of a group case's members opened on its
    days (from the stored evidence), most members first."""
    rows, _ = store.evidence_of(case.alert_keys)
    if not len(rows):
        return []
    per = rows.groupby(s.CUSTOMER_ID)[s.AGENT_ID].agg(lambda a: sorted(set(map(str, a))))
    per = per[per.map(len) >= 2]
    ranked = sorted(per.items(), key=lambda kv: (-len(kv[1]), str(kv[0])))[:SHARED_ROWS]
    return [{"customer": _text(c) if reveal else pseudo(_text(c)), "members": m} for c, m in ranked]


def _latest_decision(store: Store, alert_key: str) -> dict | None:
    """The alert's latest triage decision (status, author, when), or None."""
    decided = store.decisions(alert_key)
    if not len(decided):
        return None
    d = decided.iloc[-1]
    return {"status": _text(d["status"]), "author": _text(d["author"]), "at": _text(d["decided_at"])[:16]}


def _text(value) -> str:
    """A stored text value for display: missing (NULL, NaN) as empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _feature_view(r: dict) -> dict:
    def num(v, digits=1):
        return "" if v is None or pd.isna(v) else (f"{v:,.0f}" if digits == 0 else f"{v:,.{digits}f}")

    return {
        "metric": r["metric"],
        "meaning": r["meaning"],
        "value": num(r["value"], 0),
        "baseline": num(r["baseline_median"]),
        "baseline_p90": num(r["baseline_p90"]),
        "team": num(r["team_median"]),
        "team_p95": num(r["team_p95"]),
        "role": num(r["role_median"]),
        "own_z": num(r["own_z"]),
        "peer_z": num(r["peer_z"]),
        "contribution": num(r["contribution"], 3),
        "strong": bool(not pd.isna(r["contribution"]) and r["contribution"] > 0),
    }


def _views_bands(own: pd.DataFrame, history: pd.DataFrame, scores: pd.DataFrame, team: str | None, cfg: Config, own_inputs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per day of the agent's history: views, the agent's own baseline band (median and 90th
    percentile of the personal baseline the model used that day: :func:`personal_baseline`,
    so the configured window, lag, minimum history, skipped and frozen days) and the team's
    band that day (median and 95th percentile of the members' views). ``own_inputs``: the
    agent's stored ``accum__max`` (day, agent_id, accum__max), for the frozen days."""
    settings = cfg.features
    if own.empty:
        return pd.DataFrame(columns=[DAY, "views", "own_med", "own_hi", "team_med", "team_hi"])
    days = own[DAY].tolist()
    views = own["views"].to_numpy(float)
    own_scores = scores[scores[s.AGENT_ID].isin(own[s.AGENT_ID].unique())]
    own_med, own_hi = [], []
    for d in days:
        w = personal_baseline(own, own_scores, d, settings, frozen_for(own_inputs, own_scores, d, cfg))["views"]
        ok = has_baseline(len(w), settings)
        own_med.append(float(w.median()) if ok else np.nan)
        own_hi.append(float(w.quantile(0.9)) if ok else np.nan)
    if team is not None:
        members = scores[scores[s.TEAM] == team][[DAY, s.AGENT_ID]]
        peers = history.merge(members, on=[DAY, s.AGENT_ID])
        stats = peers.groupby(DAY)["views"].agg(team_med="median", team_hi=lambda v: v.quantile(0.95))
    else:
        stats = pd.DataFrame(columns=["team_med", "team_hi"])
    frame = pd.DataFrame({DAY: days, "views": views, "own_med": own_med, "own_hi": own_hi})
    return frame.merge(stats, left_on=DAY, right_index=True, how="left")


def _run_view(run: dict) -> dict:
    manifest = json.loads(run["manifest"]) if isinstance(run.get("manifest"), str) and run["manifest"] else {}
    config = json.loads(run["config"]) if isinstance(run.get("config"), str) else {}
    if isinstance(config.get("report"), dict) and config["report"].get("pseudonym_key"):
        config["report"]["pseudonym_key"] = "(set, redacted)"
    return {
        "run_id": run["run_id"],
        "kind": run["kind"],
        "status": run["status"],
        "started_at": run["started_at"],
        "finished_at": run.get("finished_at"),
        "days": f"{run.get('day_from')} to {run.get('day_to')}",
        "detector_version": run["detector_version"],
        "message": run.get("message"),
        "inputs": manifest.get("inputs", []),
        "roster": manifest.get("roster") if isinstance(manifest.get("roster"), dict) else None,
        "mapping": _mapping_view(config.get("sources")),
        "rows": manifest.get("rows", {}),
        "versions": manifest.get("versions", {}),
        "model": manifest.get("model", {}),
        "python": manifest.get("python"),
        "seconds": manifest.get("seconds"),
        "config": json.dumps(config, indent=2, sort_keys=True),
    }


def _mapping_view(sources) -> dict | None:
    """The input mapping and lookup table a run read its logs with, and their digests."""
    if not isinstance(sources, dict) or not sources.get("mapping"):
        return None
    return {k: sources.get(k) or "" for k in ("mapping", "mapping_sha256", "lookup", "lookup_sha256")}


def _write_atomically(out: Path, files: dict[str, str], *, mode: int = DEFAULT_FILE_MODE) -> None:
    """Make ``out`` hold this report and nothing else. The whole site (with a list of its
    files, :data:`REPORT_MANIFEST`) is built in a fresh staging directory beside ``out``,
    every file created exclusively with ``mode``, then swapped into place: no page of an
    earlier report (say one with customer ids revealed) stays behind, a reader never sees a
    half-written site, and a failure leaves the previous report as it was. A directory that
    holds anything an insiderwatch report does not write is refused, never emptied."""
    target = Path(os.path.realpath(out))  # a symlinked report directory: its target is replaced
    if not target.name:
        raise UsageError(f"cannot write the report to {out}: give a directory of its own")
    _check_replaceable(out, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging: Path | None = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.insiderwatch-new-", dir=target.parent))
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    old: Path | None = None  # the previous report, moved aside until the new one is in place
    keep_old = False
    try:
        assert staging is not None
        for name in sorted(files, key=lambda n: n == "index.html"):
            write_new_file(staging / name, files[name], mode=mode)
        write_new_file(staging / REPORT_MANIFEST, "".join(f"{name}\n" for name in sorted(files)), mode=mode)
        os.chmod(staging, mode | (mode & 0o444) >> 2)  # searchable by whoever may read the pages
        if os.path.lexists(target):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.insiderwatch-old-", dir=target.parent))
            os.rename(target, old)  # over the empty directory just made
            keep_old = True
        try:
            os.rename(staging, target)
        except OSError:
            if old is not None and keep_old:
                os.rename(old, target)  # put the previous report back
                old, keep_old = None, False
            raise
        staging = None
        keep_old = False
    except OSError as exc:
        if keep_old:
            raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}; the previous report is in {old}") from exc
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}; the previous report, if any, is left as it was") from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not keep_old:
            shutil.rmtree(old, ignore_errors=True)
            if os.path.lexists(old):
                log.warning("could not remove the previous report, moved aside to %s: remove it by hand", old)


def _check_replaceable(out: Path, target: Path) -> None:
    """Refuse (exit 2) to replace anything but nothing, an empty directory or an insiderwatch
    report: the files its manifest lists, or (a report of an earlier version) its pages."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise UsageError(f"cannot write the report to {out}: it is not a directory")
    try:
        names = os.listdir(target)
        listed = set((target / REPORT_MANIFEST).read_text(encoding="utf-8").splitlines()) if REPORT_MANIFEST in names else set()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot write the report to {out}: {getattr(exc, 'strerror', None) or exc}") from exc
    foreign = sorted(n for n in names if n != REPORT_MANIFEST and n not in listed and not _REPORT_NAME.fullmatch(n))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UsageError(
            f"not writing the report to {out}: it holds files that are not an insiderwatch report ({foreign[0]!r}{more}); "
            "give a new or empty directory, or one an earlier report wrote (it is replaced as a whole)"
        )


def _environment() -> Environment:
    from jinja2 import DictLoader

    from pipelines.report_templates import TEMPLATES

    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    return env
