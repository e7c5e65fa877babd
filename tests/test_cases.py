"""Cases: a subject followed from its first alert until triage closes it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pandas as pd
import pytest

from detector.cases import build_cases, exposure, find_case, open_agents, select_cases
from detector.errors import UsageError
from tests.conftest import INSIDERWATCH


def _alert(key, day, subject="a1", kind="agent", score=3.0, members=None):
    return {"alert_key": key, "day": day, "subject_type": kind, "subject_id": subject, "score": score, "rank": 1, "reasons": [f"reason of {day}"], "members": members}


def _scores(agent, values):
    return pd.DataFrame([{"day": d, "agent_id": agent, "score": v, "rank": r, "flagged": False} for r, (d, v) in enumerate(values.items(), start=1)])


BARS = {f"2026-01-{d:02d}": 2.0 for d in range(1, 31)}
NO_DECISIONS = pd.DataFrame(columns=["id", "alert_key", "status", "note", "author", "decided_at", "supersedes"])


def test_a_case_keeps_every_night_the_subject_stands_out_after_its_first_alert():
    alerts = pd.DataFrame([_alert("k1aaaaaa", "2026-01-03")])
    # stands out on the 2nd (before any alert: no case yet), the 4th and 5th (the night's
    # budget went elsewhere), not on the 6th, again on the 8th
    scores = _scores("a1", {"2026-01-02": 2.5, "2026-01-03": 3.0, "2026-01-04": 3.2, "2026-01-05": 2.1, "2026-01-06": 1.2, "2026-01-08": 2.4})
    (case,) = build_cases(alerts, NO_DECISIONS, scores, BARS)
    assert case.key == "k1aaaaaa" and case.status == "open" and case.opened == "2026-01-03"
    assert case.days["day"].tolist() == ["2026-01-03", "2026-01-04", "2026-01-05", "2026-01-08"]
    assert case.days["alerted"].tolist() == [True, False, False, False]
    assert case.days["score"].tolist() == [3.0, 3.2, 2.1, 2.4]
    assert not case.triaged and select_cases([case], "open", untriaged=True) == [case]
    # a large desk's bar: a score of 2.1 no longer stands out
    (strict,) = build_cases(alerts, NO_DECISIONS, scores, {d: 2.5 for d in BARS})
    assert strict.days["day"].tolist() == ["2026-01-03", "2026-01-04"]


def test_a_closing_decision_ends_the_case_and_a_later_alert_opens_a_new_one():
    alerts = pd.DataFrame([_alert("k1aaaaaa", "2026-01-03"), _alert("k2bbbbbb", "2026-01-10")])
    scores = _scores("a1", {"2026-01-03": 3.0, "2026-01-04": 3.1, "2026-01-06": 2.9, "2026-01-10": 3.3, "2026-01-11": 2.6})
    decided = pd.DataFrame(
        [
            {"id": 1, "alert_key": "k1aaaaaa", "status": "escalated", "note": "looking", "author": "ana", "decided_at": "2026-01-04T09:00:00+00:00", "supersedes": None},
            {"id": 2, "alert_key": "k1aaaaaa", "status": "benign", "note": "approved audit", "author": "bo", "decided_at": "2026-01-05T10:00:00+00:00", "supersedes": 1},
        ]
    )
    first, second = build_cases(alerts, decided, scores, BARS)
    assert (first.status, first.closed_on) == ("closed", "2026-01-05")
    assert first.days["day"].tolist() == ["2026-01-03", "2026-01-04"]  # the 6th came after the decision
    assert first.decisions["status"].tolist() == ["escalated", "benign"] and first.triaged
    assert (second.key, second.status, second.days["day"].tolist()) == ("k2bbbbbb", "open", ["2026-01-10", "2026-01-11"])
    # an escalation after the benign decision reopens the first case
    again = {"id": 3, "alert_key": "k1aaaaaa", "status": "escalated", "note": "new facts", "author": "cy", "decided_at": "2026-01-20T08:00:00+00:00", "supersedes": 2}
    reopened = pd.concat([decided, pd.DataFrame([again])])
    (only,) = build_cases(alerts, reopened, scores, BARS)
    assert only.status == "open" and only.days["day"].tolist()[-1] == "2026-01-11"
    assert [c.key for c in select_cases([first, second], "closed")] == ["k1aaaaaa"]
    assert find_case([first, second], "K2BBBB") is second
    with pytest.raises(UsageError, match="no case"):
        find_case([first, second], "ffffff")


def test_a_group_case_gathers_its_members_and_what_they_exposed():
    alerts = pd.DataFrame([_alert("g1cccccc", "2026-01-03", "T1", "team", 20.0, ["a1", "a2"]), _alert("g2dddddd", "2026-01-04", "T1", "team", 25.0, ["a2", "a3"])])
    (case,) = build_cases(alerts, NO_DECISIONS, pd.DataFrame(columns=["day", "agent_id", "score", "rank", "flagged"]), BARS)
    assert case.members == ["a1", "a2", "a3"]
    assert case.agent_days() == [("2026-01-03", "a1"), ("2026-01-03", "a2"), ("2026-01-04", "a2"), ("2026-01-04", "a3")]
    days = pd.DataFrame(
        [
            {"day": "2026-01-03", "agent_id": "a1", "views": 100, "id_document_views": 30, "first_seen": 480, "last_seen": 1000},
            {"day": "2026-01-04", "agent_id": "a3", "views": 50, "id_document_views": 5, "first_seen": 60, "last_seen": 1439},
        ]
    )
    e = exposure(days, pd.array([1, 2, 3], dtype="uint64").to_numpy())
    assert e["customers"] == 3 and e["records"]["views"] == 150 and e["records"]["id_document_views"] == 35
    assert (e["first_access"], e["last_access"]) == ("2026-01-03T08:00Z", "2026-01-04T23:59Z")


def test_open_agents_are_those_whose_case_was_open_on_the_day():
    alerts = pd.DataFrame(
        [
            _alert("k1aaaaaa", "2026-01-03"),
            # a day kept on the case opens nothing: a2's only row is one
            {**_alert("k2bbbbbb", "2026-01-03", "a2"), "ongoing": True},
            _alert("k3cccccc", "2026-01-04", "T1", "team", 20.0, ["a3"]),
        ]
    ).assign(ongoing=lambda f: f["ongoing"].fillna(False).astype(bool))
    decided = pd.DataFrame([{"id": 1, "alert_key": "k1aaaaaa", "status": "benign", "note": "ok", "author": "ana", "decided_at": "2026-01-06T10:00:00+00:00", "supersedes": None}])
    assert open_agents(alerts, NO_DECISIONS, "2026-01-03") == set()  # the alert's own day: not yet
    assert open_agents(alerts, NO_DECISIONS, "2026-01-09") == {"a1"}  # groups are followed by their own alerts
    # closed by the decision of the 6th: open up to that day, as the case reads it, not after
    assert open_agents(alerts, decided, "2026-01-06") == {"a1"}
    assert open_agents(alerts, decided, "2026-01-07") == set()


def iw(cwd, *args):
    return subprocess.run([*INSIDERWATCH, *[str(a) for a in args]], capture_output=True, text=True, cwd=cwd)


def test_the_sample_bulk_harvesters_case_holds_every_day_it_stood_out_and_triage_closes_it(sample_replay, tmp_path):
    """The sample's bulk harvester A00073 is alerted once (2026-01-26); the nights after, it
    ranks first but the one-alert budget goes to new subjects. Its case keeps those days."""
    store_dir, proc = sample_replay
    assert proc.returncode == 0, proc.stderr
    shutil.copy(store_dir / "insiderwatch.db", tmp_path / "insiderwatch.db")
    listed = [json.loads(line) for line in iw(tmp_path, "cases", "--json").stdout.splitlines()]
    (case,) = [c for c in listed if c["subject_id"] == "A00073"]
    scores = pd.read_csv(io.StringIO(iw(tmp_path, "export", "scores").stdout))
    mine = scores[(scores.agent_id == "A00073") & (scores.day >= case["opened"]) & (scores.score >= 2.0)]
    detail = json.loads(iw(tmp_path, "case", case["case"][:10], "--json").stdout)
    assert [t["day"] for t in detail["timeline"]] == sorted(mine.day) and len(detail["timeline"]) >= 5
    assert detail["timeline"][0]["alerted"] and not all(t["alerted"] for t in detail["timeline"])
    # every day kept on the case, not raised, has its reasons and its evidence stored
    kept = [t for t in detail["timeline"] if not t["alerted"]]
    assert len(kept) >= 4 and all(t["alert_key"] and t["reasons"] and t["evidence"]["accesses"] >= 200 for t in kept), kept
    assert "views without a ticket" in kept[-1]["reasons"][0]
    assert detail["exposure"]["customers"] > 1000 and detail["exposure"]["records"]["id_document_views"] > 300
    assert case["status"] == "open" and not case["triaged"]
    # the ring's team case lists its members, each with an agent record (also A00158, never alerted on the team's days)
    (team,) = [c for c in listed if c["subject_id"] == "BOG-GEN-15"]
    assert {"A00157", "A00158", "A00164", "A00165"} <= set(team["members"])
    text = iw(tmp_path, "case", team["case"][:12]).stdout
    assert "members: " in text and "A00158" in text
    # triage on the case closes it; the list of open, untriaged cases no longer has it
    decided = iw(tmp_path, "triage", case["case"][:12], "--status", "confirmed", "--note", "bulk harvest, handed to HR", "--by", "ana")
    assert decided.returncode == 0, decided.stderr
    open_now = [json.loads(line)["case"] for line in iw(tmp_path, "cases", "--json").stdout.splitlines()]
    closed = [json.loads(line) for line in iw(tmp_path, "cases", "--status", "closed", "--json").stdout.splitlines()]
    untriaged = [json.loads(line)["case"] for line in iw(tmp_path, "cases", "--untriaged", "--json").stdout.splitlines()]
    assert case["case"] not in open_now and case["case"] not in untriaged and team["case"] in untriaged
    assert [c["case"] for c in closed] == [case["case"]] and closed[0]["decision"]["status"] == "confirmed"
    assert "confirmed by ana: bulk harvest, handed to HR" in iw(tmp_path, "case", case["case"][:12]).stdout
    # alerts and their exports carry the case and its triage status
    exported = pd.read_csv(io.StringIO(iw(tmp_path, "export", "alerts", "--date", case["opened"]).stdout))
    mine = exported[exported.subject_id == "A00073"].iloc[0]
    assert (mine["case"], mine["case_status"], mine["status"]) == (case["case"], "closed", "confirmed")
    listed_alerts = iw(tmp_path, "alerts", "--date", case["opened"]).stdout
    assert "confirmed" in listed_alerts and "A00073" in listed_alerts
    assert "A00073" not in iw(tmp_path, "alerts", "--date", case["opened"], "--untriaged").stdout


@pytest.mark.slow
def test_a_night_keeps_an_open_case_that_stood_out_again_and_verify_recomputes_it(sample_replay, tmp_path):
    """Rescoring 2026-01-28 of the sample: A00073 (case opened on the 26th) ranks first but
    the budget goes to a new subject; the night lists it apart, kept on its case, and verify
    recomputes the run to the same result (it needs the case opened before the day)."""
    from tests.conftest import ROOT

    store_dir, _ = sample_replay
    shutil.copy(store_dir / "insiderwatch.db", tmp_path / "insiderwatch.db")
    (case,) = [json.loads(line) for line in iw(tmp_path, "cases", "--json").stdout.splitlines() if '"A00073"' in line]
    # a suppression created today is not applied to a day of January: the rescore says so
    assert iw(tmp_path, "suppress", "A00052", "--until", "2026-12-31", "--reason", "audit", "--ticket", "SEC-9").returncode == 0
    night = iw(tmp_path, "rescore", "--date", "2026-01-28", "--events", ROOT / "sample_logs" / "events.csv.gz", "--roster", ROOT / "sample_logs" / "roster.csv")
    assert night.returncode == 0, night.stderr
    assert "replaced the results of run(s) 1 for 2026-01-28: they are kept in the archive" in night.stderr
    assert "suppression 1 (A00052, created " in night.stderr and "not applied to 2026-01-28: created after the day" in night.stderr
    kept_part = night.stdout.split("stood out again", 1)[1]
    line = next(x for x in kept_part.splitlines() if "A00073" in x)
    assert case["case"][:12] in line and "views without a ticket" in line
    assert "A00073" not in night.stdout.split("stood out again", 1)[0]  # not among the night's alerts
    run = max(json.loads(x)["run_id"] for x in iw(tmp_path, "runs", "--json").stdout.splitlines())
    verified = iw(tmp_path, "verify", str(run))
    assert verified.returncode == 0 and "IDENTICAL" in verified.stdout, verified.stdout + verified.stderr
    explained = iw(tmp_path, "explain", "A00073", "--date", "2026-01-28").stdout
    assert "kept on the agent's open case" in explained.splitlines()[0]
    member = iw(tmp_path, "explain", "A00158", "--date", "2026-02-05").stdout
    assert "a member of the team BOG-GEN-15 group alert" in member.splitlines()[0]
    # "the store holds N day(s)": said while the store's history begins inside the 35 days
    # a night reads (it begins on 2026-01-04), not once it covers them
    assert "the store holds" in night.stderr
    later = iw(tmp_path, "rescore", "--date", "2026-02-06", "--events", ROOT / "sample_logs" / "events.csv.gz", "--roster", ROOT / "sample_logs" / "roster.csv")
    assert later.returncode == 0 and "the store holds" not in later.stderr, later.stderr


def test_a_case_bundle_holds_every_access_with_digests_and_one_ocsf_finding(sample_replay, tmp_path):
    """export case: every stored access of the case's days, pseudonymised unless revealed,
    the case page, the case as one OCSF finding (Create, then Updates of the same uid), and
    a manifest whose SHA-256 digests match the files."""
    import hashlib

    import jsonschema

    from pipelines.alert_formats import ocsf_schema

    store_dir, _ = sample_replay
    shutil.copy(store_dir / "insiderwatch.db", tmp_path / "insiderwatch.db")
    (case,) = [json.loads(line) for line in iw(tmp_path, "cases", "--json").stdout.splitlines() if '"A00073"' in line]
    detail = json.loads(iw(tmp_path, "case", case["case"][:12], "--json").stdout)
    done = iw(tmp_path, "export", "case", case["case"][:12], "--out", "bundle")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "bundle"
    manifest = json.loads((out / "manifest.json").read_text())
    assert done.stdout.split()[0] == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert {f["name"] for f in manifest["files"]} == {"accesses.csv", "case.html", "finding.ocsf.jsonl"}
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (f["sha256"], f["bytes"])
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True).returncode == 0
    # every stored access of every day of the case, customers pseudonymised
    accesses = pd.read_csv(out / "accesses.csv", dtype=str, keep_default_na=False)
    assert len(accesses) == sum(t["evidence"]["accesses"] for t in detail["timeline"]) == manifest["accesses"]["rows"]
    assert sorted(set(accesses.day)) == [t["day"] for t in detail["timeline"]] and set(accesses.agent_id) == {"A00073"}
    assert accesses.customer.str.fullmatch(r"cust-[0-9a-f]{12}").all() and accesses.local_time.str.endswith("+08:00").all()
    assert manifest["accesses"]["complete"] and manifest["case"]["case"] == case["case"]
    assert "pseudonymised" in manifest["customers"] and "Case" in (out / "case.html").read_text()
    # one finding: its first day created, every later day an update of the same uid
    findings = [json.loads(x) for x in (out / "finding.ocsf.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(ocsf_schema())
    for f in findings:
        validator.validate(f)
    assert [f["activity_id"] for f in findings] == [1] + [2] * (len(findings) - 1) and len(findings) == len(detail["timeline"])
    assert {f["finding_info"]["uid"] for f in findings} == {case["case"]} and len({f["metadata"]["uid"] for f in findings}) == len(findings)
    assert all(r["uid"].startswith("cust-") for f in findings for r in f["resources"])
    assert [f["unmapped"]["insiderwatch"]["case"]["uid"] for f in findings] == [case["case"]] * len(findings)
    # revealed: customer ids in clear, and said; an existing bundle is never overwritten
    again = iw(tmp_path, "export", "case", case["case"][:12], "--out", "bundle")
    assert again.returncode == 2 and "not empty" in again.stderr
    clear = iw(tmp_path, "export", "case", case["case"][:12], "--out", "clear", "--reveal-customers")
    assert clear.returncode == 0 and "IN CLEAR" in clear.stderr
    revealed = pd.read_csv(tmp_path / "clear" / "accesses.csv", dtype=str, keep_default_na=False)
    assert not revealed.customer.str.startswith("cust-").any() and len(revealed) == len(accesses)
    assert iw(tmp_path, "export", "case", "--out", "x").returncode == 2
