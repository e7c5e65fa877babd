"""Mapping files: every built-in mapping on its fixture, bad mapping files, rejects and
accounting, validate-logs through the real CLI, and a replay of a Salesforce-format export
that scores exactly like the equivalent canonical file."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from detector.errors import InputError, UsageError
from detector.mapping import builtin_mappings, load_mapping, parse_mapping
from detector.sources import load_events
from tests.conftest import INSIDERWATCH

FORMATS = Path(__file__).parent / "fixtures" / "formats"
NA = None


def iw(*args, db=None, check=True, cwd=None):
    cmd = [*INSIDERWATCH, "-q"] + (["--db", f"sqlite:///{db}"] if db else [])
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def rows(events: pd.DataFrame) -> list[dict]:
    out = []
    for r in events.to_dict("records"):
        r = {k: (None if pd.isna(v) else v) for k, v in r.items()}
        r["timestamp"] = r["timestamp"].isoformat().replace("+00:00", "Z")
        out.append(r)
    return out


def row(ts, agent, customer, action, ticket=NA, resource=NA, tier=NA, session=NA, ip=NA, event=NA):
    return {
        "timestamp": ts,
        "agent_id": agent,
        "customer_id": customer,
        "action": action,
        "ticket_id": ticket,
        "resource": resource,
        "customer_tier": tier,
        "session_id": session,
        "source_ip": ip,
        "event_id": event,
    }


# --- each built-in mapping on its fixture ----------------------------------------------
SF_AGENT, SF_AGENT2 = "0055g00000AbCdEAAV", "0055g00000FgHiJAAV"
SF_CONTACT, SF_ACCOUNT, SF_CASE = "0035g00000XyZ1aAAB", "0015g00000QwErTAAZ", "5005g00000Jk9LmAAJ"
SF_SESSION = "u7PqS2k0L9xWz1Ab"

EXPECTED = {
    ("salesforce-lightning-page-view", "salesforce-lightning-page-view.csv", "salesforce-case-customers.csv"): (
        [
            row("2026-01-12T09:30:15.123000Z", SF_AGENT, SF_CONTACT, "view", SF_CASE, "profile", "high_value", SF_SESSION, "203.0.113.17"),
            row("2026-01-12T09:31:02.456000Z", SF_AGENT, SF_ACCOUNT, "view", NA, "id_document", "standard", SF_SESSION, "203.0.113.17"),
            row("2026-01-12T09:45:00Z", SF_AGENT, SF_CONTACT, "view", SF_CASE, "ticket", "high_value", SF_SESSION, "203.0.113.17"),
        ],
        {
            5: "lookup key '5005g00000Zz0ZzAAA' (from PAGE_ENTITY_ID) not in the lookup table salesforce-case-customers.csv",
            6: "customer_id: no rule matches PAGE_ENTITY_TYPE ''",
            7: "customer_id: no rule matches PAGE_ENTITY_TYPE 'Opportunity'",
        },
    ),
    ("salesforce-uri-event", "salesforce-uri-event.csv", "salesforce-case-customers.csv"): (
        [
            row("2026-01-12T09:30:15Z", SF_AGENT, SF_CONTACT, "view", NA, "profile", "high_value", SF_SESSION, "203.0.113.17", "6f3c1a2b-0c4d-4e5f-8a9b-1c2d3e4f5a6b"),
            row("2026-01-12T09:32:40Z", SF_AGENT, SF_ACCOUNT, "update", NA, "profile", "standard", SF_SESSION, "203.0.113.17", "7a4d2b3c-1d5e-4f60-9bac-2d3e4f5a6b7c"),
            row("2026-01-12T09:45:00Z", SF_AGENT, SF_CONTACT, "view", SF_CASE, "ticket", "high_value", SF_SESSION, "203.0.113.17", "8b5e3c4d-2e6f-4071-acbd-3e4f5a6b7c8d"),
        ],
        {5: "customer_id: no rule matches QueriedEntities 'Opportunity'"},
    ),
    ("salesforce-uri-event", "salesforce-uri-event.jsonl", None): (
        [
            row("2026-01-12T09:30:15Z", SF_AGENT, SF_CONTACT, "view", NA, "profile", NA, SF_SESSION, "203.0.113.17", "6f3c1a2b-0c4d-4e5f-8a9b-1c2d3e4f5a6b"),
            row("2026-01-12T09:32:40Z", SF_AGENT, SF_ACCOUNT, "update", NA, "profile", NA, SF_SESSION, "203.0.113.17", "7a4d2b3c-1d5e-4f60-9bac-2d3e4f5a6b7c"),
        ],
        {},
    ),
    ("salesforce-report-export", "salesforce-report-export.csv", None): (
        [
            row("2026-01-12T16:15:02.311000Z", SF_AGENT2, "00O5g000004AbCdEAG", "export", NA, "report", NA, "k2LmN8p0Q1rSt3Uv", "198.51.100.4"),
            row("2026-01-12T16:22:30.005000Z", SF_AGENT2, "00O5g000004XyZwEAG", "export", NA, "report", NA, "k2LmN8p0Q1rSt3Uv", "198.51.100.4"),
        ],
        {},
    ),
    ("zendesk-access-log", "zendesk-access-log.jsonl", "zendesk-tickets.csv"): (
        [
            row("2026-01-12T14:23:45Z", "6596848315901", "3914771188012", "view", "35436", "ticket", "standard", NA, "192.0.2.10", "01J5M2QGXR3KZ8N4BVWYH6T9PA"),
            row("2026-01-12T14:24:02Z", "6596848315901", "3914771188012", "view", NA, "profile", NA, NA, "192.0.2.10", "01J5M2R1A7F3QW8YV2N6C4D0EB"),
            row("2026-01-12T14:24:30Z", "6596848315901", "3914771188012", "view", NA, "id_document", NA, NA, "192.0.2.10", "01J5M2R9H2K8PL5TX3M7B1Z6FC"),
            row("2026-01-12T14:25:10Z", "6596848315901", "3914771188012", "update", "35436", "ticket", "standard", NA, "192.0.2.10", "01J5M2S4C6N1RV7WQ9K2D8X3GD"),
        ],
        {
            5: "customer_id: no rule matches url '/api/v2/tickets.json?page=1'",
            6: "lookup key '99999' (from url) not in the lookup table zendesk-tickets.csv",
        },
    ),
    ("ocsf-web-resources", "ocsf-web-resources.jsonl", None): (
        [
            row("2026-01-12T14:40:00.123000Z", "agent-0042", "cust-100234", "view", NA, "id_document", NA, "sess-9f1c", "203.0.113.17", "evt-0001"),
            row("2026-01-12T14:41:00Z", "agent-0042", "cust-100235", "search", NA, "profile", NA, "sess-9f1c", "203.0.113.17", "evt-0002"),
            row("2026-01-12T14:42:00.500000Z", "agent-0042", "cust-100236", "export", NA, "transactions", NA, "sess-9f1c", "203.0.113.17", "evt-0003"),
        ],
        {4: "customer_id: no rule matches class_uid '3002'"},
    ),
    ("ecs", "ecs.jsonl", None): (
        [
            row("2026-01-12T10:00:00.250000Z", "agent-0042", "cust-100234", "view", "TK-5512", "address", NA, NA, "203.0.113.17", "ecs-0001"),
            row("2026-01-12T10:01:30Z", "agent-0042", "cust-100299", "export", NA, "transactions", NA, NA, "203.0.113.17", "ecs-0002"),
        ],
        {3: "empty customer_id"},
    ),
}


@pytest.mark.parametrize("case", list(EXPECTED), ids=lambda c: c[1])
def test_builtin_mapping_gives_the_canonical_rows(case):
    name, fixture, lookup = case
    expected_rows, expected_rejects = EXPECTED[case]
    mapping = load_mapping(name, lookup=FORMATS / lookup if lookup else None)
    loaded = load_events(FORMATS / fixture, mapping=mapping)
    got = rows(loaded.events)
    for r in got:  # hashed event ids: checked for shape and uniqueness below
        if name.startswith("salesforce-") and "uri" not in name:
            assert len(r["event_id"]) == 16
            r["event_id"] = None
    assert got == expected_rows
    assert dict(zip(loaded.rejects["line"], loaded.rejects["reason"])) == expected_rejects
    stats = loaded.report.files[0]
    assert stats.rows_read == stats.rows_accepted + stats.rows_rejected == len(expected_rows) + len(expected_rejects)


def test_every_builtin_mapping_has_a_fixture_and_a_case():
    tested = {name for name, _, _ in EXPECTED}
    assert tested == set(builtin_mappings())
    for name in builtin_mappings():
        load_mapping(name)  # each parses without its lookup table


def test_hashed_event_ids_are_stable_and_distinct():
    mapping = load_mapping("salesforce-lightning-page-view", lookup=FORMATS / "salesforce-case-customers.csv")
    first = load_events(FORMATS / "salesforce-lightning-page-view.csv", mapping=mapping).events["event_id"].tolist()
    again = load_events(FORMATS / "salesforce-lightning-page-view.csv", mapping=mapping, batch_rows=1).events["event_id"].tolist()
    assert first == again and len(set(first)) == len(first)
    # REQUEST_ID is shared by the first two rows (one transaction): their ids still differ
    assert first[0] != first[1]


def test_salesforce_timestamp_format_when_only_timestamp_is_present(tmp_path):
    path = tmp_path / "lpv.csv"
    path.write_text("TIMESTAMP,USER_ID,PAGE_ENTITY_ID,PAGE_ENTITY_TYPE\n20260112093015.123,0055g00000AbCdE,0035g00000XyZ1a,Contact\n")
    events = load_events(path, mapping=load_mapping("salesforce-lightning-page-view")).events
    assert rows(events)[0]["timestamp"] == "2026-01-12T09:30:15.123000Z"
    assert events["agent_id"].tolist() == ["0055g00000AbCdE"]


def test_case_rows_without_a_lookup_table_are_rejected_with_a_reason():
    loaded = load_events(FORMATS / "salesforce-lightning-page-view.csv", mapping=load_mapping("salesforce-lightning-page-view"))
    reasons = dict(zip(loaded.rejects["line"], loaded.rejects["reason"]))
    assert reasons[4] == "lookup key (from PAGE_ENTITY_ID) needs the lookup table (give --lookup FILE or [lookup] path)"
    assert len(loaded.events) + len(loaded.rejects) == 6


def test_json_reading_is_the_same_line_by_line(tmp_path):
    # a blank line sends the block down the line-by-line path: same rows as the fast path
    text = (FORMATS / "ocsf-web-resources.jsonl").read_text()
    path = tmp_path / "gappy.jsonl"
    path.write_text(text.replace("\n", "\n\n", 1))
    mapping = load_mapping("ocsf-web-resources")
    fast = load_events(FORMATS / "ocsf-web-resources.jsonl", mapping=mapping)
    slow = load_events(path, mapping=mapping)
    pd.testing.assert_frame_equal(fast.events, slow.events)


# --- bad mapping files ---------------------------------------------------------------------
BASE = {"columns": {"timestamp": "t", "agent_id": "a", "customer_id": "c", "action": "x"}}


@pytest.mark.parametrize(
    "change, key",
    [
        ({"colums": {}}, "colums"),
        ({"columns": {**BASE["columns"], "customer": "c"}}, "columns.customer"),
        ({"columns": {**BASE["columns"], "action": {"form": "x"}}}, "columns.action.form"),
        ({"columns": {**BASE["columns"], "action": {"from": "x", "value": "view"}}}, "columns.action"),
        ({"columns": {**BASE["columns"], "ticket_id": {"from": "u", "extract": "(unclosed"}}}, "columns.ticket_id.extract"),
        ({"columns": {**BASE["columns"], "ticket_id": {"from": "u", "extract": "no group"}}}, "columns.ticket_id.extract"),
        ({"columns": {**BASE["columns"], "action": {"rules": [{"when": {"m": "[x"}, "value": "view"}]}}}, "columns.action.rules[0].when.m"),
        ({"columns": {**BASE["columns"], "timestamp": {"from": "t", "formats": ["rfc"]}}}, "columns.timestamp.formats"),
        ({"columns": {**BASE["columns"], "customer_id": {"from": "c", "lookup": "customer_id"}}}, "lookup"),
        ({"columns": {k: v for k, v in BASE["columns"].items() if k != "action"}}, "columns.action"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_mapping_names_the_key(change, key):
    data = {**BASE, **change}
    if "colums" in change:
        data = {**BASE, "colums": {}}
    with pytest.raises(UsageError) as info:
        parse_mapping(data, origin="m.toml")
    assert key in str(info.value) and info.value.exit_code == 2


def test_bad_mapping_file_through_the_cli_is_exit_2_with_nothing_written(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\ntimestamp = "t"\nagent_id = "a"\ncustomer_id = "c"\naction = { from = "m", mapp = {} }\n')
    db = tmp_path / "iw.db"
    proc = iw("replay", "--events", FORMATS / "ecs.jsonl", "--mapping", bad, db=db, check=False)
    assert proc.returncode == 2
    assert "columns.action.mapp" in proc.stderr
    assert not db.exists()
    proc = iw("validate-logs", FORMATS / "ecs.jsonl", "--mapping", "no-such-mapping", check=False)
    assert proc.returncode == 2 and "salesforce-lightning-page-view" in proc.stderr


def test_a_file_the_mapping_cannot_supply_is_an_input_error(tmp_path):
    with pytest.raises(InputError) as info:
        load_events(FORMATS / "ecs.jsonl", mapping=load_mapping("salesforce-report-export"), fmt="csv")
    assert "timestamp" in str(info.value)


# --- validate-logs ----------------------------------------------------------------------
def test_validate_logs_shows_columns_samples_rejects_and_accounting(tmp_path):
    proc = iw(
        "validate-logs",
        FORMATS / "salesforce-lightning-page-view.csv",
        "--mapping",
        "salesforce-lightning-page-view",
        "--lookup",
        FORMATS / "salesforce-case-customers.csv",
        cwd=tmp_path,
    )
    out = proc.stdout
    assert "customer_id    required when PAGE_ENTITY_TYPE" in out
    assert "rows: 6 read = 3 accepted + 3 rejected" in out
    assert "customer_id: no rule matches PAGE_ENTITY_TYPE 'Opportunity'" in out
    assert "agent_id=0055g00000AbCdEAAV" in out
    assert list(tmp_path.iterdir()) == []  # nothing written, no store


def test_validate_logs_exit_2_when_a_required_column_is_missing(tmp_path):
    proc = iw("validate-logs", FORMATS / "ecs.jsonl", "--mapping", "salesforce-uri-event", check=False, cwd=tmp_path)
    assert proc.returncode == 2
    assert "timestamp      required MISSING" in proc.stdout
    assert "ecs.jsonl: no source for the required column(s) timestamp" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_validate_logs_checks_every_file_after_an_unusable_one(tmp_path):
    """One file the mapping cannot read does not hide the next one's report; the exit is 2
    and stderr names only the unusable file."""
    proc = iw(
        "validate-logs",
        FORMATS / "ecs.jsonl",
        FORMATS / "salesforce-uri-event.csv",
        "--mapping",
        "salesforce-uri-event",
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    good = proc.stdout.split("salesforce-uri-event.csv", 1)[1]
    assert "timestamp      required EventDate" in good and "rows: 4 read = 2 accepted + 2 rejected" in good
    assert "ecs.jsonl" in proc.stderr and "salesforce-uri-event.csv" not in proc.stderr
    assert "1 of 2 file(s) could not be ingested" in proc.stderr


def test_validate_logs_help_teaches_and_lists():
    out = iw("validate-logs", "--help").stdout
    assert all(name in out for name in builtin_mappings())
    assert "Example:" in out
    listed = iw("validate-logs", "--list-mappings").stdout
    assert all(name in listed for name in builtin_mappings())


def test_config_mapping_and_rename_still_work(tmp_path):
    config = tmp_path / "insiderwatch.toml"
    config.write_text('[sources]\nmapping = "ecs"\n')
    proc = iw("validate-logs", FORMATS / "ecs.jsonl", cwd=tmp_path)
    assert "rows: 3 read = 2 accepted + 1 rejected" in proc.stdout
    canonical = tmp_path / "c.csv"
    canonical.write_text("when,who,customer_id,action\n2026-01-12T10:00:00Z,A1,C1,view\n")
    config.write_text('[sources.rename]\nwhen = "timestamp"\nwho = "agent_id"\n')
    proc = iw("validate-logs", canonical, cwd=tmp_path)
    assert "rows: 1 read = 1 accepted + 0 rejected" in proc.stdout


# --- a Salesforce export scores exactly like the canonical file ---------------------------
RELATED = {"id_document": "IdentityDocuments", "address": "ContactPointAddresses", "balance": "FinancialAccounts", "transactions": "FinancialAccountTransactions", "ticket": "Cases"}


def to_lightning_page_view(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical views -> (Lightning Page View CSV rows, record id -> customer lookup).

    A view of a ticket whose ticket has one customer is a Case page (its customer comes
    from the lookup); every other view is the customer's Account page, a related list for
    the part of the record, inside the console workspace of its ticket.
    """
    ts = events["timestamp"]
    derived = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.") + (ts.dt.microsecond // 1000).astype(str).str.zfill(3) + "Z"
    compact = ts.dt.strftime("%Y%m%d%H%M%S.") + (ts.dt.microsecond // 1000).astype(str).str.zfill(3)
    ticket_views = events[events["resource"] == "ticket"].dropna(subset=["ticket_id"])
    owners = ticket_views.groupby("ticket_id")["customer_id"].nunique()
    case_tickets = set(owners[owners == 1].index)
    tiers = events.drop_duplicates("customer_id").set_index("customer_id")["customer_tier"]
    as_case = (events["resource"] == "ticket") & events["ticket_id"].isin(case_tickets)
    related = events["resource"].map(RELATED)
    account_url = (
        "/lightning/r/Account/"
        + events["customer_id"]
        + pd.Series(["/view" if pd.isna(r) else f"/related/{r}/view" for r in related], index=events.index)
        + events["ticket_id"].map(lambda t: "" if pd.isna(t) else f"?ws=%2Flightning%2Fr%2FCase%2F{t}%2Fview")
    )
    case_url = "/lightning/r/Case/" + events["ticket_id"].fillna("") + "/view"
    out = pd.DataFrame(
        {
            "EVENT_TYPE": "LightningPageView",
            "TIMESTAMP": compact,
            "REQUEST_ID": "TID:" + events["session_id"].fillna("") + ts.dt.strftime("%H%M"),  # shared within a transaction
            "ORGANIZATION_ID": "00D5g000004XyZa",
            "USER_ID": events["agent_id"],
            "CLIENT_IP": events["source_ip"],
            "SESSION_KEY": events["session_id"],
            "PAGE_ENTITY_ID": events["ticket_id"].where(as_case, events["customer_id"]),
            "PAGE_ENTITY_TYPE": pd.Series("Account", index=events.index).where(~as_case, "Case"),
            "PAGE_START_TIME": (ts.astype("int64") // 1_000_000).astype(str),
            "PAGE_URL": case_url.where(as_case, account_url),
            "USER_ID_DERIVED": events["agent_id"],
            "TIMESTAMP_DERIVED": derived,
        }
    )
    case_rows = ticket_views[ticket_views["ticket_id"].isin(case_tickets)].drop_duplicates("ticket_id")
    lookup = pd.concat(
        [
            pd.DataFrame({"record_id": case_rows["ticket_id"], "customer_id": case_rows["customer_id"], "customer_tier": case_rows["customer_id"].map(tiers)}),
            pd.DataFrame({"record_id": tiers.index, "customer_id": tiers.index, "customer_tier": tiers.to_numpy()}),
        ]
    )
    return out, lookup


@pytest.mark.slow
def test_replay_of_a_salesforce_export_scores_like_the_canonical_file(sim_events, sim_dir, tmp_path):
    days = sorted(sim_events["timestamp"].dt.strftime("%Y-%m-%d").unique())[:6]
    window = sim_events["timestamp"].dt.strftime("%Y-%m-%d").isin(days)
    # Lightning Page View records page views: the equivalent canonical file is the views
    views = sim_events[window & (sim_events["action"] == "view")].reset_index(drop=True)
    assert views.groupby("customer_id")["customer_tier"].nunique().max() == 1
    canonical = tmp_path / "canonical.csv"
    out = views.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    out.to_csv(canonical, index=False)
    lightning, lookup = to_lightning_page_view(views)
    export = tmp_path / "LightningPageView.csv"
    lightning.to_csv(export, index=False)
    table = tmp_path / "records.csv"
    lookup.to_csv(table, index=False)
    roster = sim_dir / "roster.csv"

    iw("replay", "--events", canonical, "--roster", roster, db=tmp_path / "a.db")
    proc = iw("replay", "--events", export, "--roster", roster, "--mapping", "salesforce-lightning-page-view", "--lookup", table, db=tmp_path / "b.db")
    assert "+ 0 rejected" in proc.stderr, proc.stderr
    a = pd.read_csv(io.StringIO(iw("export", "scores", db=tmp_path / "a.db").stdout)).drop(columns=["run_id"])
    b = pd.read_csv(io.StringIO(iw("export", "scores", db=tmp_path / "b.db").stdout)).drop(columns=["run_id"])
    assert len(a) > 100 and a["day"].nunique() >= 5
    pd.testing.assert_frame_equal(a, b)

    # the run recorded the mapping and its digest, and verify recomputes it identically
    runs = pd.read_csv(io.StringIO(iw("runs", db=tmp_path / "b.db").stdout))
    run_id = int(runs["run_id"].iloc[-1])
    proc = iw("verify", str(run_id), db=tmp_path / "b.db")
    assert "IDENTICAL" in proc.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "b.db") as conn:
        config = json.loads(conn.execute("select config from runs where run_id = ?", (run_id,)).fetchone()[0])
    assert config["sources"]["mapping"] == "salesforce-lightning-page-view"
    assert len(config["sources"]["mapping_sha256"]) == 64 and len(config["sources"]["lookup_sha256"]) == 64
    # and the report's run page names them with their digests
    iw("report", "--run", str(run_id), "--out", tmp_path / "site", db=tmp_path / "b.db")
    row = (tmp_path / "site" / "run.html").read_text().split("<th>mapping</th>")[1].split("</tr>")[0]
    assert "salesforce-lightning-page-view" in row and config["sources"]["mapping_sha256"] in row and config["sources"]["lookup_sha256"] in row
