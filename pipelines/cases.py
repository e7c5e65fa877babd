"""Cases read from the store (:mod:`detector.cases`) and told as text or JSON documents."""

from __future__ import annotations

from typing import Any

import pandas as pd

from detector.aggregate import DAY
from detector.cases import EXPOSURE_KINDS, Case, build_cases, exposure
from detector.config import Config
from detector.store import Store
from pipelines.output import KEY_SHOWN, shown_key, terminal_safe


def load_cases(store: Store, cfg: Config) -> list[Case]:
    """Every case the store's alerts open, oldest first (:func:`detector.cases.build_cases`)."""
    alerts = store.alerts()
    if alerts.empty:
        return []
    agents = sorted(set(alerts.loc[alerts["subject_type"] == "agent", "subject_id"].astype(str)))
    scores = store.scores_of(agents, first=str(alerts[DAY].min()))
    bars = {d: cfg.alerts.bar(n) for d, n in store.day_sizes().items()}
    return build_cases(alerts, store.decisions(), scores, bars)


def cases_by_alert(cases: list[Case]) -> dict[str, Case]:
    """Each stored alert's case, by alert key (a raised alert, or a day kept on its case)."""
    return {key: case for case in cases for key in case.alert_keys}


def case_summary(case: Case) -> dict[str, Any]:
    """What an alert's export says of its case: uid, status, triage, opened, closed_on, days."""
    last = case.last_decision
    return {"uid": case.key, "status": case.status, "triage": str(last["status"]) if last else "untriaged", "opened": case.opened, "closed_on": case.closed_on, "days": len(case.days)}


def with_case_status(store: Store, cfg: Config, alerts: pd.DataFrame) -> pd.DataFrame:
    """``alerts`` with the case each belongs to (``case``: its key), the case's status
    (``case_status``: open or closed) and the triage status of the case (``status``: the
    latest decision on any of its alerts, or ``untriaged``)."""
    of = {key: case_summary(case) for key, case in cases_by_alert(load_cases(store, cfg)).items()} if len(alerts) else {}
    none = {"uid": None, "status": None, "triage": "untriaged"}
    found = [of.get(str(k), none) for k in alerts["alert_key"]] if len(alerts) else []
    return alerts.assign(case=[f["uid"] for f in found], case_status=[f["status"] for f in found], status=[f["triage"] for f in found])


def case_exposure(store: Store, case: Case) -> dict:
    """What the case exposed over its days (distinct customers, records by kind, first and
    last access), from the stored agent-days and touched sets."""
    frame, customers = store.agent_days_of(case.agent_days())
    return exposure(frame, customers)


def case_document(case: Case, exposed: dict | None = None) -> dict[str, Any]:
    """A case as plain data (``cases --json``, ``case --json``)."""
    last = case.last_decision
    doc: dict[str, Any] = {
        "case": case.key,
        "subject_type": case.subject_type,
        "subject_id": case.subject_id,
        "status": case.status,
        "opened": case.opened,
        "last_day": case.last_day,
        "closed_on": case.closed_on,
        "days": len(case.days),
        "alerted_days": int(case.days["alerted"].sum()) if len(case.days) else 0,
        "top_score": _num(case.days["score"].max()) if len(case.days) else None,
        "triaged": case.triaged,
        "decision": None if last is None else {"status": last["status"], "author": last["author"], "decided_at": str(last["decided_at"])},
        "members": list(case.members),
    }
    if exposed is not None:
        doc["exposure"] = exposed
    return doc


def case_evidence(store: Store, case: Case) -> dict[str, dict]:
    """The stored evidence of each of the case's days, by alert key: accesses, customers
    (distinct), first_seen and last_seen (UTC)."""
    _, summary = store.evidence_of(case.alert_keys, per_agent=0)
    return {
        str(r["alert_key"]): {"accesses": int(r["accesses"]), "customers": int(r["customers"]), "first_seen": str(r["first_seen"]), "last_seen": str(r["last_seen"])}
        for r in summary.to_dict("records")
    }


def case_detail(case: Case, exposed: dict, evidence: dict[str, dict] | None = None) -> dict[str, Any]:
    """:func:`case_document` with its days (each with its stored evidence's counts, from
    :func:`case_evidence`) and decisions."""
    evidence = evidence or {}
    doc = case_document(case, exposed)
    doc["timeline"] = [
        {
            "day": str(r[DAY]),
            "score": _num(r["score"]),
            "rank": None if pd.isna(r["rank"]) else int(r["rank"]),
            "alerted": bool(r["alerted"]),
            "alert_key": r["alert_key"] if isinstance(r["alert_key"], str) else None,
            "reasons": list(r["reasons"]),
            "members": list(r["members"]) if isinstance(r["members"], list) else None,
            "evidence": evidence.get(r["alert_key"]) if isinstance(r["alert_key"], str) else None,
        }
        for r in case.days.to_dict("records")
    ]
    doc["decisions"] = [{k: (None if pd.isna(v) else (int(v) if k in ("id", "supersedes") else str(v))) for k, v in d.items()} for d in case.decisions.to_dict("records")]
    return doc


def _num(v) -> float | None:
    return None if v is None or pd.isna(v) else round(float(v), 2)


def format_cases(docs: list[dict]) -> str:
    """The cases as a table, one line each."""
    head = f"{'case':<{KEY_SHOWN}}  {'subject':<24} {'status':<7} {'opened':<10} {'last day':<10} {'days':>4} {'alerted':>7} {'top':>5} {'customers':>9} {'records':>8}  decision"
    lines = [head]
    for d in docs:
        e = d.get("exposure") or {}
        decision = d["decision"]
        told = f"{decision['status']} by {terminal_safe(decision['author'])}" if decision else "untriaged"
        subject = f"{d['subject_type']} {terminal_safe(d['subject_id'])}"
        top = "-" if d["top_score"] is None else f"{d['top_score']:.2f}"
        lines.append(
            f"{shown_key(d['case']):<{KEY_SHOWN}}  {subject[:24]:<24} {d['status']:<7} {d['opened']:<10} {d['last_day']:<10} {d['days']:>4} {d['alerted_days']:>7} {top:>5} "
            f"{e.get('customers', 0):>9,} {e.get('records', {}).get('views', 0):>8,}  {told}"
        )
    return "\n".join(lines)


def format_case(doc: dict) -> str:
    """One case in words: who, since when, what it exposed, its days, members and decisions."""
    e = doc["exposure"]
    subject = f"{doc['subject_type']} {terminal_safe(doc['subject_id'])}"
    status = doc["status"] + (f" (closed on {doc['closed_on']})" if doc["closed_on"] else "")
    lines = [
        f"case {shown_key(doc['case'])}: {subject}, {status}",
        f"opened {doc['opened']}, last day {doc['last_day']}: {doc['days']} day(s), {doc['alerted_days']} of them alerted",
        f"exposure: {e['customers']:,} distinct customers; "
        + ", ".join(f"{e['records'].get(k, 0):,} {label}" for k, label in EXPOSURE_KINDS.items())
        + (f"; first access {e['first_access']}, last {e['last_access']} (UTC)" if e["first_access"] else ""),
    ]
    if doc["members"]:
        lines.append("members: " + ", ".join(terminal_safe(m) for m in doc["members"]) + "  (each: insiderwatch explain AGENT --date DAY)")
    lines.append("")
    lines.append(f"{'day':<10} {'score':>6} {'rank':>5}  {'':<7}  {'accesses':>8}  reason")
    for t in doc["timeline"]:
        score = "-" if t["score"] is None else f"{t['score']:.2f}"
        rank = "-" if t["rank"] is None else str(t["rank"])
        told = "alerted" if t["alerted"] else "kept"
        reason = terminal_safe(t["reasons"][0]) if t["reasons"] else "stood out again (score above the night's bar), kept on the case"
        kept = "-" if not t.get("evidence") else f"{t['evidence']['accesses']:,}"
        lines.append(f"{t['day']:<10} {score:>6} {rank:>5}  {told:<7}  {kept:>8}  {reason}")
    lines.append("")
    if doc["decisions"]:
        lines.append("decisions:")
        for d in doc["decisions"]:
            lines.append(f"  {d['decided_at']}  {d['status']} by {terminal_safe(d['author'])}: {terminal_safe(d['note'])}")
    else:
        lines.append(f"decisions: none yet (insiderwatch triage {shown_key(doc['case'])} --status benign|confirmed|escalated --note ...)")
    return "\n".join(lines)
