"""Alerts out: `export alerts --format jsonl|csv|ocsf|ecs` through the real command, on a
short replay of the simulated desk (with a group alert) and on a night of hostile ids; the
OCSF findings validated against the shipped schema and the official OCSF 1.5.0 class schema."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from detector.alerts import alert_key
from detector.features import METRICS
from detector.store import Store
from pipelines import alert_formats as af
from pipelines.output import json_line
from tests.conftest import INSIDERWATCH

#: exports of a real replay, validated against the official OCSF schema (slow)
pytestmark = pytest.mark.slow

FIRST, LAST = "2026-01-17", "2026-01-23"  # the ring's team drifts together on the last day
# a short baseline so that a week of replay gives the members personal baselines
CONFIG = "[alerts]\nbudget_fraction = 0.04\n[features]\nwindow = 7\nlag = 2\nmin_history = 3\n[model]\ntrain_days = 7\n"


def iw(*args, db, config=None, check=True):
    cmd = [*INSIDERWATCH, "-q", "--db", f"sqlite:///{db}"] + (["--config", str(config)] if config else [])
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines()]


@pytest.fixture(scope="module")
def shipped_validator():
    schema = af.ocsf_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def official_validator():
    """The official OCSF class schema, built offline from the OCSF schema the package ships."""
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=af.OCSF_VERSION)).get_class_schema(class_name="detection_finding", profiles=[])
    return Draft202012Validator(schema)


def assert_valid(validator, doc):
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:5]


# --- a short replay of the simulated desk ----------------------------------------------------
@pytest.fixture(scope="module")
def desk(sim_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("formats")
    raw = pd.read_csv(sim_dir / "events.csv.gz", dtype=str, keep_default_na=False)
    events = work / "events.csv"
    raw[(raw.timestamp >= "2026-01-16") & (raw.timestamp < "2026-01-24")].to_csv(events, index=False)
    config = work / "iw.toml"
    config.write_text(CONFIG)
    db = work / "iw.db"
    iw("replay", "--events", events, "--roster", sim_dir / "roster.csv", "--from", FIRST, "--to", LAST, db=db, config=config)
    out = work / "findings.jsonl"
    proc = iw("export", "alerts", "--format", "ocsf", "--out", out, db=db, config=config)
    return {
        "db": db,
        "config": config,
        "events": events,
        "roster": sim_dir / "roster.csv",
        "ocsf_file": out.read_text(encoding="utf-8"),
        "ocsf_stderr": proc.stderr,
        "ocsf": iw("export", "alerts", "--format", "ocsf", db=db, config=config).stdout,
        "ecs": iw("export", "alerts", "--format", "ecs", "--out", "-", db=db, config=config).stdout,
        "jsonl": iw("export", "alerts", "--format", "jsonl", db=db).stdout,
        "csv": iw("export", "alerts", db=db).stdout,
    }


def test_ocsf_findings_validate_against_both_schemas(desk, shipped_validator, official_validator):
    findings = lines(desk["ocsf"])
    assert findings and desk["ocsf_file"] == desk["ocsf"]  # the file and stdout hold the same lines
    assert "exported" in desk["ocsf_stderr"] and "exported" not in desk["ocsf"]  # progress on stderr only
    for f in findings:
        assert_valid(shipped_validator, f)
        assert_valid(official_validator, f)
        assert (f["class_uid"], f["category_uid"], f["activity_id"], f["type_uid"]) == (2004, 2, 1, 200401)
        assert f["metadata"]["version"] == af.OCSF_VERSION and f["metadata"]["product"]["name"] == "insiderwatch"
        assert f["is_alert"] is True and f["severity_id"] == af.severity_id(f["risk_score"])
        info = f["finding_info"]
        assert info["first_seen_time"] <= info["last_seen_time"]
        assert info["analytic"]["type_id"] in (2, 3) and info["desc"]


def test_ocsf_uid_is_the_stable_alert_key_across_exports_and_a_rescore(desk):
    findings = lines(desk["ocsf"])
    again = lines(desk["ocsf_file"])  # a second export, to a file
    assert [f["finding_info"]["uid"] for f in findings] == [f["finding_info"]["uid"] for f in again]
    for f in findings:
        u = f["unmapped"]["insiderwatch"]
        assert f["finding_info"]["uid"] == alert_key(u["subject_type"], u["subject_id"], u["day"], u["detector_version"])
    # the day scored again from its files: the same alerts keep the same uids
    iw("rescore", "--date", LAST, "--events", desk["events"], "--roster", desk["roster"], db=desk["db"], config=desk["config"])
    after = lines(iw("export", "alerts", "--format", "ocsf", "--from", LAST, "--to", LAST, db=desk["db"], config=desk["config"]).stdout)
    before = {f["finding_info"]["uid"] for f in findings if f["unmapped"]["insiderwatch"]["day"] == LAST}
    assert before and {f["finding_info"]["uid"] for f in after} == before


def test_ocsf_actor_and_resources_are_the_stored_evidence(desk):
    store = Store(f"sqlite:///{desk['db']}")
    findings = lines(desk["ocsf"])
    rows, summary = store.evidence_of([f["finding_info"]["uid"] for f in findings])
    for f in findings:
        key, u = f["finding_info"]["uid"], f["unmapped"]["insiderwatch"]
        stored = rows[rows.alert_key == key]
        users = {e["actor"]["user"]["uid"] for e in f["evidences"] if e["name"] == "agent"}
        assert users == ({u["subject_id"]} if u["subject_type"] == "agent" else set(u["members"]))
        accesses = [e for e in f["evidences"] if e["name"] == "access"]
        assert 0 < len(accesses) <= af.EVIDENCE_ROWS
        pairs = set(zip(stored.agent_id, stored.customer_id, stored.resource.fillna("customer_record")))
        for e in accesses:
            (record,) = e["resources"]
            assert (e["actor"]["user"]["uid"], record["uid"], record["type"]) in pairs
        assert {r["uid"] for r in f["resources"]} <= set(stored.customer_id)
        ev = u["evidence"]
        assert ev["accesses_stored"] == len(stored) == f["finding_info"]["related_events_count"]
        assert ev["accesses_listed"] + ev["accesses_left_out"] == len(stored) and ev["accesses_listed"] == len(accesses)
        assert ev["customers_stored"] == stored.customer_id.nunique() == ev["customers_listed"] + ev["customers_left_out"]


def test_ocsf_counts_and_last_seen_cover_the_whole_day_when_evidence_is_capped(desk, tmp_path):
    """The stored evidence is capped (evidence_limit): the finding still counts every access
    of the day and ends at the last one, from the agent-days, and says how much is stored."""
    config = tmp_path / "capped.toml"
    config.write_text("evidence_limit = 40\n" + CONFIG)
    db = tmp_path / "capped.db"
    iw("replay", "--events", desk["events"], "--roster", desk["roster"], "--from", FIRST, "--to", LAST, db=db, config=config)
    findings = [f for f in lines(iw("export", "alerts", "--format", "ocsf", db=db, config=config).stdout) if f["unmapped"]["insiderwatch"]["subject_type"] == "agent"]
    assert findings
    events = pd.read_csv(desk["events"], dtype=str, keep_default_na=False)
    events["ts"] = pd.to_datetime(events.timestamp, utc=True, format="ISO8601")
    capped = 0
    for f in findings:
        u = f["unmapped"]["insiderwatch"]
        mine = events[(events.agent_id == u["subject_id"]) & (events.ts.dt.strftime("%Y-%m-%d") == u["day"])].drop_duplicates("event_id")
        assert f["finding_info"]["related_events_count"] == len(mine)
        assert u["evidence"]["accesses_stored"] == min(40, len(mine))
        last = int(mine.ts.max().floor("min").timestamp() * 1000)
        assert last <= f["finding_info"]["last_seen_time"] < last + 60_000
        capped += len(mine) > 40
    assert capped  # the cap did cut some alert's evidence


def test_ocsf_anomaly_analyses_give_observed_against_baselines(desk):
    agent = [f for f in lines(desk["ocsf"]) if f["unmapped"]["insiderwatch"]["subject_type"] == "agent"]
    analyses = [a for f in agent for a in f.get("anomaly_analyses", [])]
    assert analyses
    for a in analyses:
        (anomaly,) = a["anomalies"]
        assert anomaly["observation_parameter"] in METRICS and anomaly["observations"][0]["count"] >= 0
        patterns = [b["observed_pattern"] for b in a["baselines"]]
        assert any(p.startswith("team ") and p.endswith("median that day") for p in patterns)
        assert any(p.startswith("role ") and p.endswith("95th percentile that day") for p in patterns)
    # the agents with a personal baseline show it, over the baseline window
    own = [b for a in analyses for b in a["baselines"] if b["observed_pattern"] == "own baseline median"]
    assert own and all(b["observations"][0]["timespan"]["end_time"] < a_day_start(LAST) for b in own)


def a_day_start(day: str) -> int:
    return int(pd.Timestamp(day, tz="UTC").timestamp() * 1000)


def test_group_alert_lists_its_members_as_users(desk):
    groups = [f for f in lines(desk["ocsf"]) if f["unmapped"]["insiderwatch"]["subject_type"] == "team"]
    assert groups, "the ring's team should raise a group alert on the last day"
    for f in groups:
        members = f["unmapped"]["insiderwatch"]["members"]
        assert len(members) >= 3 and f["finding_info"]["analytic"]["type_id"] == 3
        assert {e["actor"]["user"]["uid"] for e in f["evidences"]} == set(members)
        assert {a["analysis_targets"][0]["name"] for a in f.get("anomaly_analyses", [])} <= set(members)
    ecs = {d["event"]["id"]: d for d in lines(desk["ecs"])}
    for f in groups:
        doc = ecs[f["finding_info"]["uid"]]
        assert doc["related"]["user"] == f["unmapped"]["insiderwatch"]["members"] and "user" not in doc


def test_ecs_documents_are_alerts_with_a_rule(desk):
    docs = lines(desk["ecs"])
    flat = lines(desk["jsonl"])
    assert [d["event"]["id"] for d in docs] == [a["alert_key"] for a in flat]
    for d, a in zip(docs, flat):
        assert d["event"]["kind"] == "alert" and d["rule"]["id"] in ("insiderwatch.agent_day", "insiderwatch.group_drift")
        assert d["rule"]["version"] == a["detector_version"] and d["labels"]["day"] == a["day"]
        assert all(isinstance(v, str) for v in d["labels"].values())
        assert 0 <= d["event"]["risk_score_norm"] <= 100 and d["event"]["severity"] in (2, 3, 4, 5)
        if a["subject_type"] == "agent":
            assert d["user"]["id"] == a["subject_id"] and d["labels"]["rank"] == str(a["rank"])
        assert a["reasons"][0].rstrip(".") in d["message"]


def test_flat_jsonl_and_csv_hold_the_same_alerts(desk):
    flat = lines(desk["jsonl"])
    assert flat and set(flat[0]) >= {"alert_key", "day", "subject_type", "subject_id", "score", "rank", "reasons", "members", "suppressed_by"}
    rows = list(csv.DictReader(io.StringIO(desk["csv"])))
    assert [r["alert_key"] for r in rows] == [a["alert_key"] for a in flat]
    assert [r["reasons"].split(" | ") for r in rows] == [a["reasons"] for a in flat]


def test_ocsf_and_ecs_are_for_alerts_only(desk):
    proc = iw("export", "scores", "--format", "ocsf", db=desk["db"], check=False)
    assert proc.returncode == 2 and "for alerts" in proc.stderr and not proc.stdout


# --- hostile ids -------------------------------------------------------------------------------
HOSTILE_AGENT = '=HYPERLINK("x")<script>"q"\n\u2028\u202e\x1b[31m\x9bé'
HOSTILE_CUSTOMERS = ['=HYPERLINK("c")', "<script>alert(1)</script>", '+cmd|" /C calc"!A0', "C\x1b]0;pwn\x07\u2029x"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile_formats")
    rows = [(f"2026-01-05T09:{i // 60:02d}:{i % 60:02d}Z", HOSTILE_AGENT, HOSTILE_CUSTOMERS[i % 4] if i < 8 else f"C{i}", "view", "") for i in range(300)]
    rows += [(f"2026-01-05T{10 + j % 8:02d}:{i:02d}:00Z", f"a{i}", f"C{i}{j}", "view", f"T{i}{j // 3}") for i in range(200) for j in range(40)]
    path = work / "hostile.csv"
    pd.DataFrame(rows, columns=["timestamp", "agent_id", "customer_id", "action", "ticket_id"]).to_csv(path, index=False)
    db = work / "iw.db"
    config = work / "any.toml"  # a first night (no history): alert the top agent whatever its score
    config.write_text("[alerts]\nthreshold = 0.0\n")
    iw("nightly", "--first-night", "--events", path, "--date", "2026-01-05", db=db, config=config)
    return {fmt: iw("export", "alerts", "--format", fmt, db=db, config=config).stdout for fmt in ("csv", "jsonl", "ocsf", "ecs")}


def test_hostile_ids_are_neutralised_in_csv(hostile):
    rows = list(csv.DictReader(io.StringIO(hostile["csv"])))
    assert [r["subject_id"] for r in rows if r["subject_type"] == "agent"][0] == "'" + HOSTILE_AGENT
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())


@pytest.mark.parametrize("fmt", ["jsonl", "ocsf", "ecs"])
def test_hostile_ids_stay_exact_and_escaped_in_json(hostile, fmt, shipped_validator, official_validator):
    text = hostile[fmt]
    for raw in ("\x1b", "\x07", "\x9b", "\u2028", "\u2029", "\u202e"):
        assert raw not in text  # written as \\uXXXX escapes: one safe line per document
    docs = lines(text)
    assert docs
    if fmt == "jsonl":
        assert docs[0]["subject_id"] == HOSTILE_AGENT
    elif fmt == "ecs":
        assert docs[0]["user"]["id"] == HOSTILE_AGENT and docs[0]["related"]["user"] == [HOSTILE_AGENT]
        assert set(HOSTILE_CUSTOMERS) <= set(docs[0]["insiderwatch"]["evidence"]["customer_ids"])
    else:
        f = docs[0]
        assert_valid(shipped_validator, f)
        assert_valid(official_validator, f)
        assert f["evidences"][0]["actor"]["user"]["uid"] == HOSTILE_AGENT
        assert set(HOSTILE_CUSTOMERS) <= {r["uid"] for e in f["evidences"] for r in e.get("resources", [])}
        assert set(HOSTILE_CUSTOMERS) <= {r["uid"] for r in f["resources"]}


# --- the pure parts ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, score, risk, severity",
    [
        ("agent", 1.5, 30, 2),
        ("agent", 2.0, 40, 3),
        ("agent", 2.99, 60, 4),
        ("agent", 3.2, 64, 4),
        ("agent", 4.0, 80, 5),
        ("agent", 9.0, 100, 5),
        ("team", 4.0, 60, 4),
        ("site", 8.0, 80, 5),
        ("team", 30.0, 100, 5),
        ("agent", float("nan"), 0, 2),
    ],
)
def test_risk_score_and_severity_mapping(kind, score, risk, severity):
    assert af.risk_score(kind, score) == risk and af.severity_id(risk) == severity


def test_fair_share_keeps_every_member_and_the_cap():
    rows = [{"agent_id": "a", "n": i} for i in range(90)] + [{"agent_id": "b", "n": i} for i in range(5)] + [{"agent_id": "c", "n": i} for i in range(60)]
    kept = af._fair_share(rows, ["a", "b", "c"], 100)
    counts = pd.Series([r["agent_id"] for r in kept]).value_counts().to_dict()
    assert len(kept) == 100 and counts["b"] == 5 and counts["a"] >= 47 and counts["c"] >= 47
    assert kept == [r for r in rows if r in kept]  # in the stored order


def test_a_group_alert_without_features_or_evidence_still_maps(shipped_validator, official_validator):
    facts = af.AlertFacts(
        alert={
            "alert_key": "0" * 24,
            "day": "2026-02-01",
            "subject_type": "site",
            "subject_id": 'S"1\n',
            "score": 5.5,
            "rank": None,
            "reasons": ["3 of 9 members drift"],
            "members": ["m1", 'm"2', "m\u20283"],
            "run_id": 4,
            "detector_version": "insiderwatch-0.1.0/iforest",
            "created_at": "2026-02-02T02:15:00+00:00",
            "suppressed_by": None,
        },
        decision={"status": "benign", "author": "ana", "decided_at": "2026-02-03T10:00:00+00:00"},
    )
    f = af.ocsf_finding(facts)
    assert_valid(shipped_validator, f)
    assert_valid(official_validator, f)
    assert [e["actor"]["user"]["uid"] for e in f["evidences"]] == ["m1", 'm"2', "m\u20283"]
    assert (f["finding_info"]["first_seen_time"], f["finding_info"]["last_seen_time"]) == (1769904000000, 1769990399999)  # the day's bounds
    assert f["status_id"] == 4 and f["severity_id"] == 4 and f["unmapped"]["insiderwatch"]["evidence"]["accesses_stored"] == 0
    line = json_line(f)
    assert line.count("\n") == 1 and "\u2028" not in line and json.loads(line) == f
