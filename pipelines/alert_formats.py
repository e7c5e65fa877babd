"""Alerts as other tools read them: OCSF Detection Findings and ECS alert documents.

:func:`ocsf_finding` and :func:`ecs_alert` are pure: one alert's stored facts
(:class:`AlertFacts`: the alert row, its evidence, the agents' peer groups and the features
behind the score) in, one JSON-ready dict out. :func:`alert_facts` is the only part that reads,
from the store. Nothing here writes; the export command writes through pipelines.output.

Every string from the logs (agent, customer, ticket ids...) is carried as data: it is never
part of a key, a field name or a format string, so any content gives valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import pandas as pd

from detector import __version__
from detector import schema as s

#: the OCSF version the findings follow (1.5.0 is the first with anomaly_analyses)
OCSF_VERSION = "1.5.0"
#: the ECS version the alert documents follow
ECS_VERSION = "8.17.0"
PRODUCT = {"name": "insiderwatch", "vendor_name": "insiderwatch project", "version": __version__}
#: accessed records listed per alert (shared fairly between a group's members); the rest
#: are counted in unmapped.insiderwatch.evidence
EVIDENCE_ROWS = 100
#: distinct customers listed in a finding's resources[]
RESOURCE_ROWS = 100
#: features listed in anomaly_analyses per agent
ANOMALY_FEATURES = 6
#: a feature counts as anomalous when it drove the score by this much, or stood this many
#: robust deviations above the agent's own baseline or their peers
MIN_CONTRIBUTION = 0.01
MIN_Z = 3.0

SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
RISK_LEVELS = {0: "Info", 1: "Low", 2: "Medium", 3: "High", 4: "Critical"}
STATUSES = {1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved"}
#: triage decisions (insiderwatch triage) as OCSF finding statuses
DECISION_STATUS = {"confirmed": 2, "escalated": 2, "benign": 4}
UNKNOWN_GROUP = s.UNKNOWN

ANALYTICS = {
    "agent": {
        "uid": "insiderwatch.agent_day",
        "name": "Customer-record harvesting: agent-day anomaly",
        "type_id": 2,
        "type": "Behavioral",
        "desc": "The agent's day against their own lagged baseline and their peers that day, scored by an anomaly detector (calibrated: 2.0 = rarer than 1 in 100 of the agent-days it learned from)",
    },
    "group": {
        "uid": "insiderwatch.group_drift",
        "name": "Customer-record harvesting: group drifting together",
        "type_id": 3,
        "type": "Statistical",
        "desc": "A team's or site's summed harvesting excess over its members' own baselines, in robust deviations above the other teams or sites that day",
    },
}


@dataclass
class AlertFacts:
    """What the store holds about one alert, as plain values.

    alert : the stored alert row (alert_key, day, subject_type, subject_id, score, rank,
        reasons, members, run_id, detector_version, created_at, suppressed_by)
    evidence : stored evidence rows (canonical event columns), at most a cap per agent
    accesses, customers : every stored evidence row and distinct customer of the alert
    first_seen, last_seen : earliest and latest stored evidence timestamp (ISO, UTC); the
        latest is moved to the subjects' last access of the day (to the minute, from their
        agent-days) when the stored evidence, which is capped, ends earlier
    events_total : every access of the subjects that day, from their agent-days (the
        evidence is capped; this is not), or None when the agent-days are gone
    people : agent_id -> their peer groups that night (team, role, site, vendor)
    features : agent_id -> rows of :func:`pipelines.explain.explain` (metric, value,
        baseline_median, ..., own_z, peer_z, contribution)
    decision : the latest triage decision on the alert's case (status, author, decided_at), if any
    baseline_window : (first, last) day of the personal baseline window
    case : the alert's case (:func:`pipelines.cases.case_summary`: uid, status, triage,
        opened, closed_on, days), None for an alert outside any case
    """

    alert: dict
    evidence: list[dict] = field(default_factory=list)
    accesses: int = 0
    customers: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    events_total: int | None = None
    people: dict[str, dict] = field(default_factory=dict)
    features: dict[str, list[dict]] = field(default_factory=dict)
    decision: dict | None = None
    baseline_window: tuple[str, str] | None = None
    case: dict | None = None

    @property
    def subjects(self) -> list[str]:
        """The agents the alert is about: the agent, or a group's members."""
        a = self.alert
        return [str(a["subject_id"])] if a["subject_type"] == "agent" else [str(m) for m in (a.get("members") or [])]


def ocsf_schema() -> dict:
    """The JSON Schema (Draft 2020-12) of the findings :func:`ocsf_finding` writes, shipped
    with the package (pipelines/schemas/ocsf_detection_finding.schema.json)."""
    return json.loads(resources.files("pipelines").joinpath("schemas", "ocsf_detection_finding.schema.json").read_text(encoding="utf-8"))


# --- mappings -------------------------------------------------------------------------------
def risk_score(subject_type: str, score: float) -> int:
    """The alert's score on 0-100.

    Agent alerts: 20 x the calibrated score (2.0, rarer than 1 in 100 agent-days, is 40;
    3.0 is 60; 4.0 is 80; 5.0 or more is 100). Group alerts: 40 + 5 x the robust z of the
    group's excess (the default alerting z of 4 is 60; 8 is 80; 12 or more is 100)."""
    value = 20.0 * score if subject_type == "agent" else 40.0 + 5.0 * score
    return int(min(100, max(0, round(value)))) if math.isfinite(value) else 0


def severity_id(risk: int) -> int:
    """OCSF severity from the risk score: under 40 Low, 40-59 Medium, 60-79 High, 80+ Critical."""
    return 2 if risk < 40 else 3 if risk < 60 else 4 if risk < 80 else 5


def status_of(facts: AlertFacts) -> tuple[int, str | None]:
    """OCSF status_id and detail: Suppressed when a suppression covered the alert; Resolved
    when its case is closed (benign or confirmed); else from the latest triage decision on
    the case (benign: Resolved; confirmed, escalated: In Progress), else New."""
    a = facts.alert
    if _present(a.get("suppressed_by")):
        return 3, f"suppressed by suppression {int(a['suppressed_by'])}"
    if facts.case and facts.case["status"] == "closed":
        return 4, f"case closed on {facts.case['closed_on']}: triage {facts.case['triage']}"
    if facts.decision:
        status = str(facts.decision.get("status"))
        return DECISION_STATUS.get(status, 99), f"triage: {status}"
    return 1, None


def title(alert: dict) -> str:
    day = alert["day"]
    if alert["subject_type"] == "agent":
        return f"Possible customer-record harvesting by agent {alert['subject_id']} on {day}"
    n = len(alert.get("members") or [])
    return f"Possible customer-record harvesting by {alert['subject_type']} {alert['subject_id']} ({n} members) on {day}"


# --- OCSF -----------------------------------------------------------------------------------
def ocsf_finding(facts: AlertFacts) -> dict:
    """One alert (a day of a case) as an OCSF Detection Finding (class_uid 2004).

    A case is one finding: finding_info.uid is the case's key (the key of the alert that
    opened it), its first day is activity Create and every later day of the case (alerted
    again, or kept on the case: ``ongoing``) an Update of the same uid, with the case's
    status (New, In Progress, Resolved once closed). metadata.uid is the day's own alert key
    (subject, day, detector version): the same day exported again, or rescored, keeps it.
    An alert outside any case is its own finding. time is when the alert was stored. The agent (or each member of a group) is in evidences[].actor.user; the accessed
    records in evidences[].resources[] and, one per customer, resources[]; the features
    behind the score, with the agent's own baseline and their peers', in anomaly_analyses[].
    """
    a = facts.alert
    kind = "agent" if a["subject_type"] == "agent" else "group"
    risk = risk_score(a["subject_type"], float(a["score"]))
    sev = severity_id(risk)
    status, detail = status_of(facts)
    created = _ms(a.get("created_at")) or _day_ms(a["day"])[0]
    first_seen, last_seen = _ms(facts.first_seen), _ms(facts.last_seen)
    if first_seen is None or last_seen is None:
        first_seen, last_seen = _day_ms(a["day"])
    analytic = {k: v for k, v in ANALYTICS[kind].items()}
    analytic["version"] = str(a["detector_version"])
    analytic["algorithm"] = str(a["detector_version"]).rsplit("/", 1)[-1]
    evidences, shown = _ocsf_evidences(facts)
    resources = _ocsf_resources(facts)
    uid = str(facts.case["uid"]) if facts.case else str(a["alert_key"])
    activity, activity_name = (1, "Create") if uid == str(a["alert_key"]) else (2, "Update")
    finding = {
        "activity_id": activity,
        "activity_name": activity_name,
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200400 + activity,
        "type_name": f"Detection Finding: {activity_name}",
        "time": created,
        "severity_id": sev,
        "severity": SEVERITIES[sev],
        "risk_score": risk,
        "risk_level_id": sev - 1,
        "risk_level": RISK_LEVELS[sev - 1],
        "is_alert": True,
        "status_id": status,
        "status": STATUSES.get(status, "Other"),
        "message": title(a),
        "metadata": {"product": dict(PRODUCT), "version": OCSF_VERSION, "uid": str(a["alert_key"])},
        "finding_info": {
            "uid": uid,
            "title": title(a),
            "first_seen_time": first_seen,
            "last_seen_time": last_seen,
            "desc": " ".join(f"{r.rstrip('.')}." for r in a["reasons"]),
            "types": ["Insider Threat", "Customer Data Harvesting"],
            "analytic": analytic,
            "created_time": created,
            "related_events_count": int(facts.events_total if facts.events_total is not None else facts.accesses),
            "data_sources": ["support-tool access logs"],
        },
        "evidences": evidences,
        "resources": resources,
    }
    # what a reader of one line wants first: the class, when, how bad, which finding
    first = ("class_uid", "category_uid", "activity_id", "type_uid", "time", "severity_id", "risk_score", "finding_info")
    finding = {**{k: finding[k] for k in first}, **{k: v for k, v in finding.items() if k not in first}}
    if detail:
        finding["status_detail"] = detail
    analyses = _ocsf_anomaly_analyses(facts)
    if analyses:
        finding["anomaly_analyses"] = analyses
    finding["unmapped"] = {"insiderwatch": _unmapped(facts, shown, len(resources))}
    return finding


def _user(agent: str, person: dict | None) -> dict:
    user = {"uid": agent, "type_id": 1, "type": "User"}
    person = person or {}
    groups = [{"name": str(person[k]), "type": k} for k in (s.TEAM, s.SITE) if _known(person.get(k))]
    if groups:
        user["groups"] = groups
    if _known(person.get(s.VENDOR)):
        user["org"] = {"name": str(person[s.VENDOR])}
    return user


def _ocsf_evidences(facts: AlertFacts) -> tuple[list[dict], int]:
    """One evidence per subject agent (their user and peer groups), then the accessed
    records, at most EVIDENCE_ROWS shared fairly between the agents. Returns (evidences,
    accesses listed)."""
    subjects = facts.subjects
    out = []
    role = "subject" if facts.alert["subject_type"] == "agent" else "member"
    for agent in subjects:
        person = facts.people.get(agent) or {}
        data = {"role_in_alert": role, **{k: str(person[k]) for k in (s.TEAM, s.ROLE, s.SITE, s.VENDOR) if _known(person.get(k))}}
        out.append({"name": "agent", "actor": {"user": _user(agent, person)}, "data": data})
    shown = 0
    for row in _fair_share(facts.evidence, subjects, EVIDENCE_ROWS):
        agent = str(row[s.AGENT_ID])
        record: dict[str, Any] = {"uid": str(row[s.CUSTOMER_ID]), "type": str(row[s.RESOURCE]) if _present(row.get(s.RESOURCE)) else "customer_record"}
        if _present(row.get(s.CUSTOMER_TIER)):
            record["labels"] = [str(row[s.CUSTOMER_TIER])]
        data = {"time": str(row[s.TIMESTAMP])}
        for c in (s.ACTION, s.TICKET_ID, s.CUSTOMER_TIER, s.SESSION_ID, s.SOURCE_IP, s.EVENT_ID):
            if _present(row.get(c)):
                data[c] = str(row[c])
        evidence: dict[str, Any] = {"name": "access", "actor": {"user": {"uid": agent, "type_id": 1, "type": "User"}}, "resources": [record], "data": data}
        if _present(row.get(s.EVENT_ID)):
            evidence["uid"] = str(row[s.EVENT_ID])
        out.append(evidence)
        shown += 1
    return out, shown


def _fair_share(rows: list[dict], agents: list[str], cap: int) -> list[dict]:
    """At most ``cap`` rows, the same share for each agent (a share one leaves unused goes
    to the others), in the rows' order."""
    by_agent: dict[str, list[dict]] = {}
    for r in rows:
        by_agent.setdefault(str(r[s.AGENT_ID]), []).append(r)
    quota = {a: 0 for a in by_agent}
    left = cap
    while left > 0:
        open_ = [a for a in by_agent if quota[a] < len(by_agent[a])]
        if not open_:
            break
        share = max(1, left // len(open_))
        for a in open_:
            take = min(share, len(by_agent[a]) - quota[a], left)
            quota[a] += take
            left -= take
            if left == 0:
                break
    keep = {a: by_agent[a][: quota[a]] for a in by_agent}
    chosen = {id(r) for part in keep.values() for r in part}
    return [r for r in rows if id(r) in chosen]


def _ocsf_resources(facts: AlertFacts) -> list[dict]:
    """The customers whose records were accessed, most accessed first (of the evidence read)."""
    per: dict[str, dict] = {}
    for row in facts.evidence:
        c = str(row[s.CUSTOMER_ID])
        entry = per.setdefault(c, {"accesses": 0, "parts": set(), "tier": None, "agents": set()})
        entry["accesses"] += 1
        if _present(row.get(s.RESOURCE)):
            entry["parts"].add(str(row[s.RESOURCE]))
        if _present(row.get(s.CUSTOMER_TIER)):
            entry["tier"] = str(row[s.CUSTOMER_TIER])
        entry["agents"].add(str(row[s.AGENT_ID]))
    ranked = sorted(per.items(), key=lambda kv: (-kv[1]["accesses"], kv[0]))[:RESOURCE_ROWS]
    out = []
    for customer, e in ranked:
        resource = {"uid": customer, "type": "customer", "data": {"accesses": e["accesses"], "record_parts": sorted(e["parts"]), "agents": sorted(e["agents"])}}
        if e["tier"]:
            resource["labels"] = [e["tier"]]
        out.append(resource)
    return out


def _anomalous(rows: list[dict]) -> list[dict]:
    def num(v):
        return float(v) if _present(v) else float("nan")

    picked = []
    for r in rows:
        contribution, z = num(r.get("contribution")), max(num(r.get("own_z")), num(r.get("peer_z")))
        if (math.isfinite(contribution) and contribution >= MIN_CONTRIBUTION) or (math.isfinite(z) and z >= MIN_Z):
            picked.append((-(contribution if math.isfinite(contribution) else 0.0), -(z if math.isfinite(z) else 0.0), r))
    picked.sort(key=lambda t: (t[0], t[1]))
    return [t[2] for t in picked[:ANOMALY_FEATURES]]


def _ocsf_anomaly_analyses(facts: AlertFacts) -> list[dict]:
    """Per agent and anomalous feature: the day's count (anomalies[]) against the agent's own
    baseline (median, 90th percentile over the baseline window) and the same day's team and
    role (median, 95th percentile) (baselines[])."""
    day_start, day_end = _day_ms(facts.alert["day"])
    day_span = {"start_time": day_start, "end_time": day_end, "type_id": 5, "type": "Days"}
    own_span = None
    if facts.baseline_window:
        first, last = facts.baseline_window
        own_span = {"start_time": _day_ms(first)[0], "end_time": _day_ms(last)[1], "type_id": 9, "type": "Time Interval"}
    out = []
    for agent in facts.subjects:
        person = facts.people.get(agent) or {}
        for r in _anomalous(facts.features.get(agent, [])):
            metric = str(r["metric"])
            value = r.get("value")
            observation: dict[str, Any] = {"value": _num_text(value), "timespan": day_span}
            if value is not None and _present(value):
                observation["count"] = int(round(float(value)))
            baselines = []
            team = f"team {person[s.TEAM]}" if _known(person.get(s.TEAM)) else "team"
            role = f"role {person[s.ROLE]}" if _known(person.get(s.ROLE)) else "role"
            for column, what, span in (
                ("baseline_median", "own baseline median", own_span),
                ("baseline_p90", "own baseline 90th percentile", own_span),
                ("team_median", f"{team} median that day", day_span),
                ("team_p95", f"{team} 95th percentile that day", day_span),
                ("role_median", f"{role} median that day", day_span),
                ("role_p95", f"{role} 95th percentile that day", day_span),
            ):
                if not _present(r.get(column)):
                    continue
                obs: dict[str, Any] = {"value": _num_text(r[column])}
                if span:
                    obs["timespan"] = span
                baselines.append({"observation_parameter": metric, "observation_type": "Volume Analysis", "observed_pattern": what, "observations": [obs]})
            analysis = {
                "analysis_targets": [{"name": agent, "type": "User"}],
                "anomalies": [
                    {
                        "observation_parameter": metric,
                        "observation_type": "Volume Analysis",
                        "observed_pattern": "HIGH_VOLUME",
                        "observations": [observation],
                    }
                ],
            }
            if baselines:
                analysis["baselines"] = baselines
            out.append(analysis)
    return out


def _unmapped(facts: AlertFacts, shown: int, customers_shown: int) -> dict:
    a = facts.alert
    per_feature = {}
    for agent in facts.subjects:
        picked = _anomalous(facts.features.get(agent, []))
        if picked:
            per_feature[agent] = {str(r["metric"]): {k: _number(r.get(k)) for k in ("meaning", "own_z", "peer_z", "contribution") if _present(r.get(k))} for r in picked}
    out = {
        "alert_key": str(a["alert_key"]),
        "day": str(a["day"]),
        "subject_type": str(a["subject_type"]),
        "subject_id": str(a["subject_id"]),
        "score": _number(a["score"]),
        "score_meaning": "calibrated: -log10 of the share of learned agent-days as anomalous (2.0 = 1 in 100)"
        if a["subject_type"] == "agent"
        else "robust z of the group's excess per member above the other groups that day",
        "rank": int(a["rank"]) if _present(a.get("rank")) else None,
        "reasons": [str(r) for r in a["reasons"]],
        "members": [str(m) for m in a["members"]] if a.get("members") else None,
        "run_id": int(a["run_id"]),
        "detector_version": str(a["detector_version"]),
        "suppressed_by": int(a["suppressed_by"]) if _present(a.get("suppressed_by")) else None,
        "ongoing": bool(a.get("ongoing", False)),
        "case": dict(facts.case) if facts.case else None,
        "evidence": {
            "accesses_stored": int(facts.accesses),
            "accesses_listed": int(shown),
            "accesses_left_out": max(0, int(facts.accesses) - int(shown)),
            "customers_stored": int(facts.customers),
            "customers_listed": int(customers_shown),
            "customers_left_out": max(0, int(facts.customers) - int(customers_shown)),
        },
    }
    if per_feature:
        out["anomaly_scores"] = per_feature
    if facts.decision:
        out["triage"] = {k: str(facts.decision[k]) for k in ("status", "author", "decided_at") if _present(facts.decision.get(k))}
    return out


# --- ECS ------------------------------------------------------------------------------------
def ecs_alert(facts: AlertFacts) -> dict:
    """One alert as an Elastic Common Schema document (event.kind alert).

    event.risk_score is the alert's own score (calibrated for agents, robust z for groups),
    event.risk_score_norm the 0-100 risk score, event.severity the OCSF severity_id (2 Low ..
    5 Critical); rule.* names the analytic; user.id the agent, related.user every agent
    involved (a group's members). Fields ECS has no place for are under ``insiderwatch``."""
    a = facts.alert
    kind = "agent" if a["subject_type"] == "agent" else "group"
    risk = risk_score(a["subject_type"], float(a["score"]))
    sev = severity_id(risk)
    created = _iso(a.get("created_at")) or f"{a['day']}T00:00:00.000Z"
    start = _iso(facts.first_seen) or f"{a['day']}T00:00:00.000Z"
    end = _iso(facts.last_seen) or f"{a['day']}T23:59:59.999Z"
    analytic = ANALYTICS[kind]
    subjects = facts.subjects
    doc: dict[str, Any] = {
        "@timestamp": created,
        "ecs": {"version": ECS_VERSION},
        "message": title(a) + ": " + " ".join(f"{r.rstrip('.')}." for r in a["reasons"]),
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "id": str(a["alert_key"]),
            "dataset": "insiderwatch.alerts",
            "module": "insiderwatch",
            "provider": "insiderwatch",
            "created": created,
            "start": start,
            "end": end,
            "risk_score": _number(a["score"]),
            "risk_score_norm": float(risk),
            "severity": sev,
            "reason": str(a["reasons"][0]) if len(a["reasons"]) else title(a),
        },
        "rule": {
            "id": analytic["uid"],
            "name": analytic["name"],
            "description": analytic["desc"],
            "category": "Insider Threat",
            "ruleset": "insiderwatch",
            "version": str(a["detector_version"]),
        },
        "related": {"user": subjects},
        "labels": {
            "day": str(a["day"]),
            "subject_type": str(a["subject_type"]),
            "subject_id": str(a["subject_id"]),
            "severity": SEVERITIES[sev].lower(),
            "status": STATUSES.get(status_of(facts)[0], "other").lower(),
        },
        "insiderwatch": {
            "alert_key": str(a["alert_key"]),
            "score": _number(a["score"]),
            "reasons": [str(r) for r in a["reasons"]],
            "members": [str(m) for m in a["members"]] if a.get("members") else None,
            "run_id": int(a["run_id"]),
            "suppressed_by": int(a["suppressed_by"]) if _present(a.get("suppressed_by")) else None,
            "ongoing": bool(a.get("ongoing", False)),
            "case": dict(facts.case) if facts.case else None,
            "evidence": {
                "accesses": int(facts.accesses),
                "accesses_that_day": int(facts.events_total) if facts.events_total is not None else None,
                "customers": int(facts.customers),
                "customer_ids": [r["uid"] for r in _ocsf_resources(facts)],
            },
        },
    }
    if _present(a.get("rank")):
        doc["labels"]["rank"] = str(int(a["rank"]))
    if facts.case:
        # one case, many days: what a SIEM groups the documents by
        doc["labels"]["case"] = str(facts.case["uid"])
        doc["labels"]["case_status"] = str(facts.case["status"])
    if kind == "agent":
        agent = subjects[0]
        person = facts.people.get(agent) or {}
        user: dict[str, Any] = {"id": agent}
        if _known(person.get(s.TEAM)):
            user["group"] = {"name": str(person[s.TEAM])}
        doc["user"] = user
        if _known(person.get(s.VENDOR)):
            doc["organization"] = {"name": str(person[s.VENDOR])}
    else:
        doc["group"] = {"name": str(a["subject_id"]), "domain": str(a["subject_type"])}
    order = ("@timestamp", "event", "rule", "user", "group", "related", "message", "labels", "organization", "ecs", "insiderwatch")
    return {k: doc[k] for k in order if k in doc}


# --- reading the store ----------------------------------------------------------------------
def alert_facts(store, cfg, first: str | None = None, last: str | None = None, *, features: bool = True) -> Iterator[AlertFacts]:
    """The stored alerts with ``first <= day <= last``, each with its evidence (at most
    EVIDENCE_ROWS per agent read), the agents' peer groups that night, its latest triage
    decision and (``features``) the features behind the score, rebuilt once per alerted day
    from the stored agent-days as ``insiderwatch explain`` does (about half a second a day)."""
    from detector.days import shift_day
    from detector.history import baseline_window
    from pipelines.cases import case_summary, cases_by_alert, load_cases
    from pipelines.explain import ScoredNight, explain, scored_night

    alerts = store.alerts(first, last)
    if alerts.empty:
        return
    case_of = cases_by_alert(load_cases(store, cfg))
    for day, group in alerts.groupby("day", sort=True):
        rows, summary = store.evidence_of(group["alert_key"].tolist(), per_agent=EVIDENCE_ROWS)
        by_key: dict[str, list[dict]] = {}
        for r in rows.astype(object).where(rows.notna(), None).to_dict("records"):
            by_key.setdefault(r["alert_key"], []).append(r)
        counts = {r["alert_key"]: r for r in summary.to_dict("records")}
        day_rows = store.agent_days(day, shift_day(day, 1), columns=["events", "last_seen"]).set_index(s.AGENT_ID)
        night = scored_night(store, cfg, day) if features else ScoredNight(store.scores(day, day), pd.DataFrame(), group)
        scores = night.scores.astype(object).where(night.scores.notna(), None)
        people = {str(r[s.AGENT_ID]): {k: r.get(k) for k in (s.TEAM, s.ROLE, s.SITE, s.VENDOR)} for r in scores.to_dict("records")}
        explained: dict[str, list[dict]] = {}
        first, before = baseline_window(day, cfg.features)
        baseline = (first, shift_day(before, -1))  # both days included
        for a in group.to_dict("records"):
            case = case_of.get(a["alert_key"])
            facts = AlertFacts(alert=a, decision=case.last_decision if case else None, baseline_window=baseline, case=case_summary(case) if case else None)
            c = counts.get(a["alert_key"])
            if c:
                facts.accesses, facts.customers = int(c["accesses"]), int(c["customers"])
                facts.first_seen, facts.last_seen = c["first_seen"], c["last_seen"]
            facts.evidence = by_key.get(a["alert_key"], [])
            _day_totals(facts, day_rows, day)
            for agent in facts.subjects:
                if agent not in people:
                    continue
                facts.people[agent] = people[agent]
                if len(night.features):
                    if agent not in explained:
                        explained[agent] = explain(store, cfg, agent, day, night).features.astype(object).to_dict("records")
                    facts.features[agent] = explained[agent]
            yield facts


def _day_totals(facts: AlertFacts, day_rows: pd.DataFrame, day: str) -> None:
    """Every access of the alert's subjects that day, and their last one (to the minute),
    from the agent-days: the stored evidence is capped and may end earlier."""
    mine = day_rows.loc[day_rows.index.intersection([str(x) for x in facts.subjects])]
    if mine.empty:
        return
    facts.events_total = int(mine["events"].sum())
    last = pd.Timestamp(day, tz="UTC") + pd.Timedelta(minutes=int(mine["last_seen"].max()))
    stored = pd.Timestamp(facts.last_seen) if facts.last_seen is not None else None
    if stored is not None and stored.tzinfo is None:
        stored = stored.tz_localize("UTC")
    if stored is None or last.floor("min") > stored.floor("min"):
        facts.last_seen = last.isoformat()


# --- small helpers --------------------------------------------------------------------------
def _present(v) -> bool:
    if v is None or v is pd.NA:
        return False
    try:
        return not (isinstance(v, float) and math.isnan(v)) and not pd.isna(v)
    except (TypeError, ValueError):
        return True


def _known(v) -> bool:
    return _present(v) and str(v) not in ("", UNKNOWN_GROUP)


def _number(v):
    """A JSON number (ints stay ints), None for NaN, text left as it is."""
    if not _present(v):
        return None
    if isinstance(v, str):
        return v
    f = float(v)
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 6)


def _num_text(v) -> str:
    n = _number(v)
    return "" if n is None else str(n)


def _parse(ts) -> datetime | None:
    if not _present(ts):
        return None
    try:
        t = datetime.fromisoformat(str(ts))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _ms(ts) -> int | None:
    t = _parse(ts)
    return None if t is None else int(t.timestamp() * 1000)


def _iso(ts) -> str | None:
    t = _parse(ts)
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _day_ms(day: str) -> tuple[int, int]:
    """The first and last millisecond of a UTC day."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1
