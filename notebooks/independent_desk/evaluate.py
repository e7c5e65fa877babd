#!/usr/bin/env python3
"""Score an insiderwatch replay store against gen.py labels.

Usage: python evaluate.py DIR   (DIR holds iw.db, labels.csv, label_days.csv, roster.csv)
Writes DIR/per_insider.csv, DIR/benign_alerts.csv, DIR/summary.json and prints a summary.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from detector.baselines import BASELINES
from detector.evaluation import evaluate, flag_by_budget
from detector.store import Store

d = Path(sys.argv[1])
db = f"sqlite:///{d / 'iw.db'}"
labels = pd.read_csv(d / "labels.csv", dtype=str)
label_days = pd.read_csv(d / "label_days.csv", dtype={"agent_id": str, "day": str})
roster = pd.read_csv(d / "roster.csv", dtype=str)
subprocess.run(["insiderwatch", "-q", "--db", db, "export", "alerts", "--format", "jsonl", "--out", str(d / "alerts.jsonl")], check=True)
alerts = pd.read_json(d / "alerts.jsonl", lines=True, dtype={"subject_id": str, "day": str})
alerts["day"] = alerts["day"].astype(str).str[:10]
store = Store(db)
scores = store.scores()[["day", "agent_id", "score", "rank", "flagged"]]
agent_days = store.agent_days("0000-00-00", "9999-99-99")
store.close()
days = sorted(scores["day"].unique())
burn = days[14]  # nights from day 14 on: the tool has >= 7 days of history in its window

harv = set(zip(label_days.agent_id, label_days.day))
ins_ids = set(labels.agent_id)
agent_alerts = alerts[alerts.subject_type == "agent"].copy()
group_alerts = alerts[alerts.subject_type != "agent"].copy()

rows = []
for r in labels.itertuples():
    mine = agent_alerts[(agent_alerts.subject_id == r.agent_id) & (agent_alerts.day >= r.start_day)]
    g = group_alerts[(group_alerts.day >= r.start_day) & group_alerts.members.apply(lambda m, agent=r.agent_id: agent in m)]
    first = mine.day.min() if len(mine) else None
    firstg = g.day.min() if len(g) else None
    top = mine.sort_values("day").iloc[0].reasons[0] if len(mine) else ""
    delay = (pd.Timestamp(first) - pd.Timestamp(r.start_day)).days if first else None
    delayg = (pd.Timestamp(firstg) - pd.Timestamp(r.start_day)).days if firstg else None
    sc = scores[(scores.agent_id == r.agent_id) & (scores.day >= r.start_day)]
    rows.append(
        {
            "agent_id": r.agent_id,
            "scenario": r.scenario,
            "role": r.role,
            "start": r.start_day,
            "alerted": first is not None,
            "first_alert": first,
            "delay": delay,
            "agent_alert_days": mine.day.nunique(),
            "group_delay": delayg,
            "harvest_days": int((label_days.agent_id == r.agent_id).sum()),
            "median_rank": float(sc["rank"].median()),
            "max_score": round(float(sc.score.max()), 2),
            "first_reason": top[:160],
        }
    )
per = pd.DataFrame(rows)
per.to_csv(d / "per_insider.csv", index=False)

aa = agent_alerts.merge(roster[["agent_id", "role", "team", "desk"]] if "desk" in roster else roster[["agent_id", "role", "team"]], left_on="subject_id", right_on="agent_id", how="left")
aa["true"] = [(a, dd) in harv for a, dd in zip(aa.subject_id, aa.day)]
aa["insider"] = aa.subject_id.isin(ins_ids)
fa = aa[~aa["true"]].copy()
fa["reason1"] = fa.reasons.apply(lambda x: x[0] if len(x) else "")
fa["family"] = fa.reason1.str.extract(r"^[\d,\.]+ ([a-z \-]+?):")[0]
fa[["day", "subject_id", "role", "team", "insider", "score", "rank", "reason1"]].to_csv(d / "benign_alerts.csv", index=False)
n_all, n_post = len(days), len([x for x in days if x >= burn])
ga_false = group_alerts[~group_alerts.members.apply(lambda m: any(x in ins_ids for x in m))]
summary = {
    "nights": n_all,
    "agent_alerts": len(aa),
    "true_agent_alerts": int(aa["true"].sum()),
    "false_agent_alerts_per_night": round(len(fa) / n_all, 2),
    "false_agent_alerts_per_night_after_day14": round(len(fa[fa.day >= burn]) / n_post, 2),
    "group_alerts": len(group_alerts),
    "group_alerts_without_insider": len(ga_false),
    "recall_agent_alerts": round(float(per.alerted.mean()), 2),
    "recall_incl_group": round(float((per.alerted | per.group_delay.notna()).mean()), 2),
}
ev = evaluate(scores, labels, label_days)
summary["tool_evaluate"] = {k: ev[k] for k in ("recall", "delay_median", "delay_max", "false_alerts_per_night", "precision_harvest_nights", "agent_day_average_precision")}
summary["baselines"] = {}
for name, fn in BASELINES.items():
    b = fn(agent_days)
    b["flagged"] = flag_by_budget(b, 0.005)
    e = evaluate(b, labels, label_days)
    summary["baselines"][name] = {k: e[k] for k in ("recall", "delay_median", "false_alerts_per_night", "agent_day_average_precision")}
(d / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
pd.set_option("display.width", 250, "display.max_colwidth", 120)
print(per.drop(columns=["first_reason"]).to_string(index=False))
print(per[["scenario", "first_reason"]].to_string(index=False))
print(json.dumps(summary, indent=1, default=str))
print("\nbenign alerts by role:")
print(fa.groupby("role").size().sort_values(ascending=False).to_string())
print("\nbenign alerts by first-reason family:")
print(fa.groupby("family").size().sort_values(ascending=False).to_string())
print("\nbenign alerts after day 14 by role/family:")
print(fa[fa.day >= burn].groupby(["role", "family"]).size().sort_values(ascending=False).to_string())
print("\ngroup alerts:")
print(group_alerts.groupby("subject_id").agg(n=("day", "size"), first=("day", "min"), members=("members", lambda m: sorted(set(sum(m, []))))).to_string())
